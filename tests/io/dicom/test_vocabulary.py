"""The DICOM vocabulary is data: schema-checked at load, and the classifier decides with what it says."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml
from dicom_study_builder import StudyWriter

from cnmri.io.dicom import classify
from cnmri.io.dicom.classify import Contrast, Kind, classify_series, contrast_from_text
from cnmri.io.dicom.discover import discover
from cnmri.io.dicom.vocabulary import DATA_FILE, SIGNALS_USED, load_vocabulary, parse_vocabulary
from cnmri.ruledata import RuleDataError


def _shipped() -> dict[str, Any]:
    text = resources.files("cnmri").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _signal(data: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    signal: dict[str, Any] = next(s for s in data["kinds"][kind] if s["name"] == name)
    return signal


def test_the_shipped_file_is_versioned_and_has_every_signal_the_classifier_uses() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.version == "1.0" == classify.VOCABULARY_VERSION
    for kind, names in SIGNALS_USED.items():
        assert set(names) <= set(vocabulary.signals[kind])
    assert [t.detail for t in vocabulary.token_lists["cisternography"]][:2] == ["CISS", "FIESTA"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["kinds"]["t1"].append({"name": "colour", "weight": 1.0, "tokens": ["red"]}),
            "kinds.t1[6] (colour): not a signal the classifier uses",
        ),
        (lambda d: d["kinds"]["flair"].pop(0), "kinds.flair: signal 'description' (text) is missing"),
        (lambda d: _signal(d, "mra", "description").pop("weight"), "kinds.mra[0] (description): weight is missing"),
        (
            lambda d: _signal(d, "dwi", "image_type").update(rule="b > 0"),
            "kinds.dwi[1]: Value error, give exactly one of tokens, regex, values, sequence_name or rule",
        ),
        (lambda d: d["contrast"].update(negatve=[]), "contrast.negatve: Extra inputs are not permitted"),
        (
            lambda d: d["contrast"]["confidence"].update(unknown=1.5),
            "contrast.confidence.unknown: Input should be less than or equal to 1",
        ),
        (lambda d: d["kinds"].pop("bold"), "kinds: bold missing"),
        (lambda d: d["kinds"].update(ct=[]), "kinds.ct: unknown kind"),
        (lambda d: d.pop("version"), "version: Field required"),
    ],
)
def test_a_broken_file_is_refused_naming_the_file_and_field(edit: Any, message: str) -> None:
    data = copy.deepcopy(_shipped())
    edit(data)
    with pytest.raises(RuleDataError) as caught:
        parse_vocabulary(data)
    text = str(caught.value)
    assert text.startswith(f"{DATA_FILE}: ")
    assert message in text, text


def test_a_broken_regex_names_its_signal() -> None:
    data = copy.deepcopy(_shipped())
    _signal(data, "swi", "description")["tokens"] = ["swi("]
    with pytest.raises(RuleDataError, match=r"kinds\.swi\[0\] \(description\): not a valid regular expression"):
        parse_vocabulary(data)


def test_contrast_words_come_from_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert contrast_from_text("T1 3D ilman varjoainetta") == (Contrast.UNKNOWN, [])
    data = copy.deepcopy(_shipped())
    data["contrast"]["negative"].append({"tokens": ["ilman ?varjoainetta"], "note": "Finnish 'without contrast'"})
    monkeypatch.setattr(classify, "VOCABULARY", parse_vocabulary(data))
    assert contrast_from_text("T1 3D ilman varjoainetta") == (Contrast.PRE, ["ilman varjoainetta"])


def test_a_weight_in_the_data_decides_the_kind(siemens: StudyWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    ciss = next(s for s in discover(siemens.root).series if s.number == 6)  # "t2_ciss3d_tra_0.5iso"
    assert classify_series(ciss).kind is Kind.CISTERNOGRAPHY
    data = copy.deepcopy(_shipped())
    _signal(data, "t2", "description")["weight"] = 20.0
    monkeypatch.setattr(classify, "VOCABULARY", parse_vocabulary(data))
    changed = classify_series(ciss)
    assert changed.kind is Kind.T2
    assert changed.reasons[0] == "description token 't2'"
