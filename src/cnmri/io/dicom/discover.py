"""Find every DICOM image under a folder and group it into studies, series and stacks.

A *stack* is one 3D volume: the images of a series that share orientation, matrix, pixel spacing, echo,
b-value and temporal position (and acquisition number, where a series repeats the same positions). Only
headers are read here (``stop_before_pixels``); pixels are read by :mod:`cnmri.io.dicom.convert` for the
few series that are converted.

Nothing a single file does can stop the walk: non-DICOM files are counted, unreadable ones are listed
with the reason, and copies of the same instance are dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import stat
import warnings
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from cnmri.io.limits import check_image_size, inflated_size_within, max_voxels

_log = logging.getLogger(__name__)

#: SOP classes holding an MR volume as one multi-frame object (Enhanced MR, Legacy Converted Enhanced MR).
ENHANCED_MR_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"})
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "ProtocolName",
    "ImageType",
    "ScanningSequence",
    "SequenceVariant",
    "SequenceName",
    "MRAcquisitionType",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "ContrastBolusVolume",
    "ContrastBolusStartTime",
    "ContrastBolusTotalDose",
    "AcquisitionNumber",
    "InstanceNumber",
    "EchoNumbers",
    "TemporalPositionIdentifier",
    "DiffusionBValue",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentTime",
    "AcquisitionDateTime",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "BitsAllocated",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "EchoTime",
    "RepetitionTime",
    "InversionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "GantryDetectorTilt",
    "ImagesInAcquisition",
    "StudyDescription",
    "BodyPartExamined",
    "PulseSequenceName",
    "EchoPulseSequence",
    "InversionRecovery",
    "SteadyStatePulseSequence",
    "ContrastBolusAgentSequence",
    "InstitutionName",
    "StationName",
    "DeviceSerialNumber",
    "AccessionNumber",
    "ReferringPhysicianName",
    "ImplementationVersionName",
)
#: Private b-value tags: GE (0043,1039, first value + 1e9 offset on some versions), Philips (2001,1003),
#: Siemens (0019,100C).
_PRIVATE_B_VALUE_TAGS = (Tag(0x0043, 0x1039), Tag(0x2001, 0x1003), Tag(0x0019, 0x100C))
_SPECIFIC_TAGS: list[BaseTag] = [Tag(k) for k in _KEYWORDS] + list(_PRIVATE_B_VALUE_TAGS)
_NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"})


@dataclass(frozen=True)
class InstanceHeader:
    """What cnmri needs from one DICOM file's header (never its pixels)."""

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    patient_key: str  # a hash of patient ID, name and birth date: compares patients without showing them
    modality: str
    series_number: int | None
    series_description: str
    protocol_name: str
    image_type: tuple[str, ...]
    scanning_sequence: tuple[str, ...]
    sequence_variant: tuple[str, ...]
    sequence_name: str
    mr_acquisition_type: str
    contrast_agent: str
    contrast_fields: tuple[str, ...]  # names of contrast/bolus attributes that hold a value
    acquisition_number: int | None
    instance_number: int | None
    echo_number: int | None
    temporal_position: int | None
    b_value: float | None
    date: str
    time_s: float | None  # acquisition (else content, series) time, seconds after midnight
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    rows: int
    columns: int
    n_frames: int
    echo_time: float | None
    repetition_time: float | None
    inversion_time: float | None
    flip_angle: float | None
    field_strength: float | None
    manufacturer: str
    model: str
    transfer_syntax: str
    gantry_tilt: float | None
    images_in_acquisition: int | None
    identity: tuple[tuple[str, str], ...] = ()  # patient/site identifiers, only shown with identify=True
    extra: tuple[tuple[str, str], ...] = ()  # study description, software, etc. for metadata

    @property
    def is_multiframe(self) -> bool:
        return self.n_frames > 1 or self.sop_class_uid in ENHANCED_MR_SOP_CLASSES


