"""Find every DICOM image under a folder and group it into studies, series and stacks.

A *stack* is one 3D volume: the images of a series that share orientation, matrix, pixel spacing, echo,
b-value and temporal position (and acquisition number, where a series repeats the same positions). Only
headers are read here (``stop_before_pixels``); pixels are read by :mod:`cnmri.io.dicom.convert` for the
few series that are converted.

Nothing a single file does can stop the walk: non-DICOM files are counted, unreadable ones are listed
with the reason, and copies of the same instance are dropped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import logging
import math
import os
import stat
import warnings
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import pydicom
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from cnmri.io.limits import check_image_size, inflated_size_within, max_voxels

_log = logging.getLogger(__name__)

#: SOP classes holding an MR volume as one multi-frame object (Enhanced MR, Legacy Converted Enhanced MR).
ENHANCED_MR_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"})
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
#: Objects that share a series with images but hold none: Raw Data (Philips ``*_Raw``), Siemens CSA
#: non-image (Phoenix report), MR spectroscopy, structured reports, encapsulated documents.
NON_IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.66",  # Raw Data Storage
        "1.3.12.2.1107.5.9.1",  # Siemens CSA Non-Image Storage
        "1.2.840.10008.5.1.4.1.1.4.2",  # MR Spectroscopy Storage
        "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    }
)
_GZIP_MAGIC = b"\x1f\x8b"
_SHARED_GROUPS = Tag(0x5200, 0x9229)
_PER_FRAME_GROUPS = Tag(0x5200, 0x9230)
_PIXEL_DATA = Tag(0x7FE0, 0x0010)

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
    "RescaleSlope",
    "RescaleIntercept",
)
#: Private b-value tags: GE (0043,1039, first value + 1e9 offset on some versions), Philips (2001,1003),
#: Siemens (0019,100C).
_PRIVATE_B_VALUE_TAGS = (Tag(0x0043, 0x1039), Tag(0x2001, 0x1003), Tag(0x0019, 0x100C))
#: Philips private MR scale slope (2005,100E): the precise floating-point value is stored / (slope × this).
PHILIPS_SCALE_SLOPE = Tag(0x2005, 0x100E)
_SPECIFIC_TAGS: list[BaseTag | int] = [*(Tag(k) for k in _KEYWORDS), *_PRIVATE_B_VALUE_TAGS, PHILIPS_SCALE_SLOPE]
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
    samples_per_pixel: int = 1
    frame_index: int | None = None  # 0-based frame of a multi-frame file this header stands for
    diffusion_direction: tuple[float, float, float] | None = None

    @property
    def is_multiframe(self) -> bool:
        """A whole multi-frame file (not yet expanded into its frames)."""
        return self.frame_index is None and (self.n_frames > 1 or self.sop_class_uid in ENHANCED_MR_SOP_CLASSES)

    @property
    def is_image(self) -> bool:
        return bool(self.rows and self.columns) and self.sop_class_uid not in NON_IMAGE_SOP_CLASSES

    @property
    def is_mosaic(self) -> bool:
        """Siemens mosaic: one file holds every slice of a volume tiled in one 2-D image."""
        return "MOSAIC" in self.image_type

    @property
    def is_gzip(self) -> bool:
        return self.path.name.lower().endswith(".gz")


@dataclass
class Stack:
    """One 3D volume inside a series (or a whole enhanced multi-frame file)."""

    instances: list[InstanceHeader]
    label: str = ""
    series_images: int = 0  # images in the whole series (all volumes), for the completeness check

    @property
    def first(self) -> InstanceHeader:
        return self.instances[0]

    @property
    def n_images(self) -> int:
        return sum(1 if i.frame_index is not None else max(1, i.n_frames) for i in self.instances)

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
        sorted(sum(p * c for p, c in zip(i.position, normal, strict=True)) for i in stack.instances if i.position)
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
    copies_dropped: int = 0
    _stacks: list[Stack] | None = field(default=None, repr=False)

    @property
    def stacks(self) -> list[Stack]:
        """The volumes of the series, computed on first use: a multi-frame file's per-frame headers are
        read only here, so that walking a folder of enhanced files stays fast."""
        if self._stacks is None:
            self._stacks = split_stacks(self.instances)
        return self._stacks

    @property
    def is_image(self) -> bool:
        return self.first.is_image

    @property
    def header(self) -> InstanceHeader:
        """A representative image header with every parameter (for an enhanced file: its first frame,
        functional groups included); the first file's header for non-image objects."""
        return self.main_stack.first if self.is_image else self.first

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
        """The volume a series stands for: a magnitude (or unnamed) image before a phase, real or
        imaginary one, then the stack with the most images."""
        return max(self.stacks, key=lambda s: (image_component(s.first.image_type) in ("", "magnitude"), s.n_images))

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


