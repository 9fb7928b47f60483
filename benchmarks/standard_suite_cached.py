"""The standard phantom suite (``cnmri bench --suite standard``) with the slow part cached.

``cnmri bench`` analyses every case end to end, so a change to the normative reference or to the rules
costs the whole suite again (~40 cases × ~45 s). This script runs the same cases (``suite_cases``, same
seeds, same generator) through ``prepare_subject`` once (load, N4, co-registration, template
registration, course refinement), caches the result, and scores ``assess_study`` against the shipped
reference with the same scoring and report as ``cnmri bench`` (``phantom/evaluate.py``,
``phantom/bench.write_report``).

    python benchmarks/standard_suite_cached.py prepare --work /tmp/cnmri-standard
    # or on two cores: two processes, each every second case
    python benchmarks/standard_suite_cached.py prepare --work /tmp/cnmri-standard --shard 0/2 &
    python benchmarks/standard_suite_cached.py prepare --work /tmp/cnmri-standard --shard 1/2
    python benchmarks/standard_suite_cached.py score --work /tmp/cnmri-standard \
        --out benchmarks/results/phantom_standard
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from cnmri.atlas import load_atlas
from cnmri.errors import CnmriError
from cnmri.phantom.bench import suite_cases, write_report
from cnmri.phantom.evaluate import score_case
from cnmri.phantom.generator import generate_case, write_case


def prepare(work: Path, suite: str, shard: tuple[int, int] = (0, 1)) -> None:
    """Prepare every case not prepared yet; ``shard`` (k, n) takes cases k, k + n, ... so n processes
    can share one work folder."""
    from cnmri.pipeline import AnalyzeOptions, Stopwatch, prepare_subject

    atlas = load_atlas()
    (work / "prepared").mkdir(parents=True, exist_ok=True)
    (work / "cases").mkdir(parents=True, exist_ok=True)
    k, n = shard
    for case in suite_cases(suite)[k::n]:
        folder = work / "cases" / case.case_id
        target = work / "prepared" / f"{case.case_id}.pkl"
        if target.exists():
            continue
        if not (folder / "truth.json").exists():
            write_case(generate_case(case.spec, case.seed, atlas=atlas), folder)
        t0 = time.perf_counter()
        clock = Stopwatch()
        pre = folder / "pre.nii.gz"
        try:
            prepared = prepare_subject(
                pre if pre.exists() else None, folder / "post.nii.gz", atlas, AnalyzeOptions(report=False), clock, []
            )
        except CnmriError as err:
            (work / "prepared" / f"{case.case_id}.failed.txt").write_text(f"{err}\n")
            print(f"failed {case.case_id}: {err}", flush=True)
            continue
        seconds = round(time.perf_counter() - t0, 1)
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump({"prepared": prepared, "seconds": seconds}, handle, protocol=5)
        tmp.replace(target)
        print(f"prepared {case.case_id} ({seconds} s)", flush=True)


def score(work: Path, out: Path, suite: str) -> dict[str, Any]:
    from cnmri.measure.normative import load_normative
    from cnmri.pipeline import assess_study

    out.mkdir(parents=True, exist_ok=True)
    atlas = load_atlas()
    normative = load_normative(None)
    scores = []
    failures: list[dict[str, Any]] = []
    for case in suite_cases(suite):
        path = work / "prepared" / f"{case.case_id}.pkl"
        failed = work / "prepared" / f"{case.case_id}.failed.txt"
        if failed.exists():
            failures.append({"case": case.case_id, "error": failed.read_text().strip()})
            continue
        if not path.exists():
            continue
        with path.open("rb") as handle:
            cached = pickle.load(handle)
        prepared = cached["prepared"]
        segments, nerves, pattern = assess_study(prepared, atlas, normative)
        findings = {
            "mode": prepared.mode,
            "segments": segments,
            "nerves": nerves,
            "pattern": pattern,
            "registration": prepared.registration,
        }
        truth = json.loads((work / "cases" / case.case_id / "truth.json").read_text())
        scores.append(score_case(truth, findings, case.case_id, cached["seconds"]))
    total = len(suite_cases(suite))
    title = f"standard suite, prepared once and scored against the shipped reference ({len(scores)} of {total} cases)"
    return write_report(scores, failures, out, title=title, suite=suite)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("prepare", "score"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnmri-standard"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "phantom_standard")
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--shard", default="0/1", help="K/N: prepare every N-th case from case K (parallel runs)")
    args = parser.parse_args(argv)
    k, n = (int(x) for x in args.shard.split("/"))
    if not 0 <= k < n:
        print(f"--shard {args.shard}: want K/N with 0 <= K < N", file=sys.stderr)
        return 2
    if args.action == "prepare":
        prepare(args.work, args.suite, (k, n))
    else:
        metrics = score(args.work, args.out, args.suite)
        print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
