"""CNS status, table-driven from the guideline definitions, every boundary included."""

from __future__ import annotations

from typing import Any

import pytest

from cnmri.assess.clinical.cns_status import assess_cns_status, steinherz_bleyer
from cnmri.assess.clinical.model import ClinicalCase, case_from_dict


def make_case(
    wbc: float | None = None,
    rbc: float | None = None,
    blasts: bool | None = None,
    blood_wbc: float | None = None,
    blood_rbc: float | None = None,
    blood_blasts: bool | None = True,  # Steinherz/Bleyer applies only with blasts in the blood
    palsies: list[str] | None = None,
    mass: bool | None = None,
) -> ClinicalCase:
    data: dict[str, Any] = {
        "disease": {"type": "B-ALL"},
        "csf": {"wbc_per_ul": wbc, "rbc_per_ul": rbc, "blasts": blasts},
        "blood": {"wbc_per_ul": blood_wbc, "rbc_per_ul": blood_rbc, "blasts": blood_blasts},
        "exam": {"cranial_nerve_palsies": [] if palsies is None else palsies},
        "imaging": {"intracranial_mass": False if mass is None else mass},
    }
    return case_from_dict(data)


def status(case: ClinicalCase, framework: str = "COG", boundary: str | None = None) -> tuple[str, str | None]:
    result = assess_cns_status(case, framework=framework, sb_boundary=boundary)  # type: ignore[arg-type]
    return result["category"], result["subcategory"]


# (CSF WBC, CSF RBC, blasts) -> COG category and sub-category, non-traumatic and traumatic without S/B.
COG_TABLE = [
    (0, 0, False, "CNS1", None),
    (4, 9, False, "CNS1", None),
    (500, 9, False, "CNS1", None),  # no blasts, whatever the WBC
    (80, 2000, False, "CNS1", None),  # traumatic, no blasts
    (0, 0, True, "CNS2", "CNS2a"),  # blasts with zero cells: allowed
    (4, 0, True, "CNS2", "CNS2a"),
    (4.99, 9, True, "CNS2", "CNS2a"),
    (4, 9, True, "CNS2", "CNS2a"),  # RBC 9: not traumatic
    (4, 10, True, "CNS2", "CNS2b"),  # RBC 10: traumatic
    (4, 5000, True, "CNS2", "CNS2b"),
    (5, 0, True, "CNS3", "CNS3a"),  # WBC 5: CNS3
    (5, 9, True, "CNS3", "CNS3a"),
    (200, 9, True, "CNS3", "CNS3a"),
]


@pytest.mark.parametrize(("wbc", "rbc", "blasts", "category", "sub"), COG_TABLE)
def test_cog_table(wbc: float, rbc: float, blasts: bool, category: str, sub: str | None) -> None:
    assert status(make_case(wbc, rbc, blasts)) == (category, sub)


@pytest.mark.parametrize(("wbc", "rbc", "blasts", "category", "sub"), COG_TABLE)
def test_nccn_has_the_same_categories_without_subclasses(
    wbc: float, rbc: float, blasts: bool, category: str, sub: str | None
) -> None:
    assert status(make_case(wbc, rbc, blasts), "NCCN") == (category, None)


# Steinherz/Bleyer: blood WBC/RBC = 10,000 / 4,000,000 = 0.0025, so the boundary is CSF WBC/RBC = 0.005.
# CSF RBC 10,000: CSF WBC 50 is exactly 2x, 49 below, 51 above.
SB_TABLE = [
    (49, "gt", "CNS2", "CNS2c"),
    (49, "ge", "CNS2", "CNS2c"),
    (50, "gt", "CNS2", "CNS2c"),  # exactly 2x: not greater than
    (50, "ge", "CNS3", "CNS3b"),  # exactly 2x: at least
    (51, "gt", "CNS3", "CNS3b"),
    (51, "ge", "CNS3", "CNS3b"),
]


@pytest.mark.parametrize(("csf_wbc", "boundary", "category", "sub"), SB_TABLE)
def test_steinherz_bleyer_boundary(csf_wbc: float, boundary: str, category: str, sub: str) -> None:
    case = make_case(csf_wbc, 10_000, True, blood_wbc=10_000, blood_rbc=4_000_000)
    assert status(case, "COG", boundary) == (category, sub)
    assert status(case, "NCCN", boundary) == (category, None)


def test_framework_default_boundaries_at_exactly_two() -> None:
    case = make_case(50, 10_000, True, blood_wbc=10_000, blood_rbc=4_000_000)
    assert status(case, "COG") == ("CNS2", "CNS2c")  # COG: "greater than 2 times"
    assert status(case, "NCCN") == ("CNS3", None)  # NCCN: "at least 2-fold"


def test_exact_comparison_where_floating_point_would_wobble() -> None:
    # 6/3000 and 2 * 3000/3e6 are both 0.002; equality must be exact.
    assert steinherz_bleyer(6, 3000, 3000, 3_000_000, "gt")["positive"] is False
    assert steinherz_bleyer(6, 3000, 3000, 3_000_000, "ge")["positive"] is True
    assert steinherz_bleyer(0.3, 150, 3000, 3_000_000, "ge")["positive"] is True


