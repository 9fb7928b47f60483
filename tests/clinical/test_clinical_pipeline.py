"""The clinical data and the follow-up comparison joined to an analysis (analyze --clinical/--baseline, demo)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from cnmri.cli import main
from cnmri.commands.demo import demo_clinical_case
from cnmri.pipeline import Analysis, join_clinical, join_comparison
from cnmri.report.writers import findings_schema
from cnmri.volume import Volume

SEGMENTS = [("CN7", side, segment) for side in ("left", "right") for segment in ("cisternal", "canalicular")] + [
    ("CN9", side, "cisternal") for side in ("left", "right")
]


def _findings(abnormal_nerves: set[str], enhancement: float) -> dict[str, Any]:
    segments = []
    for nerve, side, segment in SEGMENTS:
        abnormal = f"{nerve}-{side}" in abnormal_nerves
        segments.append(
            {
                "nerve": nerve,
                "side": side,
                "segment": segment,
                "abnormal": abnormal,
                "physiologic_enhancement": False,
                "enhancement": enhancement if abnormal else 0.1,
                "thickness_mm": 2.6 if abnormal else 1.0,
                "asymmetry": None,
                "z": None,
                "reasons": [],
                "computed_from": {},
            }
        )
    nerves = sorted(abnormal_nerves)
    return {
        "schema_version": "1",
        "mode": "pre_post",
        "segments": segments,
        "pattern": {"kind": "multiple_nerves" if nerves else "normal", "nerves": nerves},
        "warnings": [],
    }


def _analysis(findings: dict[str, Any]) -> Analysis:
    tiny = Volume(np.zeros((2, 2, 2), dtype=np.float32), np.eye(4))
    return Analysis(findings, tiny, None, None, tiny, {}, {})


FOLLOW_UP = {"CN7-left", "CN7-right", "CN9-left", "CN9-right"}


def test_follow_up_comparison_is_embedded_in_findings_and_report() -> None:
    baseline = _findings({"CN7-left"}, enhancement=1.0)
    analysis = _analysis(_findings(FOLLOW_UP, enhancement=2.0))
    join_comparison(analysis, copy.deepcopy(baseline))
    comparison = analysis.findings["comparison"]
    categories = {(r["nerve"], r["side"], r["segment"]): r["category"] for r in comparison["segments"]}
    assert categories[("CN7", "left", "canalicular")] == "progressed"  # enhancement 1.0 -> 2.0
    assert categories[("CN9", "right", "cisternal")] == "new"
    assert comparison["summary"]["overall"] == "progressed"
    assert analysis.comparison_html is not None and "Follow-up comparison" in analysis.comparison_html
    assert "data:image/png;base64," in analysis.comparison_html
    jsonschema.validate(comparison, findings_schema()["properties"]["comparison"])


def test_demo_clinical_case_joins_with_nerve_findings_from_the_images() -> None:
    analysis = _analysis(_findings(FOLLOW_UP, enhancement=2.0))
    join_clinical(analysis, demo_clinical_case())
    findings = analysis.findings
    assert findings["clinical_nerve_findings_from"] == "images"
    assert findings["cns_status"]["context"] == "on_therapy"
    assert findings["cns_relapse"]["status"] == "met"
    assert findings["differential"][0]["diagnosis"] == "leukemic_infiltration"
    assert findings["differential"][0]["tier"] == "leading"
    assert {"marrow_mrd", "lp_pressure"} <= {step["id"] for step in findings["next_steps"]}
    schema = findings_schema()["properties"]
    for key in ("cns_status", "cns_relapse", "differential", "differential_version", "next_steps"):
        jsonschema.validate(findings[key], schema[key])
    html = analysis.clinical_html or ""
    assert html.index("<h3>CNS relapse") < html.index("<h3>CNS status") < html.index("<h3>Differential")


def test_a_bad_baseline_is_refused_before_the_analysis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    post = tmp_path / "post.nii.gz"
    post.write_bytes(b"not read: the baseline is checked first")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "findings.json").write_text(json.dumps({"segments": [{"nerve": "CN7"}]}))
    for baseline, fragment in ((tmp_path / "missing", "no findings.json"), (tmp_path / "old", "baseline")):
        out = tmp_path / "out"
        code = main(["analyze", "--post", str(post), "--baseline", str(baseline), "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert fragment in err and "Traceback" not in err
        assert not out.exists()
