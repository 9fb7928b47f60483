"""Benchmark: pull + analyse + push of a 1 mm study against a local Orthanc; SR + SEG + KO + SC generation.

Targets (issue 12): pull + analyse + push ≤ 90 s on the 2-core machine; SR + SEG + KO + SC ≤ 10 s.
Starts its own Orthanc (Debian orthanc + orthanc-dicomweb) on a free loopback port, uploads a 1 mm
pre/post study of the real Colin27 head (256 x 256 x 150 slices per series), then runs the three
commands exactly as a user would. Writes benchmarks/results/pacs.json.

    python benchmarks/bench_pacs.py [--slices 150]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "io" / "dicom"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from dicom_study_builder import SEQ, SIEMENS, Study, StudyWriter, colin_head, enhanced  # noqa: E402
from orthanc_server import PASSWORD, USER, running_orthanc  # noqa: E402

import cnmri.cli  # noqa: E402


def build_study(root: Path, n_slices: int) -> StudyWriter:
    """A 1 mm pre/post pair, 256 x 256 matrix, axial slices from below the skull base upwards."""
    data, affine = colin_head(factor=1, z_start=10, n_slices=n_slices)
    padded = np.zeros((256, 256, data.shape[2]), dtype=np.int16)
    padded[: data.shape[0], : data.shape[1]] = data[:256, :256]
    writer = StudyWriter(root, Study(vendor=SIEMENS), seed=11)
    writer.add(padded, affine, 5, "t1_mprage_1mm", SEQ["siemens_t1"], 30000)
    post_extra = {"ContrastBolusAgent": "Gadovist"}
    writer.add(enhanced(padded), affine, 7, "t1_mprage_1mm_post", SEQ["siemens_t1"], 31000, extra=post_extra)
    return writer


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (dcm2niix): the cost on an idle machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one cnmri command run in this process."""
    start, start_cpu = time.perf_counter(), cpu_s()
    code = cnmri.cli.main(argv)
    if code != 0:
        raise SystemExit(f"{argv[0]} failed with exit code {code}")
    return round(time.perf_counter() - start, 1), round(cpu_s() - start_cpu, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnmri-bench-pacs-") as tmp:
        work = Path(tmp)
        study = build_study(work / "source", args.slices)
        files = [f for s in study.series.values() for f in s.files]
        with running_orthanc(work / "orthanc") as orthanc:
            orthanc.upload(files)
            auth = ["--user", USER, "--password", PASSWORD]
            uid = study.study.study_uid
            pull_s = timed(["pacs", "pull", "--url", orthanc.dicomweb, "--study", uid, "-o", str(work / "in"), *auth])
            analyze_s = timed(["analyze", str(work / "in"), "-o", str(work / "out")])
            push_s = timed(["pacs", "push", str(work / "out"), "--url", orthanc.dicomweb, *auth])
            interop = json.loads((work / "out" / "interop.json").read_text())
            series = sorted(str(s["00080060"]["Value"][0]) for s in orthanc.series_of(uid))  # type: ignore[index]
        findings = json.loads((work / "out" / "findings.json").read_text())
    total = round(pull_s[0] + analyze_s[0] + push_s[0], 1)
    result = {
        "benchmark": "pull + analyse + push of a 1 mm pre/post study against a local Orthanc (DICOMweb)",
        "study": {"instances": len(files), "matrix": [256, 256, args.slices], "voxel_mm": 1.0},
        "pull_s": pull_s[0],
        "analyze_s": analyze_s[0],
        "push_s": push_s[0],
        "round_trip_s": total,
        "cpu_s": {"pull": pull_s[1], "analyze": analyze_s[1], "push": push_s[1]},
        "round_trip_target_s": 90,
        "sr_seg_ko_sc_generation_s": interop["dicom"]["seconds"],
        "sr_seg_ko_sc_generation_cpu_s": interop["dicom"]["cpu_seconds"],
        "generation_target_s": 10,
        "seg_segments": interop["dicom"]["segments"],
        "dicom_files": len(interop["dicom"]["files"]),
        "series_in_pacs_after_push": series,
        "analysis_timings_s": findings.get("timings_s"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
        "note": "the machine is shared with other jobs; load_1min says how busy it was. Wall times grow with "
        "the load; CPU seconds (analyze uses 2 threads, so its CPU time can exceed an idle wall time) do not",
    }
    out = ROOT / "benchmarks" / "results" / "pacs.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
