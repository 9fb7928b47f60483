"""The CI phantom suite through the real pipeline (not a stand-in): generate, analyse, score, report."""

from __future__ import annotations

import json
from pathlib import Path

from cnmri.cli import main


def test_ci_suite_runs_the_real_detector_and_finds_the_strong_lesion(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "--suite", "ci", "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    cases = {c["case_id"]: c for c in metrics["cases"]}
    assert len(cases) == 3 and not metrics.get("failures")
    strong = cases["ci-001-cn7l"]
    assert "CN7-left" in strong["called_nerves"], strong
    assert strong["nerve_counts"]["fn"] == 0
    for case in cases.values():
        assert case["seconds"] > 0
    assert (out / "metrics.md").exists()
