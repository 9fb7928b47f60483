"""DICOM studies an attacker (or a careless export) could hand over, and what must never leak from one.

* hostile: a FIFO, a link out of the study folder, an RLE file claiming 65535² pixels, a deflate bomb;
* private: a study whose patient name and MRN sit in the folder name, a file name, the series and
  study descriptions and the protocol name: no output file and no line on stderr (even with ``-vv``)
  may carry them, unless ``--identify``;
* killed: ``cnmri analyze STUDY_DIR`` stopped by SIGTERM leaves no partial output and no converted images.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
import pytest
from dicom_study_builder import SEQ, SIEMENS, Patient, Study, StudyWriter, colin_head, enhanced, slice_datasets
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from cnmri.io.dicom.discover import header_from_dataset
from cnmri.io.study import dicom_study_record

SRC = Path(__file__).resolve().parents[3] / "src"
NAME, MRN = "Zbigniewska^Oleandra", "MRN48213977"
SECRETS = re.compile(r"zbigniewsk|oleandra|48213977", re.IGNORECASE)
RunCli = Callable[[Sequence[str]], int]


def _env(tmp: Path) -> dict[str, str]:
    (tmp / "tmp").mkdir(exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(SRC), TMPDIR=str(tmp / "tmp"))


def _small_study(root: Path, description: str = "t1_mprage_sag_p2_iso") -> StudyWriter:
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(root, Study(vendor=SIEMENS), seed=5)
    writer.add(data, affine, 5, description, SEQ["siemens_t1"], 30000)
    return writer


# --------------------------------------------------------------------------------------------- hostile


def test_a_fifo_in_the_study_folder_is_skipped_not_opened(tmp_path: Path) -> None:
    study = _small_study(tmp_path / "study").root
    os.mkfifo(study / "DICOM" / "pipe")
    run = subprocess.run(
        [sys.executable, "-m", "cnmri.cli", "inspect", str(study), "--format", "json"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,  # before: discovery opened the FIFO and waited for a writer forever
    )
    payload = json.loads(run.stdout)
    assert payload["dicom_images"] == 30
    assert any("FIFO" in u["reason"] for u in payload["unreadable"])


def test_a_link_leaving_the_study_folder_is_not_followed(
    tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = _small_study(tmp_path / "study")
    study = writer.root
    other = StudyWriter(tmp_path / "elsewhere", Study(patient=Patient(name="Other^Person", patient_id="P2")))
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    outside = other.add(data, affine, 9, "t1_post", SEQ["siemens_t1"], 31000).files[0]
    (study / "DICOM" / "link").symlink_to(outside)
    (study / "inside_link").symlink_to(writer.series[5].files[0])  # a link within the study folder stays usable
    assert run_cli(["inspect", str(study), "--format", "json"]) == 2  # no post-contrast T1: exit 2, table printed
    payload = json.loads(capsys.readouterr().out)
    assert payload["patients"] == 1 and {row["number"] for row in payload["series"]} == {5}
    reasons = [u["reason"] for u in payload["unreadable"]]
    assert any("outside the study folder" in r for r in reasons)


def test_an_rle_file_claiming_65535_squared_pixels_is_refused_by_inspect(
    tmp_path: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", SEQ["siemens_t1"], 30000)[0]
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.Rows = ds.Columns = 65535
    ds.PixelData = encapsulate([b"\0" * 64])
    (tmp_path / "s").mkdir()
    ds.save_as(tmp_path / "s" / "IM1", enforce_file_format=True)
    assert (tmp_path / "s" / "IM1").stat().st_size < 4000
    assert run_cli(["inspect", str(tmp_path / "s")]) == 2  # before: listed as a usable T1 series
    err = capsys.readouterr().err
    assert "no DICOM images found" in err and "4,294,836,225 voxels" in err


def test_a_deflate_bomb_is_counted_in_chunks_and_refused(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", SEQ["siemens_t1"], 30000)[0]
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.add_new((0x0011, 0x0010), "LO", "PADDING")
    ds.add_new((0x0011, 0x1010), "OB", b"\0" * (64 << 20))
    (tmp_path / "s").mkdir()
    ds.save_as(tmp_path / "s" / "IM1", enforce_file_format=True)
    assert (tmp_path / "s" / "IM1").stat().st_size < 200_000
    argv = ["inspect", str(tmp_path / "s"), "--max-voxels", "1000000"]  # inflation budget 18 MB
    run = subprocess.run(
        [sys.executable, "-m", "cnmri.cli", *argv], capture_output=True, text=True, env=_env(tmp_path), timeout=120
    )
    assert run.returncode == 2 and "compression bomb" in run.stderr


# --------------------------------------------------------------------------------------------- private


@pytest.fixture(scope="module")
def identifying_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 mm Siemens-style pre/post study whose identifiers are everywhere a careless export puts them."""
    root = tmp_path_factory.mktemp("private") / f"ZBIGNIEWSKA_OLEANDRA_{MRN}"
    patient = Patient(name=NAME, patient_id=MRN, birth_date="20090303")
    study = Study(patient=patient, vendor=SIEMENS, description=f"MRI HEAD ZBIGNIEWSKA {MRN}", accession="A77")
    writer = StudyWriter(root, study, seed=11)
    data, affine = colin_head()
    post_extra = {"ContrastBolusAgent": "Gadovist", "ContrastBolusVolume": 3.5, "ContrastBolusRoute": "IV"}
    writer.add(data, affine, 5, "t1_mprage_sag_p2_iso Zbigniewska", SEQ["siemens_t1"], 30000, protocol=f"T1 {MRN}")
    writer.add(
        enhanced(data),
        affine,
        7,
        f"t1_mprage_sag_p2_iso_post {MRN}",
        SEQ["siemens_t1"],
        31200,
        extra=post_extra,
        protocol="T1 POST Oleandra",
    )
    named = writer.series[7].files[0]
    named.rename(named.with_name(f"Zbigniewska_Oleandra_{MRN}_0001.dcm"))
    writer.series[7].files[0] = named.with_name(f"Zbigniewska_Oleandra_{MRN}_0001.dcm")
    (root / "DICOM" / f"Zbigniewska_{MRN}_broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(600))
    return root


#: What the DICOM results (OUT/dicom, docs/pacs.md) copy from the source study so that PACS files them with
#: it: the patient and general study modules. Everything else in them must be as clean as any other output.
PATIENT_STUDY_MODULES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDsSequence",
    "IssuerOfPatientID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)


def _dicom_text_beyond_patient_module(path: Path) -> bytes:
    ds = pydicom.dcmread(str(path))
    for dataset in [ds, *[item for elem in ds.iterall() if elem.VR == "SQ" for item in elem.value]]:
        for keyword in PATIENT_STUDY_MODULES:
            if keyword in dataset:
                delattr(dataset, keyword)
    return str(ds).encode("latin-1", "replace")


def _leaks(folder: Path) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        if path.suffix == ".dcm" and "dicom" in path.relative_to(folder).parts:
            raw = _dicom_text_beyond_patient_module(path)
        text = raw.decode("latin-1")
        found += [f"{path.name}: {m.group(0)}" for m in SECRETS.finditer(text)]
    return found


def test_no_identifier_reaches_any_output_or_stderr(identifying_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "cnmri.cli", "-vv", "analyze", str(identifying_study), "-o", str(out)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert SECRETS.findall(run.stderr) == [], run.stderr
    assert SECRETS.findall(run.stdout) == []
    assert _leaks(out) == []
    findings = json.loads((out / "findings.json").read_text())
    assert findings["inputs"]["post"]["series_description"] == "T1 MPRAGE SAG P2 ISO POST *"
    assert any("could not be read" in w for w in findings["warnings"])  # the broken file, by number only
    codes = [o["code"] for o in findings["study"]["deidentification"]["options"]]
    assert codes == ["113100", "113105", "113106", "113110"]
    report = (out / "report.html").read_text()
    assert "could not be read" in report


def test_inspect_hides_identifiers_unless_asked(
    identifying_study: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["-vv", "inspect", str(identifying_study), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert SECRETS.findall(captured.out + captured.err) == []
    assert run_cli(["inspect", str(identifying_study), "--identify"]) == 0
    assert "Zbigniewska" in capsys.readouterr().out


def test_deidentify_lists_only_the_options_applied() -> None:
    metadata = {"study_date": "20240101", "study_instance_uid": "1.2.3", "manufacturer": "SIEMENS"}
    record = dicom_study_record(metadata, identify=False, deidentify=True)
    codes = [o["code"] for o in record["deidentification"]["options"]]
    assert codes == ["113100", "113105"]  # no Retain UIDs (113110), no Retain Full Dates (113106)
    assert "study_date" not in record and "study_instance_uid" not in record


def test_a_missing_series_uid_falls_back_to_a_hash_not_a_path(tmp_path: Path) -> None:
    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", SEQ["siemens_t1"], 30000)[0]
    del ds.SeriesInstanceUID
    del ds.SOPInstanceUID
    header = header_from_dataset(ds, tmp_path / "ZBIGNIEWSKA_OLEANDRA" / "IM1")
    assert "ZBIGNIEWSKA" not in header.series_uid and "ZBIGNIEWSKA" not in header.sop_instance_uid
    same_folder = header_from_dataset(ds, tmp_path / "ZBIGNIEWSKA_OLEANDRA" / "IM2")
    assert same_folder.series_uid == header.series_uid  # still groups the folder's files into one series


# ---------------------------------------------------------------------------------------------- killed


def test_sigterm_during_a_dicom_analysis_leaves_nothing_behind(identifying_study: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "cnmri.cli", "analyze", str(identifying_study), "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    converted: list[Path] = []
    while time.monotonic() < deadline and not converted and child.poll() is None:
        converted = list(tmp_path.glob(".out.partial-*/.work/dicom/*.nii.gz"))
        time.sleep(0.2)
    assert converted, "the conversion should happen inside the partial output folder"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert "partial output removed" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("t1_mprage_sag_p2_iso_post", "T1 MPRAGE SAG P2 ISO POST"),
        ("Sag T1 FSPGR BRAVO +C", "SAG T1 FSPGR BRAVO +C"),
        ("AX T1 VIBE FS 1.0mm GD", "AX T1 VIBE FS 1.0MM GD"),
        ("t2_ciss3d_tra_0.5iso", "T2 CISS3D TRA 0.5ISO"),
        ("KOWALSKI^ANNA MRN48213977 T1 TFE", "* T1 TFE"),
        ("WIP Dr Smith 20240612 SPACE", "* SPACE"),
    ],
)
def test_descriptions_keep_only_scanner_vocabulary(written: str, kept: str) -> None:
    from cnmri.io.dicom.deid import scrub_description

    assert scrub_description(written) == kept


def test_the_redactor_removes_names_in_any_form_and_leaves_ordinary_words() -> None:
    from cnmri.io.dicom.deid import Redactor

    redact = Redactor()
    redact.add_identity("Lee^Ann", by_word=True)
    redact.add_identity("St Mary Hospital")  # a site: the whole value only
    redact.add_path("/data/LEE_ANN_2024/IM0001")
    text = "/data/LEE_ANN_2024/IM0001 sleep; ann.lee; the St Mary Hospital scan"
    assert redact(text) == "[file] sleep; [removed].[removed]; the [removed] scan"
    assert Redactor(identify=True)(text) == text


def test_the_redactor_leaves_uids_and_longer_numbers_that_contain_an_id() -> None:
    """CI once saw a random SeriesInstanceUID come back as ``...416[removed]0953...``: the patient ID
    ``CN-0001`` gave the word ``0001``, which was cut out of the UID's digits."""
    from cnmri.io.dicom.deid import Redactor

    redact = Redactor()
    redact.add_identity("CN-0001", by_word=True)
    uid = "1.2.826.0.1.3680043.8.498.6897551416000109530267"
    assert redact(uid) == uid
    redact.add_identity("10001")
    assert redact("1.2.840.10001.5") == "1.2.840.10001.5"  # a whole component, still a UID
    assert redact("series 7 of 1200015") == "series 7 of 1200015"
    assert redact("MRN0001, id 0001; CN-0001") == "MRN[removed], id [removed]; [removed]"
