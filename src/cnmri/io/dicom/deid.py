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
import os
import re
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


def deidentification_record(identify: bool, deidentify: bool = False) -> dict[str, Any]:
    """Which profile and options (PS3.15 Table CID 7050) were applied to the metadata cnmri writes.

    Default: identifiers removed, descriptions cleaned to scanner vocabulary (113105), study date and
    series UIDs kept (113106, 113110). ``deidentify``: dates removed and UIDs replaced as well, so
    neither retain option is listed.
    """
    if identify:
        return {"applied": False, "reason": "identify was requested: patient identifiers are included"}
    options = Options(retain_dates=not deidentify, retain_uids=not deidentify)
    codes = options.codes()
    codes.insert(1, ("113105", "Clean Descriptors Option"))
    return {
        "applied": True,
        "method": "DICOM PS3.15 Annex E Basic Application Confidentiality Profile",
        "options": [{"code": value, "scheme": "DCM", "meaning": meaning} for value, meaning in codes],
        "removed": sorted(IDENTIFYING_KEYS | ({"dates", "times"} if deidentify else set())),
        "note": "series and study descriptions keep only scanner vocabulary (sequence, plane, contrast, "
        "sizes); file and folder names are never written",
    }


# ------------------------------------------------------------------------------ descriptions, redaction

#: Words a scanner or technologist writes into series/study descriptions and protocol names that say
#: what the series is and nothing about who was scanned. Everything else is dropped by
#: :func:`scrub_description` (names, MRNs, dates and free text can be typed into these fields).
_VOCABULARY_TEXT = """
    T1 T2 T1W T2W T1WI T2WI PD PDW FLAIR DIR STIR TIRM TIR IR FLASH MPRAGE MP RAGE MP2RAGE VIBE SPACE BRAVO
    FSPGR SPGR GRE GR SE TSE FSE ETSE TFE TFE3D THRIVE CUBE VISTA DRIVE CISS FIESTA FIESTAC FIESTA-C
    DWI DTI DIFF DIFFUSION ADC TRACE EPI EP2D SWI SWAN TOF MRA PERF DSC DCE ASL BOLD
    GD GAD GADO GADOLINIUM GADOVIST DOTAREM MULTIHANCE CONTRAST CE KM C +C -C POST PRE NATIVE NONCONTRAST
    WITH WITHOUT W WO AND NO AX AXIAL TRA TRANS TRANSVERSAL SAG SAGITTAL COR CORONAL OBL OBLIQUE
    2D 3D ISO ISOTROPIC MM HR HIGHRES FS FATSAT FAT SAT DIXON WATER IN OPP OUT MPR MIP MINIP RECON REFORMAT
    LOC LOCALIZER LOCALISER SCOUT SURVEY PLANE 3PLANE TRIPLANE CALIBRATION ASSET SENSE GRAPPA IPAT
    BRAIN HEAD NECK IAC IACS CPA ORBIT ORBITS SKULL BASE POSTERIOR FOSSA PITUITARY CRANIAL NERVE NERVES CN
    NORM ND DIS2D DIS3D FIL PHASE MAG MAGNITUDE MOCO SUB SUBTRACTION DARK FLUID BLACK BLOOD BB
    ROUTINE PROTOCOL SEQUENCE MRI MR EXAM STUDY SERIES STANDARD FAST THIN THICK HIGH LOW RES
"""
SCANNER_VOCABULARY = frozenset(_VOCABULARY_TEXT.split())
_TOKEN = re.compile(r"\+C\b|[A-Za-z0-9]+(?:[.,][0-9]+)?[A-Za-z]*")
_SIZE = re.compile(r"^\d{1,2}(?:[.,]\d{1,2})?(?:MM|ISO|T|X|D)?$|^[PBR]\d{1,2}$|^B\d{1,4}$|^\d{1,3}$")


