"""The BIDS App end to end: real analyses on 2 Dask workers, resumption, failures, group level."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from cnmri.cli import main
from cnmri.cohort.store import ResultsStore, default_url


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_participant_and_group_levels(bids_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "derivatives" / "cnmri"
    # a participant whose post-contrast image is corrupt: it fails alone, the others finish
    broken = bids_dataset / "sub-05" / "ses-01" / "anat"
    broken.mkdir(parents=True)
    shutil.copy(bids_dataset / "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz", broken / "sub-05_ses-01_T1w.nii.gz")
    (broken / "sub-05_ses-01_ce-gadolinium_T1w.nii.gz").write_bytes(b"\x1f\x8b not really gzip")

    code = main(["bids", str(bids_dataset), str(out), "participant", "--workers", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3, err  # one failure → processing failed, after every other session finished
    assert "4 analysed, 0 already finished, 1 skipped, 1 failed" in err
    assert "sub-05_ses-01" in err

    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "cnmri"
    anat = out / "sub-02" / "ses-01" / "anat"
    for name in (
        "sub-02_ses-01_space-orig_seg-cn_dseg.nii.gz",
        "sub-02_ses-01_space-orig_seg-cn_dseg.tsv",
        "sub-02_ses-01_desc-cn_measurements.tsv",
        "sub-02_ses-01_findings.json",
        "sub-02_ses-01_desc-cn_report.html",
        "sub-02_ses-01_desc-cn_settings.json",
    ):
        assert (anat / name).is_file(), name
    findings = json.loads((anat / "sub-02_ses-01_findings.json").read_text())
    assert findings["bids"]["participant_id"] == "sub-02"
    assert "bids:raw:sub-02/ses-01/anat/sub-02_ses-01_ce-gadolinium_T1w.nii.gz" in findings["bids"]["sources"]
    # the strong bilateral facial lesion of sub-02 ses-01 is found
    assert {"CN7-left", "CN7-right"} <= set(findings["pattern"]["nerves"])
    assert (out / "sub-02.html").is_file() and "ses-02" in (out / "sub-02.html").read_text()
    assert not (out / ".cnmri-work").exists() or not any((out / ".cnmri-work").iterdir())

    rows = {r["job_id"]: r for r in ResultsStore(default_url(out), str(out.resolve())).rows()}
    assert rows["sub-04_ses-01"]["status"] == "skipped" and "post-contrast" in rows["sub-04_ses-01"]["reason"]
    reason = str(rows["sub-05_ses-01"]["reason"])
    assert rows["sub-05_ses-01"]["status"] == "failed" and "sub-05_ses-01_ce-gadolinium_T1w.nii.gz" in reason
    assert str(bids_dataset) not in reason
    assert rows["sub-01_ses-01"]["status"] == "done" and rows["sub-01_ses-01"]["seconds"] > 0
    assert rows["sub-01_ses-01"]["peak_rss_mb"] > 100

    # second run: the finished sessions are not analysed again; the broken one is retried and fails again
    shutil.rmtree(broken.parent.parent)
    before = (anat / "sub-02_ses-01_findings.json").stat().st_mtime_ns
    assert main(["bids", str(bids_dataset), str(out), "participant", "--workers", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "0 analysed, 4 already finished, 1 skipped, 0 failed" in err
    assert (anat / "sub-02_ses-01_findings.json").stat().st_mtime_ns == before

    # a run killed mid-way left a staging folder and a 'running' row: the next run redoes that session only
    ses2 = out / "sub-02" / "ses-02"
    shutil.rmtree(ses2)
    (out / ".cnmri-work" / "sub-02_ses-02.partial-999-1").mkdir(parents=True)
    assert main(["bids", str(bids_dataset), str(out), "participant", "--participant-label", "02", "--no-progress"]) == 0
    assert "1 analysed, 1 already finished" in capsys.readouterr().err
    assert (ses2 / "anat" / "sub-02_ses-02_findings.json").is_file()
    assert not (out / ".cnmri-work" / "sub-02_ses-02.partial-999-1").exists()

    # group level
    norm = tmp_path / "norm.json"
    assert main(["bids", str(bids_dataset), str(out), "group", "--normative-out", str(norm)]) == 0
    measurements = _tsv(out / "group" / "group_measurements.tsv")
    n_segments = len(findings["segments"])
    assert len(measurements) == 4 * n_segments
    assert {r["participant_id"] for r in measurements} == {"sub-01", "sub-02", "sub-03"}
    assert {r["group"] for r in measurements if r["participant_id"] == "sub-01"} == {"control"}
    nerves = _tsv(out / "group" / "group_nerves.tsv")
    called = {(r["participant_id"], r["session_id"], r["nerve"], r["side"]) for r in nerves if r["abnormal"] == "true"}
    assert ("sub-02", "ses-01", "CN7", "left") in called
    report = (out / "group" / "group_report.html").read_text()
    assert report.count("data:image/png;base64,") == 3  # distribution, thickness, longitudinal (sub-02)
    normative = json.loads(norm.read_text())
    assert "2 control sessions" in normative["built_from"]
