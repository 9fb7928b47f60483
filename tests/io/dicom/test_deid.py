"""De-identification of DICOM objects cnmri writes and of the report metadata."""

from __future__ import annotations

from dicom_study_builder import SIEMENS, Study, colin_head, slice_datasets

from cnmri.io.dicom.deid import Options, deidentification_record, deidentify_dataset, deidentify_metadata


def _dataset():  # type: ignore[no-untyped-def]
    data, affine = colin_head(factor=4, z_start=3, n_slices=2)
    ds = slice_datasets(data, affine, Study(vendor=SIEMENS), 5, "t1", {"OperatorsName": "Tech^Tom"}, 30000)[0]
    ds.add_new((0x0029, 0x0010), "LO", "SIEMENS CSA HEADER")
    return ds


def test_basic_profile_removes_identifiers() -> None:
    ds = _dataset()
    out = deidentify_dataset(ds)
    assert out.PatientName == "" and out.PatientID == "" and out.PatientBirthDate == ""
    assert "OperatorsName" not in out and "InstitutionName" not in out and (0x0029, 0x0010) not in out
    assert out.StudyDate == "" and out.AccessionNumber == ""
    assert out.SOPInstanceUID != ds.SOPInstanceUID and out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.PatientName == "Doe^Jane"  # the original is untouched


def test_uids_map_consistently_and_options_keep_what_they_name() -> None:
    ds = _dataset()
    a, b = deidentify_dataset(ds, salt="s"), deidentify_dataset(ds, salt="s")
    assert a.StudyInstanceUID == b.StudyInstanceUID != ds.StudyInstanceUID
    kept = deidentify_dataset(ds, Options(retain_dates=True, retain_uids=True, retain_device=True))
    assert kept.StudyDate == ds.StudyDate and kept.StudyInstanceUID == ds.StudyInstanceUID
    assert kept.StationName == ds.StationName
    codes = [item.CodeValue for item in kept.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113106", "113109", "113110"]


def test_metadata_filter() -> None:
    meta = {"patient_name": "Doe^Jane", "study_date": "20240612", "nested": {"patient_id": "X"}}
    assert deidentify_metadata(meta) == {"study_date": "20240612", "nested": {}}
    assert deidentify_metadata(meta, identify=True) == meta
    assert deidentification_record(False)["applied"] is True
