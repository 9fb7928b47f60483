"""Run each hostile input of docs/safety.md through the real ``cnmri`` command and measure the refusal.

For every attack: exit code, peak memory of the cnmri process (MB) and wall time (s), written to
``benchmarks/results/hostile_inputs.md``. ``--source DIR`` runs another checkout's ``src`` (e.g. the
code before the limits) for a before/after table; attacks known to exhaust memory there are skipped
unless ``--all``.

    python benchmarks/hostile_inputs.py [--source OTHER/src] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "io" / "dicom"))

from dicom_study_builder import SEQ, SIEMENS, Patient, Study, StudyWriter, colin_head, slice_datasets  # noqa: E402

_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
try:
    run = subprocess.run([sys.executable, "-m", "cnmri.cli", *sys.argv[2:]], capture_output=True, text=True,
                         timeout=float(sys.argv[1]))
    code, err = run.returncode, run.stderr
except subprocess.TimeoutExpired:
    code, err = "timeout", ""
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{code} {peak_mb:.0f} {time.perf_counter() - started:.1f}")
sys.stderr.write(err)
"""


def measure(src: Path, argv: list[str], timeout: float = 120) -> tuple[str, str, str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(timeout), *argv], capture_output=True, text=True, env=env
    )
    code, peak, seconds = done.stdout.split()
    message = next((line for line in done.stderr.splitlines() if "error" in line), "")[:110]
    return code, peak, seconds, message


def nifti_claiming_1000_cubed(tmp: Path) -> list[str]:
    header = nib.Nifti1Header()
    header.set_data_shape((1000, 1000, 1000))
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    path = tmp / "claims.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4, 9))
    return ["analyze", "--post", str(path), "-o", str(tmp / "o1")]


def gzip_bomb(tmp: Path) -> list[str]:
    header = nib.Nifti1Header()
    header.set_data_shape((100, 100, 100))
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    path = tmp / "bomb.nii.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (64 << 20)
    with open(path, "wb") as handle:
        handle.write(packer.compress(header.binaryblock + b"\0" * 4))
        for _ in range(80):  # 5 GB of zeros
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())
    return ["analyze", "--post", str(path), "-o", str(tmp / "o2")]


def yaml_alias_bomb(tmp: Path) -> list[str]:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        name, previous = chr(ord("a") + index), chr(ord("a") + index - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    path = tmp / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    return ["clinical", str(path)]


def deep_nesting(tmp: Path) -> list[str]:
    path = tmp / "deep.yaml"
    path.write_text("[" * 20000 + "]" * 20000 + "\n")
    return ["clinical", str(path)]


def _study(root: Path) -> Path:
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(root, Study(vendor=SIEMENS), seed=5)
    writer.add(data, affine, 5, "t1_mprage_sag_p2_iso", SEQ["siemens_t1"], 30000)
    return root


def fifo_in_study(tmp: Path) -> list[str]:
    root = _study(tmp / "fifo")
    os.mkfifo(root / "DICOM" / "pipe")
    return ["inspect", str(root)]


def link_out_of_study(tmp: Path) -> list[str]:
    root = _study(tmp / "linked")
    other = StudyWriter(tmp / "elsewhere", Study(patient=Patient(name="Other^Person", patient_id="P2")))
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    outside = other.add(data, affine, 9, "t1_post", SEQ["siemens_t1"], 31000).files[0]
    (root / "DICOM" / "link").symlink_to(outside)  # before: read, a second patient in the study
    return ["inspect", str(root), "--format", "json"]


def rle_65535_squared(tmp: Path) -> list[str]:
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", SEQ["siemens_t1"], 30000)[0]
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.Rows = ds.Columns = 65535
    ds.PixelData = encapsulate([b"\0" * 64])
    (tmp / "rle").mkdir()
    ds.save_as(tmp / "rle" / "IM1", enforce_file_format=True)
    return ["inspect", str(tmp / "rle")]


def deflated_dicom_bomb(tmp: Path) -> list[str]:
    """A small deflated file whose pixel data element inflates to 2.2 GB (read header-only by discovery)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", SEQ["siemens_t1"], 30000)[0]
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    del ds.PixelData
    meta, body = DicomBytesIO(), DicomBytesIO()
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    size = 2_200_000_000
    element = (0x7FE0).to_bytes(2, "little") + (0x0010).to_bytes(2, "little") + b"OB\0\0" + size.to_bytes(4, "little")
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    (tmp / "defl").mkdir()
    zeros = b"\0" * (64 << 20)
    with open(tmp / "defl" / "IM1", "wb") as handle:
        handle.write(b"\0" * 128 + b"DICM" + meta.getvalue())
        handle.write(packer.compress(body.getvalue() + element))
        left = size
        while left:
            chunk = zeros[: min(left, len(zeros))]
            handle.write(packer.compress(chunk))
            left -= len(chunk)
        handle.write(packer.flush())
    return ["inspect", str(tmp / "defl")]


ATTACKS: list[tuple[str, Callable[[Path], list[str]], bool]] = [
    # name, builder, exhausts memory or time before the limits (skipped for --source unless --all)
    ("87-byte .nii.gz claiming 1000³ voxels", nifti_claiming_1000_cubed, True),
    ("gzip bomb: 100³ header + 5 GB of zeros", gzip_bomb, False),
    ("YAML alias bomb (9 levels)", yaml_alias_bomb, True),
    ("20,000-deep YAML nesting", deep_nesting, False),
    ("FIFO in the study folder", fifo_in_study, False),
    ("link out of the study folder", link_out_of_study, False),
    ("RLE DICOM claiming 65535² pixels (inspect)", rle_65535_squared, False),
    ("deflated DICOM inflating to 2.2 GB (inspect)", deflated_dicom_bomb, True),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=ROOT / "src", help="the cnmri src folder to test")
    parser.add_argument("--all", action="store_true", help="also run attacks that exhaust memory on old code")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hostile_inputs.md")
    args = parser.parse_args()
    rows = ["| attack | file bytes | exit | peak MB | s | message |", "| --- | ---: | --- | ---: | ---: | --- |"]
    with tempfile.TemporaryDirectory(prefix="cnmri-hostile-") as work:
        for name, build, heavy in ATTACKS:
            tmp = Path(work) / build.__name__
            tmp.mkdir()
            argv = build(tmp)
            size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file() and not p.is_symlink())
            if heavy and args.source.resolve() != (ROOT / "src").resolve() and not args.all:
                rows.append(f"| {name} | {size:,} | skipped | | | exhausts memory or time |")
                continue
            code, peak, seconds, message = measure(args.source, argv, timeout=60)
            rows.append(f"| {name} | {size:,} | {code} | {peak} | {seconds} | {message.replace('|', '/')} |")
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    label = "this checkout" if args.source.resolve() == (ROOT / "src").resolve() else str(args.source)
    title = f"# Hostile inputs through the real command ({label})\n\nmade by benchmarks/hostile_inputs.py\n\n"
    args.out.write_text(title + "\n".join(rows) + "\n", encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
