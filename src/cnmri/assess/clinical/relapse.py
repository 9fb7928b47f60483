"""CNS relapse on therapy: is it met, and is it isolated or combined with marrow relapse?

The CNS status categories (CNS1–3) are defined for the diagnostic lumbar puncture. On therapy the
question is whether the CNS has relapsed. The criteria used here are those of the pediatric relapse
protocols (COG and ALL-REZ BFM, as tabulated in World J Hematol 2014;3(3):49, Table 2):

- CSF: ≥5 WBC/µL with blasts on cytospin, from a tap without blood contamination; or
- clinical signs of CNS disease (cranial nerve palsy, eye involvement, hypothalamic syndrome); or
- a leukemic mass on CT or MRI.

A palsy or mass is a criterion only when no other cause explains it better (the same presumption as at
diagnosis): when the differential ranks a non-leukemic cause first, the status is ``indeterminate``.

Isolated vs combined (same source): combined when the marrow has ≥5% blasts (or the blood has
blasts); isolated CNS when the marrow has <5% blasts. Submicroscopic marrow involvement (MRD ≥10⁻⁴,
i.e. ≥0.01%) at an apparently isolated CNS relapse carries a higher risk of a later relapse
(Hagedorn N et al., Blood 2007;110:4022), so the MRD is reported beside the type.
"""

from __future__ import annotations

from typing import Any

from cnmri.assess.clinical.cns_status import TRAUMATIC_RBC_PER_UL, WBC_CUTOFF_PER_UL, Leading
from cnmri.assess.clinical.model import ClinicalCase

S_RELAPSE = (
    "Relapse definitions of the COG and ALL-REZ BFM protocols as tabulated in World J Hematol 2014;3(3):49, "
    "doi:10.5315/wjh.v3.i3.49, Table 2 (isolated CNS: ≥5 cells/µL with blasts without blood contamination, "
    "or clinical signs, or a leukemic mass; marrow <5% blasts; combined: marrow ≥5% blasts)"
)
S_MRD = "Hagedorn N et al., Blood 2007;110:4022 (marrow MRD ≥10⁻⁴ at apparently isolated extramedullary relapse)"
MARROW_BLASTS_COMBINED_PERCENT = 5.0
MRD_SUBMICROSCOPIC_PERCENT = 0.01  # 10⁻⁴
MARROW_NEEDED = (
    "marrow.blasts_percent and marrow.mrd_percent (bone marrow aspirate with MRD: isolated CNS vs combined relapse)"
)


def _csf_criterion(case: ClinicalCase, rationale: list[str], missing: list[str]) -> str:
    """``met``, ``not_met`` or ``indeterminate`` from the CSF alone."""
    csf = case.csf
    if csf.blasts is None:
        missing.append("csf.blasts (cytospin read for blasts)")
        rationale.append("CSF cytospin not read for blasts.")
        return "indeterminate"
    if csf.blasts is False:
        rationale.append("No blasts on the CSF cytospin.")
        return "not_met"
    if csf.wbc_per_ul is None or csf.rbc_per_ul is None:
        missing.append("csf.wbc_per_ul and csf.rbc_per_ul (CSF cell counts per µL)")
        rationale.append("Blasts in the CSF, but the cell counts are not recorded.")
        return "indeterminate"
    if csf.rbc_per_ul >= TRAUMATIC_RBC_PER_UL:
        missing.append("a repeat lumbar puncture without blood contamination")
        rationale.append(
            f"Blasts in the CSF on a traumatic tap (RBC {csf.rbc_per_ul:g}/µL): blood contamination cannot be "
            "excluded; repeat the tap."
        )
        return "indeterminate"
    if csf.wbc_per_ul >= WBC_CUTOFF_PER_UL:
        rationale.append(
            f"CSF WBC {csf.wbc_per_ul:g}/µL (≥5) with blasts on a non-traumatic tap: CNS relapse criterion met."
        )
        return "met"
    missing.append("a repeat lumbar puncture (blasts with <5 WBC/µL)")
    rationale.append(f"Blasts with CSF WBC {csf.wbc_per_ul:g}/µL (<5): below the relapse threshold; repeat the tap.")
    return "indeterminate"