def open_dicom(path: Path, stream: bool = False) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzipped (``.dcm.gz`` exports, dcm_qa's Philips sets).
    ``stream``: decompress only as far as the caller reads (a header), instead of the whole file."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if handle.read(2) == _GZIP_MAGIC:
        handle.close()
        if stream:
            return cast(IO[bytes], gzip.open(path, "rb"))
        budget = max_voxels() * 2 + _DEFLATED_HEADER_SLACK_BYTES  # as for a deflated file: no gzip bomb
        with gzip.open(path, "rb") as packed:
            data = packed.read(budget + 1)
        if len(data) > budget:
            raise ValueError(
                f"gzipped file inflates to more than {budget:,} bytes (a damaged file or a compression bomb); "
                "not read (raise --max-voxels if the image is real)"
            )
        return io.BytesIO(data)
    handle.seek(0)
    return handle


def _looks_like_dicom(path: Path) -> bool:
    """DICM magic at byte 128, or (no preamble) a first element in group 0002 or 0008; gzip is looked into."""
    # O_NONBLOCK: a file swapped for a FIFO after the walk must not block the open.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file; not read")
        head = handle.read(132)
    if head[:2] == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as packed:
                head = packed.read(132)
        except (OSError, EOFError):
            return False
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


_FUNCTIONAL_GROUPS = (
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "UnassignedSharedConvertedAttributesSequence",
    "UnassignedPerFrameConvertedAttributesSequence",
)


def _flat_index(ds: Dataset) -> dict[str, Any]:
    """keyword → value for an enhanced file: the top level first, then the shared functional groups, the
    first frame's groups and the legacy-converted attribute sequences (two levels down), then the first
    item of any other top-level sequence. One pass, instead of a search per attribute."""
    out: dict[str, Any] = {}

    def add(item: Dataset, depth: int) -> None:
        for element in item:
            keyword = element.keyword
            if not keyword:
                continue
            if element.VR == "SQ" and depth > 0 and element.value:
                add(element.value[0], depth - 1)
            out.setdefault(keyword, element.value)

    add(ds, 0)
    for name in _FUNCTIONAL_GROUPS:
        seq = ds.get(name)
        if seq:
            add(seq[0], 2)
    for element in ds:
        if element.VR == "SQ" and element.value and element.keyword not in _FUNCTIONAL_GROUPS:
            add(element.value[0], 1)
    return out


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
    index = _flat_index(ds) if enhanced else {}

    def get(keyword: str) -> Any:
        return index.get(keyword) if enhanced else ds.get(keyword)

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
        administered = _text(get("ContrastBolusAgentAdministered")).upper()
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
        echo_time=_float(get("EchoTime")) if get("EchoTime") is not None else _float(get("EffectiveEchoTime")),
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
        samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
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


def _stop_at_frames_or_pixels(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag in (_SHARED_GROUPS, _PER_FRAME_GROUPS, _PIXEL_DATA)


def read_header(path: Path) -> InstanceHeader | None:
    """Read one file's header. None for a DICOMDIR index; raises on an unreadable file.

    Reading stops before the functional groups of an enhanced file (read later, only for the series that
    need them: :func:`expand_frames`) and before the pixel data.
    """
    _check_deflated(path)
    gzipped = False
    with open_dicom(path, stream=True) as handle:
        gzipped = isinstance(handle, gzip.GzipFile)
        ds = read_partial(
            cast(BinaryIO, handle), stop_when=_stop_at_frames_or_pixels, force=True, specific_tags=_SPECIFIC_TAGS
        )
        size = 0 if gzipped else handle.seek(0, os.SEEK_END)  # gzip has its own check (CRC) at read time
    sop_class = _text(ds.get("SOPClassUID")) or _text(
        getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID")
    )
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return None
    if not sop_class and "SeriesInstanceUID" not in ds:
        raise ValueError("neither SOP class nor series UID: not a DICOM image object")
    header = header_from_dataset(ds, path)
    _check_claimed_pixels(ds, header)
    if header.rows and not gzipped and header.transfer_syntax in _NATIVE_SYNTAXES | {""}:
        expected = _expected_pixel_bytes(
            header,
            _int(ds.get("BitsAllocated")) or 16,
            _int(ds.get("SamplesPerPixel")) or 1,
            _text(ds.get("PhotometricInterpretation")),
        )
        if size < expected:
            raise ValueError(f"truncated: {size} bytes, pixel data alone needs {expected}")
    return header


def read_full_header(path: Path) -> Dataset:
    """Every attribute but the pixels (the per-frame functional groups of an enhanced file included)."""
    with warnings.catch_warnings(), open_dicom(path) as handle:
        warnings.simplefilter("ignore")
        return pydicom.dcmread(handle, stop_before_pixels=True, force=True)


def _item(container: Dataset, keyword: str) -> Dataset | None:
    seq = container.get(keyword)
    return seq[0] if seq else None


def _frame_value(frame: Dataset, shared: Dataset, sequence: str, keyword: str) -> Any:
    for container in (frame, shared):
        item = _item(container, sequence)
        if item is not None and keyword in item:
            return item.get(keyword)
    return None


def _philips_frame_type(frame: Dataset) -> str:
    """Philips private per-frame image type (2005,1011) M/P/R/I inside (2005,140F)."""
    private = frame.get(Tag(0x2005, 0x140F))
    if private and private.value:
        element = private.value[0].get(Tag(0x2005, 0x1011))
        if element is not None:
            raw = element.value
            return (raw.decode("ascii", "ignore") if isinstance(raw, bytes) else str(raw)).strip().upper()
    return ""


def expand_frames(header: InstanceHeader) -> list[InstanceHeader]:
    """One header per frame of a multi-frame file, with that frame's position, orientation, image type,
    echo time, temporal index and b-value (the functional groups), so that frames split into volumes
    exactly like single-frame files do."""
    ds = read_full_header(header.path)
    header = replace(header_from_dataset(ds, header.path), transfer_syntax=header.transfer_syntax)
    shared = _item(ds, "SharedFunctionalGroupsSequence") or Dataset()
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    n = max(header.n_frames, len(per_frame), 1)
    out = []
    for index in range(n):
        frame = per_frame[index] if index < len(per_frame) else Dataset()
        frame_type = _multi(_frame_value(frame, shared, "MRImageFrameTypeSequence", "FrameType"))
        philips_type = _philips_frame_type(frame)
        if philips_type and philips_type not in frame_type:
            frame_type = (*frame_type, philips_type)
        direction_item = _frame_value(frame, shared, "MRDiffusionSequence", "DiffusionGradientDirectionSequence")
        direction = _floats(direction_item[0].get("DiffusionGradientOrientation"), 3) if direction_item else None
        echo_time = _float(_frame_value(frame, shared, "MREchoSequence", "EffectiveEchoTime"))
        b_value = _float(_frame_value(frame, shared, "MRDiffusionSequence", "DiffusionBValue"))
        temporal = _int(_frame_value(frame, shared, "FrameContentSequence", "TemporalPositionIndex"))
        out.append(
            replace(
                header,
                frame_index=index,
                position=_floats(_frame_value(frame, shared, "PlanePositionSequence", "ImagePositionPatient"), 3)
                or header.position,  # type: ignore[arg-type]
                orientation=_floats(
                    _frame_value(frame, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
                )
                or header.orientation,  # type: ignore[arg-type]
                pixel_spacing=_floats(_frame_value(frame, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
                or header.pixel_spacing,  # type: ignore[arg-type]
                image_type=frame_type or header.image_type,
                echo_time=echo_time if echo_time is not None else header.echo_time,
                b_value=b_value if b_value is not None else header.b_value,
                temporal_position=temporal if temporal is not None else header.temporal_position,
                diffusion_direction=direction,  # type: ignore[arg-type]
            )
        )
    return out


# ---------------------------------------------------------------------------------------- grouping


def _round(values: Iterable[float] | None, digits: int) -> tuple[float, ...] | None:
    return None if values is None else tuple(round(v, digits) + 0.0 for v in values)


#: ImageType values that name the image component: magnitude, phase, real, imaginary (and field maps).
_COMPONENTS = {
    "M": "magnitude",
    "MAGNITUDE": "magnitude",
    "P": "phase",
    "PHASE": "phase",
    "PHASE MAP": "phase",
    "R": "real",
    "REAL": "real",
    "I": "imaginary",
    "IMAGINARY": "imaginary",
    "B0 MAP": "B0 map",
    "FIELD_MAP": "field map",
}


def image_component(image_type: tuple[str, ...]) -> str:
    """magnitude / phase / real / imaginary (or B0 map) from ImageType (or an enhanced FrameType)."""
    for value in image_type[2:]:
        if value in _COMPONENTS:
            return _COMPONENTS[value]
    return ""


def _stack_key(h: InstanceHeader) -> tuple[Any, ...]:
    return (
        _round(h.orientation, 3),
        h.rows,
        h.columns,
        _round(h.pixel_spacing, 3),
        h.echo_number,
        None if h.b_value is None else round(h.b_value),
        h.temporal_position,
        h.image_type,
        None if h.echo_time is None else round(h.echo_time, 2),
    )


_KEY_LABELS = ((4, "echo"), (5, "b"), (6, "time"), (7, "type"), (8, "TE"))


def _order_key(h: InstanceHeader) -> tuple[int, int, float, str]:
    """Acquisition order as the scanner numbered it (instance, then frame), as dcm2niix orders volumes."""
    return (h.instance_number or 0, h.frame_index or 0, h.time_s if h.time_s is not None else 0.0, str(h.path))


def _by_repeat(members: list[InstanceHeader]) -> list[list[InstanceHeader]] | None:
    """Split images that repeat the same positions: by acquisition number when that removes the repeats,
    else, when every position repeats equally often, the k-th image at each position (in acquisition
    order) goes to volume k (a multi-phase or fMRI stack without temporal index, the directions of one
    b-value, the files of a mosaic series)."""
    positions = [_round(m.position, 2) for m in members]
    if len(set(positions)) == len(positions):
        return None
    by_acq: dict[int | None, list[InstanceHeader]] = defaultdict(list)
    for m in members:
        by_acq[m.acquisition_number].append(m)
    if len(by_acq) > 1 and all(len({_round(m.position, 2) for m in g}) == len(g) for g in by_acq.values()):
        return [g for _, g in sorted(by_acq.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))]
    counts = {positions.count(p) for p in set(positions)}
    if len(counts) > 1:  # only some positions repeat: duplicates, judged (by pixels) at conversion
        return None
    seen: dict[tuple[float, ...] | None, int] = defaultdict(int)
    volumes: dict[int, list[InstanceHeader]] = defaultdict(list)
    for m in sorted(members, key=_order_key):
        where = _round(m.position, 2)
        volumes[seen[where]].append(m)
        seen[where] += 1
    return [volumes[k] for k in sorted(volumes)]


def _sort_in_stack(stack: Stack) -> None:
    normal = stack.normal
    if normal is not None and all(i.position for i in stack.instances):
        stack.instances.sort(
            key=lambda i: (
                sum(p * c for p, c in zip(i.position or (0, 0, 0), normal, strict=True)),
                i.instance_number or 0,
                i.frame_index or 0,
            )
        )
    else:
        stack.instances.sort(key=lambda i: (i.instance_number or 0, i.frame_index or 0))


def _label(key: tuple[Any, ...], varying: list[int]) -> list[str]:
    parts = []
    for i, name in _KEY_LABELS:
        if i not in varying:
            continue
        if i == 7:
            parts.append(image_component(key[7]) or "/".join(key[7]))
        else:
            parts.append(f"{name} {key[i]}")
    return parts


def split_stacks(instances: list[InstanceHeader]) -> list[Stack]:
    """Split a series into volumes: by geometry, image type (magnitude/phase/real/imaginary), echo,
    b-value, temporal position, acquisition and repeated positions; the frames of a multi-frame file are
    split the same way, from their functional groups."""
    images: list[InstanceHeader] = []
    for h in instances:
        if h.is_multiframe and not h.is_mosaic:
            try:
                images.extend(expand_frames(h))
            except Exception as err:  # an unreadable functional group: keep the file as one volume
                _log.warning("%s: per-frame headers could not be read (%s)", h.path.name, err)
                images.append(h)
        else:
            images.append(h)
    groups: dict[tuple[Any, ...], list[InstanceHeader]] = defaultdict(list)
    for h in images:
        groups[_stack_key(h)].append(h)
    varying = [i for i in range(len(_KEY_LABELS) + 4) if len({k[i] for k in groups}) > 1]
    stacks: list[Stack] = []
    for key, members in groups.items():
        label_parts = _label(key, varying)
        if not label_parts and len(groups) > 1 and any(i < 4 for i in varying):
            label_parts.append(f"geometry {len(stacks) + 1}")
        repeats = _by_repeat(members)
        if repeats is None:
            stacks.append(Stack(members, label=" ".join(label_parts)))
            continue
        same_acq = len({m.acquisition_number for m in members}) == 1
        for index, group in enumerate(repeats, start=1):
            by_acquisition = not same_acq and len(repeats) == len({m.acquisition_number for m in members})
            what = f"acquisition {group[0].acquisition_number}" if by_acquisition else f"volume {index}"
            stacks.append(Stack(group, label=" ".join([*label_parts, what]).strip()))
    total = sum(s.n_images for s in stacks)
    for stack in stacks:
        stack.series_images = total
        _sort_in_stack(stack)
    stacks.sort(key=lambda st: min(_order_key(i) for i in st.instances)[:2])
    return stacks


def _pixel_values(path: Path) -> tuple[bool, bytes]:
    """(decoded?, values): decoded pixel values, so that one image in two transfer syntaxes compares
    equal; the encoded bytes when no decoder can read them."""
    with warnings.catch_warnings(), open_dicom(path) as handle:
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(handle, force=True)
        try:
            array = ds.pixel_array
            return True, f"{array.shape}".encode() + array.astype(array.dtype.newbyteorder("<")).tobytes()
        except Exception:  # no decoder, or a truncated copy
            return False, bytes(ds.get("PixelData") or b"")


def _same_pixels(a: InstanceHeader, b: InstanceHeader) -> bool:
    """Two files with one SOPInstanceUID: a copy unless their pixel values are shown to differ (an
    undecodable or truncated copy cannot show it, so it counts as a copy)."""
    try:
        (decoded_a, values_a), (decoded_b, values_b) = _pixel_values(a.path), _pixel_values(b.path)
    except Exception:
        return True
    if decoded_a != decoded_b:
        return True
    return values_a == values_b


def group_headers(headers: Iterable[InstanceHeader]) -> tuple[list[SeriesInfo], int]:
    """Group headers into series. Files that repeat a SOPInstanceUID are dropped as copies only when their
    pixels are identical; non-image objects (raw data, reports) sharing a SeriesInstanceUID with images
    form a series of their own so that they never hide the images. Returns (series, copies dropped)."""
    by_series: dict[tuple[str, str, bool], dict[str, InstanceHeader]] = defaultdict(dict)
    dropped: dict[tuple[str, str, bool], int] = defaultdict(int)
    for h in headers:
        key = (h.study_uid, h.series_uid, h.is_image)
        members = by_series[key]
        uid = h.sop_instance_uid
        if uid in members:
            if h.is_image and not _same_pixels(members[uid], h):
                _log.warning(
                    "%s and %s share SOPInstanceUID but differ in pixels; both kept",
                    members[uid].path.name,
                    h.path.name,
                )
                uid = f"{uid}#{h.path}"
            else:
                dropped[key] += 1
                continue
        members[uid] = h
    series = []
    for (study, uid, _image), members in by_series.items():
        instances = sorted(members.values(), key=lambda i: (i.instance_number or 0, str(i.path)))
        series.append(SeriesInfo(study, uid, instances, dropped[(study, uid, _image)]))
    study_dates: dict[str, str] = {}
    for info in series:
        study_dates[info.study_uid] = min(study_dates.get(info.study_uid, info.first.date), info.first.date)
    series.sort(key=lambda s: (study_dates[s.study_uid], s.study_uid, s.time_key, not s.is_image))
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
    "expand_frames",
    "group_headers",
    "header_from_dataset",
    "image_component",
    "open_dicom",
    "read_full_header",
    "read_header",
    "slice_step_mm",
    "split_stacks",
]
