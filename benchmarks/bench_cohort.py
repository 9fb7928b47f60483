"""Cohort throughput of ``cnmri bids``: sessions per hour against worker count, memory per worker, scaling.

1. Real analyses: a BIDS dataset of ``--sessions`` phantom sessions (the real Colin27 head, 1 mm by
   default) is analysed by the participant level with 1 worker (all cores to its registration) and with
   2 workers (one core each). Wall time, throughput and each worker's peak RSS come from the run and its
   results database.
2. Scaling on paper: PyBIDS indexing of 100 and 1,000 participant placeholder datasets (zero-byte images,
   indexing does not read them) and the group level on 100 and 1,000 fabricated sessions are timed; the
   time for a cohort of that size is then ``index + sessions × seconds_per_session / (workers ×
   efficiency) + group``, with the efficiency measured in step 1.

    python benchmarks/bench_cohort.py [--sessions 4] [--voxel-mm 1.0]

Results: ``benchmarks/results/cohort_throughput.{json,md}``. The load average is recorded: numbers taken
on a busy machine are slower than on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def make_dataset(root: Path, sessions: int, voxel_mm: float) -> Path:
    from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, generate_case, write_case

    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "bench", "BIDSVersion": "1.9.0"}))
    rows = ["participant_id\tgroup"]
    for i in range(sessions):
        lesions = (LesionSpec("CN7", "left", None, 0.6, 2.5),) if i % 2 else ()
        spec = PhantomSpec(lesions, realism=Realism.standard(30.0))
        spec = PhantomSpec(lesions, realism=_with_voxel(spec.realism, voxel_mm))
        case = generate_case(spec, seed=500 + i)
        tmp = root.parent / f"case{i}"
        write_case(case, tmp)
        anat = root / f"sub-{i:03d}" / "anat"
        anat.mkdir(parents=True)
        shutil.move(str(tmp / "pre.nii.gz"), anat / f"sub-{i:03d}_T1w.nii.gz")
        shutil.move(str(tmp / "post.nii.gz"), anat / f"sub-{i:03d}_ce-gadolinium_T1w.nii.gz")
        shutil.rmtree(tmp)
        rows.append(f"sub-{i:03d}\t{'patient' if lesions else 'control'}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return root


def _with_voxel(realism: Any, voxel_mm: float) -> Any:
    from dataclasses import replace

    return replace(realism, random_voxel_size=False, voxel_size_mm=(voxel_mm, voxel_mm, voxel_mm))


def run_level(bids: Path, out: Path, workers: int) -> dict[str, Any]:
    from cnmri.cohort.runner import run_participant_level
    from cnmri.cohort.store import ResultsStore, default_url

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = run_participant_level(bids, out, workers=workers, progress=False)
    wall = time.perf_counter() - started
    rows = ResultsStore(default_url(out), str(out.resolve())).rows()
    done = [r for r in rows if r["status"] == "done"]
    return {
        "workers": workers,
        "sessions": len(done),
        "failed": len(summary.failed),
        "wall_s": round(wall, 1),
        "sessions_per_hour": round(3600 * len(done) / wall, 1) if done else None,
        "seconds_per_session_median": sorted(r["seconds"] for r in done)[len(done) // 2] if done else None,
        "peak_rss_mb_max": max((r["peak_rss_mb"] or 0) for r in done) if done else None,
        "load_average_before": round(load_before, 2),
    }


def placeholder_dataset(root: Path, participants: int) -> Path:
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "scale", "BIDSVersion": "1.9.0"}))
    for i in range(participants):
        anat = root / f"sub-{i:04d}" / "ses-01" / "anat"
        anat.mkdir(parents=True)
        for name in ("T1w", "ce-gadolinium_T1w"):
            (anat / f"sub-{i:04d}_ses-01_{name}.nii.gz").touch()
    return root


def time_index(root: Path, participants: int) -> float:
    from cnmri.cohort.bids import index_sessions

    placeholder_dataset(root, participants)
    started = time.perf_counter()
    sessions = index_sessions(root)
    assert len(sessions) == participants
    return round(time.perf_counter() - started, 2)


def time_group(root: Path, template_findings: dict[str, Any], participants: int) -> float:
    from cnmri.cohort.group import run_group_level

    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / "participants.tsv").write_text(
        "participant_id\tgroup\n"
        + "".join(f"sub-{i:04d}\t{'control' if i % 2 else 'patient'}\n" for i in range(participants))
    )
    out = root / "out"
    text = json.dumps(template_findings)
    for i in range(participants):
        anat = out / f"sub-{i:04d}" / "ses-01" / "anat"
        anat.mkdir(parents=True)
        (anat / f"sub-{i:04d}_ses-01_findings.json").write_text(text)
    started = time.perf_counter()
    run_group_level(raw, out)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--voxel-mm", type=float, default=1.0)
    parser.add_argument("--skip-real", action="store_true", help="only the scaling measurements")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cnmri-bench-cohort-"))
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sessions": args.sessions,
        "voxel_mm": args.voxel_mm,
    }
    try:
        template_findings: dict[str, Any] | None = None
        if not args.skip_real:
            bids = make_dataset(work / "raw", args.sessions, args.voxel_mm)
            runs = [run_level(bids, work / f"out{w}", w) for w in (1, 2)]
            result["runs"] = runs
            one, two = runs
            if one["sessions_per_hour"] and two["sessions_per_hour"]:
                result["speedup_2_workers"] = round(two["sessions_per_hour"] / one["sessions_per_hour"], 2)
                result["efficiency_2_workers"] = round(result["speedup_2_workers"] / 2, 2)
            found = next((work / "out1").glob("sub-*/anat/*_findings.json"))
            template_findings = json.loads(found.read_text())
        scaling = {}
        for n in (100, 1000):
            entry: dict[str, Any] = {"index_s": time_index(work / f"idx{n}", n)}
            if template_findings is not None:
                entry["group_s"] = time_group(work / f"grp{n}", template_findings, n)
                per_session = float(result["runs"][1]["seconds_per_session_median"])
                efficiency = float(result.get("efficiency_2_workers", 1.0))
                for workers in (2, 16, 64):
                    compute = n * per_session / (workers * (efficiency if workers > 1 else 1.0))
                    entry[f"cohort_hours_{workers}_workers"] = round(
                        (entry["index_s"] + compute + entry["group_s"]) / 3600, 2
                    )
            scaling[str(n)] = entry
        result["scaling"] = scaling
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cohort_throughput.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (RESULTS / "cohort_throughput.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# cnmri bids throughput ({result['date']}, {result['machine']['cpus']} CPUs)",
        "",
        f"{result['sessions']} phantom sessions at {result['voxel_mm']} mm, participant level end to end "
        "(report included).",
        "",
    ]
    if "runs" in result:
        lines += [
            "| workers | sessions | wall s | sessions/h | s/session (median) | peak RSS per worker MB | load before |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in result["runs"]:
            lines.append(
                f"| {r['workers']} | {r['sessions']} | {r['wall_s']} | {r['sessions_per_hour']} | "
                f"{r['seconds_per_session_median']} | {r['peak_rss_mb_max']} | {r['load_average_before']} |"
            )
        lines += [
            "",
            f"Speed-up with 2 workers: {result.get('speedup_2_workers')} "
            f"(efficiency {result.get('efficiency_2_workers')} of linear).",
            "",
        ]
    lines += [
        "## Scaling",
        "",
        "| participants | PyBIDS index s | group level s | hours, 2 / 16 / 64 workers |",
        "| --- | --- | --- | --- |",
    ]
    for n, entry in result["scaling"].items():
        hours = " / ".join(str(entry.get(f"cohort_hours_{w}_workers", "n/a")) for w in (2, 16, 64))
        lines.append(f"| {n} | {entry['index_s']} | {entry.get('group_s', 'n/a')} | {hours} |")
    lines += [
        "",
        "Hours = index + sessions × median seconds per session (2-worker run) / (workers × measured efficiency)"
        " + group level; 16 and 64 workers assume the 2-worker efficiency holds on a cluster (one core per "
        "worker, shared filesystem).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
