"""The DICOM adapter of ``Study`` (cnmri.io.study) and the PACS watcher calling ``analyze`` through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dicom_study_builder import StudyWriter

from cnmri.analysis import Analysis
from cnmri.errors import CnmriError
from cnmri.io.study import Study, dicom_study
from cnmri.settings import Settings


def test_the_dicom_adapter_converts_into_the_work_folder_and_records_no_identifier(
    siemens: StudyWriter, tmp_path: Path
) -> None:
    study = dicom_study(siemens.root, tmp_path / "work", deidentify=True)
    assert study.origin == "dicom" and study.mode == "pre_post"
    assert study.post.is_relative_to(tmp_path / "work") and study.pre is not None and study.pre.exists()
    assert study.inputs["post"]["series_number"] == 7 and study.inputs["pre"]["series_number"] == 5
    assert str(study.inputs["post"]["series_instance_uid"]).startswith("2.25.")
    assert study.inputs["post"]["series_instance_uid"] != siemens.series[7].series_uid
    assert study.source_files["post"] and all(p.is_relative_to(siemens.root) for p in study.source_files["post"])
    assert study.metadata is not None and study.metadata["deidentification"]["applied"] is True
    recorded = json.dumps({"inputs": study.inputs, "metadata": study.metadata, "warnings": study.warnings}, default=str)
    assert "Doe" not in recorded and str(siemens.root) not in recorded


def test_the_pacs_watcher_analyses_through_the_dicom_adapter(
    siemens: StudyWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cnmri.io.pacs
    import cnmri.pipeline
    from cnmri.commands.watch import process_study

    seen: list[tuple[Study, Settings | None]] = []
    pushed: list[Path] = []

    def recorder(study: Study, settings: Settings | None = None) -> Analysis:
        seen.append((study, settings))
        raise CnmriError("stopped by the test")

    monkeypatch.setattr(cnmri.io.pacs, "pull_study", lambda pacs, uid, out: shutil.copytree(siemens.root, out))
    monkeypatch.setattr(cnmri.io.pacs, "push_outputs", lambda pacs, out: pushed.append(out))
    monkeypatch.setattr(cnmri.pipeline, "analyze", recorder)
    folder = tmp_path / "studies" / "abc"
    with pytest.raises(CnmriError, match="stopped by the test"):
        process_study(object(), "1.2.3", folder, ["--deidentify", "--no-bias-correction"], keep_input=False)
    ((study, settings),) = seen
    assert study.origin == "dicom" and str(study.inputs["post"]["series_instance_uid"]).startswith("2.25.")
    assert settings is not None and settings.bias_correct is False
    assert pushed == [] and not (folder / "out").exists()  # nothing pushed, no partial output left