def test_worked_example_of_the_fact_sheet() -> None:
    # CSF 60 WBC and 1,500 RBC/µL; blood 46,000 WBC and 3.0e6 RBC/µL: 0.040 > 2 x 0.0153 -> CNS3.
    case = make_case(60, 1500, True, blood_wbc=46_000, blood_rbc=3_000_000)
    result = assess_cns_status(case)
    assert (result["category"], result["subcategory"]) == ("CNS3", "CNS3b")
    assert result["traumatic_tap"] is True
    assert result["bloody_tap"] is True
    assert result["steinherz_bleyer"]["positive"] is True


@pytest.mark.parametrize(
    ("wbc", "rbc", "blasts", "category"),
    [
        (0, 0, False, "CNS1"),
        (4, 9, True, "CNS2"),
        (5, 9, True, "CNS3"),
        (4, 10, True, "TLP+"),
        (60, 1500, True, "TLP+"),
        (4, 10, False, "TLP-"),
        (4, 9, False, "CNS1"),
    ],
)
def test_bfm_keeps_traumatic_taps_apart(wbc: float, rbc: float, blasts: bool, category: str) -> None:
    assert status(make_case(wbc, rbc, blasts), "BFM") == (category, None)


@pytest.mark.parametrize(
    ("wbc", "rbc", "blasts", "category"),
    [
        (0, 0, False, "CNS1"),
        (40, 2000, False, "CNS1"),
        (4, 9, True, "CNS2"),
        (5, 9, True, "CNS3"),
        (4, 10, True, "TLP+"),
    ],
)
def test_st_jude(wbc: float, rbc: float, blasts: bool, category: str) -> None:
    assert status(make_case(wbc, rbc, blasts), "StJude") == (category, None)


@pytest.mark.parametrize("framework", ["COG", "NCCN", "BFM", "StJude"])
@pytest.mark.parametrize("sign", ["palsy", "mass"])
def test_clinical_signs_make_cns3_whatever_the_csf(framework: str, sign: str) -> None:
    case = make_case(0, 0, False, palsies=["CN7-left"] if sign == "palsy" else [], mass=sign == "mass")
    category, sub = status(case, framework)
    assert category == "CNS3"
    assert sub == ("CNS3c" if framework == "COG" else None)
    # even when the CSF was not examined at all
    case = make_case(palsies=["CN7-left"] if sign == "palsy" else [], mass=sign == "mass")
    assert status(case, framework)[0] == "CNS3"


@pytest.mark.parametrize(
    ("case", "framework", "needed"),
    [
        (make_case(3, 0, None), "COG", "csf.blasts"),
        (make_case(None, 0, True), "COG", "csf.wbc_per_ul"),
        (make_case(7, None, True), "COG", "csf.rbc_per_ul"),
        (make_case(60, 1500, True), "COG", "blood.wbc_per_ul"),
        (make_case(60, 1500, True, blood_wbc=46_000), "COG", "blood.rbc_per_ul"),
        (make_case(60, 1500, True, blood_rbc=3e6), "NCCN", "blood.wbc_per_ul"),
        (make_case(0, None, False), "BFM", "csf.rbc_per_ul"),
        (make_case(3, None, True), "StJude", "csf.rbc_per_ul"),
        (make_case(None, 0, True), "StJude", "csf.wbc_per_ul"),
    ],
)
def test_missing_data_is_indeterminate_and_named(case: ClinicalCase, framework: str, needed: str) -> None:
    result = assess_cns_status(case, framework=framework)  # type: ignore[arg-type]
    assert result["category"] == "indeterminate"
    assert result["subcategory"] is None
    assert any(item.startswith(needed) for item in result["missing"])


def test_undecidable_subcategory_is_null_and_named() -> None:
    result = assess_cns_status(make_case(3, None, True))
    assert (result["category"], result["subcategory"]) == ("CNS2", None)
    assert any(item.startswith("csf.rbc_per_ul") for item in result["missing"])


def test_unrecorded_examination_is_listed_as_missing() -> None:
    case = case_from_dict({"csf": {"wbc_per_ul": 0, "rbc_per_ul": 0, "blasts": False}})
    result = assess_cns_status(case)
    assert result["category"] == "CNS1"
    assert any(item.startswith("exam.cranial_nerve_palsies") for item in result["missing"])


def test_every_result_carries_sources_and_other_frameworks() -> None:
    result = assess_cns_status(make_case(60, 1500, True, blood_wbc=46_000, blood_rbc=3e6))
    assert result["sources"] and all(isinstance(s, str) and s for s in result["sources"])
    assert [o["framework"] for o in result["other_frameworks"]] == ["NCCN", "BFM", "StJude"]
    for other in result["other_frameworks"]:
        assert other["sources"]
    assert result["flow_cytometry"] is None
