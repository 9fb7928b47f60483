"""Property tests: more evidence of blasts never lowers the category; missing data never decides it."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnmri.assess.clinical.cns_status import CATEGORY_RANK, FRAMEWORKS, assess_cns_status
from cnmri.assess.clinical.model import ClinicalCase, case_from_dict

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

counts = st.one_of(st.integers(0, 300), st.floats(0, 300, allow_nan=False))
csf_rbc = st.one_of(st.integers(0, 20), st.integers(0, 20_000))
frameworks = st.sampled_from(FRAMEWORKS)
boundaries = st.sampled_from([None, "gt", "ge"])


@st.composite
def complete_cases(draw: Any) -> dict[str, Any]:
    """Every field the CNS status uses is present."""
    return {
        "disease": {"type": "T-ALL"},
        "csf": {"wbc_per_ul": draw(counts), "rbc_per_ul": draw(csf_rbc), "blasts": draw(st.booleans())},
        "blood": {
            "wbc_per_ul": draw(st.integers(0, 200_000)),
            "rbc_per_ul": draw(st.integers(500_000, 6_000_000)),
            "blasts": draw(st.booleans()),
        },
        "exam": {"cranial_nerve_palsies": draw(st.sampled_from([[], ["CN7-left"], ["CN6-left", "CN6-right"]]))},
        "imaging": {"intracranial_mass": draw(st.booleans())},
    }


@st.composite
def partial_cases(draw: Any) -> dict[str, Any]:
    """Like complete_cases, but any CSF or blood field may be missing."""
    data = draw(complete_cases())
    for section, field in (
        ("csf", "wbc_per_ul"),
        ("csf", "rbc_per_ul"),
        ("csf", "blasts"),
        ("blood", "wbc_per_ul"),
        ("blood", "rbc_per_ul"),
        ("blood", "blasts"),
    ):
        if draw(st.booleans()):
            data[section][field] = None
    return data


def _status(data: dict[str, Any], framework: str, boundary: str | None) -> dict[str, Any]:
    case: ClinicalCase = case_from_dict(data)
    return assess_cns_status(case, framework=framework, sb_boundary=boundary)  # type: ignore[arg-type]


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {key: dict(value) for key, value in data.items()}


def _not_lower(before: dict[str, Any], after: dict[str, Any]) -> bool:
    if "indeterminate" in (before["category"], after["category"]):
        return True
    return CATEGORY_RANK[after["category"]] >= CATEGORY_RANK[before["category"]]


@SETTINGS
@given(partial_cases(), frameworks, boundaries, st.integers(0, 4), st.floats(0, 500, allow_nan=False))
def test_more_blast_evidence_never_lowers_the_category(
    data: dict[str, Any], framework: str, boundary: str | None, how: int, extra: float
) -> None:
    before = _status(data, framework, boundary)
    stronger = _copy(data)
    if how == 0:  # blasts found on cytospin
        stronger["csf"]["blasts"] = True
    elif how == 1:  # more white cells in the CSF
        if stronger["csf"]["wbc_per_ul"] is not None:
            stronger["csf"]["wbc_per_ul"] = min(100_000, stronger["csf"]["wbc_per_ul"] + extra)
    elif how == 2:  # a cranial nerve palsy
        stronger["exam"]["cranial_nerve_palsies"] = ["CN7-left", "CN7-right"]
    elif how == 3:  # an intracranial mass
        stronger["imaging"]["intracranial_mass"] = True
    else:  # flow cytometry positive: reported beside, never lowers
        stronger["csf"]["flow_cytometry"] = "positive"
    after = _status(stronger, framework, boundary)
    assert _not_lower(before, after), (before["category"], after["category"])


@SETTINGS
@given(complete_cases(), st.data(), frameworks, boundaries)
def test_missing_data_never_yields_a_definite_category(
    data: dict[str, Any], draw: st.DataObject, framework: str, boundary: str | None
) -> None:
    full = _status(data, framework, boundary)
    assert full["category"] != "indeterminate"
    partial = _copy(data)
    for section, field in (
        ("csf", "wbc_per_ul"),
        ("csf", "rbc_per_ul"),
        ("csf", "blasts"),
        ("blood", "wbc_per_ul"),
        ("blood", "rbc_per_ul"),
        ("blood", "blasts"),
    ):
        if draw.draw(st.booleans()):
            partial[section][field] = None
    result = _status(partial, framework, boundary)
    # A category decided without some data must be the one the complete data gives: the missing
    # values could not have changed it. Otherwise it is indeterminate and says what is missing.
    assert result["category"] in ("indeterminate", full["category"])
    assert result["subcategory"] in (None, full["subcategory"])
    if result["category"] == "indeterminate":
        assert result["missing"]
    if result["subcategory"] is None and full["subcategory"] is not None:
        assert result["missing"]


@SETTINGS
@given(partial_cases(), frameworks, boundaries)
def test_blasts_not_assessed_without_signs_is_indeterminate(
    data: dict[str, Any], framework: str, boundary: str | None
) -> None:
    data["csf"]["blasts"] = None
    data["exam"]["cranial_nerve_palsies"] = []
    data["imaging"]["intracranial_mass"] = False
    result = _status(data, framework, boundary)
    assert result["category"] == "indeterminate"
    assert any(item.startswith("csf.blasts") for item in result["missing"])