def scrub_description(text: str | None) -> str:
    """Only the scanner vocabulary and small numbers of a description; ``*`` where words were dropped.

    >>> scrub_description("t1_mprage_sag_p2_iso POST Kowalski 48213977")
    'T1 MPRAGE SAG P2 ISO POST *'
    """
    if not text:
        return ""
    kept: list[str] = []
    for token in _TOKEN.findall(str(text)):
        word = token.upper()
        if word in SCANNER_VOCABULARY or _SIZE.match(word) or _known_with_dimension(word):
            kept.append(word)
        elif not kept or kept[-1] != "*":
            kept.append("*")
    return " ".join(kept)


def _known_with_dimension(word: str) -> bool:
    """``CISS3D``, ``SPACE3D``, ``T1W3D``: a vocabulary word glued to 2D/3D."""
    return len(word) > 2 and word[-2:] in ("2D", "3D") and word[:-2] in SCANNER_VOCABULARY


#: A DICOM UID (PS3.5 §9.1): a root under ISO (1.) or joint ISO-ITU-T (2.) and at least three components.
_UID = re.compile(r"[12](\.(0|[1-9][0-9]*)){3,}")


def _word_pattern(word: str) -> str:
    """``word`` standing between characters not of its own kind: a name between non-letters
    (``KOWALSKI_ANNA``), a number between non-digits (``MRN0001`` but not the ``0001`` inside a UID's
    ``...416000109...``), a mixed token between non-alphanumerics."""
    if word.isalpha():
        edge = "A-Za-z"
    elif word.isdigit():
        edge = "0-9"
    else:
        edge = "A-Za-z0-9"
    return f"(?<![{edge}]){re.escape(word)}(?![{edge}])"


class Redactor:
    """Replaces what identifies a patient in text cnmri is about to write or log.

    Built from the study's raw descriptions (replaced by their scrubbed form), identity values (names,
    IDs, accession numbers: removed, also word by word) and file and folder names (removed).
    With ``identify`` it changes nothing.
    """

    def __init__(self, identify: bool = False) -> None:
        self.identify = identify
        self._replacements: dict[str, str] = {}
        self._words: set[str] = set()
        self._compiled: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None

    def add_description(self, text: str | None) -> None:
        if text and len(text) >= 2:
            self._replacements[text] = scrub_description(text)
            self._compiled = None

    def add_identity(self, value: str | None, by_word: bool = False) -> None:
        """Remove ``value``; with ``by_word`` (patient name and ID) also each of its words of 3+ letters,
        in any case and wherever it stands between non-letters (``KOWALSKI_ANNA``, ``anna.k``)."""
        if not value:
            return
        self._replacements[value] = "[removed]"
        if by_word:
            for word in re.split(r"[\s^,._/\\-]+", value):
                if len(word) >= 3 and word.upper() not in SCANNER_VOCABULARY:
                    self._words.add(word)
        self._compiled = None

    def add_path(self, path: str | os.PathLike[str]) -> None:
        text = str(path)
        self._replacements[text] = "[file]"
        name = os.path.basename(text)
        if len(name) >= 6:
            self._replacements[name] = "[file]"
        self._compiled = None

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        if self._compiled is None:
            exact = sorted(self._replacements, key=len, reverse=True)
            words = sorted(self._words, key=len, reverse=True)
            self._compiled = (
                # whole tokens only: an ID of digits must not be cut out of a UID or a longer number
                re.compile("(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, exact)) + ")(?![A-Za-z0-9])")
                if exact
                else None,
                re.compile("|".join(map(_word_pattern, words)), re.IGNORECASE) if words else None,
            )
        return self._compiled

    def __call__(self, text: str) -> str:
        if self.identify or not text or _UID.fullmatch(text):
            # a UID is not free text: an ID's digits that happen to recur in it are a coincidence
            return text
        exact, words = self._patterns()
        if exact is not None:
            text = exact.sub(lambda m: self._replacements[m.group(0)], text)
        if words is not None:
            text = words.sub("[removed]", text)
        return text

    def value(self, value: Any) -> Any:
        """:meth:`__call__` applied to every string in a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value


__all__ = [
    "BASIC_PROFILE",
    "IDENTIFYING_KEYS",
    "REPORT_OPTIONS",
    "SCANNER_VOCABULARY",
    "Options",
    "Redactor",
    "deidentification_record",
    "deidentify_dataset",
    "deidentify_metadata",
    "scrub_description",
]
