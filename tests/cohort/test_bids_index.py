"""Finding each session's inputs in a BIDS dataset (no analysis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnmri.cli import main
from cnmri.cohort.bids import index_sessions, is_control, read_participants, strip_prefix
from cnmri.errors import InputError


def test_every_session_is_found_with_its_pre_and_post(bids_dataset: Path) -> None:
    sessions = {s.job_id: s for s in index_sessions(bids_dataset)}
    assert sorted(sessions) == ["sub-01_ses-01", "sub-02_ses-01", "sub-02_ses-02", "sub-03_ses-01", "sub-04_ses-01"]
    s = sessions["sub-02_ses-02"]
    assert s.post is not None and s.post.name == "sub-02_ses-02_ce-gadolinium_T1w.nii.gz"
    assert s.pre is not None and s.pre.name == "sub-02_ses-02_T1w.nii.gz"
    assert s.extra["contrast_agent"] == "gadolinium"
    assert s.anat_dir == Path("sub-02/ses-02/anat")


def test_a_session_without_post_contrast_t1_is_skipped_with_a_reason(bids_dataset: Path) -> None:
    skipped = [s for s in index_sessions(bids_dataset) if s.skip_reason]
    assert [s.job_id for s in skipped] == ["sub-04_ses-01"]
    assert "post-contrast" in str(skipped[0].skip_reason) and "1 T1w without ce-" in str(skipped[0].skip_reason)


def test_labels_are_accepted_with_or_without_prefix(bids_dataset: Path) -> None:
    with_prefix = index_sessions(bids_dataset, ["sub-02"], ["ses-02"])
    without = index_sessions(bids_dataset, ["02"], ["02"])
    assert [s.job_id for s in with_prefix] == [s.job_id for s in without] == ["sub-02_ses-02"]
    assert strip_prefix("sub-7", "sub-") == "7" and strip_prefix("7", "sub-") == "7"


def test_unknown_participant_is_named(bids_dataset: Path) -> None:
    with pytest.raises(InputError, match="99 not in"):
        index_sessions(bids_dataset, ["sub-99"])


def test_a_folder_that_is_not_bids_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "raw").mkdir()
    assert main(["bids", str(tmp_path / "raw"), str(tmp_path / "out"), "participant"]) == 2
    assert "dataset_description.json" in capsys.readouterr().err
    (tmp_path / "raw" / "dataset_description.json").write_text("{not json", encoding="utf-8")
    assert main(["bids", str(tmp_path / "raw"), str(tmp_path / "out"), "participant"]) == 2


def test_sessions_without_session_folders(tmp_path: Path, bids_dataset: Path) -> None:
    # a dataset whose participants have no ses- level
    flat = tmp_path / "flat"
    (flat / "sub-A" / "anat").mkdir(parents=True)
    (flat / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    src = bids_dataset / "sub-01" / "ses-01" / "anat"
    (flat / "sub-A" / "anat" / "sub-A_ce-gd_T1w.nii.gz").write_bytes(
        (src / "sub-01_ses-01_ce-gadolinium_T1w.nii.gz").read_bytes()
    )
    (flat / "sub-A" / "anat" / "sub-A_T1w.nii.gz").write_bytes((src / "sub-01_ses-01_T1w.nii.gz").read_bytes())
    (s,) = index_sessions(flat)
    assert s.job_id == "sub-A" and s.session is None and s.anat_dir == Path("sub-A/anat")
    assert s.pre is not None and s.post is not None


def test_participants_tsv_marks_controls(bids_dataset: Path) -> None:
    rows = read_participants(bids_dataset)
    assert is_control(rows["01"]) is True and is_control(rows["02"]) is False
    assert is_control({"age": "40"}) is None


def test_a_foreign_non_empty_output_folder_is_refused(
    bids_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("years of work")
    assert main(["bids", str(bids_dataset), str(out), "participant"]) == 2
    assert "not a cnmri derivative" in capsys.readouterr().err
    assert (out / "chapter1.tex").read_text() == "years of work"
    assert main(["bids", str(bids_dataset), str(bids_dataset), "participant"]) == 2
