"""prepare_study, cnmri inspect, and bad input: exit 2 with a clear message, never a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from dicom_study_builder import GE, SEQ, Patient, Study, StudyWriter, build_ge_study, colin_head, enhanced

from cnmri.errors import InputError
from cnmri.io.dicom import inspect_study, prepare_study
from cnmri.io.nifti import load_volume

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"
RunCli = Callable[[Sequence[str]], int]


def test_prepare_siemens_study(siemens: StudyWriter, tmp_path: Path) -> None:
    prepared = prepare_study(siemens.root, tmp_path / "work")
    assert prepared.mode == "pre_post"
    assert prepared.post.name == "post.nii.gz" and prepared.pre is not None
    assert prepared.ciss is not None and prepared.flair_post is not None
    post = prepared.inputs["post"]
    assert post["series_number"] == 7 and post["series_instance_uid"] == siemens.series[7].series_uid
    assert post["series_description"] == "T1 MPRAGE SAG P2 ISO POST" and "best post-contrast T1" in post["why"]
    assert prepared.inputs["pre"]["series_number"] == 5
    volume = load_volume(prepared.post, role="post")
    assert volume.shape == (90, 108, 60) and volume.orientation == ("R", "A", "S")
    meta = prepared.metadata
    assert meta["manufacturer"] == "SIEMENS" and meta["field_strength_t"] == 3.0
    assert meta["study_date"] == "20240612" and meta["sequences"]["post"]["inversion_time_ms"] == 900.0
    text = json.dumps(meta)
    assert "Doe" not in text and "CN-0001" not in text and "General Hospital" not in text
    assert meta["deidentification"]["applied"] is True
    assert any("non-DICOM" in w for w in prepared.warnings)
    assert any("could not be read" in w for w in prepared.warnings)


def test_identify_keeps_the_patient(ge: StudyWriter, tmp_path: Path) -> None:
    meta = prepare_study(ge.root, tmp_path, identify=True).metadata
    assert meta["patient_name"] == "Doe^Jane" and meta["patient_id"] == "CN-0001"


def test_user_override(ge: StudyWriter, tmp_path: Path) -> None:
    prepared = prepare_study(ge.root, tmp_path, post_series=9, pre_series=5)
    assert prepared.inputs["post"]["why"] == "--post-series 9 was given"
    assert prepared.inputs["pre"]["why"] == "--pre-series 5 was given"
    with pytest.raises(InputError, match=r"--post-series 42: there is no series 42.*1, 4, 5, 6, 9"):
        prepare_study(ge.root, tmp_path, post_series=42)


def test_post_only_when_there_is_no_pre(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(tmp_path / "s", Study(vendor=GE))
    writer.add(enhanced(data), affine, 9, "Sag 3D BRAVO +C", SEQ["ge_t1"], 36000)
    prepared = prepare_study(writer.root, tmp_path / "w")
    assert prepared.pre is None and prepared.mode == "post_only"
    assert any("post-only" in w for w in prepared.warnings)


def test_inspect_table_and_json(siemens: StudyWriter, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["inspect", str(siemens.root)]) == 0
    out = capsys.readouterr().out
    assert "T1 MPRAGE SAG P2 ISO POST" in out and "T1 3D post" in out
    assert "selection: pre = series 5, post = series 7, ciss = series 6, flair_post = series 9" in out
    assert "Doe" not in out
    assert run_cli(["inspect", str(siemens.root), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["number"]: row for row in payload["series"]}
    assert rows[7]["role"] == "post" and rows[7]["kind"] == "T1" and rows[7]["contrast"] == "post"
    assert payload["non_dicom"] == 2 and len(payload["unreadable"]) == 1


def _exit_2(run_cli: RunCli, capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_empty_folder(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    _exit_2(run_cli, capsys, ["inspect", str(tmp_path)], "no DICOM images found", "0 file(s)")
    _exit_2(run_cli, capsys, ["inspect", str(tmp_path / "nope")], "does not exist")


def test_folder_of_text_and_broken_files(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)  # DICOM magic, garbage after
    _exit_2(run_cli, capsys, ["inspect", str(tmp_path)], "no DICOM images found", "1 not DICOM, 1 unreadable")


def test_no_mr(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(PYDICOM_FILES / "CT_small.dcm", tmp_path / "ct")
    _exit_2(run_cli, capsys, ["inspect", str(tmp_path)], "no MR image series", "not MR (CT)")
    with pytest.raises(InputError, match="no MR image series"):
        prepare_study(tmp_path, tmp_path / "w")


def test_no_post_contrast_t1(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(tmp_path / "s", Study(vendor=GE))
    writer.add(data, affine, 5, "Sag 3D BRAVO", SEQ["ge_t1"], 36000)
    writer.add(data, affine, 6, "Ax 3D FIESTA-C", SEQ["ge_fiesta"], 36500)
    err = _exit_2(
        run_cli,
        capsys,
        ["inspect", str(writer.root)],
        "no post-contrast T1 series found",
        "series 5 'SAG 3D BRAVO'",
        "--post-series",
    )
    assert "AX 3D FIESTA C" in err
    with pytest.raises(InputError, match="--post-series"):
        prepare_study(writer.root, tmp_path / "w")
    # the user can still say which series to use
    assert run_cli(["inspect", str(writer.root), "--post-series", "5"]) == 0


def test_two_equally_good_posts(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    writer = build_ge_study(tmp_path / "s", study=Study(vendor=GE))
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer.add(enhanced(data), affine, 10, "Sag 3D BRAVO +C", SEQ["ge_t1"], 9 * 3600 + 1200)
    _exit_2(
        run_cli,
        capsys,
        ["inspect", str(writer.root)],
        "equally good",
        "series 9",
        "series 10",
        "--post-series",
    )
    assert prepare_study(writer.root, tmp_path / "w", post_series=10).inputs["post"]["series_number"] == 10


def test_two_patients(tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    build_ge_study(tmp_path / "s" / "one", study=Study(vendor=GE))
    build_ge_study(tmp_path / "s" / "two", study=Study(vendor=GE, patient=Patient("Roe^John", "CN-0002")))
    err = _exit_2(
        run_cli,
        capsys,
        ["inspect", str(tmp_path / "s")],
        "2 different patients",
        "point STUDY_DIR at one patient",
    )
    assert "Roe" not in err and "CN-0002" not in err  # no identifiers in the message
    inventory = inspect_study(tmp_path / "s")
    assert inventory.patients == 2 and len(inventory.studies) == 2


def test_two_studies_of_one_patient(tmp_path: Path) -> None:
    build_ge_study(tmp_path / "s" / "2024", study=Study(vendor=GE))
    build_ge_study(tmp_path / "s" / "2025", study=Study(vendor=GE, date="20250101"))
    with pytest.raises(InputError, match=r"holds 2 studies.*20240612.*20250101"):
        prepare_study(tmp_path / "s", tmp_path / "w")


def test_missing_slices_in_the_post_are_a_clear_error(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(tmp_path / "s", Study(vendor=GE))
    writer.add(data, affine, 5, "Sag 3D BRAVO", SEQ["ge_t1"], 36000)
    writer.add(enhanced(data), affine, 9, "Sag 3D BRAVO +C", SEQ["ge_t1"], 37000, skip=[10, 11, 12])
    with pytest.raises(InputError, match=r"post series 9 'SAG 3D BRAVO \+C': 3 slice\(s\) missing"):
        prepare_study(writer.root, tmp_path / "w")


def test_outputs_hold_native_values(ge: StudyWriter, tmp_path: Path) -> None:
    prepared = prepare_study(ge.root, tmp_path)
    assert prepared.pre is not None
    pre = load_volume(prepared.pre)
    assert float(pre.data.max()) == float(ge.series[5].data.max())
    assert np.isclose(pre.zooms_mm, (4.0, 4.0, 4.0)).all()
