"""``cnmri analyze STUDY_DIR``: the whole pipeline from a messy DICOM folder (2 mm Colin27 study)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from dicom_study_builder import StudyWriter


def test_analyze_picks_the_series_says_why_and_leaks_no_identifiers(
    siemens: StudyWriter, tmp_path: Path, run_cli: Callable[[Sequence[str]], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cnmri.pipeline
    from cnmri.analysis import Analysis
    from cnmri.assess.findings import SegmentFinding

    results: list[tuple[Any, Analysis]] = []
    real = cnmri.pipeline.analyze

    def keep(study: Any, settings: Any = None) -> Analysis:
        results.append((study, real(study, settings)))
        return results[-1][1]

    monkeypatch.setattr(cnmri.pipeline, "analyze", keep)
    out = tmp_path / "out"
    code = run_cli(["analyze", str(siemens.root), "-o", str(out), "--no-report", "--deidentify"])
    assert code == 0
    # the DICOM adapter's study went through the same analyze as a NIfTI study (tests/core/test_typed_core.py)
    ((study, analysis),) = results
    assert study.origin == "dicom" and type(analysis) is Analysis
    assert all(type(s) is SegmentFinding for s in analysis.segments)
    settings = (out / "settings.json").read_text()
    assert str(siemens.root) not in settings and str(tmp_path) not in settings
    findings = json.loads((out / "findings.json").read_text())
    assert findings["mode"] == "pre_post"
    assert findings["inputs"]["post"]["series_number"] == 7
    assert findings["inputs"]["pre"]["series_number"] == 5
    assert findings["inputs"]["post"]["why"]
    original_uid = siemens.series[7].series_uid
    assert findings["inputs"]["post"]["series_instance_uid"] != original_uid
    assert findings["inputs"]["post"]["series_instance_uid"].startswith("2.25.")
    assert findings["study"]["deidentification"]["applied"] is True
    text = "".join(p.read_text(errors="ignore") for p in out.iterdir() if p.suffix in {".json", ".tsv"})
    assert "Doe" not in text and original_uid not in text
    assert len(findings["segments"]) == 56


def test_analyze_with_an_unknown_series_override_names_what_exists(
    siemens: StudyWriter, tmp_path: Path, run_cli: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = run_cli(["analyze", str(siemens.root), "-o", str(out), "--post-series", "99"])
    assert code == 2
    assert "99" in capsys.readouterr().err
    assert not out.exists()
