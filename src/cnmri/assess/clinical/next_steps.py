"""Safety-first next steps: what to do (or check) before anything else, each with its source.

The differential lists diagnostic steps per entity. This module adds the steps that protect the
patient while the cause is being sorted out, and orders them: ``urgent`` (treat now, do not wait for a
test), ``before_lumbar_puncture`` (checks before the tap that several entities ask for), then
``recommended``. Every step names the facts that triggered it and its source. The thresholds are
those of the cited guidelines; local protocols may differ, and the text says so where they commonly do.
"""

from __future__ import annotations

from typing import Any

from cnmri.assess.clinical.differential import LEUKEMIC_DIAGNOSES, Facts

S_PLATELETS = (
    "Kaufman RM et al., AABB platelet transfusion guideline, Ann Intern Med 2015;162:205 (transfuse below "
    "50,000/µL before an elective diagnostic LP); Howard SC et al., JAMA 2000;284:2222 and Vavricka SR et al., "
    "Ann Hematol 2003;82:570 (LP in leukemia with lower counts)"
)
S_INR = (
    "McGill F et al., UK joint specialist societies meningitis guideline, J Infect 2016;72:405 (no routine LP at "
    "INR >1.5); Dodd KC et al., Association of British Neurologists LP guideline, Pract Neurol 2018;18:436"
)
S_PRESSURE = (
    "McGill F et al., J Infect 2016;72:405 and Hasbun R et al., N Engl J Med 2001;345:1727 (imaging before LP "
    "with papilledema, focal signs or immunosuppression; no LP with mass effect)"
)
S_ACICLOVIR = (
    "Styczynski J et al., ECIL-2 guidelines for HSV and VZV in leukemia, Bone Marrow Transplant 2009;43:757 "
    "(intravenous aciclovir); Tunkel AR et al., IDSA encephalitis guideline, Clin Infect Dis 2008;47:303 "
    "(start aciclovir empirically, before PCR results)"
)
S_FUNGAL = (
    "Cornely OA et al., global guideline for mucormycosis, Lancet Infect Dis 2019;19:e405 (early surgical "
    "debridement and liposomal amphotericin B); Patterson TF et al., IDSA aspergillosis guideline, Clin Infect Dis "
    "2016;63:e1"
)
S_AIRWAY = (
    "Vincristine prescribing information (vocal-cord paresis); Burns BV, Shotton JC, J Laryngol Otol "
    "1998;112:485 (vincristine bilateral vocal-cord palsy with airway obstruction); Lawn ND et al., Arch Neurol "
    "2001;58:893 (FVC <20 mL/kg predicts respiratory failure in GBS)"
)
S_NELARABINE = (
    "Nelarabine (Arranon) prescribing information: discontinue for neurologic adverse reactions of CTCAE grade 2 "
    "or greater"
)
S_VINCRISTINE = (
    "Vincristine prescribing information (strong CYP3A4 inhibitors raise neurotoxicity; 2 mg dose cap in common "
    "use); Moriyama B et al., Mycoses 2012;55:290 (azole-vincristine interactions)"
)
S_MRD = (
    "World J Hematol 2014;3(3):49, Table 2 (isolated vs combined relapse by marrow blasts); Hagedorn N et al., "
    "Blood 2007;110:4022 (marrow MRD at apparently isolated CNS relapse)"
)
S_CVST = "Saposnik G et al., AHA statement on cerebral venous thrombosis, Stroke 2011;42:1158 (MR or CT venography)"
PLATELETS_FOR_LP_PER_UL = 50_000
INR_FOR_LP = 1.5
PRIORITY_ORDER = {"urgent": 0, "before_lumbar_puncture": 1, "recommended": 2}
#: Every step this module can give (docs/clinical.md lists each).
STEP_IDS = (
    "aciclovir",
    "antifungal_debridement",
    "airway_endoscopy",
    "fvc_monitoring",
    "stop_nelarabine",
    "vincristine_review",
    "lp_platelets",
    "lp_coagulation",
    "lp_pressure",
    "marrow_mrd",
    "venography",
)


def _step(step_id: str, priority: str, text: str, reason: str, source: str) -> dict[str, Any]:
    assert step_id in STEP_IDS, step_id
    return {"id": step_id, "priority": priority, "step": text, "reason": reason, "source": source}


def _tier(differential: list[dict[str, Any]], diagnosis: str) -> str | None:
    for item in differential:
        if item["diagnosis"] == diagnosis:
            return str(item["tier"])
    return None


