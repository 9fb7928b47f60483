"""Output folders: never replace what is not ours, never an input, one writer at a time, no leftovers.

Each test runs a real writing command (``compare`` on two fabricated analyses, ``normative build`` on
fabricated findings, ``analyze`` stopped before any image work) through ``cnmri.cli.main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from cnmri.cli import main
from cnmri.io.outputs import MARKER, output_folder

SRC = Path(__file__).resolve().parents[2] / "src"


def _findings(enhancement: float, thickness_mm: float, abnormal: bool) -> dict[str, Any]:
    segment = {
        "nerve": "CN7",
        "side": "left",
        "segment": "canalicular",
        "abnormal": abnormal,
        "enhancement": enhancement,
        "enhancement_ratio": 1.0 + enhancement,
        "thickness_mm": thickness_mm,
        "asymmetry": 0.0,
        "z": 0.0,
        "z_thickness": 0.0,
    }
    return {"schema_version": "1", "mode": "pre_post", "segments": [segment], "nerves": {}, "warnings": []}


@pytest.fixture
def analyses(tmp_path: Path) -> tuple[Path, Path]:
    """Two analysis folders as ``cnmri analyze`` leaves them (findings.json plus the marker)."""
    folders = []
    for name, value in (("base", 0.9), ("follow", 0.2)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "findings.json").write_text(json.dumps(_findings(value, 2.0, value > 0.5)))
        (folder / MARKER).write_text(json.dumps({"tool": "cnmri", "command": "analyze"}))
        folders.append(folder)
    return folders[0], folders[1]


def _compare(analyses: tuple[Path, Path], out: Path, *extra: str) -> int:
    return main(["compare", str(analyses[0]), str(analyses[1]), "-o", str(out), *extra])


def test_an_existing_folder_is_refused_and_left_untouched(
    analyses: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    assert _compare(analyses, out) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--force" in err
    assert (out / "thesis.docx").read_text() == "years of work"
    assert _compare(analyses, out, "--force") == 2, "--force must not replace a folder cnmri did not write"
    assert "not a cnmri output" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.docx"]


def test_force_replaces_a_previous_cnmri_output(analyses: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert _compare(analyses, out) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["tool"] == "cnmri" and marker["command"] == "compare"
    (out / "stale.txt").write_text("from an earlier run")
    assert _compare(analyses, out) == 2
    assert _compare(analyses, out, "--force") == 0
    assert not (out / "stale.txt").exists() and (out / "comparison.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cmp")] == []  # no partial, no lock


def test_an_empty_existing_folder_is_used(analyses: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert _compare(analyses, out) == 0
    assert (out / "comparison.json").exists()


def test_never_an_input_even_with_force(
    analyses: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = analyses
    before = sorted(p.name for p in base.iterdir())
    assert _compare(analyses, base, "--force") == 2  # a marked folder, but it is the baseline input
    assert "input" in capsys.readouterr().err
    assert sorted(p.name for p in base.iterdir()) == before
    assert _compare(analyses, base / "cmp", "--force") == 2  # inside an input folder
    assert not (base / "cmp").exists()
    assert _compare(analyses, tmp_path, "--force") == 2  # holds both inputs
    assert base.exists()


def test_analyze_never_replaces_the_folder_of_its_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A phantom/demo folder is a marked cnmri output that also holds the images given to analyze."""
    case = tmp_path / "case"
    case.mkdir()
    (case / MARKER).write_text(json.dumps({"tool": "cnmri", "command": "phantom"}))
    for name in ("pre.nii.gz", "post.nii.gz"):
        (case / name).write_bytes(b"patient images")
    argv = ["analyze", "--pre", str(case / "pre.nii.gz"), "--post", str(case / "post.nii.gz")]
    assert main([*argv, "-o", str(case), "--force"]) == 2
    assert "input" in capsys.readouterr().err
    assert (case / "pre.nii.gz").read_bytes() == b"patient images"
    link = tmp_path / "link"
    link.symlink_to(case)
    assert main([*argv, "-o", str(link), "--force"]) == 2  # the same folder through a symlink


def test_a_dicom_study_folder_is_never_the_output(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "DICOM").mkdir(parents=True)
    (study / "DICOM" / "IM0001").write_bytes(b"\0" * 128 + b"DICM")
    (study / MARKER).write_text(json.dumps({"tool": "cnmri"}))
    assert main(["analyze", str(study), "-o", str(study), "--force"]) == 2
    assert main(["analyze", str(study), "-o", str(study / "out")]) == 2
    assert (study / "DICOM" / "IM0001").exists() and not (study / "out").exists()


