"""Benchmark: discovery + classification of a generated 2,000-file DICOM study, and conversion back ends.

Writes benchmarks/results/dicom_discovery.json. Target: discovery + classification of 2,000 files in
≤ 10 s on the 2-core machine.

    python benchmarks/bench_dicom.py [--files 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "io" / "dicom"))

from dicom_study_builder import GE, SEQ, SIEMENS, Study, StudyWriter, colin_head, enhanced  # noqa: E402

from cnmri.io.dicom.classify import classify_all, select_series  # noqa: E402
from cnmri.io.dicom.convert import convert_stack  # noqa: E402
from cnmri.io.dicom.discover import discover  # noqa: E402


def build(root: Path, n_files: int) -> int:
    """A clinical-size study: 256x256 slices in ~10 series until ``n_files`` files are written."""
    data, affine = colin_head(factor=1, z_start=10, n_slices=160)
    pad = np.zeros((256, 256, data.shape[2]), dtype=np.int16)
    pad[: data.shape[0], : data.shape[1]] = data[:256, :256]
    affine = affine.copy()
    writer = StudyWriter(root, Study(vendor=SIEMENS), seed=7)
    plan = [
        (1, "localizer", "siemens_loc", 9),
        (3, "ep2d_diff_tra_b1000", "siemens_dwi", 150),
        (4, "t2_tse_tra", "siemens_flair", 150),
        (5, "t1_mprage_sag_p2_iso", "siemens_t1", 160),
        (6, "t2_ciss3d_tra_0.5iso", "siemens_ciss", 160),
        (7, "t1_mprage_sag_p2_iso_post", "siemens_t1", 160),
        (8, "t1_mprage_post_MPR_tra", "siemens_t1", 160),
        (9, "t2_tirm_tra_dark-fluid post", "siemens_flair", 150),
    ]
    written, number, t = 0, 10, 8 * 3600
    while written < n_files:
        for series, description, seq, n in plan if written == 0 else [(number, f"t1_se_tra_{number}", "ge_t1", 160)]:
            n = min(n, n_files - written)
            if n <= 0:
                break
            volume = enhanced(pad[:, :, :n]) if "post" in description else pad[:, :, :n]
            extra = {"ContrastBolusAgent": "Gadovist"} if "post" in description else None
            writer.add(volume, affine, series, description, SEQ[seq], t, extra=extra)
            written += n
            t += 300
        number += 1
    return written


def bench_discovery(root: Path) -> dict[str, object]:
    start = time.perf_counter()
    found = discover(root)
    t_discover = time.perf_counter() - start
    rows = classify_all(found)
    selection = select_series(rows)
    total = time.perf_counter() - start
    return {
        "files": found.n_files,
        "series": len(found.series),
        "seconds_discovery": round(t_discover, 3),
        "seconds_total": round(total, 3),
        "files_per_second": round(found.n_files / total, 1),
        "selected_post_series": selection.post.series.number,
        "target_seconds": 10.0,
        "meets_target": total <= 10.0,
    }


def bench_conversion(tmp: Path) -> dict[str, object]:
    """pydicom assembly vs dcm2niix on a 1 mm, 160-slice T1 (256x256): time and voxel agreement."""
    data, affine = colin_head(factor=1, z_start=10, n_slices=160)
    writer = StudyWriter(tmp / "conv", Study(vendor=GE), seed=8, nested=False)
    writer.add(data, affine, 5, "Sag 3D BRAVO", SEQ["ge_t1"], 36000)
    stack = discover(writer.root).series[0].main_stack
    import nibabel as nib

    results: dict[str, object] = {"slices": len(stack.instances), "matrix": [int(s) for s in data.shape]}
    images = {}
    for backend in ("pydicom", "dcm2niix"):
        times = []
        for _ in range(3):
            out = convert_stack(stack, tmp / f"{backend}.nii.gz", backend=backend)
            times.append(out.seconds)
        images[backend] = nib.as_closest_canonical(nib.load(str(out.path)))
        results[f"{backend}_seconds_median"] = round(sorted(times)[1], 3)
    a, b = images["pydicom"], images["dcm2niix"]
    results["affine_max_abs_difference_mm"] = float(np.abs(a.affine - b.affine).max())
    results["voxels_identical"] = bool(np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--keep", type=Path, default=None, help="build the study here and keep it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cnmri-bench-dicom-"))
    try:
        root = args.keep or tmp / "study"
        t0 = time.perf_counter()
        n = build(root, args.files)
        build_seconds = time.perf_counter() - t0
        os.sync()
        discovery = bench_discovery(root)  # first pass: page cache warm from writing, as after a copy
        conversion = bench_conversion(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "dicom_discovery",
        "files_written": n,
        "build_seconds": round(build_seconds, 1),
        "discovery_and_classification": discovery,
        "conversion": conversion,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    out = ROOT / "benchmarks" / "results" / "dicom_discovery.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