def _sign_criterion(
    case: ClinicalCase, leading: Leading | None, rationale: list[str], missing: list[str]
) -> str | None:
    """``met``, ``indeterminate`` (sign explained better by another cause) or ``None`` (no sign)."""
    exam, imaging = case.exam, case.imaging
    standalone = [
        name
        for name, present in (
            ("eye involvement", exam.eye_involvement),
            ("hypothalamic syndrome", exam.hypothalamic_syndrome),
        )
        if present
    ]
    presumptive = []
    if exam.cranial_nerve_palsies:
        presumptive.append(f"cranial nerve palsy ({', '.join(exam.cranial_nerve_palsies)})")
    if imaging.intracranial_mass:
        presumptive.append("intracranial mass")
    if standalone:
        rationale.append(f"Clinical sign of CNS disease: {' and '.join(standalone)}: criterion met.")
        return "met"
    if not presumptive:
        return None
    signs = " and ".join(presumptive)
    if leading is not None and not leading[2]:
        rationale.append(
            f"{signs[0].upper()}{signs[1:]}: a CNS relapse criterion only if {leading[1]} is excluded (the "
            "differential ranks it first)."
        )
        missing.append(f"exclusion of {leading[0]} (the leading cause in the differential)")
        return "indeterminate"
    rationale.append(
        f"{signs[0].upper()}{signs[1:]}, and a leukemic cause leads the differential: clinical criterion of "
        "CNS relapse met (the mimics must still be excluded)."
    )
    return "met"


def _relapse_type(case: ClinicalCase, rationale: list[str], missing: list[str]) -> str | None:
    marrow, blood_blasts = case.marrow, case.blood.blasts
    if marrow.blasts_percent is not None and marrow.blasts_percent >= MARROW_BLASTS_COMBINED_PERCENT:
        rationale.append(f"Marrow blasts {marrow.blasts_percent:g}% (≥5%): combined (marrow and CNS) relapse.")
        return "combined"
    if blood_blasts:
        rationale.append("Blasts in the peripheral blood: not an isolated CNS relapse; combined.")
        return "combined"
    if marrow.blasts_percent is None:
        missing.append(MARROW_NEEDED)
        rationale.append("Marrow not assessed: isolated CNS or combined relapse cannot be decided.")
        return None
    rationale.append(f"Marrow blasts {marrow.blasts_percent:g}% (<5%): isolated CNS relapse.")
    if marrow.mrd_percent is None:
        missing.append("marrow.mrd_percent (submicroscopic marrow involvement changes the prognosis)")
    elif marrow.mrd_percent >= MRD_SUBMICROSCOPIC_PERCENT:
        rationale.append(
            f"Marrow MRD {marrow.mrd_percent:g}% (≥0.01%): submicroscopic marrow involvement, a higher risk of "
            "a later relapse."
        )
    else:
        rationale.append(f"Marrow MRD {marrow.mrd_percent:g}% (<0.01%).")
    return "isolated_cns"


def assess_cns_relapse(case: ClinicalCase, leading: Leading | None) -> dict[str, Any]:
    """The CONTRACTS.md §4 ``cns_relapse`` object for a patient on therapy."""
    rationale: list[str] = []
    missing: list[str] = []
    csf = _csf_criterion(case, rationale, missing)
    sign = _sign_criterion(case, leading, rationale, missing)
    if "met" in (csf, sign):
        status = "met"
    elif csf == "not_met" and sign is None:
        status = "not_met"
        if case.exam.cranial_nerve_palsies is None:
            status = "indeterminate"
            missing.append("exam.cranial_nerve_palsies (examination not recorded)")
    else:
        status = "indeterminate"
    if status == "not_met" and case.csf.flow_cytometry == "positive":
        status = "indeterminate"
        rationale.append(
            "CSF flow cytometry positive with a negative cytospin: not in the relapse definition; repeat the tap."
        )
    sources = [S_RELAPSE]
    relapse_type: str | None = None
    if status == "met":
        relapse_type = _relapse_type(case, rationale, missing)
        sources.append(S_MRD)
    elif status == "indeterminate" and case.marrow.blasts_percent is None and (leading is None or leading[2]):
        # Asked for when a leukemic cause leads; not when another cause explains the sign best.
        missing.append(MARROW_NEEDED)
    return {
        "status": status,
        "type": relapse_type,
        "rationale": rationale,
        "missing": list(dict.fromkeys(missing)),
        "sources": sources,
    }


__all__ = ["assess_cns_relapse"]