def test_a_second_writer_into_the_same_output_exits_2_at_once(
    analyses: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    with output_folder(out, command="test") as held:
        started = time.perf_counter()
        assert _compare(analyses, out) == 2
        assert time.perf_counter() - started < 5
        assert "another cnmri run" in capsys.readouterr().err
        assert held.path.exists()
    assert _compare(analyses, out, "--force") == 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_partial_folders_of_dead_runs_are_removed_by_the_next_run(analyses: tuple[Path, Path], tmp_path: Path) -> None:
    dead = tmp_path / f".cmp.partial-{_dead_pid()}-abc123"
    (dead / ".work" / "dicom").mkdir(parents=True)
    (dead / ".work" / "dicom" / "post.nii.gz").write_bytes(b"converted patient images")
    alive = tmp_path / f".cmp.partial-{os.getpid()}-def456"  # a live process: not touched
    alive.mkdir()
    other = tmp_path / f".other.partial-{_dead_pid()}-ghi789"  # another output's: not touched
    other.mkdir()
    assert _compare(analyses, tmp_path / "cmp") == 0
    assert not dead.exists()
    assert alive.exists() and other.exists()


def test_normative_build_refuses_to_replace_what_it_did_not_write(tmp_path: Path) -> None:
    controls = []
    for index in range(2):
        folder = tmp_path / f"control{index}"
        folder.mkdir()
        (folder / "findings.json").write_text(json.dumps(_findings(0.1 * (index + 1), 2.0 + index, False)))
        controls.append(str(folder))
    out = tmp_path / "norm.json"
    out.write_text("my notes")
    assert main(["normative", "build", *controls, "-o", str(out)]) == 2
    assert main(["normative", "build", *controls, "-o", str(out), "--force"]) == 2
    assert out.read_text() == "my notes"
    out.unlink()
    assert main(["normative", "build", *controls, "-o", str(out)]) == 0
    assert main(["normative", "build", *controls, "-o", str(out)]) == 2
    assert main(["normative", "build", *controls, "-o", str(out), "--force"]) == 0
    target = Path(controls[0]) / "findings.json"
    assert main(["normative", "build", *controls, "-o", str(target), "--force"]) == 2
    assert json.loads(target.read_text())["segments"]


def test_a_failed_final_rename_is_exit_3_and_leaves_the_old_output(
    analyses: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert _compare(analyses, out) == 0
    real_rename = Path.rename

    def failing(self: Path, target: Any) -> Path:
        if self.name.startswith(".cmp.partial-"):
            raise OSError(18, "Invalid cross-device link")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    assert _compare(analyses, out, "--force") == 3
    assert "could not move" in capsys.readouterr().err
    assert (out / "comparison.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cmp")] == []


def test_sigterm_during_a_run_leaves_no_partial_folder(tmp_path: Path) -> None:
    """A real subprocess killed with SIGTERM while it writes: the handler removes the partial output."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cnmri.io.outputs import output_folder, cleanup_on_signals\n"
        "with output_folder(Path(sys.argv[1]), command='test') as out:\n"
        "    (out.work_dir('dicom') / 'post.nii.gz').write_bytes(b'patient')\n"
        "    import tempfile; tempfile.mkdtemp(prefix='cnmri-dcm2niix-')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "out")], stdout=subprocess.PIPE, env=env, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    assert any(p.name.startswith(".out.partial-") for p in tmp_path.iterdir())
    child.terminate()
    assert child.wait(timeout=20) != 0
    assert [p.name for p in tmp_path.iterdir() if p.name != "tmp"] == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_output_link_to_another_filesystem_is_written_there(analyses: tuple[Path, Path], tmp_path: Path) -> None:
    """-o as a link to a tmpfs folder: the partial folder sits beside the real target (no EXDEV rename)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test folder")
    elsewhere = Path(tempfile.mkdtemp(dir=shm, prefix="cnmri-test-"))
    try:
        link = tmp_path / "cmp"
        link.symlink_to(elsewhere / "cmp")
        assert _compare(analyses, link) == 0
        assert (elsewhere / "cmp" / "comparison.json").exists() and link.is_symlink()
        assert _compare(analyses, link, "--force") == 0
        assert sorted(p.name for p in elsewhere.iterdir()) == ["cmp"]
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
