"""De-identification in the style of DICOM PS3.15 Annex E, Basic Application Confidentiality Profile.

Two uses:

- :func:`deidentify_metadata` filters the metadata cnmri writes into its report (``findings.json``): no
  patient name, ID, birth date, sex, age, accession number, institution or operator unless the user
  asked for them (``identify=True``). Study date, device and series UIDs are kept, which the profile
  allows with its options *Retain Longitudinal Temporal Information with Full Dates* (113106),
  *Retain Device Identity* (113109) and *Retain UIDs* (113110); the options used are recorded.
- :func:`deidentify_dataset` applies the profile's actions to a DICOM dataset cnmri writes (SR, SEG,
  secondary captures): remove (X), empty (Z), dummy (D), new consistent UID (U), keep (K). Private
  elements are removed; nested sequences are processed; PatientIdentityRemoved (0012,0062),
  DeidentificationMethod (0012,0063) and DeidentificationMethodCodeSequence (0012,0064) are set.

The attribute list below covers the identifying attributes of the basic profile that occur in MR
studies and in the objects cnmri creates; it is not a full copy of PS3.15 Table E.1-1.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

#: Attribute keyword → basic-profile action. D: dummy value, Z: zero length, X: remove, U: new UID.
BASIC_PROFILE: dict[str, str] = {
    # patient
    "PatientName": "Z",
    "PatientID": "Z",
    "PatientBirthDate": "Z",
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientBirthTime": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "PatientBirthName": "X",
    "PatientMotherBirthName": "X",
    "PatientAddress": "X",
    "PatientTelephoneNumbers": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "MedicalRecordLocator": "X",
    "EthnicGroup": "X",
    "Occupation": "X",
    "AdditionalPatientHistory": "X",
    "PatientComments": "X",
    "PatientReligiousPreference": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "PregnancyStatus": "X",
    "IssuerOfPatientID": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "ResponsiblePerson": "X",
    "ResponsibleOrganization": "X",
    "PatientState": "X",
    "MedicalAlerts": "X",
    "Allergies": "X",
    "SmokingStatus": "X",
    "LastMenstrualDate": "X",
    "SpecialNeeds": "X",
    # study, visit, request
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDate": "Z",
    "StudyTime": "Z",
    "SeriesDate": "X",
    "SeriesTime": "X",
    "AcquisitionDate": "X",
    "AcquisitionTime": "X",
    "ContentDate": "Z",
    "ContentTime": "Z",
    "AcquisitionDateTime": "X",
    "InstanceCreationDate": "X",
    "InstanceCreationTime": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "PhysiciansOfRecord": "X",
    "PerformingPhysicianName": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "OperatorsName": "X",
    "RequestingPhysician": "X",
    "ScheduledPerformingPhysicianName": "X",
    "AdmittingDiagnosesDescription": "X",
    "AdmissionID": "X",
    "RequestAttributesSequence": "X",
    "RequestedProcedureID": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X",
    "PerformedProcedureStepDescription": "X",
    "ReferencedPatientSequence": "X",
    "ReferencedStudySequence": "X",
    "ReferencedPerformedProcedureStepSequence": "X",
    "StudyComments": "X",
    "ImageComments": "X",
    "InterpretationAuthor": "X",
    "TextComments": "X",
    "ContrastBolusStartTime": "X",
    "ContrastBolusStopTime": "X",
    # device and site
    "InstitutionName": "X",
    "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X",
    "StationName": "X",
    "DeviceSerialNumber": "X",
    "DeviceUID": "U",
    "ProtocolName": "X",
    "SeriesDescription": "X",
    "StudyDescription": "X",
    "SoftwareVersions": "X",
    "PlateID": "X",
    "DetectorID": "X",
    "GantryID": "X",
    "CassetteID": "X",
    "GeneratorID": "X",
    # UIDs
    "StudyInstanceUID": "U",
    "SeriesInstanceUID": "U",
    "SOPInstanceUID": "U",
    "FrameOfReferenceUID": "U",
    "ReferencedSOPInstanceUID": "U",
    "ReferencedFrameOfReferenceUID": "U",
    "SynchronizationFrameOfReferenceUID": "U",
    "MediaStorageSOPInstanceUID": "U",
    "IrradiationEventUID": "U",
    "DimensionOrganizationUID": "U",
    "ConcatenationUID": "U",
    "TrackingUID": "U",
    "StorageMediaFileSetUID": "U",
    # structured content that may hold names
    "VerifyingObserverName": "D",
    "VerifyingObserverSequence": "D",
    "PersonName": "D",
    "ContentCreatorName": "Z",
    "ObserverAssociationSequence": "X",
    "ParticipantSequence": "X",
}
_DATES = {
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ContrastBolusStartTime",
    "ContrastBolusStopTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
}
_DEVICE = {
    "StationName",
    "DeviceSerialNumber",
    "DeviceUID",
    "SoftwareVersions",
    "GantryID",
    "DetectorID",
    "PlateID",
    "CassetteID",
    "GeneratorID",
}
_DESCRIPTORS = {"SeriesDescription", "StudyDescription", "ProtocolName"}


@dataclass(frozen=True)
class Options:
    """Profile options (PS3.15 Annex E): each one keeps a group of attributes the basic profile removes."""

    retain_dates: bool = False  # 113106 Retain Longitudinal Temporal Information with Full Dates
    retain_device: bool = False  # 113109 Retain Device Identity
    retain_uids: bool = False  # 113110 Retain UIDs
    retain_descriptors: bool = False  # series/study descriptions and protocol name kept as written (no code)

    def codes(self) -> list[tuple[str, str]]:
        out = [("113100", "Basic Application Confidentiality Profile")]
        if self.retain_dates:
            out.append(("113106", "Retain Longitudinal Temporal Information Full Dates Option"))
        if self.retain_device:
            out.append(("113109", "Retain Device Identity Option"))
        if self.retain_uids:
            out.append(("113110", "Retain UIDs Option"))
        return out


#: What the report keeps by default: study date, device, series UIDs (see module docstring).
REPORT_OPTIONS = Options(retain_dates=True, retain_device=True, retain_uids=True, retain_descriptors=True)
#: Metadata keys that identify the patient, the visit or the site.
IDENTIFYING_KEYS = frozenset(
    {
        "patient_name",
        "patient_id",
        "patient_birth_date",
        "patient_sex",
        "patient_age",
        "accession_number",
        "institution_name",
        "station_name",
        "device_serial_number",
        "referring_physician_name",
        "operators_name",
    }
)


def _action(keyword: str, options: Options) -> str:
    action = BASIC_PROFILE.get(keyword, "K")
    if options.retain_dates and keyword in _DATES:
        return "K"
    if options.retain_device and keyword in _DEVICE:
        return "K"
    if options.retain_uids and action == "U":
        return "K"
    if options.retain_descriptors and keyword in _DESCRIPTORS:
        return "K"
    return action


def _dummy(element: DataElement) -> Any:
    return {
        "PN": "ANONYMOUS",
        "DA": "19000101",
        "TM": "000000",
        "DT": "19000101000000",
        "LO": "ANONYMOUS",
        "SH": "ANON",
        "CS": "ANON",
        "AS": "000Y",
        "UI": generate_uid(),
    }.get(element.VR, "")


def deidentify_dataset(dataset: Dataset, options: Options | None = None, salt: str = "cnmri") -> Dataset:
    """A de-identified copy of ``dataset`` (the original is not changed).

    New UIDs are derived from the old UID and ``salt``, so references between objects de-identified
    with the same salt stay consistent (an SR still points at its SEG).
    """
    options = options or Options()
    out = copy.deepcopy(dataset)

    def new_uid(old: str) -> str:
        return str(generate_uid(entropy_srcs=[salt, old]))

    def process(ds: Dataset) -> None:
        ds.remove_private_tags()
        for element in list(ds):
            keyword = element.keyword
            action = _action(keyword, options)
            if action == "X":
                del ds[element.tag]
            elif action == "Z":
                element.value = Sequence() if element.VR == "SQ" else ""
            elif action == "D":
                if element.VR == "SQ":
                    element.value = Sequence()
                else:
                    element.value = _dummy(element)
            elif action == "U" and element.value:
                if element.VM > 1:
                    element.value = [new_uid(str(v)) for v in element.value]
                else:
                    element.value = new_uid(str(element.value))
            elif element.VR == "SQ":
                for item in element.value:
                    process(item)
            elif element.VR == "PN" and keyword not in ("", None) and element.value:
                element.value = "ANONYMOUS"  # any other person name: the profile cleans them all

    process(out)
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in out:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    codes = options.codes()
    out.DeidentificationMethod = "DICOM PS3.15 Basic Application Confidentiality Profile (cnmri)"
    seq = Sequence()
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        seq.append(item)
    out.DeidentificationMethodCodeSequence = seq
    return out


def deidentify_metadata(metadata: Mapping[str, Any], identify: bool = False) -> dict[str, Any]:
    """The report metadata without patient, visit and site identifiers (unless ``identify``)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in IDENTIFYING_KEYS and not identify:
            continue
        out[key] = deidentify_metadata(value, identify) if isinstance(value, Mapping) else value
    return out


def deidentification_record(identify: bool) -> dict[str, Any]:
    """What to write beside the metadata: which profile and options were applied."""
    if identify:
        return {"applied": False, "reason": "identify was requested: patient identifiers are included"}
    return {
        "applied": True,
        "method": "DICOM PS3.15 Annex E Basic Application Confidentiality Profile",
        "options": [
            {"code": value, "scheme": "DCM", "meaning": meaning} for value, meaning in REPORT_OPTIONS.codes()
        ],
        "removed": sorted(IDENTIFYING_KEYS),
        "note": "series descriptions are kept as the scanner wrote them, to say which series was used",
    }


__all__ = [
    "BASIC_PROFILE",
    "IDENTIFYING_KEYS",
    "REPORT_OPTIONS",
    "Options",
    "deidentification_record",
    "deidentify_dataset",
    "deidentify_metadata",
]
