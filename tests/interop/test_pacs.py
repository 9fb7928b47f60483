"""``cnmri pacs pull|push`` and ``cnmri watch`` against a real Orthanc with DICOMweb (started by the tests)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pydicom
import pytest
from dicom_study_builder import SIEMENS, Patient, Study, StudyWriter, build_siemens_study
from interop_support import Analysed
from orthanc_server import PASSWORD, USER, Orthanc, free_port

import cnmri.cli

MODALITY, SERIES_UID = "00080060", "0020000E"


def cli(argv: list[str]) -> int:
    return cnmri.cli.main(argv)


def auth() -> list[str]:
    return ["--user", USER, "--password", PASSWORD]


@pytest.fixture(scope="module")
def uploaded(orthanc: Orthanc, pacs_study: StudyWriter) -> StudyWriter:
    orthanc.upload([f for s in pacs_study.series.values() for f in s.files])
    return pacs_study


def _modalities(orthanc: Orthanc, study_uid: str) -> list[str]:
    return sorted(str(s[MODALITY]["Value"][0]) for s in orthanc.series_of(study_uid))  # type: ignore[index]


def test_pull_writes_every_instance_of_the_study(orthanc: Orthanc, uploaded: StudyWriter, tmp_path: Path) -> None:
    out = tmp_path / "pulled"
    code = cli(
        ["pacs", "pull", "--url", orthanc.dicomweb, "--study", uploaded.study.study_uid, "-o", str(out), *auth()]
    )
    assert code == 0
    pulled = {str(pydicom.dcmread(str(p), stop_before_pixels=True).SOPInstanceUID) for p in out.rglob("*.dcm")}
    sent = {
        str(pydicom.dcmread(str(f), stop_before_pixels=True).SOPInstanceUID)
        for s in uploaded.series.values()
        for f in s.files
    }
    assert pulled == sent and len(sent) == 120


def test_credentials_from_the_environment_are_used(
    orthanc: Orthanc, uploaded: StudyWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNMRI_PACS_USER", USER)
    monkeypatch.setenv("CNMRI_PACS_PASSWORD", PASSWORD)
    code = cli(
        ["pacs", "pull", "--url", orthanc.dicomweb, "--study", uploaded.study.study_uid, "-o", str(tmp_path / "p")]
    )
    assert code == 0


def test_refused_credentials_are_exit_2_with_a_message(
    orthanc: Orthanc, uploaded: StudyWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["pacs", "pull", "--url", orthanc.dicomweb, "--study", uploaded.study.study_uid, "-o", str(tmp_path / "p")]
    code = cli([*argv, "--user", USER, "--password", "wrong"])
    err = capsys.readouterr().err
    assert code == 2
    assert "HTTP 401" in err and "--password" in err and "Traceback" not in err


def test_an_unknown_study_is_exit_2(orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["pacs", "pull", "--url", orthanc.dicomweb, "--study", "1.2.3.4.5", "-o", str(tmp_path / "p"), *auth()])
    assert code == 2
    assert "1.2.3.4.5" in capsys.readouterr().err


def test_an_unreachable_pacs_is_exit_3_after_retries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    code = cli(
        [
            "pacs",
            "pull",
            "--url",
            url,
            "--study",
            "1.2.3",
            "-o",
            str(tmp_path / "p"),
            "--retries",
            "2",
            "--timeout",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "unreachable" in err and "2 retries" in err and "Traceback" not in err


def test_credentials_in_the_url_never_reach_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://bob:hunter2@127.0.0.1:{free_port()}/dicom-web"
    code = cli(["pacs", "pull", "--url", url, "--study", "1.2.3", "-o", str(tmp_path / "p"), "--retries", "0"])
    err = capsys.readouterr().err
    assert code == 3
    assert "hunter2" not in err and "127.0.0.1" in err


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--url", "pacs:8042/dicom-web"], "--url"),
        (["--url", "http://pacs/dicom-web", "--user", "u", "--token", "t"], "not both"),
        (["--url", "http://pacs/dicom-web", "--user", "u"], "needs a password"),
    ],
)
def test_bad_connection_options_are_exit_2(
    options: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CNMRI_PACS_USER", "CNMRI_PACS_PASSWORD", "CNMRI_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert cli(["pacs", "pull", *options, "--study", "1.2.3", "-o", str(tmp_path / "p")]) == 2
    assert named in capsys.readouterr().err


def test_push_files_sr_seg_and_key_images_into_the_source_study(
    orthanc: Orthanc, uploaded: StudyWriter, analysed: Analysed
) -> None:
    code = cli(["pacs", "push", str(analysed.out), "--url", orthanc.dicomweb, *auth()])
    assert code == 0
    modalities = _modalities(orthanc, uploaded.study.study_uid)
    assert modalities == ["KO", "MR", "MR", "OT", "SEG", "SR"]


def test_push_of_a_folder_without_dicom_outputs_is_exit_2(orthanc: Orthanc, tmp_path: Path) -> None:
    assert cli(["pacs", "push", str(tmp_path), "--url", orthanc.dicomweb, *auth()]) == 2


@pytest.mark.slow
def test_watch_analyses_a_new_stable_study_once_and_pushes_results(
    orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = Patient(name="Poe^Edgar", patient_id="CN-WATCH-1")
    study = build_siemens_study(tmp_path / "study", seed=5, study=Study(patient=patient, vendor=SIEMENS), extras=False)
    orthanc.upload([f for s in study.series.values() for f in s.files])
    work = tmp_path / "work"
    base = [
        "watch",
        "--url",
        orthanc.dicomweb,
        "--work",
        str(work),
        "--once",
        "--filter",
        "PatientID=CN-WATCH-1",
        *auth(),
    ]

    assert cli([*base, "--stable-seconds", "3600"]) == 0  # just seen: not yet stable, nothing analysed
    assert capsys.readouterr().out.strip() == "processed 0 failed 0 waiting 1"
    assert _modalities(orthanc, study.study.study_uid) == ["MR", "MR"]

    assert cli([*base, "--stable-seconds", "0", "--analyze-option=--no-report"]) == 0
    assert capsys.readouterr().out.strip() == "processed 1 failed 0 waiting 0"
    assert {"SR", "SEG", "KO"} <= set(_modalities(orthanc, study.study.study_uid))

    assert cli([*base, "--stable-seconds", "0"]) == 0  # a restart: the state says done
    assert capsys.readouterr().out.strip() == "processed 0 failed 0 waiting 0"
    rows = sqlite3.connect(str(work / "watch.sqlite")).execute("SELECT state, attempts FROM studies").fetchall()
    assert rows == [("done", 1)]
    assert not any((work / "studies").glob("*/input/*")), "the pulled study is deleted after success"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_pull_refuses_a_folder_that_holds_other_files(tmp_path: Path) -> None:
    out = tmp_path / "someone-elses"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli(
        ["pacs", "pull", "--url", f"http://127.0.0.1:{free_port()}/dicom-web", "--study", "1.2.3", "-o", str(out)]
    )
    assert code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_a_failed_pull_leaves_no_half_written_folder(tmp_path: Path) -> None:
    out = tmp_path / "pulled"
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    code = cli(["pacs", "pull", "--url", url, "--study", "1.2.3", "-o", str(out), "--retries", "0", "--timeout", "2"])
    assert code != 0
    assert not out.exists() and not list(tmp_path.glob(".pulled.partial-*"))
