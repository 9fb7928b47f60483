"""Build realistic DICOM MR studies from the real Colin27 head, for tests and benchmarks.

Each series is written slice by slice with the headers a Siemens, GE or Philips scanner writes (the
values are typical, not copied from a real patient). Geometry comes from a RAS affine, converted here to
DICOM's LPS independently of cnmri's reader, so a round trip checks both.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

COLIN = Path("/usr/share/mricron/templates/ch2.nii.gz")
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@lru_cache(maxsize=4)
def colin_head(factor: int = 2, z_start: int = 5, n_slices: int = 60) -> tuple[NDArray[np.int16], NDArray[np.float64]]:
    """Colin27 block-averaged by ``factor`` (2 → 2 mm), ``n_slices`` axial slices from the skull base up."""
    image = nib.as_closest_canonical(nib.load(str(COLIN)))
    data = np.asarray(image.dataobj, dtype=np.float32)
    nx, ny, nz = (s // factor for s in data.shape)
    data = data[: nx * factor, : ny * factor, : nz * factor]
    data = data.reshape(nx, factor, ny, factor, nz, factor).mean(axis=(1, 3, 5))
    data = data[:, :, z_start : z_start + n_slices]
    data = np.round(data / data.max() * 1000).astype(np.int16)
    affine = image.affine @ np.diag([factor, factor, factor, 1.0])
    affine[:3, 3] = image.affine[:3, :3] @ np.array([0.5 * (factor - 1)] * 3) + image.affine[:3, 3]
    affine[:3, 3] += affine[:3, 2] * z_start
    return data, affine


def oblique(affine: NDArray[np.float64], degrees_x: float = 20.0, degrees_z: float = 10.0) -> NDArray[np.float64]:
    """The same grid rotated about the scanner's x then z axis (an oblique acquisition)."""
    ax, az = np.radians(degrees_x), np.radians(degrees_z)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    out = affine.copy()
    out[:3, :3] = rz @ rx @ affine[:3, :3]
    out[:3, 3] = rz @ rx @ affine[:3, 3]
    return out


@dataclass
class Patient:
    name: str = "Doe^Jane"
    patient_id: str = "CN-0001"
    birth_date: str = "20100101"
    sex: str = "F"


@dataclass
class Study:
    patient: Patient = field(default_factory=Patient)
    study_uid: str = field(default_factory=lambda: str(generate_uid()))
    frame_uid: str = field(default_factory=lambda: str(generate_uid()))
    date: str = "20240612"
    description: str = "MRI HEAD"
    accession: str = "ACC123"
    vendor: dict[str, Any] = field(default_factory=dict)


SIEMENS = {
    "Manufacturer": "SIEMENS",
    "ManufacturerModelName": "Skyra",
    "MagneticFieldStrength": 3,
    "SoftwareVersions": "syngo MR E11",
    "InstitutionName": "General Hospital",
    "StationName": "MRC1",
}
GE = {
    "Manufacturer": "GE MEDICAL SYSTEMS",
    "ManufacturerModelName": "SIGNA Premier",
    "MagneticFieldStrength": 1.5,
    "SoftwareVersions": "RX29.1",
    "InstitutionName": "Children's Hospital",
}
PHILIPS = {
    "Manufacturer": "Philips",
    "ManufacturerModelName": "Ingenia",
    "MagneticFieldStrength": 3,
    "SoftwareVersions": "5.7.1",
    "InstitutionName": "Hospital Universitario",
}