def _lp_safety(facts: Facts) -> list[dict[str, Any]]:
    case = facts.case
    steps = []
    platelets = case.blood.platelets_per_ul
    if platelets is None:
        steps.append(
            _step(
                "lp_platelets",
                "before_lumbar_puncture",
                "Check the platelet count before the lumbar puncture.",
                "blood.platelets_per_ul not given",
                S_PLATELETS,
            )
        )
    elif platelets < PLATELETS_FOR_LP_PER_UL:
        steps.append(
            _step(
                "lp_platelets",
                "before_lumbar_puncture",
                f"Platelets {platelets:g}/µL: transfuse before the lumbar puncture (below 50,000/µL for an elective "
                "diagnostic tap; leukemia units often accept lower counts by local protocol).",
                f"blood.platelets_per_ul {platelets:g} < {PLATELETS_FOR_LP_PER_UL}",
                S_PLATELETS,
            )
        )
    inr = case.blood.inr
    if inr is None:
        steps.append(
            _step(
                "lp_coagulation",
                "before_lumbar_puncture",
                "Check coagulation (INR; fibrinogen after asparaginase) before the lumbar puncture.",
                "blood.inr not given",
                S_INR,
            )
        )
    elif inr > INR_FOR_LP:
        steps.append(
            _step(
                "lp_coagulation",
                "before_lumbar_puncture",
                f"INR {inr:g} (>1.5): correct the coagulopathy before the lumbar puncture.",
                f"blood.inr {inr:g} > {INR_FOR_LP}",
                S_INR,
            )
        )
    raised = case.exam.papilledema is True or case.imaging.intracranial_mass is True
    if raised:
        steps.append(
            _step(
                "lp_pressure",
                "before_lumbar_puncture",
                "Papilledema or an intracranial mass: no lumbar puncture until imaging shows no mass effect, "
                "midline shift or obstructive hydrocephalus.",
                "exam.papilledema or imaging.intracranial_mass is true",
                S_PRESSURE,
            )
        )
    else:
        steps.append(
            _step(
                "lp_pressure",
                "before_lumbar_puncture",
                "Confirm on the brain imaging that there is no mass effect or raised pressure before the lumbar "
                "puncture (papilledema " + ("absent" if case.exam.papilledema is False else "not recorded") + ").",
                "immunosuppressed patient: imaging before LP",
                S_PRESSURE,
            )
        )
    return steps


def _infection(facts: Facts, differential: list[dict[str, Any]]) -> list[dict[str, Any]]:
    case = facts.case
    steps = []
    herpes_signs = [
        reason
        for reason, present in (
            ("vesicles", case.exam.vesicles is True),
            ("CSF VZV PCR positive", case.csf.pcr.VZV == "positive"),
            ("CSF HSV PCR positive", case.csf.pcr.HSV == "positive"),
            ("VZV leads the differential", _tier(differential, "vzv_reactivation") == "leading"),
            ("HSV leads the differential", _tier(differential, "hsv_infection") == "leading"),
        )
        if present
    ]
    if herpes_signs:
        steps.append(
            _step(
                "aciclovir",
                "urgent",
                "Start empirical intravenous aciclovir now, without waiting for PCR results (VZV/HSV in an "
                "immunocompromised patient).",
                "; ".join(herpes_signs),
                S_ACICLOVIR,
            )
        )
    fungal_signs = [
        reason
        for reason, present in (
            (
                "invasive fungal infection leads the differential",
                _tier(differential, "invasive_fungal_infection") == "leading",
            ),
            ("sinus disease with neutropenia", case.imaging.sinus_disease is True and facts.neutropenic),
            (
                "sinus disease with cavernous sinus involvement",
                case.imaging.sinus_disease is True and case.imaging.cavernous_sinus_involvement is True,
            ),
        )
        if present
    ]
    if fungal_signs:
        steps.append(
            _step(
                "antifungal_debridement",
                "urgent",
                "Suspected invasive fungal sinusitis: start liposomal amphotericin B (covers Mucorales) and "
                "arrange urgent ENT endoscopy with biopsy and surgical debridement.",
                "; ".join(fungal_signs),
                S_FUNGAL,
            )
        )
    return steps


