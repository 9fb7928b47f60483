from __future__ import annotations

from pathlib import Path

import pytest

from cnmri.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["--lesions", "CN13-left"],
        ["--lesions", "CN7"],
        ["--lesions", "CN7-left", "--segments", "nowhere"],
        ["--lesions", "CN7-left", "--contrast", "7"],
        ["--snr", "0.5"],
        ["--segments", "cisternal"],
    ],
)
def test_bad_input_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["phantom", "-o", str(tmp_path / "case"), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert not (tmp_path / "case").exists()


def test_bad_base_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import nibabel as nib
    import numpy as np

    path = tmp_path / "blob.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((20, 20, 20)).astype(np.float32), np.eye(4)), path)
    assert main(["phantom", "-o", str(tmp_path / "case"), "--base", str(path)]) == 2
    assert "head" in capsys.readouterr().err


def test_bench_unknown_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "huge", "-o", str(tmp_path / "b")]) == 2
    assert "standard" in capsys.readouterr().err


def test_evaluate_empty_folder(tmp_path: Path) -> None:
    assert main(["evaluate", "--cases", str(tmp_path), "-o", str(tmp_path / "e")]) == 2
