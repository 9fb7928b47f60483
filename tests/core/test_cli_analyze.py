"""``cnmri analyze`` on bad input: one clear message, exit 2 (3 for processing), no traceback, no partial output."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from tests.conftest import save

from cnmri.cli import COMMANDS, build_parser, main


@pytest.fixture(scope="module")
def head_2mm(colin27: nib.Nifti1Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Colin27 head at 2 mm (a fast but real whole-head input)."""
    data = np.asarray(colin27.dataobj, dtype=np.float32)
    small = ndimage.zoom(data, 0.5, order=1)
    affine = colin27.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    return save(tmp_path_factory.mktemp("head"), "head.nii.gz", small, affine)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_every_contract_command_is_installed_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"analyze", "atlas", "clinical", "demo", "inspect", "compare", "phantom", "bench", "evaluate"} <= names
    assert set(COMMANDS) == names
    for name in names:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        assert "usage: cnmri" in capsys.readouterr().out


def test_no_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["analyze", "-o", str(tmp_path / "out")], capsys)
    assert code == 2 and "--post" in err and out == ""
    assert not (tmp_path / "out").exists()


def test_missing_and_non_nifti_files_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["analyze", "--post", str(tmp_path / "absent.nii.gz"), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "absent.nii.gz does not exist" in err
    text = tmp_path / "post.nii.gz"
    text.write_text("hello")
    code, _, err = run(["analyze", "--post", str(text), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "post.nii.gz is not a readable NIfTI" in err
    assert not (tmp_path / "o").exists()


def test_a_small_slab_is_not_a_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slab = save(tmp_path, "slab.nii.gz", np.random.default_rng(0).random((64, 64, 20)), np.eye(4))
    code, _, err = run(["analyze", "--post", str(slab), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "not a whole-head" in err


def test_pre_and_post_that_do_not_overlap(head_2mm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = nib.load(str(head_2mm))
    moved = image.affine.copy()
    moved[:3, 3] += [400.0, 0, 0]
    far = save(tmp_path, "far.nii.gz", np.asarray(image.dataobj), moved)
    code, _, err = run(["analyze", "--pre", str(head_2mm), "--post", str(far), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "do not overlap" in err
    assert not (tmp_path / "o").exists()


def test_an_image_that_is_not_a_head_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    blobs = ndimage.gaussian_filter(rng.random((90, 100, 90)).astype(np.float32), 4) * 1000
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-90, -110, -80]
    noise = save(tmp_path, "noise.nii.gz", blobs, affine)
    code, _, err = run(["analyze", "--post", str(noise), "-o", str(tmp_path / "o"), "--no-report"], capsys)
    assert code in (2, 3)
    assert "head" in err
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")], "no partial folder left behind"


def test_unwritable_output_folder(
    head_2mm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permission bits: make the access check see what a user would
        import cnmri.io.outputs

        monkeypatch.setattr(cnmri.io.outputs.os, "access", lambda path, mode: Path(path) != locked)
    code, _, err = run(["analyze", "--post", str(head_2mm), "-o", str(locked / "out")], capsys)
    assert code == 2 and "cannot write" in err and str(locked) in err
    assert list(locked.iterdir()) == []


def test_output_path_that_is_a_file(head_2mm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out"
    target.write_text("not a folder")
    code, _, err = run(["analyze", "--post", str(head_2mm), "-o", str(target)], capsys)
    assert code == 2 and "is not a folder" in err
    assert target.read_text() == "not a folder"


def test_output_parent_missing(head_2mm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["analyze", "--post", str(head_2mm), "-o", str(tmp_path / "a" / "b" / "out")], capsys)
    assert code == 2 and "does not exist" in err


def test_log_lines_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler bound to the stderr of one ``main()`` call wrote to a closed stream in a later test
    ("ValueError: I/O operation on closed file" in CI); the handler must look stderr up when it writes."""
    import io
    import logging
    import sys

    from cnmri import cli

    root_handlers = logging.getLogger().handlers[:]
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        cli._configure_logging(verbose=0, quiet=False)
        first.close()
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("cnmri.test").info("skipped 2 non-DICOM file(s)")
        assert second.getvalue() == "cnmri: skipped 2 non-DICOM file(s)\n"
    finally:
        logging.getLogger().handlers[:] = root_handlers
