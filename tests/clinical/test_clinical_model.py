"""The clinical case model: valid input loads, bad input is refused naming the field path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cnmri.assess.clinical import case_from_dict, evaluate_case, load_case
from cnmri.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"


def test_example_case_loads() -> None:
    case = load_case(EXAMPLE)
    assert case.disease.type == "T-ALL"
    assert case.exam.cranial_nerve_palsies == ["CN7-left", "CN7-right", "CN9-left", "CN9-right"]
    assert case.csf.flow_cytometry == "not_done"


def test_json_and_yaml_give_the_same_case(tmp_path: Path) -> None:
    data = {"csf": {"wbc_per_ul": 3, "blasts": True}, "exam": {"cranial_nerve_palsies": ["CN6-left"]}}
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.yaml").write_text("csf: {wbc_per_ul: 3, blasts: true}\nexam:\n  cranial_nerve_palsies: [CN6-left]\n")
    assert load_case(tmp_path / "c.json") == load_case(tmp_path / "c.yaml")


def test_missing_values_stay_missing() -> None:
    case = case_from_dict({"csf": {"wbc_per_ul": 2}})
    assert case.csf.blasts is None
    assert case.csf.rbc_per_ul is None
    assert case.exam.cranial_nerve_palsies is None
    assert case.medications is None


def test_empty_file_is_an_empty_case(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert load_case(tmp_path / "empty.yaml") == case_from_dict({})


def test_nerve_names_are_normalised() -> None:
    case = case_from_dict({"exam": {"cranial_nerve_palsies": ["cn7-Left", "CN12_right"]}})
    assert case.exam.cranial_nerve_palsies == ["CN7-left", "CN12-right"]


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ({"csf": {"wbc_per_ul": -1}}, ["csf.wbc_per_ul", "plausible range"]),
        ({"blood": {"platelets_per_ul": -5}}, ["blood.platelets_per_ul"]),
        ({"csf": {"wbc_per_ul": "five"}}, ["csf.wbc_per_ul", "expected a number", "five"]),
        ({"patient": {"age_years": "twenty"}}, ["patient.age_years", "expected a number"]),
        ({"csf": {"wbc_per_ul": 1e9}}, ["csf.wbc_per_ul", "plausible range"]),
        ({"csf": {"wbc_per_ul": "1e9"}}, ["csf.wbc_per_ul", "plausible range"]),
        ({"csf": {"wbc_per_ul": True}}, ["csf.wbc_per_ul", "boolean"]),
        ({"csf": {"wbc_per_ul": float("nan")}}, ["csf.wbc_per_ul", "finite"]),
        ({"blood": {"rbc_per_ul": 3.2}}, ["blood.rbc_per_ul", "per µL"]),
        ({"csf": {"wbcs": 3}}, ["csf.wbcs", "unknown field", "wbc_per_ul"]),
        ({"labs": {}}, ["labs", "unknown field", "patient"]),
        ({"csf": {"pcr": {"VZX": "positive"}}}, ["csf.pcr.VZX", "VZV, HSV, CMV, EBV"]),
        ({"csf": {"pcr": {"VZV": "pos"}}}, ["csf.pcr.VZV", "'positive'"]),
        ({"csf": {"flow_cytometry": "done"}}, ["csf.flow_cytometry", "not_done"]),
        ({"disease": {"type": "ALL"}}, ["disease.type", "B-ALL", "T-ALL"]),
        (
            {"exam": {"cranial_nerve_palsies": ["CN7-left", "CN7-lft"]}},
            ["exam.cranial_nerve_palsies[1]", "CN7-right"],
        ),
        ({"exam": {"cranial_nerve_palsies": ["facial"]}}, ["exam.cranial_nerve_palsies[0]", "allowed"]),
        ({"exam": {"cranial_nerve_palsies": ["CN13-left"]}}, ["exam.cranial_nerve_palsies[0]"]),
        ({"exam": {"cranial_nerve_palsies": "CN7-left"}}, ["exam.cranial_nerve_palsies", "list"]),
        ({"imaging": {"nerve_findings": ["CN7-both"]}}, ["imaging.nerve_findings[0]"]),
        ({"imaging": {"pet_avid_nerves": ["CN5-lft"]}}, ["imaging.pet_avid_nerves[0]"]),
        ({"exam": {"pain": "maybe"}}, ["exam.pain", "true or false"]),
        (
            {"medications": [{"name": "vincristine", "days_since_last_dose": -3}]},
            ["medications[0].days_since_last_dose"],
        ),
        ({"medications": [{"dose": 1}]}, ["medications[0]"]),
        ({"blood": {"wbc_per_ul": 1000, "anc_per_ul": 5000}}, ["blood.anc_per_ul", "wbc_per_ul"]),
        ({"blood": {"rbc_per_ul": 3e6}, "csf": {"rbc_per_ul": 4e6}}, ["csf.rbc_per_ul", "blood.rbc_per_ul"]),
        ({"csf": 5}, ["csf", "mapping"]),
    ],
)
def test_bad_input_names_the_field(data: dict, fragments: list[str]) -> None:
    with pytest.raises(InputError) as error:
        case_from_dict(data)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_blasts_with_zero_cells_is_allowed() -> None:
    case = case_from_dict({"csf": {"wbc_per_ul": 0, "rbc_per_ul": 0, "blasts": True}})
    assert case.csf.blasts is True


def test_unknown_drug_is_allowed_and_reported() -> None:
    case = case_from_dict({"medications": [{"name": "imatinib", "days_since_last_dose": 2}]})
    result = evaluate_case(case)
    assert any("imatinib" in w and "not considered" in w for w in result["warnings"])


def test_known_drug_aliases() -> None:
    case = case_from_dict({"medications": [{"name": "Vincristine", "days_since_last_dose": 7}, {"name": "IT MTX"}]})
    assert [w for w in evaluate_case(case)["warnings"] if w.startswith("medications")] == []


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("missing.yaml", None, "does not exist"),
        ("bad.yaml", "csf: [unclosed", "not valid YAML"),
        ("bad.json", "{", "not valid JSON"),
        ("list.yaml", "- 1\n- 2\n", "mapping"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, text: str | None, fragment: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=fragment):
        load_case(path)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"blood": {"inr": 45}}, "blood.inr: 45 is outside the plausible range"),
        ({"marrow": {"blasts_percent": 140}}, "marrow.blasts_percent: 140 is outside"),
        ({"marrow": {"mrd": 0.1}}, "marrow.mrd: unknown field; allowed here: mrd_percent, blasts_percent"),
        ({"exam": {"facial_weakness_pattern": "upper"}}, "exam.facial_weakness_pattern: 'upper' is not allowed"),
        ({"exam": {"eye_involvement": "maybe"}}, "exam.eye_involvement: expected true or false"),
    ],
)
def test_turn_two_fields_are_checked(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(InputError, match=re.escape(fragment)):
        case_from_dict(data)


def test_turn_two_fields_are_read() -> None:
    case = case_from_dict(
        {
            "blood": {"inr": 1.3},
            "marrow": {"mrd_percent": 0.02, "blasts_percent": 1},
            "exam": {"eye_involvement": True, "hypothalamic_syndrome": False, "facial_weakness_pattern": "Central"},
        }
    )
    assert (case.blood.inr, case.marrow.mrd_percent, case.marrow.blasts_percent) == (1.3, 0.02, 1)
    assert (case.exam.eye_involvement, case.exam.hypothalamic_syndrome) == (True, False)
    assert case.exam.facial_weakness_pattern == "central"
