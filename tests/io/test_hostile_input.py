"""Hostile and oversized NIfTI and clinical files are refused cheaply, before anything large is allocated.

Each attack runs the real ``cnmri`` command in a fresh Python process whose peak memory is measured
(``ru_maxrss`` of that process's children), so an allocation that happens before the refusal fails the test.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from cnmri.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"
#: Peak memory a refused input may cost: the interpreter with numpy, nibabel and pydantic loaded.
REFUSAL_MAX_RSS_MB = 400

_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
run = subprocess.run([sys.executable, "-m", "cnmri.cli", *sys.argv[1:]], capture_output=True, text=True)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{run.returncode} {peak_mb:.0f} {time.perf_counter() - started:.1f}")
sys.stderr.write(run.stderr)
"""


def run_measured(*argv: str) -> tuple[int, float, float, str]:
    """Exit code, peak memory (MB), seconds and stderr of ``cnmri ARGV`` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, env=env, timeout=120)
    code, peak, seconds = done.stdout.split()
    return int(code), float(peak), float(seconds), done.stderr


def _header_only_nifti(path: Path, shape: tuple[int, ...], dtype: type = np.float32) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header.set_sform(np.eye(4), code=1)
    header["vox_offset"] = 352
    raw = header.binaryblock + b"\0" * 4
    path.write_bytes(gzip.compress(raw, compresslevel=9))


def test_a_tiny_nifti_claiming_1000_cubed_voxels_is_refused_before_allocation(tmp_path: Path) -> None:
    bomb = tmp_path / "claims.nii.gz"
    _header_only_nifti(bomb, (1000, 1000, 1000))
    assert bomb.stat().st_size < 200
    code, peak_mb, _, err = run_measured("analyze", "--post", str(bomb), "-o", str(tmp_path / "out"))
    assert code == 2, err
    assert "1,000,000,000 voxels" in err and "--max-voxels" in err and "claims.nii.gz" in err
    assert peak_mb < REFUSAL_MAX_RSS_MB
    assert not (tmp_path / "out").exists()


def test_max_voxels_sets_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "small.nii.gz"
    data = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(image))
    code = main(["analyze", "--post", str(image), "-o", str(tmp_path / "o"), "--max-voxels", "1000"])
    assert code == 2
    assert "8,000 voxels, more than the limit of 1,000" in capsys.readouterr().err


def test_a_gzip_bomb_is_stopped_at_its_byte_budget(tmp_path: Path) -> None:
    """A 100³ float32 header (4 MB of data) followed by 1.5 GB of zeros compressed to about 1.5 MB."""
    bomb = tmp_path / "bomb.nii.gz"
    header = nib.Nifti1Header()
    header.set_data_shape((100, 100, 100))
    header.set_data_dtype(np.float32)
    header.set_sform(np.eye(4), code=1)
    header["vox_offset"] = 352
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (64 << 20)
    with open(bomb, "wb") as handle:
        handle.write(packer.compress(header.binaryblock + b"\0" * 4))
        for _ in range(24):
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())
    assert bomb.stat().st_size < 3_000_000
    code, peak_mb, _, err = run_measured("analyze", "--post", str(bomb), "-o", str(tmp_path / "out"))
    assert code == 2, err
    assert "compression bomb" in err and "bomb.nii.gz" in err
    assert peak_mb < REFUSAL_MAX_RSS_MB


def test_a_memory_error_while_reading_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "big.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10), np.float32), np.eye(4)), str(image))

    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", out_of_memory)
    assert main(["analyze", "--post", str(image), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "big.nii.gz" in err and "memory" in err


# ------------------------------------------------------------------------------------- clinical files


def _alias_bomb(path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        name, previous = chr(ord("a") + index), chr(ord("a") + index - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = tmp_path / "case.yaml"
    _alias_bomb(bomb)
    assert bomb.stat().st_size < 600
    code, peak_mb, seconds, err = run_measured("clinical", str(bomb))
    assert code == 2, err
    assert "aliases" in err and len(err) < 1000
    assert peak_mb < REFUSAL_MAX_RSS_MB and seconds < 30


def test_the_clinical_file_is_checked_before_any_image_work(tmp_path: Path) -> None:
    bomb = tmp_path / "case.yaml"
    _alias_bomb(bomb)
    missing = tmp_path / "not_there.nii.gz"
    started = time.perf_counter()
    code, _, _, err = run_measured(
        "analyze", "--post", str(missing), "--clinical", str(bomb), "-o", str(tmp_path / "o")
    )
    assert code == 2 and "aliases" in err and "not_there" not in err
    assert time.perf_counter() - started < 60


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_20000_deep_nesting_is_a_clear_error(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / f"case{suffix}"
    deep.write_text("[" * 20000 + "]" * 20000 + "\n")
    assert main(["clinical", str(deep)]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err


def test_an_oversized_clinical_file_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "case.json"
    big.write_text(json.dumps({"patient": {"notes": "x" * 1_100_000}}))
    assert main(["clinical", str(big)]) == 2
    assert "1,000,000" in capsys.readouterr().err


def test_echoed_values_are_shortened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"patient": {"sex": "y" * 50_000}}))  # echoed: "'yyy…' is not allowed"
    assert main(["clinical", str(case)]) == 2
    err = capsys.readouterr().err
    assert "patient.sex" in err and "more characters" in err and len(err) < 1000
