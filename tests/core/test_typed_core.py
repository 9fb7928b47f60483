"""The typed core (issue 10 part 4): Study adapters, one ``analyze``, typed findings, frozen settings.

Front ends are checked with ``cnmri.pipeline.analyze`` replaced by a recorder that stops the run
(no registration); one real analysis of the 2 mm Colin27 head checks what is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from tests.conftest import save

from cnmri.analysis import Analysis
from cnmri.assess.findings import NerveFinding, SegmentFinding
from cnmri.cli import main
from cnmri.errors import InputError, ProcessingError
from cnmri.io.study import Study, nifti_study
from cnmri.settings import Settings

#: A segment record as the imaging rules leave it (every key the pipeline writes today).
SEGMENT_RECORD: dict[str, Any] = {
    "nerve": "CN7",
    "side": "left",
    "segment": "canalicular",
    "key": "CN7-left-canalicular",
    "abnormal": True,
    "physiologic_enhancement": False,
    "compartment": "internal_auditory_canal",
    "rule": "non_physiologic",
    "enhancement": 1.234,
    "enhancement_mean": 1.1,
    "enhancement_ratio": None,
    "thickness_mm": 2.81,
    "asymmetry": 0.45,
    "z": 4.2,
    "z_thickness": 3,
    "shared_with": [],
    "reasons": ["enhancement z 4.2 >= 3"],
    "computed_from": {
        "sequences": ["T1_pre", "T1_post"],
        "roi_voxels": 40,
        "z_location": None,
        "vessel_excluded_voxels": 0,
    },
    "placement": {"method": "atlas", "confidence": None, "shift_mm": 0.0},
    "continuity": {"by": "CN7-left-cisternal"},  # a field the typed value does not name
}
NERVE_RECORD: dict[str, Any] = {
    "nerve": "CN7",
    "side": "left",
    "abnormal": True,
    "score": 0.97,
    "abnormal_segments": ["canalicular"],
    "segments_measured": 6,
    "segments_total": 6,
}


# ------------------------------------------------------------------------------------------ findings


def test_typed_findings_give_back_the_record_byte_for_byte() -> None:
    segment = SegmentFinding.from_record(SEGMENT_RECORD)
    nerve = NerveFinding.from_record(NERVE_RECORD)
    for typed, record in ((segment, SEGMENT_RECORD), (nerve, NERVE_RECORD)):
        assert json.dumps(typed.to_json(), sort_keys=True) == json.dumps(record, sort_keys=True)
    assert segment.key == "CN7-left-canalicular" and nerve.key == "CN7-left"
    assert segment.z_thickness == 3 and json.dumps(segment.to_json()["z_thickness"]) == "3"


def test_findings_are_frozen_to_the_bottom() -> None:
    segment = SegmentFinding.from_record(SEGMENT_RECORD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.abnormal = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        segment.computed_from["roi_voxels"] = 0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        NerveFinding.from_record(NERVE_RECORD).score = 0.0  # type: ignore[misc]
    # the caller's record is copied: changing it later does not change the finding
    record = json.loads(json.dumps(SEGMENT_RECORD))
    frozen = SegmentFinding.from_record(record)
    record["computed_from"]["roi_voxels"] = 1
    assert frozen.computed_from["roi_voxels"] == 40


def test_working_keys_of_the_rules_never_reach_a_finding() -> None:
    with pytest.raises(ValueError, match="_evidence_z"):
        SegmentFinding.from_record({**SEGMENT_RECORD, "_evidence_z": 4.0})
    with pytest.raises(ValueError, match="_by_continuity"):
        NerveFinding.from_record({**NERVE_RECORD, "_by_continuity": True})
    with pytest.raises(ValueError, match="computed_from"):
        SegmentFinding.from_record({k: v for k, v in SEGMENT_RECORD.items() if k != "computed_from"})


def test_analysis_serves_findings_from_its_typed_values() -> None:
    tiny_volume = _tiny()
    findings = {"schema_version": "1", "segments": [SEGMENT_RECORD], "nerves": [NERVE_RECORD], "warnings": []}
    analysis = Analysis(findings, tiny_volume, None, None, tiny_volume, {}, {})
    assert isinstance(analysis.segments[0], SegmentFinding) and isinstance(analysis.nerves[0], NerveFinding)
    assert "segments" not in analysis.record
    assert analysis.findings["segments"] == [SEGMENT_RECORD] and analysis.abnormal_nerves == ["CN7-left"]
    analysis.add_warnings(["checked"])
    assert analysis.findings["warnings"] == ["checked"]


def test_analysis_imports_without_the_pipeline_and_the_old_names_still_work() -> None:
    code = (
        "import sys, cnmri.analysis, cnmri.report.writers, cnmri.report.interop, cnmri.report.key_images\n"
        "assert 'cnmri.pipeline' not in sys.modules, 'the writers pulled in the pipeline'\n"
        "from cnmri.pipeline import Analysis, AnalyzeOptions, run_analysis\n"
        "from cnmri.settings import Settings\n"
        "assert Analysis is cnmri.analysis.Analysis and AnalyzeOptions is Settings and callable(run_analysis)\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(src)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------------------ settings


def test_settings_are_frozen_and_name_files_without_their_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Doe^John MRN 4711"
    folder.mkdir()
    atlas = folder / "site_atlas.json"
    atlas.write_text("{}")
    settings = Settings(atlas=atlas, threads=3, ciss=folder / "ciss.nii.gz")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.threads = 1  # type: ignore[misc]
    recorded = settings.to_json()
    text = json.dumps(recorded)
    assert "Doe" not in text and str(tmp_path) not in text and "ciss" not in recorded
    assert recorded["atlas"] == {"name": "site_atlas.json", "sha256": hashlib.sha256(b"{}").hexdigest()}
    assert recorded["threads"] == 3 and recorded["template"] is None


def test_provenance_texts_follow_their_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnmri.provenance as provenance
    from cnmri.atlas import load_atlas

    assert provenance.enhancement_method("pre_post").startswith("75th percentile of reference-normalised")
    assert provenance.noise_method("post_only").startswith("1.4826 × MAD")
    reference = provenance.reference_tissue_text(load_atlas())
    assert reference == "pons and cerebellar white matter (atlas reference regions)"
    monkeypatch.setattr(provenance, "ENHANCEMENT_PERCENTILE", 90.0)
    monkeypatch.setattr(provenance, "MAD_TO_SD", 1.5)
    assert provenance.enhancement_method("post_only").startswith("90th percentile")
    assert provenance.noise_method("pre_post").startswith("1.5 × MAD")
    assert [provenance.ordinal(n) for n in (1, 2, 3, 11, 22, 50)] == ["1st", "2nd", "3rd", "11th", "22nd", "50th"]


def test_registration_method_text_follows_the_metrics_greedy_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnmri.preprocess.registration as registration

    expected = "greedy rigid(NMI)+affine(NMI) whole head on 2 mm copies; deformable NCC 2x2x2 on skull-base box"
    assert registration.registration_method(True) == expected
    monkeypatch.setattr(registration, "DEFORMABLE_METRIC", "NCC 3x3x3")
    assert registration.registration_method(True).endswith("deformable NCC 3x3x3 on skull-base box")
    assert registration.registration_method(False) == "greedy rigid(NMI)+affine(NMI) whole head on 2 mm copies"
    monkeypatch.setattr(registration, "LINEAR_VOXEL_MM", None)
    assert registration.registration_method(False) == "greedy rigid(NMI)+affine(NMI) whole head"


# ------------------------------------------------------------------------------------------ NIfTI adapter


def test_nifti_inputs_are_named_by_role_and_content_not_file_name(tmp_path: Path) -> None:
    post = tmp_path / "Doe_John_MRN4711_post.nii.gz"
    post.write_bytes(b"image bytes")
    study = nifti_study(post)
    record = study.inputs["post"]
    assert record == {"role": "post", "format": "nifti", "sha256": hashlib.sha256(b"image bytes").hexdigest()}
    assert "Doe" not in json.dumps(dict(study.inputs)) and study.mode == "post_only"
    assert nifti_study(post, identify=True).inputs["post"]["file"] == post.name
    with pytest.raises(InputError, match=r"absent\.nii\.gz does not exist"):
        nifti_study(tmp_path / "absent.nii.gz")


# ------------------------------------------------------------------------------------------ front ends


class Stopped(ProcessingError):
    """Raised by the recorder in place of the analysis."""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Study, Settings]]:
    """``cnmri.pipeline.analyze`` replaced by a recorder that stops the run."""
    import cnmri.pipeline

    seen: list[tuple[Study, Settings]] = []

    def recorder(study: Study, settings: Settings | None = None) -> Analysis:
        seen.append((study, settings or Settings()))
        raise Stopped("stopped by the test")

    monkeypatch.setattr(cnmri.pipeline, "analyze", recorder)
    return seen


def test_cli_analyze_and_demo_call_analyze_with_a_study(
    calls: list[tuple[Study, Settings]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    post = tmp_path / "post.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(post))
    case = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"
    argv = ["analyze", "--post", str(post), "--clinical", str(case), "--threads", "3", "--affine-only"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 3
    study, settings = calls[-1]
    assert study.origin == "nifti" and study.post == post and study.clinical == case and study.pre is None
    assert settings.threads == 3 and settings.deformable is False
    assert main(["demo", "-o", str(tmp_path / "demo")]) == 3
    study, settings = calls[-1]
    assert study.pre is not None and study.clinical is not None and settings.template_volume is not None
    assert "stopped by the test" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "demo").exists()


def test_cohort_runner_and_phantom_bench_call_analyze(calls: list[tuple[Study, Settings]], tmp_path: Path) -> None:
    from cnmri.cohort.bids import SessionInputs
    from cnmri.cohort.runner import Job, JobSettings, run_job
    from cnmri.phantom.bench import default_analyzer

    anat = tmp_path / "raw" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    post = anat / "sub-01_ce-gadolinium_T1w.nii.gz"
    post.write_bytes(b"post")
    flair = anat / "sub-01_ce-gadolinium_FLAIR.nii.gz"
    flair.write_bytes(b"flair")
    session = SessionInputs("01", None, post, flair_post=flair)
    job = Job(session, str(tmp_path / "raw"), str(tmp_path / "out"), JobSettings())
    record = run_job(job)
    assert record["status"] == "failed" and "stopped by the test" in record["reason"]
    study, settings = calls[-1]
    assert study.post == post and any("FLAIR" in w for w in study.warnings) and settings.threads == 1
    with pytest.raises(Stopped):
        default_analyzer(None, post, tmp_path / "bench-out")
    assert calls[-1][1].report is False


def test_watch_parses_its_analyze_options_up_front(tmp_path: Path) -> None:
    from cnmri.commands.analyze import parse_analyze_args
    from cnmri.errors import InputError

    args = parse_analyze_args([str(tmp_path), "-o", str(tmp_path / "o"), "--deidentify", "--threads", "1"])
    assert isinstance(args, argparse.Namespace) and args.deidentify and args.study_dir == tmp_path
    with pytest.raises(InputError, match="not valid"):
        parse_analyze_args([str(tmp_path), "-o", str(tmp_path / "o"), "--no-such-option"])


# ------------------------------------------------------------------------------------------ one real run


@pytest.fixture(scope="module")
def patient_named_head(colin27: nib.Nifti1Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Colin27 head at 2 mm, in a folder and file named like a patient's export."""
    folder = tmp_path_factory.mktemp("exports") / "Doe^Jane 1970-01-01"
    folder.mkdir()
    small = ndimage.zoom(np.asarray(colin27.dataobj, dtype=np.float32), 0.5, order=1)
    return save(folder, "Doe_Jane_MRN4711_T1_post.nii.gz", small, colin27.affine @ np.diag([2.0, 2.0, 2.0, 1.0]))


