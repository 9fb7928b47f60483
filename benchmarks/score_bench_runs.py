"""Score the cases a ``cnmri bench`` run has finished so far (e.g. an interrupted standard suite).

Reads BENCH/cases/*/truth.json and BENCH/runs/*/findings.json and writes metrics.json, metrics.md and
plots into OUT with the same scoring as ``cnmri bench``.

    python benchmarks/score_bench_runs.py BENCH OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cnmri.phantom.bench import write_report
from cnmri.phantom.evaluate import score_case


def main(bench: Path, out: Path) -> None:
    scores = []
    for findings_path in sorted((bench / "runs").glob("*/findings.json")):
        case_id = findings_path.parent.name
        truth = json.loads((bench / "cases" / case_id / "truth.json").read_text())
        findings = json.loads(findings_path.read_text())
        seconds = sum(float(v) for v in findings.get("timings_s", {}).values())
        scores.append(score_case(truth, findings, case_id, round(seconds, 1)))
    total = len(list((bench / "cases").glob("*/truth.json")))
    out.mkdir(parents=True, exist_ok=True)
    metrics = write_report(
        scores, [], out, title=f"cnmri bench --suite standard ({len(scores)} of {total} cases)", suite="standard"
    )
    print(json.dumps({k: metrics[k] for k in metrics if k not in ("cases", "plots", "machine")}, indent=1)[:3000])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
