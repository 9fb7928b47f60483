"""The whole pipeline on the full-size demo case (real Colin27 head, 1 mm): the contract outputs.

One run (~1 min on 2 cores) is shared by the assertions below.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import jsonschema
import nibabel as nib
import numpy as np
import pytest

from cnmri.cli import main
from cnmri.report.writers import findings_schema

EXAMPLE_CASE = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def findings(demo_out: Path) -> dict:
    return json.loads((demo_out / "findings.json").read_text())


def test_demo_finds_exactly_both_facial_and_both_glossopharyngeal_nerves(findings: dict) -> None:
    abnormal = sorted(f"{n['nerve']}-{n['side']}" for n in findings["nerves"] if n["abnormal"])
    assert abnormal == ["CN7-left", "CN7-right", "CN9-left", "CN9-right"]
    assert findings["pattern"]["kind"] == "multiple_nerves"
    assert sorted(findings["pattern"]["bilateral"]) == ["CN7", "CN9"]


def test_physiologic_segments_are_reported_not_ignored(findings: dict) -> None:
    physiologic = [s for s in findings["segments"] if s["physiologic_enhancement"]]
    assert physiologic, "the atlas marks normally enhancing segments"
    for seg in physiologic:
        assert seg["enhancement"] is not None, seg["key"]
    # normal physiologic enhancement elsewhere (Meckel's cave, Dorello, hypoglossal canal) is not a finding
    for nerve in ("CN5", "CN6", "CN12"):
        assert not any(s["abnormal"] for s in findings["segments"] if s["nerve"] == nerve)


def test_findings_follow_the_contract_and_say_what_they_were_computed_from(findings: dict) -> None:
    jsonschema.validate(findings, findings_schema())
    assert findings["mode"] == "pre_post"
    assert len(findings["segments"]) == 56 and len(findings["nerves"]) == 22
    for seg in findings["segments"]:
        assert seg["computed_from"]["sequences"] == ["T1_pre", "T1_post"]
        assert seg["computed_from"]["roi_voxels"] > 0
    lesion = next(s for s in findings["segments"] if s["key"] == "CN7-left-canalicular")
    assert lesion["abnormal"] and lesion["z"] > 3
    assert lesion["thickness_mm"] == pytest.approx(2.8, abs=0.6)  # the demo lesion is 2.8 mm
    assert findings["registration"]["status"] == "ok"


def test_label_map_matches_its_table_and_the_segments(demo_out: Path, findings: dict) -> None:
    labels = nib.load(str(demo_out / "nerves_dseg.nii.gz"))
    values = set(np.unique(np.asarray(labels.dataobj)).astype(int)) - {0}
    with (demo_out / "nerves_dseg.tsv").open() as handle:
        table = {int(r["index"]): r["name"] for r in csv.DictReader(handle, delimiter="\t")}
    assert values <= set(table)
    assert set(table.values()) == {s["key"] for s in findings["segments"]}
    with (demo_out / "segments.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 56 and {"enhancement", "thickness_mm", "z", "abnormal"} <= set(rows[0])


def test_report_is_self_contained_and_shows_key_images_for_abnormal_nerves(demo_out: Path) -> None:
    html = (demo_out / "report.html").read_text()
    assert not re.search(r"(src|href)=[\"']https?:", html)
    assert html.count("<img") >= 5  # four abnormal nerve sides + the overview mosaic
    assert "decision support" in html.lower()


def test_no_partial_or_temporary_folders_are_left(demo_out: Path) -> None:
    leftovers = [p.name for p in demo_out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_post_only_mode_and_the_clinical_join(demo_out: Path, tmp_path: Path) -> None:
    out = tmp_path / "post_only"
    code = main(
        ["analyze", "--post", str(demo_out / "inputs" / "post.nii.gz"), "--clinical", str(EXAMPLE_CASE), "-o", str(out)]
    )
    assert code == 0
    findings = json.loads((out / "findings.json").read_text())
    assert findings["mode"] == "post_only"
    assert any("post-only" in w for w in findings["warnings"])
    assert all(s["enhancement_ratio"] is None for s in findings["segments"])
    assert findings["cns_status"]["category"] == "CNS3"
    assert findings["differential"][0]["diagnosis"] == "leukemic_infiltration"
    html = (out / "report.html").read_text()
    assert "CNS3" in html