def test_a_real_analysis_writes_typed_findings_settings_and_no_names(
    patient_named_head: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cnmri.pipeline

    results: list[Analysis] = []
    real = cnmri.pipeline.analyze

    def keep(study: Study, settings: Settings | None = None) -> Analysis:
        results.append(real(study, settings))
        return results[-1]

    monkeypatch.setattr(cnmri.pipeline, "analyze", keep)
    out = tmp_path / "out"
    assert main(["analyze", "--post", str(patient_named_head), "--affine-only", "--no-report", "-o", str(out)]) == 0
    (analysis,) = results
    assert all(isinstance(s, SegmentFinding) for s in analysis.segments) and len(analysis.segments) == 56
    findings = json.loads((out / "findings.json").read_text())
    assert findings["segments"] == [s.to_json() for s in analysis.segments]
    assert findings["nerves"] == [n.to_json() for n in analysis.nerves]
    digest = hashlib.sha256(patient_named_head.read_bytes()).hexdigest()
    assert findings["inputs"] == {"post": {"role": "post", "format": "nifti", "sha256": digest}}
    settings = json.loads((out / "settings.json").read_text())
    assert settings["deformable"] is False and settings["report"] is False
    for name in ("findings.json", "settings.json", "segments.tsv"):
        text = (out / name).read_text()
        assert "Doe" not in text and "MRN4711" not in text, name
        assert str(tmp_path) not in text and str(patient_named_head.parent) not in text, name
    assert not [v for v in _strings(settings) if v.startswith("/")]
    assert findings["segments"][0]["computed_from"]["enhancement"].startswith("75th percentile")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _tiny() -> Any:
    from cnmri.volume import Volume

    return Volume(np.zeros((2, 2, 2), dtype=np.float32), np.eye(4))