@dataclass
class Stack:
    """One 3D volume inside a series (or a whole enhanced multi-frame file)."""

    instances: list[InstanceHeader]
    label: str = ""

    @property
    def first(self) -> InstanceHeader:
        return self.instances[0]

    @property
    def n_images(self) -> int:
        return sum(max(1, i.n_frames) for i in self.instances)

    @property
    def normal(self) -> tuple[float, float, float] | None:
        o = self.first.orientation
        if o is None:
            return None
        n = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
        norm = math.sqrt(sum(c * c for c in n)) or 1.0
        return (n[0] / norm, n[1] / norm, n[2] / norm)

    def voxel_size(self) -> tuple[float, float, float] | None:
        """(column, row, slice) spacing in mm, the slice spacing from the positions when there are several."""
        h = self.first
        if h.pixel_spacing is None:
            return None
        step = slice_step_mm(self)
        if step is None:
            step = h.spacing_between_slices or h.slice_thickness or 0.0
        return (h.pixel_spacing[1], h.pixel_spacing[0], step)


def slice_step_mm(stack: Stack) -> float | None:
    """Median distance between neighbouring slice positions along the normal, or None."""
    normal = stack.normal
    points = (
        sorted(
            sum(p * c for p, c in zip(i.position, normal, strict=True)) for i in stack.instances if i.position
        )
        if normal
        else []
    )
    if len(points) < 2:
        return None
    diffs = sorted(b - a for a, b in itertools.pairwise(points) if b - a > 1e-3)
    return diffs[len(diffs) // 2] if diffs else None


@dataclass
class SeriesInfo:
    """All instances of one SeriesInstanceUID, split into stacks."""

    study_uid: str
    series_uid: str
    instances: list[InstanceHeader]
    stacks: list[Stack] = field(default_factory=list)
    copies_dropped: int = 0

    @property
    def first(self) -> InstanceHeader:
        return self.instances[0]

    @property
    def number(self) -> int | None:
        return self.first.series_number

    @property
    def description(self) -> str:
        return self.first.series_description or self.first.protocol_name

    @property
    def main_stack(self) -> Stack:
        """The stack with the most images (the volume a series stands for)."""
        return max(self.stacks, key=lambda s: s.n_images)

    @property
    def time_key(self) -> tuple[str, float, int]:
        """Sorts series in acquisition order: date, earliest time, then series number."""
        times = [i.time_s for i in self.instances if i.time_s is not None]
        return (
            self.first.date,
            min(times) if times else math.inf,
            self.number if self.number is not None else 0,
        )

    @property
    def folders(self) -> list[Path]:
        return sorted({i.path.parent for i in self.instances})


@dataclass
class Discovery:
    """The result of walking a study folder."""

    root: Path
    n_files: int = 0
    series: list[SeriesInfo] = field(default_factory=list)
    non_dicom: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    dicomdir: list[Path] = field(default_factory=list)
    copies_dropped: int = 0

    @property
    def n_instances(self) -> int:
        return sum(len(s.instances) for s in self.series)

    def studies(self) -> dict[str, list[SeriesInfo]]:
        out: dict[str, list[SeriesInfo]] = defaultdict(list)
        for s in self.series:
            out[s.study_uid].append(s)
        return dict(out)

    def patients(self) -> dict[str, list[SeriesInfo]]:
        out: dict[str, list[SeriesInfo]] = defaultdict(list)
        for s in self.series:
            out[s.first.patient_key].append(s)
        return dict(out)


# ----------------------------------------------------------------------------------------- reading


def _walk(root: Path, refused: list[tuple[Path, str]]) -> Iterator[Path]:
    """Regular files under ``root`` (lstat only: a FIFO is never opened, a device never read).

    Folder links are not followed; a file link is used only when it leads to a regular file inside the
    study folder. Anything else goes to ``refused`` with the reason.
    """
    real_root = os.path.realpath(root)
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            refused.append((Path(folder), f"folder cannot be listed ({err.strerror})"))
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield path
            elif entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not os.path.exists(target):
                    refused.append((path, "broken symbolic link"))
                elif os.path.commonpath([real_root, target]) != real_root:
                    refused.append((path, "symbolic link leading outside the study folder; not read"))
                elif not _regular(target):
                    refused.append((path, "symbolic link to something that is not a regular file; not read"))
                else:
                    yield path
            else:
                refused.append((path, "not a regular file (FIFO, socket or device); not read"))
        pending.extend(reversed(subfolders))


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _looks_like_dicom(path: Path) -> bool:
    """DICM magic at byte 128, or (no preamble) a first element in group 0002 or 0008."""
    # O_NONBLOCK: a file swapped for a FIFO after the walk must not block the open.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file; not read")
        head = handle.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _multi(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return tuple(str(v).strip().upper() for v in value)
    return tuple(p.strip().upper() for p in str(value).split("\\") if p.strip())


def _float(value: Any) -> float | None:
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    f = _float(value)
    return None if f is None else round(f)


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(math.isfinite(v) for v in out) else None


def _seconds(value: Any) -> float | None:
    """DICOM TM ``HHMMSS.ffffff`` (or ``HH:MM:SS``) → seconds after midnight."""
    text = _text(value).replace(":", "")
    if len(text) < 2 or not text[:2].isdigit():
        return None
    try:
        hours = int(text[0:2])
        minutes = int(text[2:4]) if len(text) >= 4 else 0
        seconds = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return None
    return hours * 3600.0 + minutes * 60.0 + seconds


def _find(ds: Dataset, keyword: str, depth: int = 3) -> Any:
    """A value at the top level, else in the first item of the functional-group sequences (enhanced MR)."""
    if keyword in ds:
        return ds.get(keyword)
    if depth == 0:
        return None
    for seq_name in (
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "UnassignedSharedConvertedAttributesSequence",
        "UnassignedPerFrameConvertedAttributesSequence",
    ):
        seq = ds.get(seq_name)
        if seq:
            found = _find(seq[0], keyword, depth - 1)
            if found is not None:
                return found
    for element in ds:
        if element.VR == "SQ" and element.value and element.keyword.endswith("Sequence"):
            if element.keyword in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
                continue
            found = _find(element.value[0], keyword, depth - 1)
            if found is not None:
                return found
    return None


def _b_value(ds: Dataset, get: Any) -> float | None:
    b = _float(get("DiffusionBValue"))
    if b is not None:
        return b
    for tag in _PRIVATE_B_VALUE_TAGS:
        if tag in ds:
            raw = ds[tag].value
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("ascii", "ignore").split("\\")
                except (UnicodeDecodeError, AttributeError):
                    continue
            value = _float(raw)
            if value is not None:
                return value % 1e9 if value >= 1e9 else value  # GE stores 1e9 + b on some versions
    name = _text(get("SequenceName")).lower()
    if "ep_b" in name:  # Siemens: "*ep_b1000t"
        digits = "".join(ch for ch in name.split("ep_b", 1)[1] if ch.isdigit())
        if digits:
            return float(digits)
    return None


def _fallback_uid(kind: str, path: Path) -> str:
    """A stand-in for a missing UID that groups like the path it comes from but never shows the path."""
    return f"{kind}-{hashlib.sha256(str(path).encode('utf-8', 'replace')).hexdigest()[:24]}"


def header_from_dataset(ds: Dataset, path: Path) -> InstanceHeader:
    """Extract an :class:`InstanceHeader` from a dataset read with or without pixels."""
    enhanced = _text(ds.get("SOPClassUID")) in ENHANCED_MR_SOP_CLASSES

    def get(keyword: str) -> Any:
        return _find(ds, keyword) if enhanced else ds.get(keyword)

    patient = "|".join(_text(ds.get(k)) for k in ("PatientID", "PatientName", "PatientBirthDate"))
    contrast_fields = tuple(
        k
        for k in (
            "ContrastBolusAgent",
            "ContrastBolusRoute",
            "ContrastBolusVolume",
            "ContrastBolusStartTime",
            "ContrastBolusTotalDose",
            "ContrastBolusAgentSequence",
        )
        if _text(get(k)) not in ("", "0", "0.0")
    )
    agent = _text(get("ContrastBolusAgent"))
    if enhanced and not agent:
        administered = _text(_find(ds, "ContrastBolusAgentAdministered")).upper()
        agent_seq = ds.get("ContrastBolusAgentSequence")
        if agent_seq and administered != "NO":
            agent = _text(agent_seq[0].get("CodeMeaning")) or "contrast agent"
    date = _text(get("AcquisitionDate")) or _text(get("SeriesDate")) or _text(ds.get("StudyDate"))
    acq_dt = _text(get("AcquisitionDateTime")) or _text(get("FrameAcquisitionDateTime"))
    time_s = _seconds(get("AcquisitionTime"))
    if time_s is None and len(acq_dt) >= 10:
        date, time_s = date or acq_dt[:8], _seconds(acq_dt[8:])
    if time_s is None:
        time_s = _seconds(get("ContentTime"))
    if time_s is None:
        time_s = _seconds(get("SeriesTime"))
    scanning = _multi(get("ScanningSequence"))
    variant = _multi(get("SequenceVariant"))
    if enhanced and not scanning:  # enhanced MR: EchoPulseSequence/InversionRecovery/SteadyStatePulseSequence
        echo = _text(get("EchoPulseSequence")).upper()
        scanning = tuple(
            x
            for x, on in (
                ("SE", echo in ("SPIN", "BOTH")),
                ("GR", echo in ("GRADIENT", "BOTH")),
                ("IR", _text(get("InversionRecovery")).upper() == "YES"),
            )
            if on
        )
        steady = _text(get("SteadyStatePulseSequence")).upper()
        variant = ("SS",) if steady not in ("", "NONE") else ()
    identity = tuple(
        (k, _text(ds.get(k)))
        for k in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "PatientAge",
            "AccessionNumber",
            "InstitutionName",
            "StationName",
            "DeviceSerialNumber",
            "ReferringPhysicianName",
        )
        if _text(ds.get(k))
    )
    extra = tuple(
        (k, _text(ds.get(k)))
        for k in ("StudyDescription", "StudyDate", "StudyTime", "SoftwareVersions", "BodyPartExamined")
        if _text(ds.get(k))
    )
    orientation = _floats(get("ImageOrientationPatient"), 6)
    spacing = _floats(get("PixelSpacing"), 2)
    meta = getattr(ds, "file_meta", None)
    return InstanceHeader(
        path=path,
        sop_instance_uid=_text(ds.get("SOPInstanceUID")) or _fallback_uid("no-uid", path),
        sop_class_uid=_text(ds.get("SOPClassUID")),
        study_uid=_text(ds.get("StudyInstanceUID")) or "unknown-study",
        series_uid=_text(ds.get("SeriesInstanceUID")) or _fallback_uid("unknown-series", path.parent),
        patient_key=hashlib.sha256(patient.encode("utf-8", "replace")).hexdigest()[:16],
        modality=_text(ds.get("Modality")).upper(),
        series_number=_int(ds.get("SeriesNumber")),
        series_description=_text(ds.get("SeriesDescription")),
        protocol_name=_text(get("ProtocolName")),
        image_type=_multi(ds.get("ImageType")),
        scanning_sequence=scanning,
        sequence_variant=variant,
        sequence_name=_text(get("SequenceName")) or _text(get("PulseSequenceName")),
        mr_acquisition_type=_text(get("MRAcquisitionType")).upper(),
        contrast_agent=agent,
        contrast_fields=contrast_fields,
        acquisition_number=_int(ds.get("AcquisitionNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
        echo_number=_int(get("EchoNumbers")),
        temporal_position=_int(get("TemporalPositionIdentifier")),
        b_value=_b_value(ds, get),
        date=date,
        time_s=time_s,
        position=_floats(get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=orientation,  # type: ignore[arg-type]
        pixel_spacing=spacing,  # type: ignore[arg-type]
        slice_thickness=_float(get("SliceThickness")),
        spacing_between_slices=_float(get("SpacingBetweenSlices")),
        rows=_int(ds.get("Rows")) or 0,
        columns=_int(ds.get("Columns")) or 0,
        n_frames=_int(ds.get("NumberOfFrames")) or 1,
        echo_time=_float(get("EchoTime"))
        if get("EchoTime") is not None
        else _float(get("EffectiveEchoTime")),
        repetition_time=_float(get("RepetitionTime")),
        inversion_time=_float(get("InversionTime"))
        if get("InversionTime") is not None
        else _float(get("InversionTimes")),
        flip_angle=_float(get("FlipAngle")),
        field_strength=_float(get("MagneticFieldStrength")),
        manufacturer=_text(ds.get("Manufacturer")),
        model=_text(ds.get("ManufacturerModelName")),
        transfer_syntax=_text(meta.get("TransferSyntaxUID")) if meta is not None else "",
        gantry_tilt=_float(get("GantryDetectorTilt")),
        images_in_acquisition=_int(get("ImagesInAcquisition")),
        identity=identity,
        extra=extra,
    )


def _expected_pixel_bytes(h: InstanceHeader, bits: int, samples: int, photometric: str) -> int:
    per_pixel_bits = (2 if photometric.endswith("_422") else max(1, samples)) * bits
    return (h.rows * h.columns * max(1, h.n_frames) * per_pixel_bits + 7) // 8


_DEFLATED = "1.2.840.10008.1.2.1.99"
#: Room for the header elements of a deflated file beyond its pixel data.
_DEFLATED_HEADER_SLACK_BYTES = 16 * 1024 * 1024


def _check_deflated(path: Path) -> None:
    """A deflated-syntax file is inflated whole by pydicom, even for a header read: count its size first.

    The budget is 16-bit pixels for the voxel limit plus header room; a compression bomb is stopped after
    that many bytes, using one 1 MB chunk of memory.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if _DEFLATED.encode() not in head:
        return
    meta = pydicom.filereader.read_file_meta_info(path)
    if _text(meta.get("TransferSyntaxUID")) != _DEFLATED or "FileMetaInformationGroupLength" not in meta:
        return
    start = (132 if head[128:132] == b"DICM" else 0) + 12 + int(meta.FileMetaInformationGroupLength)
    budget = max_voxels() * 2 + _DEFLATED_HEADER_SLACK_BYTES
    with open(path, "rb") as handle:
        handle.seek(start)
        try:
            size = inflated_size_within(handle, budget, wbits=-zlib.MAX_WBITS)
        except zlib.error as err:
            raise ValueError(f"deflated data is damaged ({err})") from None
    if size is None:
        raise ValueError(
            f"deflated file inflates to more than {budget:,} bytes (a damaged file or a compression bomb); "
            "not read (raise --max-voxels if the image is real)"
        )


def _check_claimed_pixels(ds: Dataset, header: InstanceHeader) -> None:
    """Refuse, before any pixel is decoded, a file whose header claims more than the image limits."""
    frames = max(1, header.n_frames)
    voxels = header.rows * header.columns * frames
    bits = _int(ds.get("BitsAllocated")) or 16
    samples = _int(ds.get("SamplesPerPixel")) or 1
    try:
        check_image_size(
            f"an image of {header.rows}x{header.columns}x{frames}", voxels, voxels * samples * max(bits, 8) // 8
        )
    except ValueError as err:  # InputError is a ValueError: the file is listed as unreadable
        raise ValueError(str(err)) from None


def read_header(path: Path) -> InstanceHeader | None:
    """Read one file's header. None for a DICOMDIR index; raises on an unreadable file."""
    _check_deflated(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_SPECIFIC_TAGS, force=True)
    sop_class = _text(ds.get("SOPClassUID")) or _text(
        getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID")
    )
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return None
    if not sop_class and "SeriesInstanceUID" not in ds:
        raise ValueError("neither SOP class nor series UID: not a DICOM image object")
    if sop_class in ENHANCED_MR_SOP_CLASSES:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    header = header_from_dataset(ds, path)
    _check_claimed_pixels(ds, header)
    if header.rows and header.transfer_syntax in _NATIVE_SYNTAXES | {""}:
        expected = _expected_pixel_bytes(
            header,
            _int(ds.get("BitsAllocated")) or 16,
            _int(ds.get("SamplesPerPixel")) or 1,
            _text(ds.get("PhotometricInterpretation")),
        )
        if path.stat().st_size < expected:
            raise ValueError(f"truncated: {path.stat().st_size} bytes, pixel data alone needs {expected}")
    return header


# ---------------------------------------------------------------------------------------- grouping


def _round(values: Iterable[float] | None, digits: int) -> tuple[float, ...] | None:
    return None if values is None else tuple(round(v, digits) + 0.0 for v in values)


def _stack_key(h: InstanceHeader) -> tuple[Any, ...]:
    return (
        _round(h.orientation, 3),
        h.rows,
        h.columns,
        _round(h.pixel_spacing, 3),
        h.echo_number,
        None if h.b_value is None else round(h.b_value),
        h.temporal_position,
    )


def _split_stacks(instances: list[InstanceHeader]) -> list[Stack]:
    if any(i.is_multiframe for i in instances):
        multi = [
            Stack([i], label=f"multi-frame object {n}")
            for n, i in enumerate((i for i in instances if i.is_multiframe), start=1)
        ]
        single = [i for i in instances if not i.is_multiframe]
        return multi + (_split_stacks(single) if single else [])
    groups: dict[tuple[Any, ...], list[InstanceHeader]] = defaultdict(list)
    for h in instances:
        groups[_stack_key(h)].append(h)
    stacks: list[Stack] = []
    varying = [i for i in range(7) if len({k[i] for k in groups}) > 1]
    for key, members in groups.items():
        label_parts = [f"{name} {key[i]}" for i, name in ((4, "echo"), (5, "b"), (6, "time")) if i in varying]
        if not label_parts and len(groups) > 1:
            label_parts.append(f"geometry {len(stacks) + 1}")
        positions = [_round(m.position, 2) for m in members]
        acq = {m.acquisition_number for m in members}
        if len(set(positions)) < len(positions) and len(acq) > 1:
            # several acquisitions of the same positions in one series: split when that removes the repeats
            by_acq: dict[int | None, list[InstanceHeader]] = defaultdict(list)
            for m in members:
                by_acq[m.acquisition_number].append(m)
            if all(len({_round(m.position, 2) for m in g}) == len(g) for g in by_acq.values()):
                for number, g in sorted(by_acq.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                    stacks.append(Stack(g, label=" ".join([*label_parts, f"acquisition {number}"]).strip()))
                continue
        stacks.append(Stack(members, label=" ".join(label_parts)))
    for stack in stacks:
        normal = stack.normal
        if normal is not None and all(i.position for i in stack.instances):
            stack.instances.sort(
                key=lambda i: (
                    sum(p * c for p, c in zip(i.position or (0, 0, 0), normal, strict=True)),
                    i.instance_number or 0,
                )
            )
        else:
            stack.instances.sort(key=lambda i: i.instance_number or 0)
    return stacks


def group_headers(headers: Iterable[InstanceHeader]) -> tuple[list[SeriesInfo], int]:
    """Group headers into series (copies of one SOP instance kept once). Returns (series, copies dropped)."""
    by_series: dict[tuple[str, str], dict[str, InstanceHeader]] = defaultdict(dict)
    dropped: dict[tuple[str, str], int] = defaultdict(int)
    for h in headers:
        key = (h.study_uid, h.series_uid)
        if h.sop_instance_uid in by_series[key]:
            dropped[key] += 1
            continue
        by_series[key][h.sop_instance_uid] = h
    series = []
    for (study, uid), members in by_series.items():
        instances = sorted(members.values(), key=lambda i: (i.instance_number or 0, str(i.path)))
        info = SeriesInfo(study, uid, instances, _split_stacks(list(instances)), dropped[(study, uid)])
        series.append(info)
    study_dates: dict[str, str] = {}
    for info in series:
        study_dates[info.study_uid] = min(study_dates.get(info.study_uid, info.first.date), info.first.date)
    series.sort(key=lambda s: (study_dates[s.study_uid], s.study_uid, s.time_key))
    return series, sum(dropped.values())


def _read_all(paths: Iterable[Path], result: Discovery, headers: list[InstanceHeader]) -> None:
    for path in paths:
        result.n_files += 1
        try:
            if not _looks_like_dicom(path):
                result.non_dicom.append(path)
                continue
            header = read_header(path)
        except Exception as err:
            result.unreadable.append((path, f"{type(err).__name__}: {err}"[:200]))
            continue
        if header is None:
            result.dicomdir.append(path)
        else:
            headers.append(header)


def discover(root: Path | str) -> Discovery:
    """Walk ``root`` (any depth, any names) and group the DICOM images found into series and stacks."""
    root = Path(root)
    result = Discovery(root=root)
    headers: list[InstanceHeader] = []
    refused: list[tuple[Path, str]] = []
    paths: Iterable[Path] = []
    if root.is_dir():
        paths = _walk(root, refused)
    elif _regular(str(root)):
        paths = [root]
    else:
        refused.append((root, "not a regular file or folder (FIFO, socket or device); not read"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on every odd value; the outcome is reported below
        _read_all(paths, result, headers)
    result.n_files += len(refused)
    result.unreadable = refused + result.unreadable
    result.series, result.copies_dropped = group_headers(headers)
    # Counts only: file and folder names may hold the patient's name (docs/safety.md).
    if result.non_dicom:
        _log.info("skipped %d non-DICOM file(s)", len(result.non_dicom))
    if result.unreadable:
        _log.warning("%d file(s) could not be read or were refused", len(result.unreadable))
    if result.copies_dropped:
        _log.info("ignored %d duplicate copies of the same DICOM instance", result.copies_dropped)
    return result


__all__ = [
    "ENHANCED_MR_SOP_CLASSES",
    "Discovery",
    "InstanceHeader",
    "SeriesInfo",
    "Stack",
    "discover",
    "group_headers",
    "header_from_dataset",
    "read_header",
    "slice_step_mm",
]