# sequence presets: header attributes per vendor and sequence (typical published values)
SEQ: dict[str, dict[str, Any]] = {
    "siemens_t1": dict(
        ScanningSequence=["GR", "IR"],
        SequenceVariant=["SK", "SP", "MP"],
        SequenceName="*tfl3d1_16ns",
        MRAcquisitionType="3D",
        RepetitionTime=2300,
        EchoTime=2.98,
        InversionTime=900,
        FlipAngle=9,
    ),
    "siemens_ciss": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SS"],
        SequenceName="*ci3d1",
        MRAcquisitionType="3D",
        RepetitionTime=5.6,
        EchoTime=2.5,
        FlipAngle=50,
    ),
    "siemens_flair": dict(
        ScanningSequence=["SE", "IR"],
        SequenceVariant=["SK", "SP", "MP"],
        SequenceName="*tir2d1_16",
        MRAcquisitionType="2D",
        RepetitionTime=9000,
        EchoTime=85,
        InversionTime=2500,
        FlipAngle=150,
    ),
    "siemens_dwi": dict(
        ScanningSequence=["EP"],
        SequenceVariant=["SK", "SP"],
        MRAcquisitionType="2D",
        RepetitionTime=5000,
        EchoTime=90,
        FlipAngle=90,
    ),
    "siemens_loc": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SP"],
        SequenceName="*fl2d1",
        MRAcquisitionType="2D",
        RepetitionTime=8.6,
        EchoTime=4.0,
        FlipAngle=20,
    ),
    "ge_t1": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SK", "SP"],
        SequenceName="efgre3d",
        MRAcquisitionType="3D",
        RepetitionTime=8.2,
        EchoTime=3.2,
        InversionTime=450,
        FlipAngle=12,
    ),
    "ge_fiesta": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SS"],
        SequenceName="fiesta3d",
        MRAcquisitionType="3D",
        RepetitionTime=5.2,
        EchoTime=2.1,
        FlipAngle=55,
    ),
    "ge_loc": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SS"],
        MRAcquisitionType="2D",
        RepetitionTime=5.0,
        EchoTime=1.6,
        FlipAngle=30,
    ),
    "philips_t1": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SK"],
        SequenceName="",
        MRAcquisitionType="3D",
        RepetitionTime=8.1,
        EchoTime=3.7,
        FlipAngle=8,
    ),
    "philips_bffe": dict(
        ScanningSequence=["GR"],
        SequenceVariant=["SS"],
        MRAcquisitionType="3D",
        RepetitionTime=6.0,
        EchoTime=3.0,
        FlipAngle=45,
    ),
    "philips_dwi": dict(
        ScanningSequence=["SE"],
        SequenceVariant=["SK"],
        MRAcquisitionType="2D",
        RepetitionTime=4000,
        EchoTime=80,
        FlipAngle=90,
    ),
}


def _seconds_to_tm(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}{m:02d}{s:02d}.000000"


