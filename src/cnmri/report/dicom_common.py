"""What the DICOM and FHIR writers share: the source series' headers, identifiers and codes.

The DICOM outputs (SR, SEG, KO, SC) are filed into the source study, so they copy the patient and study
modules of the source post-contrast series. PACS file objects by those modules, so without
``--deidentify`` the copies keep the patient's identity as the scanner wrote it (docs/pacs.md). With
``--deidentify`` every source header is passed through the PS3.15 basic profile first and its UIDs are
replaced by hashed ``2.25`` UIDs, the same ones findings.json shows, so that every object still refers
to the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from cnmri import __version__

#: Private coding scheme for concepts that SNOMED CT, LOINC and DCM lack (designator starts with "99",
#: PS3.16 §8.2); the meanings are listed in docs/pacs.md.
SCHEME = "99CNMRI"
MANUFACTURER = "cnmri"
MODEL = "cnmri"
#: Series numbers of the derived objects: high so that viewers list them after the acquired series.
SERIES_NUMBER = {"sr": 9901, "seg": 9902, "ko": 9903, "sc": 9904}

#: DICOM CID 7706 "Cranial Nerve" (SNOMED CT), the same as pydicom's ``codes.cid7706``.
NERVE_CODES: dict[str, Code] = {
    "CN2": Code("18234004", "SCT", "Optic nerve"),
    "CN3": Code("56193007", "SCT", "Oculomotor nerve"),
    "CN4": Code("39322007", "SCT", "Trochlear nerve"),
    "CN5": Code("27612005", "SCT", "Trigeminal nerve"),
    "CN6": Code("80622005", "SCT", "Abducens nerve"),
    "CN7": Code("56052001", "SCT", "Facial nerve"),
    "CN8": Code("8598002", "SCT", "Vestibulocochlear nerve"),
    "CN9": Code("21161002", "SCT", "Glossopharyngeal nerve"),
    "CN10": Code("88882009", "SCT", "Vagus nerve"),
    "CN11": Code("15119000", "SCT", "Accessory nerve"),
    "CN12": Code("37899009", "SCT", "Hypoglossal nerve"),
}
#: DICOM CID 244 "Laterality" (SNOMED CT).
SIDE_CODES: dict[str, Code] = {"left": Code("7771000", "SCT", "Left"), "right": Code("24028007", "SCT", "Right")}


def hashed_uid(uid: str) -> str:
    """A stable replacement UID (2.25 + decimal of a hash): the formula of ``analyze --deidentify``."""
    return "2.25." + str(int(hashlib.sha256(f"cnmri:{uid}".encode()).hexdigest()[:30], 16))


def tracking_uid(segment_key: str, patient_id: str) -> str:
    """The same UID for the same nerve segment in every study of one patient, and only of that patient.

    Derived from the segment key and a hash of the patient ID (never from study or series UIDs), so a
    follow-up viewer can pair the SR groups and SEG segments of two studies (TID 1411 tracking UID).
    """
    patient_hash = hashlib.sha256(patient_id.encode()).hexdigest()
    return hashed_uid(f"{segment_key}:{patient_hash}")


def segment_description_text(key: str) -> str:
    nerve, side, segment = key.split("-", 2)
    return f"{nerve} {side} {segment.replace('_', ' ')}"


@dataclass
class DicomSource:
    """Headers of the source series (no pixel data), sorted in slice order, ready to be referenced."""

    post: list[Dataset]
    pre: list[Dataset]
    deidentified: bool
    identify: bool
    patient_id: str  # the original patient ID: only ever used hashed (tracking UIDs)

    @property
    def reference(self) -> Dataset:
        return self.post[0]

    @property
    def study_uid(self) -> str:
        return str(self.reference.StudyInstanceUID)

    @property
    def evidence(self) -> list[Dataset]:
        return [*self.pre, *self.post]


def _slice_position(ds: Dataset) -> float:
    orientation = np.asarray(ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    position = np.asarray(ds.get("ImagePositionPatient", [0, 0, 0]), dtype=float)
    return float(position @ normal)


def _read_headers(files: Sequence[Path]) -> list[Dataset]:
    headers = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in files]
    return sorted(headers, key=_slice_position)


_MAIN_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def deidentified_header(ds: Dataset) -> Dataset:
    """PS3.15 basic profile (cnmri.io.dicom.deid), then the hashed UIDs that findings.json uses."""
    from cnmri.io.dicom.deid import deidentify_dataset

    out = deidentify_dataset(ds)
    for keyword in _MAIN_UIDS:
        if keyword in ds:
            setattr(out, keyword, hashed_uid(str(ds.get(keyword))))
    # The basic profile replaces these with dummy values; the objects must still name a patient.
    out.PatientName = "ANONYMOUS^"
    out.PatientID = hashed_uid(str(ds.get("PatientID", "")))[:64]
    return out


def load_source(post_files: Sequence[Path], pre_files: Sequence[Path], deidentify: bool, identify: bool) -> DicomSource:
    post = _read_headers(post_files)
    pre = _read_headers(pre_files)
    patient_id = str(post[0].get("PatientID", "")) if post else ""
    if deidentify:
        post = [deidentified_header(ds) for ds in post]
        pre = [deidentified_header(ds) for ds in pre]
    return DicomSource(post=post, pre=pre, deidentified=deidentify, identify=identify, patient_id=patient_id)


def software_versions() -> str:
    return f"cnmri {__version__}"