def _airway(facts: Facts, differential: list[dict[str, Any]]) -> list[dict[str, Any]]:
    case = facts.case
    steps = []
    vocal = case.exam.hoarseness is True or facts.has("CN10")
    if vocal:
        steps.append(
            _step(
                "airway_endoscopy",
                "urgent",
                "Hoarseness or vagus involvement: laryngoscopy (airway endoscopy) for vocal-cord palsy; a "
                "bilateral palsy (e.g. from vincristine) can obstruct the airway. Assess swallowing before oral "
                "intake.",
                "exam.hoarseness or CN10 involved",
                S_AIRWAY,
            )
        )
    weak = case.exam.limb_weakness is True or case.exam.areflexia is True
    bulbar = facts.both_sides("CN9") or facts.both_sides("CN10") or facts.both_sides("CN12")
    gbs = _tier(differential, "guillain_barre") in ("leading", "possible") and weak
    if weak or bulbar or gbs:
        steps.append(
            _step(
                "fvc_monitoring",
                "urgent",
                "Monitor forced vital capacity (and swallowing) serially; escalate to intensive care if FVC falls "
                "below 20 mL/kg.",
                "limb weakness, areflexia or bilateral bulbar nerve involvement",
                S_AIRWAY,
            )
        )
    return steps


def _drugs(facts: Facts, differential: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stopping rules, when the drug is a leading or possible cause of a neurological event."""
    steps: list[dict[str, Any]] = []
    neurological = bool(facts.involved) or facts.case.exam.limb_weakness is True
    if not neurological:
        return steps
    plausible = ("leading", "possible")
    nelarabine = facts.drug_within(0, 60, "nelarabine") or facts.drug_days("nelarabine") == float("inf")
    if nelarabine and _tier(differential, "nelarabine_neurotoxicity") in plausible:
        steps.append(
            _step(
                "stop_nelarabine",
                "urgent",
                "Nelarabine: a new cranial neuropathy is at least CTCAE grade 2; stop nelarabine (label rule: "
                "discontinue at grade ≥2 neurotoxicity).",
                "nelarabine on the medication list with a neurological event",
                S_NELARABINE,
            )
        )
    vincristine = facts.drug_within(0, 42, "vincristine") or facts.drug_days("vincristine") == float("inf")
    if vincristine and _tier(differential, "vincristine_neurotoxicity") in plausible:
        text = (
            "Vincristine: hold further doses until the cause of the neuropathy is clear and review the dose "
            "(capped dose, dose-modification rules of the protocol)."
        )
        reason = "vincristine within 6 weeks with a cranial neuropathy"
        if facts.drug_within(0, 42, "strong_azole") or facts.drug_days("strong_azole") == float("inf"):
            text += (
                " A strong CYP3A4-inhibiting azole is also given: stop or switch it (e.g. to an echinocandin or "
                "amphotericin) around vincristine doses."
            )
            reason += " and a strong azole (posaconazole, voriconazole or itraconazole)"
        steps.append(_step("vincristine_review", "urgent", text, reason, S_VINCRISTINE))
    return steps


def _relapse_and_vessels(
    facts: Facts, relapse: dict[str, Any] | None, differential: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    steps = []
    leukemic_first = bool(differential) and differential[0]["diagnosis"] in LEUKEMIC_DIAGNOSES
    suspected = relapse is not None and (
        relapse["status"] == "met" or (relapse["status"] == "indeterminate" and leukemic_first)
    )
    if relapse is not None and suspected and facts.case.marrow.blasts_percent is None:
        steps.append(
            _step(
                "marrow_mrd",
                "recommended",
                "Bone marrow aspirate with MRD: isolated CNS or combined relapse.",
                f"on therapy, CNS relapse {relapse['status'].replace('_', ' ')}",
                S_MRD,
            )
        )
    if _tier(differential, "venous_sinus_thrombosis") in ("leading", "possible"):
        steps.append(
            _step(
                "venography",
                "urgent" if facts.case.exam.papilledema else "recommended",
                "MR or CT venography for cerebral venous sinus thrombosis.",
                "venous sinus thrombosis in the leading or possible tier",
                S_CVST,
            )
        )
    return steps


def safety_next_steps(
    facts: Facts, differential: list[dict[str, Any]], relapse: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The ordered safety-first steps for this case (urgent first), each with reason and source."""
    steps = (
        _infection(facts, differential)
        + _airway(facts, differential)
        + _drugs(facts, differential)
        + _lp_safety(facts)
        + _relapse_and_vessels(facts, relapse, differential)
    )
    return sorted(steps, key=lambda step: PRIORITY_ORDER[step["priority"]])


__all__ = ["INR_FOR_LP", "PLATELETS_FOR_LP_PER_UL", "STEP_IDS", "safety_next_steps"]
