"""Vignettes: the motivating case and the mimics, and the shape of the evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnmri.assess.clinical import (
    DIAGNOSES,
    case_from_dict,
    evaluate_case,
    load_case,
    render_clinical_html,
    render_clinical_text,
)
from cnmri.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"

CONTRACT_DIAGNOSES = {
    "leukemic_infiltration",
    "neurolymphomatosis",
    "myeloid_sarcoma",
    "vzv_reactivation",
    "hsv_infection",
    "invasive_fungal_infection",
    "guillain_barre",
    "vincristine_neurotoxicity",
    "nelarabine_neurotoxicity",
    "methotrexate_neurotoxicity",
    "radiation_injury",
    "bell_palsy",
    "sarcoidosis",
    "lyme",
}

MOTIVATING: dict[str, Any] = {
    "patient": {"age_years": 21, "sex": "male"},
    "disease": {"type": "T-ALL", "phase": "consolidation"},
    "csf": {"wbc_per_ul": 1, "rbc_per_ul": 0, "blasts": False, "flow_cytometry": "not_done"},
    "exam": {"cranial_nerve_palsies": ["CN7-left", "CN7-right", "CN9-left", "CN9-right"]},
}

VZV: dict[str, Any] = {
    "disease": {"type": "B-ALL", "phase": "maintenance"},
    "csf": {"wbc_per_ul": 30, "rbc_per_ul": 0, "blasts": False, "pcr": {"VZV": "positive"}},
    "exam": {
        "cranial_nerve_palsies": ["CN7-right", "CN8-right"],
        "vesicles": True,
        "otalgia": True,
        "pain": True,
    },
    "imaging": {"nerve_findings": ["CN7-right", "CN8-right"]},
}

VINCRISTINE: dict[str, Any] = {
    "disease": {"type": "B-ALL", "phase": "induction"},
    "csf": {"wbc_per_ul": 1, "rbc_per_ul": 0, "blasts": False},
    "exam": {"cranial_nerve_palsies": ["CN3-left", "CN3-right"], "ptosis": True},
    "medications": [{"name": "vincristine", "days_since_last_dose": 10}],
    "imaging": {"nerve_findings": []},
}


def _ids(result: dict[str, Any]) -> list[str]:
    return [item["diagnosis"] for item in result["differential"]]


def test_motivating_case_is_cns3c_by_the_palsy_rule_and_leukemic_first() -> None:
    result = evaluate_case(case_from_dict(MOTIVATING))
    status = result["cns_status"]
    assert (status["framework"], status["category"], status["subcategory"]) == ("COG", "CNS3", "CNS3c")
    assert any("palsy" in line for line in status["rationale"])
    assert status["missing"] == []
    assert all(other["category"] == "CNS3" for other in status["other_frameworks"])
    assert _ids(result)[0] == "leukemic_infiltration"
    top = result["differential"][0]
    assert any("Both sides" in line for line in top["for"])
    assert any("cytology negative" in line for line in top["against"])
    assert any("flow cytometry" in step for step in top["next_steps"])


def test_example_file_matches_the_vignette() -> None:
    result = evaluate_case(load_case(EXAMPLE))
    assert result["cns_status"]["subcategory"] == "CNS3c"
    assert _ids(result)[0] == "leukemic_infiltration"


def test_vzv_with_vesicles_and_positive_pcr_ranks_first() -> None:
    result = evaluate_case(case_from_dict(VZV))
    assert _ids(result)[0] == "vzv_reactivation"
    assert _ids(result).index("leukemic_infiltration") > 0


def test_vincristine_with_ptosis_and_normal_mri_ranks_first() -> None:
    result = evaluate_case(case_from_dict(VINCRISTINE))
    assert _ids(result)[0] == "vincristine_neurotoxicity"
    # The palsy is the only CNS3 criterion and another cause leads: provisional, not CNS3c.
    status = result["cns_status"]
    assert (status["category"], status["subcategory"]) == ("indeterminate", None)
    assert status["alternative_cause"] == "vincristine_neurotoxicity"
    assert any("CNS3c only if" in line and "Vincristine" in line for line in status["rationale"])


def test_differential_shape_and_never_certain() -> None:
    for data in (MOTIVATING, VZV, VINCRISTINE, {}):
        result = evaluate_case(case_from_dict(data))
        assert CONTRACT_DIAGNOSES <= set(_ids(result)) == set(DIAGNOSES)
        points = [item["points"] for item in result["differential"]]
        assert points == sorted(points, reverse=True)
        for item in result["differential"]:
            assert 0.0 < item["score"] <= 0.8
            assert item["tier"] in ("leading", "possible", "unlikely")
            assert item["label"] and item["next_steps"] and item["sources"]
            assert isinstance(item["for"], list) and isinstance(item["against"], list)


def test_empty_case_is_indeterminate_and_says_what_is_missing() -> None:
    result = evaluate_case(case_from_dict({}))
    assert result["cns_status"]["category"] == "indeterminate"
    assert result["cns_status"]["missing"]


def test_nerve_findings_from_the_images_replace_the_case() -> None:
    case = case_from_dict(VINCRISTINE)
    normal = evaluate_case(case)
    enhancing = evaluate_case(case, nerve_findings_override=["CN3-left", "CN3-right", "CN6-left", "CN7-left"])
    vcr = {i["diagnosis"]: i for i in normal["differential"]}["vincristine_neurotoxicity"]
    vcr_enh = {i["diagnosis"]: i for i in enhancing["differential"]}["vincristine_neurotoxicity"]
    assert vcr_enh["points"] < vcr["points"]
    assert enhancing["cns_status"]["imaging_support"] is True
    assert any("replaced" in w for w in enhancing["warnings"])
    with pytest.raises(InputError, match=r"nerve_findings_override\[0\]"):
        evaluate_case(case, nerve_findings_override=["facial-left"])


def test_framework_and_boundary_options() -> None:
    case = case_from_dict(
        {
            "csf": {"wbc_per_ul": 50, "rbc_per_ul": 10_000, "blasts": True},
            "blood": {"wbc_per_ul": 10_000, "rbc_per_ul": 4_000_000, "blasts": True},
            "exam": {"cranial_nerve_palsies": []},
        }
    )
    assert evaluate_case(case)["cns_status"]["category"] == "CNS2"
    assert evaluate_case(case, sb_boundary="ge")["cns_status"]["category"] == "CNS3"
    bfm = evaluate_case(case, framework="BFM")["cns_status"]
    assert (bfm["framework"], bfm["category"]) == ("BFM", "TLP+")
    with pytest.raises(ValueError, match="framework"):
        evaluate_case(case, framework="XYZ")  # type: ignore[arg-type]


def test_text_rendering() -> None:
    text = render_clinical_text(evaluate_case(case_from_dict(MOTIVATING)))
    assert "CNS3 (CNS3c)" in text
    assert "CNS3-equivalent" not in text
    assert "Leukemic infiltration" in text
    assert "not a diagnosis" in text


def test_html_fragment_is_escaped_and_says_decision_support() -> None:
    data = dict(MOTIVATING, medications=[{"name": "<script>alert(1)</script>"}])
    html = render_clinical_html(evaluate_case(case_from_dict(data)))
    assert html.startswith('<section class="cnmri-clinical">') and html.endswith("</section>")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Decision support, not a diagnosis" in html
