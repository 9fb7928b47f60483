"""CNS status in acute lymphoblastic leukemia under the published frameworks.

COG is the default; NCCN, AIEOP-BFM (with its separate TLP+ and TLP− categories) and St Jude are computed
beside it. The rule texts and their sources are data (``cnmri/data/cns_rules_v1.yaml``, each rule with
its source next to it, schema-checked when loaded); :data:`RULES` holds them and ``docs/clinical.md``'s
table is generated from the file (``python -m cnmri.docs_tables``). The decisions are this code.

The decision uses, in this order:

1. Clinical signs: a cranial nerve palsy, eye involvement, a hypothalamic syndrome or an intracranial
   mass makes the status CNS3 (COG CNS3c) whatever the CSF shows. The palsy and mass rules presume the
   sign has no other cause: when the differential ranks a non-leukemic cause first and a palsy or mass
   is the only CNS3 criterion, the status is ``indeterminate`` with that ``alternative_cause``
   ("CNS3c only if <cause> is excluded").
2. The CSF read on cytospin: blasts (yes/no), WBC per µL against 5, RBC per µL against 10 (traumatic
   tap), and for a traumatic tap with ≥5 WBC/µL and blasts, when the blood has blasts, the
   Steinherz/Bleyer ratio against the blood (COG applies it only then).

When the data a step needs is missing the category is ``indeterminate`` and ``missing`` names what to
obtain; a value is never assumed. A sub-category that cannot be decided is ``None`` and its missing
input is listed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import yaml
from pydantic import Field

from cnmri.assess.clinical.model import ClinicalCase
from cnmri.ruledata import RuleDataError, StrictModel, parse_rule_data, read_data_text

Framework = Literal["COG", "NCCN", "BFM", "StJude"]
Boundary = Literal["gt", "ge"]

FRAMEWORKS: tuple[Framework, ...] = ("COG", "NCCN", "BFM", "StJude")
FRAMEWORK_LABELS: dict[str, str] = {
    "COG": "Children's Oncology Group",
    "NCCN": "NCCN",
    "BFM": "AIEOP-BFM",
    "StJude": "St Jude",
}
#: Steinherz/Bleyer boundary each framework is quoted with: COG "greater than 2 times", NCCN "at least
#: 2-fold". Both are used when the user does not choose.
DEFAULT_BOUNDARY: dict[str, Boundary] = {"COG": "gt", "NCCN": "ge", "BFM": "gt", "StJude": "gt"}

#: Order of categories for "more evidence of blasts never lowers the category".
CATEGORY_RANK: dict[str, int] = {"CNS1": 0, "TLP-": 0, "CNS2": 1, "TLP+": 1, "CNS3": 2}

WBC_CUTOFF_PER_UL = 5  # CNS3 needs >= 5 WBC/µL with blasts
TRAUMATIC_RBC_PER_UL = 10  # traumatic LP: >= 10 RBC/µL
BLOODY_RBC_PER_UL = 500  # bloody LP: >= 500 RBC/µL (St Jude)
SB_FACTOR = 2


@dataclass(frozen=True)
class Rule:
    """One published rule: what it says, where it comes from, and how sure we are of it."""

    id: str
    text: str
    source: str
    confidence: str  # H: primary source or guideline text seen; M: secondary; L: weak


RULES_FILE = "cns_rules_v1.yaml"

#: Every rule id this module cites; the data file must hold exactly these.
RULE_IDS_USED = frozenset(
    {
        "cns1",
        "cns2",
        "cns3_csf",
        "cog_subclass",
        "traumatic_tap",
        "steinherz_bleyer",
        "steinherz_bleyer_ge",
        "sb_needs_blood_blasts",
        "palsy_cog",
        "palsy_bfm",
        "tlp_bfm",
        "stjude",
        "tlp_stjude",
        "palsy_tool",
        "palsy_provisional",
        "mri_support",
        "adult",
        "steroids_it",
        "flow",
        "repeat_lp",
    }
)


class _RuleSpec(StrictModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str = Field(min_length=1)
    source: str = Field(min_length=1)
    confidence: Literal["H", "M", "L"]


class _RulesFile(StrictModel):
    version: str = Field(min_length=1)
    confidence_levels: dict[Literal["H", "M", "L"], str]
    rules: list[_RuleSpec] = Field(min_length=1)


def parse_rules(data: Any) -> tuple[str, dict[str, Rule]]:
    """The version and the rules of a parsed rules file; errors name the file and the rule."""
    spec = parse_rule_data(data, _RulesFile, RULES_FILE)
    rules: dict[str, Rule] = {}
    for index, item in enumerate(spec.rules):
        if item.id in rules:
            raise RuleDataError(f"{RULES_FILE}: rules[{index}] ({item.id}): duplicate id")
        if item.id not in RULE_IDS_USED:
            raise RuleDataError(f"{RULES_FILE}: rules[{index}] ({item.id}): not a rule the CNS status cites")
        rules[item.id] = Rule(item.id, item.text, item.source, item.confidence)
    missing = sorted(RULE_IDS_USED - set(rules))
    if missing:
        raise RuleDataError(f"{RULES_FILE}: rules: {', '.join(missing)} missing; the CNS status cites them")
    return spec.version, rules


def rules_data() -> Any:
    """The shipped rules file, parsed (for the docs tables and tests)."""
    try:
        return yaml.safe_load(read_data_text(RULES_FILE))
    except yaml.YAMLError as error:
        raise RuleDataError(f"{RULES_FILE}: not valid YAML: {error}") from None


#: The rules with their sources, in the order of the data file (cnmri/data/cns_rules_v1.yaml).
RULES_VERSION, RULES = parse_rules(rules_data())


@dataclass(frozen=True)
class _Facts:
    wbc: float | None
    rbc: float | None
    blasts: bool | None
    blood_wbc: float | None
    blood_rbc: float | None
    blood_blasts: bool | None
    palsies: tuple[str, ...] | None
    mass: bool | None
    eye: bool | None
    hypothalamic: bool | None
    flow: str | None
    nerve_findings: tuple[str, ...] | None
    disease: str | None


def _facts(case: ClinicalCase, nerve_findings: list[str] | None) -> _Facts:
    findings = nerve_findings if nerve_findings is not None else case.imaging.nerve_findings
    palsies = case.exam.cranial_nerve_palsies
    return _Facts(
        wbc=case.csf.wbc_per_ul,
        rbc=case.csf.rbc_per_ul,
        blasts=case.csf.blasts,
        blood_wbc=case.blood.wbc_per_ul,
        blood_rbc=case.blood.rbc_per_ul,
        blood_blasts=case.blood.blasts,
        palsies=tuple(palsies) if palsies is not None else None,
        mass=case.imaging.intracranial_mass,
        eye=case.exam.eye_involvement,
        hypothalamic=case.exam.hypothalamic_syndrome,
        flow=case.csf.flow_cytometry,
        nerve_findings=tuple(findings) if findings is not None else None,
        disease=case.disease.type,
    )


def _num(value: float) -> str:
    return f"{value:g}"


def _exact(value: float) -> Fraction:
    return Fraction(str(value))


def steinherz_bleyer(
    csf_wbc: float, csf_rbc: float, blood_wbc: float, blood_rbc: float, boundary: Boundary = "gt"
) -> dict[str, Any]:
    """The Steinherz/Bleyer comparison, exactly (no floating-point rounding at the boundary).

    ``positive`` is ``csf_wbc/csf_rbc > 2 * blood_wbc/blood_rbc`` (``boundary="gt"``) or ``>=``
    (``boundary="ge"``); all counts per µL. Compared by cross-multiplication of exact fractions of the
    numbers as written, so the boundary case "exactly twice" is decided by the setting, not by rounding.
    """
    if csf_rbc <= 0 or blood_rbc <= 0:
        raise ValueError("Steinherz/Bleyer needs positive CSF and blood RBC counts (per µL)")
    # Fractions of the shortest decimal text: a count typed as 0.3 is compared as 3/10.
    left = _exact(csf_wbc) * _exact(blood_rbc)
    right = SB_FACTOR * _exact(blood_wbc) * _exact(csf_rbc)
    positive = left > right if boundary == "gt" else left >= right
    csf_ratio = csf_wbc / csf_rbc
    blood_ratio = blood_wbc / blood_rbc
    return {
        "csf_wbc_rbc_ratio": round(csf_ratio, 6),
        "blood_wbc_rbc_ratio": round(blood_ratio, 6),
        "factor": SB_FACTOR,
        "boundary": ">" if boundary == "gt" else ">=",
        "positive": positive,
    }


class _Result:
    def __init__(self, framework: Framework, boundary: Boundary) -> None:
        self.framework = framework
        self.boundary = boundary
        self.category = "indeterminate"
        self.subcategory: str | None = None
        self.rationale: list[str] = []
        self.missing: list[str] = []
        self.rule_ids: list[str] = []
        self.sb: dict[str, Any] | None = None

    def cite(self, rule_id: str, text: str) -> None:
        self.rationale.append(text)
        if rule_id not in self.rule_ids:
            self.rule_ids.append(rule_id)

    def need(self, item: str) -> None:
        if item not in self.missing:
            self.missing.append(item)


def _sb_step(facts: _Facts, result: _Result) -> bool | None:
    """Apply Steinherz/Bleyer when CSF WBC >= 5, blasts and a traumatic tap; None when blood counts lack."""
    assert facts.wbc is not None and facts.rbc is not None
    sb_rule = "steinherz_bleyer_ge" if result.boundary == "ge" else "steinherz_bleyer"
    if facts.blood_blasts is False:
        result.cite(
            "sb_needs_blood_blasts",
            "No blasts in the blood: the Steinherz/Bleyer algorithm does not apply (COG uses it only with "
            "leukemic cells in the peripheral blood); contamination cannot explain the CSF blasts.",
        )
        return True
    if facts.blood_wbc is None or facts.blood_rbc is None:
        if facts.blood_wbc is None:
            result.need("blood.wbc_per_ul (blood WBC per µL from the same day, for the Steinherz/Bleyer ratio)")
        if facts.blood_rbc is None:
            result.need("blood.rbc_per_ul (blood RBC per µL from the same day, for the Steinherz/Bleyer ratio)")
        result.cite(
            sb_rule,
            "Traumatic tap with CSF WBC ≥5/µL and blasts: the Steinherz/Bleyer ratio decides CNS2 vs CNS3, "
            "but the blood counts are missing.",
        )
        return None
    result.sb = steinherz_bleyer(facts.wbc, facts.rbc, facts.blood_wbc, facts.blood_rbc, result.boundary)
    sign = ">" if result.boundary == "gt" else "≥"
    verdict = "positive" if result.sb["positive"] else "negative"
    result.cite(
        sb_rule,
        f"Steinherz/Bleyer {verdict}: CSF WBC/RBC {result.sb['csf_wbc_rbc_ratio']:.6g} vs "
        f"{SB_FACTOR} × blood WBC/RBC {result.sb['blood_wbc_rbc_ratio']:.6g} (test: CSF ratio {sign} "
        f"{SB_FACTOR} × blood ratio).",
    )
    if facts.blood_blasts is None and not result.sb["positive"]:
        # Negative only counts when blood blasts could have contaminated the tap.
        result.need(
            "blood.blasts (blasts in the peripheral blood: Steinherz/Bleyer applies only with circulating "
            "blasts; without them this tap is CNS3)"
        )
        result.cite(
            "sb_needs_blood_blasts",
            "Steinherz/Bleyer negative, but whether the blood has blasts is not recorded: CNS2 if it does, "
            "CNS3 if it does not.",
        )
        return None
    return bool(result.sb["positive"])


def _csf_cog(facts: _Facts, result: _Result, subclasses: bool) -> None:
    """COG (with sub-classes) and NCCN (without) from the CSF alone."""
    rule3 = "cns3_csf"
    if _blasts_unread(facts, result, "CNS1 vs CNS2/3 cannot be decided"):
        return
    if facts.blasts is False:
        counts = f" (CSF WBC {_num(facts.wbc)}/µL)" if facts.wbc is not None else ""
        result.category = "CNS1"
        result.cite("cns1", f"No blasts on cytospin{counts}: CNS1.")
        return
    if facts.wbc is None:
        result.need("csf.wbc_per_ul (CSF white cells per µL)")
        result.cite("cns2", "Blasts present but CSF WBC not recorded: CNS2 vs CNS3 cannot be decided.")
        return
    if facts.wbc < WBC_CUTOFF_PER_UL:
        result.category = "CNS2"
        result.cite("cns2", f"Blasts with CSF WBC {_num(facts.wbc)}/µL (<5): CNS2.")
        if subclasses:
            if facts.rbc is None:
                result.need("csf.rbc_per_ul (CSF red cells per µL, for CNS2a vs CNS2b)")
            else:
                result.subcategory = "CNS2a" if facts.rbc < TRAUMATIC_RBC_PER_UL else "CNS2b"
                result.cite("cog_subclass", f"CSF RBC {_num(facts.rbc)}/µL: {result.subcategory}.")
        return
    # blasts with >= 5 WBC/µL
    if facts.rbc is None:
        result.need("csf.rbc_per_ul (CSF red cells per µL: a traumatic tap needs the Steinherz/Bleyer rule)")
        result.cite(rule3, f"Blasts with CSF WBC {_num(facts.wbc)}/µL (≥5), but CSF RBC not recorded.")
        return
    if facts.rbc < TRAUMATIC_RBC_PER_UL:
        result.category = "CNS3"
        result.subcategory = "CNS3a" if subclasses else None
        result.cite(rule3, f"Blasts with CSF WBC {_num(facts.wbc)}/µL (≥5) on a non-traumatic tap: CNS3.")
        if subclasses:
            result.cite("cog_subclass", f"CSF RBC {_num(facts.rbc)}/µL (<10): CNS3a.")
        return
    result.cite("traumatic_tap", f"CSF RBC {_num(facts.rbc)}/µL (≥10): traumatic tap.")
    positive = _sb_step(facts, result)
    if positive is None:
        return
    result.category = "CNS3" if positive else "CNS2"
    if subclasses:
        result.subcategory = "CNS3b" if positive else "CNS2c"
        result.cite("cog_subclass", f"Traumatic tap, ≥5 WBC/µL, blasts: {result.subcategory}.")


def _csf_bfm(facts: _Facts, result: _Result) -> None:
    """AIEOP-BFM: CNS1-3 on a clean tap; a traumatic tap is TLP+ (blasts) or TLP− (no blasts)."""
    if _blasts_unread(facts, result, "the status cannot be decided"):
        return
    if facts.rbc is None:
        result.need("csf.rbc_per_ul (CSF red cells per µL: AIEOP-BFM keeps traumatic taps apart)")
        result.cite("tlp_bfm", "CSF RBC not recorded: a traumatic tap (TLP+/TLP−) cannot be excluded.")
        return
    if facts.rbc >= TRAUMATIC_RBC_PER_UL:
        result.category = "TLP+" if facts.blasts else "TLP-"
        result.cite(
            "tlp_bfm",
            f"CSF RBC {_num(facts.rbc)}/µL (≥10), {'with' if facts.blasts else 'without'} blasts: {result.category}.",
        )
        computable = facts.blood_wbc is not None and facts.blood_rbc is not None
        if facts.blasts and facts.wbc is not None and facts.wbc >= WBC_CUTOFF_PER_UL and computable:
            assert facts.blood_wbc is not None and facts.blood_rbc is not None
            result.sb = steinherz_bleyer(facts.wbc, facts.rbc, facts.blood_wbc, facts.blood_rbc, result.boundary)
            result.rationale.append(
                f"Steinherz/Bleyer reported beside (not part of this category): "
                f"{'positive' if result.sb['positive'] else 'negative'}."
            )
        return
    if not facts.blasts:
        result.category = "CNS1"
        result.cite("cns1", "No blasts on a non-traumatic tap: CNS1.")
        return
    _blasts_by_wbc(facts, result, "cns3_csf", " on a non-traumatic tap")


def _csf_stjude(facts: _Facts, result: _Result) -> None:
    """St Jude: CNS1-3; a traumatic tap with blasts is TLP+."""
    if _blasts_unread(facts, result, "the status cannot be decided"):
        return
    if facts.blasts is False:
        result.category = "CNS1"
        result.cite("cns1", "No blasts on cytospin: CNS1.")
        return
    if facts.rbc is None:
        result.need("csf.rbc_per_ul (CSF red cells per µL: a traumatic tap with blasts is TLP+)")
        result.cite("tlp_stjude", "Blasts present but CSF RBC not recorded: TLP+ cannot be excluded.")
        return
    if facts.rbc >= TRAUMATIC_RBC_PER_UL:
        result.category = "TLP+"
        bloody = " (bloody, ≥500/µL)" if facts.rbc >= BLOODY_RBC_PER_UL else ""
        result.cite("tlp_stjude", f"Traumatic tap{bloody}, CSF RBC {_num(facts.rbc)}/µL, with blasts: TLP+.")
        return
    _blasts_by_wbc(facts, result, "stjude")


def _blasts_unread(facts: _Facts, result: _Result, consequence: str) -> bool:
    """Record that the cytospin was not read for blasts; True when that stops the decision."""
    if facts.blasts is not None:
        return False
    result.need("csf.blasts (cytospin read for blasts)")
    result.cite("cns1", f"Blasts on cytospin not recorded: {consequence}.")
    return True


def _blasts_by_wbc(facts: _Facts, result: _Result, high_rule: str, context: str = "") -> None:
    """Blasts present on a tap that is not traumatic: CNS3 at CSF WBC ≥5/µL, else CNS2."""
    if facts.wbc is None:
        result.need("csf.wbc_per_ul (CSF white cells per µL)")
        result.cite("cns2", "Blasts present but CSF WBC not recorded: CNS2 vs CNS3 cannot be decided.")
        return
    high = facts.wbc >= WBC_CUTOFF_PER_UL
    result.category = "CNS3" if high else "CNS2"
    result.cite(
        high_rule if high else "cns2",
        f"Blasts with CSF WBC {_num(facts.wbc)}/µL ({'≥' if high else '<'}5){context}: {result.category}.",
    )


#: A leading cause of the differential: (diagnosis id, label, is it a leukemic cause).
Leading = tuple[str, str, bool]

#: Phases on treatment: there the question is CNS relapse, not the diagnostic CNS status.
ON_THERAPY_PHASES = frozenset({"induction", "consolidation", "maintenance", "relapse", "post-transplant"})
ADULT_AGE_YEARS = 18


def context_of(case: ClinicalCase) -> str | None:
    """``diagnosis`` or ``on_therapy`` from ``disease.phase``; ``None`` when the phase is not given."""
    phase = case.disease.phase
    if phase is None:
        return None
    return "on_therapy" if phase in ON_THERAPY_PHASES else "diagnosis"


def _signs(facts: _Facts) -> tuple[list[str], list[str]]:
    """Clinical signs of CNS leukemia: (those with possible other causes, those that stand alone)."""
    presumptive: list[str] = []
    standalone: list[str] = []
    if facts.palsies:
        presumptive.append(f"cranial nerve palsy ({', '.join(facts.palsies)})")
    if facts.mass:
        presumptive.append("intracranial mass on imaging")
    if facts.eye:
        standalone.append("eye involvement (retina or optic nerve)")
    if facts.hypothalamic:
        standalone.append("hypothalamic syndrome")
    return presumptive, standalone


def _classify(
    facts: _Facts, framework: Framework, boundary: Boundary, leading: Leading | None = None
) -> dict[str, Any]:
    result = _Result(framework, boundary)
    csf = _Result(framework, boundary)
    if framework in ("COG", "NCCN"):
        _csf_cog(facts, csf, subclasses=framework == "COG")
    elif framework == "BFM":
        _csf_bfm(facts, csf)
    else:
        _csf_stjude(facts, csf)

    presumptive, standalone = _signs(facts)
    signs = presumptive + standalone
    sign_rule = {"COG": "palsy_cog", "NCCN": "palsy_cog", "BFM": "palsy_bfm", "StJude": "stjude"}[framework]
    label = "CNS3c" if framework == "COG" else "CNS3"
    alternative: str | None = None
    if signs:
        result.category = "CNS3"
        result.subcategory = "CNS3c" if framework == "COG" else None
        only_presumptive = not standalone and csf.category != "CNS3"
        provisional = only_presumptive and leading is not None and not leading[2]
        verdict = f"{label} if no other cause explains it" if provisional else f"{label}, whatever the CSF"
        result.cite(sign_rule, f"Clinical sign of CNS leukemia: {' and '.join(signs)}: {verdict}.")
        if facts.palsies:
            result.cite(
                "palsy_tool",
                "The palsy rule presumes the palsy is not explained by another cause; see the differential.",
            )
        csf_view = csf.category + (f" ({csf.subcategory})" if csf.subcategory else "")
        result.rationale.append(f"The CSF alone would give: {csf_view}.")
        result.rationale.extend(f"  {line}" for line in csf.rationale)
        for rule_id in csf.rule_ids:
            if rule_id not in result.rule_ids:
                result.rule_ids.append(rule_id)
        result.sb = csf.sb
        if provisional and leading is not None:
            # The sign is the only CNS3 criterion and another cause explains it best: provisional.
            alternative = leading[0]
            result.category, result.subcategory = "indeterminate", None
            result.cite(
                "palsy_provisional",
                f"{label} only if {leading[1]} is excluded: the differential ranks it first and the "
                f"{' and '.join(presumptive)} is the only CNS3 criterion.",
            )
            result.missing = list(csf.missing)
            result.need(f"exclusion of {leading[0]} (the leading cause in the differential)")
    else:
        result.category, result.subcategory = csf.category, csf.subcategory
        result.rationale, result.missing, result.rule_ids, result.sb = (
            csf.rationale,
            csf.missing,
            csf.rule_ids,
            csf.sb,
        )
        if CATEGORY_RANK.get(result.category, -1) < CATEGORY_RANK["CNS3"]:
            # A clinical sign would raise the category; say when it was not recorded.
            if facts.palsies is None:
                result.need("exam.cranial_nerve_palsies (examination not recorded; a palsy makes the status CNS3)")
            if facts.mass is None:
                result.need("imaging.intracranial_mass (not recorded; a mass makes the status CNS3)")
    if facts.disease not in ("B-ALL", "T-ALL"):
        what = f"disease type {facts.disease}" if facts.disease else "disease type not given"
        result.rationale.append(f"These definitions were written for ALL ({what}); applied by analogy.")
    return {
        "framework": framework,
        "label": FRAMEWORK_LABELS[framework],
        "category": result.category,
        "subcategory": result.subcategory,
        "alternative_cause": alternative,
        "traumatic_tap": None if facts.rbc is None else facts.rbc >= TRAUMATIC_RBC_PER_UL,
        "bloody_tap": None if facts.rbc is None else facts.rbc >= BLOODY_RBC_PER_UL,
        "steinherz_bleyer": result.sb,
        "rationale": result.rationale,
        "missing": result.missing,
        "rules": [RULES[rule_id].text for rule_id in result.rule_ids],
        "sources": list(dict.fromkeys(RULES[rule_id].source for rule_id in result.rule_ids)),
    }


def _beside(facts: _Facts) -> dict[str, Any]:
    """Flow cytometry and MRI, reported beside the definitions (they do not change the category)."""
    notes: list[str] = []
    sources: list[str] = []
    flow = facts.flow
    if flow == "positive":
        notes.append(
            "CSF flow cytometry positive: not part of the CNS1–3 definitions, but carries a higher CNS "
            "relapse risk; discuss with the treating team."
        )
    elif flow == "not_done" or flow is None:
        notes.append(
            "CSF flow cytometry "
            + ("not done" if flow else "not recorded")
            + ": it detects CNS involvement 2–3× more often than cytospin."
        )
    else:
        notes.append("CSF flow cytometry negative.")
    sources.append(RULES["flow"].source)
    imaging_support: bool | None = None
    if facts.nerve_findings is not None:
        imaging_support = bool(facts.nerve_findings)
        if facts.nerve_findings:
            notes.append(
                f"MRI nerve findings ({', '.join(facts.nerve_findings)}): support CNS leukemia once the "
                "mimics are excluded; MRI is not part of the CNS status definitions and does not set the "
                "category."
            )
            sources.append(RULES["mri_support"].source)
            if facts.blasts is False or facts.blasts is None:
                notes.append(RULES["repeat_lp"].text)
                sources.append(RULES["repeat_lp"].source)
    return {
        "flow_cytometry": flow,
        "imaging_support": imaging_support,
        "notes": notes,
        "sources": sources,
    }


def _warnings(case: ClinicalCase, facts: _Facts, steroid_or_it_days: float | None) -> tuple[list[str], list[str]]:
    """Warnings about the frameworks themselves (adult patient, CSF read after steroids or IT therapy)."""
    warnings: list[str] = []
    sources: list[str] = []
    age = case.patient.age_years
    if age is not None and age >= ADULT_AGE_YEARS:
        text = (
            f"Adult patient ({age:g} years): CNS1–3, the COG sub-classes and Steinherz/Bleyer are paediatric "
            "frameworks. Several adult groups treat any blasts on a non-traumatic tap as CNS disease, "
            "whatever the cell count"
        )
        if facts.blasts and facts.rbc is not None and facts.rbc < TRAUMATIC_RBC_PER_UL:
            text += "; by that reading this tap (blasts, non-traumatic) shows CNS disease"
        warnings.append(text + ".")
        sources.append(RULES["adult"].source)
    elif age is None:
        warnings.append(
            "patient.age_years not given: the CNS status frameworks are paediatric; adult groups read CSF "
            "blasts more strictly."
        )
    if steroid_or_it_days is not None and facts.blasts is False:
        warnings.append(
            f"Steroids or intrathecal therapy within the last week (last dose {steroid_or_it_days:g} d ago): "
            "a cytospin without blasts is less reassuring."
        )
        sources.append(RULES["steroids_it"].source)
    if (
        case.exam.facial_weakness_pattern == "central"
        and facts.palsies
        and any(p.startswith("CN7-") for p in facts.palsies)
    ):
        warnings.append(
            "Facial weakness is recorded as central (forehead spared): that is a brain lesion, not a facial "
            "nerve palsy; look for a stroke, venous thrombosis, PRES or a parenchymal mass."
        )
    return warnings, sources


def assess_cns_status(
    case: ClinicalCase,
    framework: Framework = "COG",
    sb_boundary: Boundary | None = None,
    nerve_findings: list[str] | None = None,
    leading: Leading | None = None,
    steroid_or_it_days: float | None = None,
) -> dict[str, Any]:
    """CNS status of ``case`` under ``framework``, with the other frameworks beside it.

    ``sb_boundary`` sets the Steinherz/Bleyer comparison for every framework (``"gt"``: CSF ratio
    greater than twice the blood ratio; ``"ge"``: at least twice); ``None`` uses each framework's own
    wording (:data:`DEFAULT_BOUNDARY`). ``nerve_findings`` replaces ``case.imaging.nerve_findings``.
    ``leading`` is the first cause of the differential ``(id, label, leukemic)``: a non-leukemic one
    makes a palsy- or mass-only CNS3 provisional (``indeterminate`` with ``alternative_cause``);
    ``None`` applies the definitions alone. ``steroid_or_it_days`` (days since the last steroid or
    intrathecal dose) adds a warning to a negative cytospin.
    Returns the CONTRACTS.md §4 ``cns_status`` object.
    """
    facts = _facts(case, nerve_findings)

    def one(name: Framework) -> dict[str, Any]:
        return _classify(facts, name, sb_boundary or DEFAULT_BOUNDARY[name], leading)

    primary = one(framework)
    beside = _beside(facts)
    warnings, warning_sources = _warnings(case, facts, steroid_or_it_days)
    primary["rationale"] = primary["rationale"] + beside["notes"]
    primary["sources"] = list(dict.fromkeys(primary["sources"] + beside["sources"] + warning_sources))
    primary["flow_cytometry"] = beside["flow_cytometry"]
    primary["imaging_support"] = beside["imaging_support"]
    primary["context"] = context_of(case)
    primary["warnings"] = warnings
    primary["other_frameworks"] = [one(name) for name in FRAMEWORKS if name != framework]
    return primary


__all__ = [
    "ADULT_AGE_YEARS",
    "CATEGORY_RANK",
    "DEFAULT_BOUNDARY",
    "FRAMEWORKS",
    "ON_THERAPY_PHASES",
    "RULES",
    "RULES_FILE",
    "RULES_VERSION",
    "Boundary",
    "Framework",
    "Leading",
    "Rule",
    "assess_cns_status",
    "context_of",
    "steinherz_bleyer",
]