def slice_datasets(
    data: NDArray[np.int16],
    affine_ras: NDArray[np.float64],
    study: Study,
    number: int,
    description: str,
    seq: dict[str, Any],
    time_s: float,
    image_type: Iterable[str] = ("ORIGINAL", "PRIMARY", "M", "ND"),
    extra: dict[str, Any] | None = None,
    series_uid: str | None = None,
    protocol: str | None = None,
) -> list[Dataset]:
    """One single-frame MR dataset per slice k of ``data`` (x, y, z) placed by ``affine_ras``."""
    affine = LPS @ affine_ras
    col_step, row_step = affine[:3, 0], affine[:3, 1]  # along a row (i) / down a column (j)
    row_dir = col_step / np.linalg.norm(col_step)
    col_dir = row_step / np.linalg.norm(row_step)
    series_uid = series_uid or str(generate_uid())
    out = []
    for k in range(data.shape[2]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = MRImageStorage
        ds.PatientName, ds.PatientID = study.patient.name, study.patient.patient_id
        ds.PatientBirthDate, ds.PatientSex = study.patient.birth_date, study.patient.sex
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study.study_uid, series_uid
        ds.FrameOfReferenceUID = study.frame_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.date
        ds.StudyTime = _seconds_to_tm(8 * 3600)
        ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = _seconds_to_tm(time_s)
        ds.StudyDescription, ds.AccessionNumber, ds.StudyID = study.description, study.accession, "1"
        ds.ReferringPhysicianName = "Referrer^Doctor"
        ds.Modality = "MR"
        ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = number, k + 1, 1
        ds.SeriesDescription = description
        ds.ProtocolName = protocol if protocol is not None else description
        ds.ImageType = list(image_type)
        for key, value in {**study.vendor, **seq}.items():
            setattr(ds, key, value)
        ds.ImagePositionPatient = [f"{v:.6f}" for v in (affine @ np.array([0, 0, k, 1.0]))[:3]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [f"{np.linalg.norm(row_step):.6f}", f"{np.linalg.norm(col_step):.6f}"]
        ds.SliceThickness = f"{np.linalg.norm(affine[:3, 2]):.6f}"
        ds.SpacingBetweenSlices = ds.SliceThickness
        ds.SliceLocation = f"{float(affine[2, 3] + k * affine[2, 2]):.4f}"
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = "HFS"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        pixels = np.ascontiguousarray(data[:, :, k].T.astype(np.int16))
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = pixels.tobytes()
        for key, value in (extra or {}).items():
            if isinstance(key, tuple):
                ds.add_new(key, value[0], value[1])
            else:
                setattr(ds, key, value)
        out.append(ds)
    return out


@dataclass
class WrittenSeries:
    number: int
    description: str
    series_uid: str
    files: list[Path]
    data: NDArray[np.int16]
    affine: NDArray[np.float64]


class StudyWriter:
    """Writes series of one study under ``root`` with shuffled, meaningless, nested file names."""

    def __init__(self, root: Path, study: Study, seed: int = 0, nested: bool = True) -> None:
        self.root, self.study, self.rng, self.nested = root, study, random.Random(seed), nested
        self.series: dict[int, WrittenSeries] = {}
        root.mkdir(parents=True, exist_ok=True)

    def _path(self) -> Path:
        name = "".join(self.rng.choice("0123456789ABCDEF") for _ in range(12))
        name += self.rng.choice(["", ".dcm", ".IMA", ""])
        folder = self.root / self.rng.choice(["DICOM", "dicom/S1", "export/a/b", "IMG"]) if self.nested else self.root
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def add(
        self,
        data: NDArray[np.int16],
        affine: NDArray[np.float64],
        number: int,
        description: str,
        seq: dict[str, Any],
        time_s: float,
        skip: Iterable[int] = (),
        **kwargs: Any,
    ) -> WrittenSeries:
        datasets = slice_datasets(data, affine, self.study, number, description, seq, time_s, **kwargs)
        skip = set(skip)
        files = []
        order = list(range(len(datasets)))
        self.rng.shuffle(order)
        for k in order:
            if k in skip:
                continue
            path = self._path()
            datasets[k].save_as(path, enforce_file_format=True)
            files.append(path)
        written = WrittenSeries(number, description, str(datasets[0].SeriesInstanceUID), files, data, affine)
        self.series[number] = written
        return written


def enhanced(data: NDArray[np.int16]) -> NDArray[np.int16]:
    """A post-contrast look: brighter vessels, meninges and choroid plexus (intensity-dependent gain)."""
    out = data.astype(np.float32)
    out += 0.25 * np.where((out > 300) & (out < 700), out, 0)
    return np.clip(np.round(out), 0, 32000).astype(np.int16)


def build_siemens_study(
    root: Path,
    seed: int = 1,
    oblique_pair: bool = False,
    missing: Iterable[int] = (),
    study: Study | None = None,
    extras: bool = True,
) -> StudyWriter:
    """A Siemens-style study: localizer, DWI, T1 pre, CISS, T1 post, derived MPR, FLAIR post."""
    data, affine = colin_head()
    if oblique_pair:
        affine = oblique(affine)
    writer = StudyWriter(root, study or Study(vendor=SIEMENS), seed)
    t0 = 8 * 3600 + 5 * 60
    if extras:
        loc_uid = str(generate_uid())
        for perm in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):  # axial, coronal, sagittal planes of one series
            volume = np.transpose(data, perm)
            grid = affine[:, [*perm, 3]] @ np.diag([1, 1, volume.shape[2] // 3, 1.0])
            writer.add(
                volume[:, :, :: volume.shape[2] // 3][:, :, :3],
                grid,
                1,
                "localizer",
                SEQ["siemens_loc"],
                t0,
                series_uid=loc_uid,
            )
        dwi_uid = str(generate_uid())
        for name in ("*ep_b0", "*ep_b1000t"):
            seq = {**SEQ["siemens_dwi"], "SequenceName": name}
            writer.add(
                data[:, :, ::6],
                affine @ np.diag([1, 1, 6, 1.0]),
                3,
                "ep2d_diff_tra_b1000",
                seq,
                t0 + 60,
                image_type=("ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"),
                series_uid=dwi_uid,
            )
    writer.add(data, affine, 5, "t1_mprage_sag_p2_iso", SEQ["siemens_t1"], t0 + 300, skip=missing)
    if extras:
        writer.add(data, affine, 6, "t2_ciss3d_tra_0.5iso", SEQ["siemens_ciss"], t0 + 600)
    post_extra = {"ContrastBolusAgent": "Gadovist", "ContrastBolusVolume": 3.5, "ContrastBolusRoute": "IV"}
    writer.add(enhanced(data), affine, 7, "t1_mprage_sag_p2_iso_post", SEQ["siemens_t1"], t0 + 1200, extra=post_extra)
    if extras:
        mpr = enhanced(data)[:, :, ::3]
        writer.add(
            mpr,
            affine @ np.diag([1, 1, 3, 1.0]),
            8,
            "t1_mprage_sag_p2_iso_post_MPR_tra",
            SEQ["siemens_t1"],
            t0 + 1300,
            image_type=("DERIVED", "SECONDARY", "MPR", "CSA MPR"),
            extra=post_extra,
        )
        flair = enhanced(data)[:, :, ::3]
        writer.add(
            flair,
            affine @ np.diag([1, 1, 3, 1.0]),
            9,
            "t2_tirm_tra_dark-fluid",
            SEQ["siemens_flair"],
            t0 + 1500,
            extra=post_extra,
        )
    return writer


def build_ge_study(root: Path, seed: int = 2, study: Study | None = None) -> StudyWriter:
    """A GE-style study: 3-plane localizer, DWI (private b-value), BRAVO pre/+C, FIESTA-C. 4 mm, fast."""
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(root, study or Study(vendor=GE, description="MR BRAIN W/WO CONTRAST"), seed)
    t0 = 9 * 3600
    writer.add(
        data[:, :, ::10],
        affine @ np.diag([1, 1, 10, 1.0]),
        1,
        "3-Plane Loc",
        SEQ["ge_loc"],
        t0,
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
    )
    writer.add(
        data[:, :, ::3],
        affine @ np.diag([1, 1, 3, 1.0]),
        4,
        "Ax DWI",
        SEQ["philips_dwi"],
        t0 + 100,
        extra={(0x0043, 0x1039): ("IS", ["1000000000", "8", "0", "0"])},
    )
    writer.add(data, affine, 5, "Sag 3D BRAVO", SEQ["ge_t1"], t0 + 300)
    writer.add(data, affine, 6, "Ax 3D FIESTA-C", SEQ["ge_fiesta"], t0 + 500)
    writer.add(enhanced(data), affine, 9, "Sag 3D BRAVO +C", SEQ["ge_t1"], t0 + 1100)
    return writer


def build_philips_study(root: Path, seed: int = 3, study: Study | None = None) -> StudyWriter:
    """A Philips-style study with Spanish descriptions: Survey, T1 TFE sin/con contraste, bFFE."""
    data, affine = colin_head(factor=4, z_start=3, n_slices=30)
    writer = StudyWriter(root, study or Study(vendor=PHILIPS, description="RM CEREBRO"), seed)
    t0 = 10 * 3600
    writer.add(
        data[:, :, ::10],
        affine @ np.diag([1, 1, 10, 1.0]),
        101,
        "Survey",
        SEQ["ge_loc"],
        t0,
        image_type=("ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"),
    )
    writer.add(data, affine, 301, "T1W_3D_TFE sin contraste", SEQ["philips_t1"], t0 + 300)
    writer.add(data, affine, 401, "3D bFFE pares craneales", SEQ["philips_bffe"], t0 + 500)
    writer.add(enhanced(data), affine, 701, "T1W_3D_TFE con contraste", SEQ["philips_t1"], t0 + 1100)
    return writer


__all__ = [
    "GE",
    "PHILIPS",
    "SEQ",
    "SIEMENS",
    "Patient",
    "Study",
    "StudyWriter",
    "build_ge_study",
    "build_philips_study",
    "build_siemens_study",
    "colin_head",
    "enhanced",
    "oblique",
    "slice_datasets",
]
