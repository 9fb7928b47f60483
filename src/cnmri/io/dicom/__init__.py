"""DICOM study intake: find the series, identify each sequence, choose and convert the ones cnmri uses.

``inspect_study(study_dir)`` lists every series with its classification; ``prepare_study(study_dir,
work_dir)`` chooses the post-contrast T1 (and pre-contrast T1, cisternography, post-contrast FLAIR when
present), converts them to NIfTI in ``work_dir`` and says which series it used and why.
See docs/dicom.md.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cnmri.errors import CnmriError, InputError
from cnmri.io.dicom.classify import Choice, Classification, Selection, classify_all, describe, select_series
from cnmri.io.dicom.convert import ConvertedSeries, convert_stack
from cnmri.io.dicom.deid import Redactor, deidentification_record, deidentify_metadata
from cnmri.io.dicom.discover import Discovery, SeriesInfo, discover
from cnmri.io.limits import check_image_size

_log = logging.getLogger(__name__)

ROLES = ("pre", "post", "ciss", "flair_post")


@dataclass(frozen=True)
class SeriesRow:
    """One line of the ``cnmri inspect`` table."""

    study: int  # 1-based index of the study in the folder
    number: int | None
    description: str
    modality: str
    images: int
    volumes: int
    voxel_mm: tuple[float, float, float] | None
    classification: str
    kind: str
    contrast: str
    is_3d: bool
    confidence: float
    reasons: tuple[str, ...]
    role: str  # "post", "pre", "ciss", "flair_post" or ""
    series_instance_uid: str
    folder: str
    volume_labels: tuple[str, ...] = ()  # what tells the volumes apart (magnitude/phase, echo, b, time…)


@dataclass(frozen=True)
class StudyInventory:
    root: Path
    files: int
    dicom_images: int
    non_dicom: int
    unreadable: tuple[tuple[str, str], ...]
    dicomdir: int
    duplicate_copies: int
    patients: int
    studies: tuple[dict[str, Any], ...]
    series: tuple[SeriesRow, ...]
    selection: dict[str, int | None]
    selection_error: str | None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["root"] = str(self.root)
        out["unreadable"] = [{"file": f, "reason": r} for f, r in self.unreadable]
        return out


@dataclass(frozen=True)
class PreparedStudy:
    post: Path
    pre: Path | None
    ciss: Path | None
    flair_post: Path | None
    inputs: dict[str, dict[str, Any]]
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    #: per role, the files of the converted volume (for outputs filed into the source study)
    source_files: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "pre_post" if self.pre is not None else "post_only"


# ------------------------------------------------------------------------------------------- helpers


def _discover_checked(study_dir: Path | str) -> Discovery:
    root = Path(study_dir)
    if not root.exists():
        raise InputError(f"study folder {root} does not exist")
    discovery = discover(root)
    if not discovery.series:
        found = f"{discovery.n_files} file(s)"
        if discovery.n_files:
            found += (
                f": {len(discovery.non_dicom)} not DICOM, {len(discovery.unreadable)} unreadable"
                + (f" (e.g. {_redacted_reason(discovery, 0)})" if discovery.unreadable else "")
                + (f", {len(discovery.dicomdir)} DICOMDIR index" if discovery.dicomdir else "")
            )
        raise InputError(
            f"no DICOM images found in {root} ({found}); give the folder that holds the "
            "study's DICOM files, or pass NIfTI files with --pre/--post"
        )
    return discovery


def build_redactor(discovery: Discovery, identify: bool = False) -> Redactor:
    """What identifies the patient in this study's headers, file names and folders (see :class:`Redactor`)."""
    redact = Redactor(identify)
    if identify:
        return redact
    redact.add_path(discovery.root)
    redact.add_path(os.path.realpath(discovery.root))
    for series in discovery.series:
        for instance in series.instances:
            redact.add_description(instance.series_description)
            redact.add_description(instance.protocol_name)
            redact.add_description(dict(instance.extra).get("StudyDescription"))
            for key, value in instance.identity:
                if key not in ("PatientSex", "PatientAge"):
                    redact.add_identity(value, by_word=key in ("PatientName", "PatientID"))
            redact.add_path(instance.path)
        for folder in series.folders:
            redact.add_path(folder)
    for path, _ in discovery.unreadable:
        redact.add_path(path)
    return redact


def _redacted_reason(discovery: Discovery, index: int) -> str:
    """An unreadable file named by its position, never by its name (which may hold the patient's)."""
    path, reason = discovery.unreadable[index]
    reason = reason.replace(str(path), "[file]").replace(path.name, "[file]")
    return f"file {index + 1}: {reason}"


def _discovery_warnings(discovery: Discovery) -> list[str]:
    notes = []
    if discovery.non_dicom:
        notes.append(f"{len(discovery.non_dicom)} non-DICOM file(s) skipped")
    if discovery.unreadable:
        examples = "; ".join(_redacted_reason(discovery, i) for i in range(min(3, len(discovery.unreadable))))
        notes.append(f"{len(discovery.unreadable)} file(s) could not be read and were skipped ({examples})")
    if discovery.copies_dropped:
        notes.append(f"{discovery.copies_dropped} copies of already-seen DICOM instances ignored")
    return notes


def _common_folder(root: Path, folders: list[Path]) -> str:
    common = Path(os.path.commonpath([str(f) for f in folders])) if folders else root
    try:
        return str(common.relative_to(root)) if common != root else "."
    except ValueError:
        return str(common)


def _study_summaries(discovery: Discovery) -> list[dict[str, Any]]:
    out = []
    for index, (uid, members) in enumerate(discovery.studies().items(), start=1):
        h = members[0].first
        extra = dict(h.extra)
        out.append(
            {
                "index": index,
                "study_instance_uid": uid,
                "date": extra.get("StudyDate", h.date),
                "description": extra.get("StudyDescription", ""),
                "manufacturer": h.manufacturer,
                "model": h.model,
                "field_strength_t": h.field_strength,
                "series": len(members),
                "folder": _common_folder(discovery.root, [f for s in members for f in s.folders]),
            }
        )
    return out


def _study_listing(studies: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"study {s['index']} of {s['date'] or '?'} '{s['description']}' ({s['series']} series, in "
        f"{s['folder']}, --study {s['study_instance_uid']})"
        for s in studies
    )


def select_study(discovery: Discovery, study: str | None) -> Discovery:
    """Keep the series of one study: ``study`` is a StudyInstanceUID or the 1-based index shown by
    ``cnmri inspect``. Raises :class:`InputError` listing the studies when it names none of them."""
    if study is None:
        return discovery
    studies = _study_summaries(discovery)
    chosen = [s for s in studies if s["study_instance_uid"] == study or (study.isdigit() and s["index"] == int(study))]
    if not chosen:
        raise InputError(f"--study {study}: no such study in {discovery.root}; found {_study_listing(studies)}")
    uid = chosen[0]["study_instance_uid"]
    kept = [s for s in discovery.series if s.study_uid == uid]
    return replace(discovery, series=kept)


def _only_usable_study(
    discovery: Discovery, pre_series: int | None, post_series: int | None
) -> tuple[Discovery, list[str]]:
    """Several studies of one patient: keep the only one from which a post-contrast T1 can be chosen.
    When none or several can, the folder is left as it is and :func:`_check_one_study` asks for --study."""
    studies = _study_summaries(discovery)
    if len(studies) < 2 or len(discovery.patients()) > 1:
        return discovery, []
    usable = []
    for summary in studies:
        one = replace(discovery, series=[s for s in discovery.series if s.study_uid == summary["study_instance_uid"]])
        try:
            select_series(classify_all(one), pre_series, post_series)
        except InputError:
            continue
        usable.append((summary, one))
    if len(usable) != 1:
        return discovery, []
    summary, one = usable[0]
    return one, [
        f"the folder holds {len(studies)} studies; used study {summary['index']} of {summary['date'] or '?'} "
        f"(--study {summary['study_instance_uid']}), the only one with a post-contrast T1"
    ]


def _check_one_study(discovery: Discovery) -> None:
    patients = discovery.patients()
    studies = _study_summaries(discovery)
    if len(patients) > 1:
        parts = []
        for number, members in enumerate(patients.values(), start=1):
            folder = _common_folder(discovery.root, [f for s in members for f in s.folders])
            dates = sorted({s.first.date for s in members if s.first.date})
            parts.append(f"patient {number}: {len(members)} series, dates {', '.join(dates) or '?'}, in {folder}")
        raise InputError(
            f"the study folder holds images of {len(patients)} different patients ({'; '.join(parts)}); "
            "point STUDY_DIR at one patient's study"
        )
    if len(studies) > 1:
        raise InputError(
            f"the study folder holds {len(studies)} studies ({_study_listing(studies)}); pass --study UID "
            "(or its number) to choose one, or point STUDY_DIR at the folder of the one to analyse"
        )


def _role_map(selection: Selection) -> dict[str, Choice | None]:
    return {
        "post": selection.post,
        "pre": selection.pre,
        "ciss": selection.ciss,
        "flair_post": selection.flair_post,
    }


# ---------------------------------------------------------------------------------------------- API


def inspect_study(
    study_dir: Path | str,
    pre_series: int | None = None,
    post_series: int | None = None,
    identify: bool = False,
    study: str | None = None,
) -> StudyInventory:
    """Every series in ``study_dir`` with its classification, confidence, reasons and cnmri role.

    Raises :class:`InputError` only when there are no DICOM images at all (or ``study`` names none of
    the studies); a study from which no post-contrast T1 can be chosen is listed with ``selection_error``.
    Without ``identify``, descriptions keep only scanner vocabulary and no file or folder name is shown.
    """
    return inventory_from_discovery(_discover_checked(study_dir), pre_series, post_series, study, identify)


def inventory_from_discovery(
    discovery: Discovery,
    pre_series: int | None = None,
    post_series: int | None = None,
    study: str | None = None,
    identify: bool = False,
) -> StudyInventory:
    """:func:`inspect_study` on a folder already walked."""
    study_dir = discovery.root
    redact = build_redactor(discovery, identify)
    try:
        discovery = select_study(discovery, study)
    except CnmriError as err:  # the listing names descriptions and folders
        raise type(err)(redact(str(err))) from None
    rows = classify_all(discovery)
    roles: dict[str, str] = {}
    selection_error: str | None = None
    selection: dict[str, int | None] = dict.fromkeys(ROLES)
    warnings = _discovery_warnings(discovery)
    try:
        _check_one_study(discovery)
        chosen = select_series(rows, pre_series, post_series)
        for role, choice in _role_map(chosen).items():
            if choice is not None:
                roles[choice.series.series_uid] = role
                selection[role] = choice.series.number
        warnings += chosen.warnings
    except InputError as err:
        selection_error = str(err)
    study_index = {uid: i for i, uid in enumerate(discovery.studies(), start=1)}
    series_rows = []
    for s, c in rows:
        voxel = s.main_stack.voxel_size()
        series_rows.append(
            SeriesRow(
                study=study_index[s.study_uid],
                number=s.number,
                description=s.description,
                modality=s.first.modality,
                images=sum(st.n_images for st in s.stacks),
                volumes=len(s.stacks),
                voxel_mm=tuple(round(v, 2) for v in voxel) if voxel else None,  # type: ignore[arg-type]
                classification=c.label,
                kind=c.kind.value,
                contrast=c.contrast.value,
                is_3d=c.is_3d,
                confidence=c.confidence,
                reasons=c.reasons,
                role=roles.get(s.series_uid, ""),
                series_instance_uid=s.series_uid,
                folder=(str(s.folders[0]) if s.folders else "") if identify else "",
                volume_labels=tuple(st.label for st in s.stacks) if len(s.stacks) > 1 else (),
            )
        )
    if not identify:
        series_rows = [
            replace(
                row,
                description=redact(row.description),
                reasons=tuple(redact(r) for r in row.reasons),
            )
            for row in series_rows
        ]
    unreadable = (
        tuple((str(p), r) for p, r in discovery.unreadable)
        if identify
        else tuple(
            (f"file {i + 1}", _redacted_reason(discovery, i).split(": ", 1)[1])
            for i in range(len(discovery.unreadable))
        )
    )
    return StudyInventory(
        root=Path(study_dir),
        files=discovery.n_files,
        dicom_images=discovery.n_instances,
        non_dicom=len(discovery.non_dicom),
        unreadable=unreadable,
        dicomdir=len(discovery.dicomdir),
        duplicate_copies=discovery.copies_dropped,
        patients=len(discovery.patients()),
        studies=tuple(redact.value(_study_summaries(discovery))),
        series=tuple(series_rows),
        selection=selection,
        selection_error=None if selection_error is None else redact(selection_error),
        warnings=tuple(redact(w) for w in warnings),
    )


def _sequence_parameters(series: SeriesInfo, converted: ConvertedSeries) -> dict[str, Any]:
    h = series.header
    return {
        "sequence_name": h.sequence_name,
        "scanning_sequence": list(h.scanning_sequence),
        "sequence_variant": list(h.sequence_variant),
        "mr_acquisition_type": h.mr_acquisition_type,
        "repetition_time_ms": h.repetition_time,
        "echo_time_ms": h.echo_time,
        "inversion_time_ms": h.inversion_time,
        "flip_angle_deg": h.flip_angle,
        "slice_thickness_mm": h.slice_thickness,
        "voxel_mm": [round(v, 4) for v in converted.voxel_mm],
        "shape": list(converted.shape),
        "contrast_agent": h.contrast_agent or None,
        "image_type": list(h.image_type),
    }


def _input_record(role: str, choice: Choice, converted: ConvertedSeries) -> dict[str, Any]:
    s, c = choice.series, choice.classification
    return {
        "file": str(converted.path),
        "series_instance_uid": s.series_uid,
        "series_number": s.number,
        "series_description": s.description,
        "classification": c.label,
        "confidence": c.confidence,
        "why": choice.why,
        "reasons": list(c.reasons),
        "images": s.main_stack.n_images,
        "conversion": converted.backend,
        "scaling": converted.scaling,
        "role": role,
    }


def prepare_study(
    study_dir: Path | str,
    work_dir: Path | str,
    pre_series: int | None = None,
    post_series: int | None = None,
    identify: bool = False,
    study: str | None = None,
) -> PreparedStudy:
    """Choose and convert the series cnmri analyses; NIfTI files go to ``work_dir``.

    Raises :class:`InputError` (exit 2) naming what was found and what to pass when the folder holds no
    DICOM images, no MR, several patients or studies, no usable post-contrast T1, or two equally good
    candidates. Without ``identify`` no message, warning or record names the patient, a file or a
    folder, and descriptions keep only scanner vocabulary.
    """
    discovery = _discover_checked(study_dir)
    redact = build_redactor(discovery, identify)
    try:
        discovery = select_study(discovery, study)
        prepared = _prepare(discovery, Path(work_dir), pre_series, post_series, identify, redact)
    except CnmriError as err:
        raise type(err)(redact(str(err))) from None
    except MemoryError:
        raise InputError("the chosen DICOM series do not fit in memory; free memory and run again") from None
    return replace(
        prepared,
        inputs=redact.value(prepared.inputs),
        metadata=redact.value(prepared.metadata),
        warnings=[redact(w) for w in prepared.warnings],
    )


def _prepare(
    discovery: Discovery,
    work_dir: Path,
    pre_series: int | None,
    post_series: int | None,
    identify: bool,
    redact: Redactor,
) -> PreparedStudy:
    discovery, study_note = _only_usable_study(discovery, pre_series, post_series)
    _check_one_study(discovery)
    rows = classify_all(discovery)
    selection = select_series(rows, pre_series, post_series)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    warnings = _discovery_warnings(discovery) + list(selection.warnings) + study_note
    inputs: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path | None] = dict.fromkeys(ROLES)
    sequences: dict[str, dict[str, Any]] = {}
    source_files: dict[str, tuple[Path, ...]] = {}
    for role, choice in _role_map(selection).items():
        if choice is None:
            continue
        name = describe(choice.series)
        stack = choice.series.main_stack
        if len(choice.series.stacks) > 1:
            warnings.append(
                f"{name} holds {len(choice.series.stacks)} volumes; used the largest "
                f"({stack.label or 'first'}, {stack.n_images} images)"
            )
        voxels = stack.first.rows * stack.first.columns * stack.n_images
        check_image_size(f"{role} {name}", voxels, voxels * 4)  # converted to float32 below
        try:
            converted = convert_stack(stack, work / f"{role}.nii.gz", name=f"{role} {name}")
        except InputError as err:
            if role in ("ciss", "flair_post"):  # optional roles never stop the analysis
                warnings.append(f"{role} not used: {err}")
                continue
            raise
        warnings += list(converted.warnings)
        paths[role] = converted.path
        source_files[role] = tuple(i.path for i in stack.instances)
        inputs[role] = _input_record(role, choice, converted)
        sequences[role] = _sequence_parameters(choice.series, converted)
        _log.info("%s: %s — %s", role, redact(describe(choice.series, choice.classification)), redact(choice.why))
    post = selection.post.series.first
    extra = dict(post.extra)
    identity = {k: v for k, v in post.identity}
    metadata: dict[str, Any] = {
        "study_date": extra.get("StudyDate", post.date),
        "study_time": extra.get("StudyTime"),
        "study_description": extra.get("StudyDescription"),
        "manufacturer": post.manufacturer,
        "model": post.model,
        "field_strength_t": post.field_strength,
        "software_versions": extra.get("SoftwareVersions"),
        "study_instance_uid": post.study_uid,
        "sequences": sequences,
        "patient_name": identity.get("PatientName"),
        "patient_id": identity.get("PatientID"),
        "patient_birth_date": identity.get("PatientBirthDate"),
        "patient_sex": identity.get("PatientSex"),
        "patient_age": identity.get("PatientAge"),
        "accession_number": identity.get("AccessionNumber"),
        "institution_name": identity.get("InstitutionName"),
        "station_name": identity.get("StationName"),
        "device_serial_number": identity.get("DeviceSerialNumber"),
    }
    metadata = deidentify_metadata(metadata, identify)
    metadata["deidentification"] = deidentification_record(identify)
    post_path = paths["post"]
    assert post_path is not None  # the post is required: select_series raised otherwise
    return PreparedStudy(
        post=post_path,
        pre=paths["pre"],
        ciss=paths["ciss"],
        flair_post=paths["flair_post"],
        inputs=inputs,
        metadata=metadata,
        warnings=warnings,
        source_files=source_files,
    )


# ------------------------------------------------------------------------------------------ convert

#: dcm2niix sidecar fields cnmri writes (BIDS names; times in seconds), none of them identifying.
_SIDECAR_TEXT = (
    ("Modality", "modality"),
    ("Manufacturer", "manufacturer"),
    ("ManufacturersModelName", "model"),
    ("SeriesDescription", "series_description"),
    ("ProtocolName", "protocol_name"),
    ("SequenceName", "sequence_name"),
    ("MRAcquisitionType", "mr_acquisition_type"),
)


@dataclass(frozen=True)
class ConvertedVolume:
    converted: ConvertedSeries
    sidecar: dict[str, Any]
    series: SeriesInfo
    volume: int  # 1-based


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000.0, 6)


def bids_sidecar(series: SeriesInfo, volume: int, converted: ConvertedSeries) -> dict[str, Any]:
    """The fields dcm2niix writes to its JSON sidecar that apply to one 3-D volume (BIDS names, seconds),
    without patient, institution, station or device identifiers, plus how cnmri converted it."""
    from cnmri import __version__

    stack = series.stacks[volume - 1]
    h = stack.first
    extra = dict(h.extra)
    out: dict[str, Any] = {name: getattr(h, attr) for name, attr in _SIDECAR_TEXT if getattr(h, attr)}
    numbers: dict[str, Any] = {
        "MagneticFieldStrength": h.field_strength,
        "SoftwareVersions": extra.get("SoftwareVersions"),
        "BodyPartExamined": extra.get("BodyPartExamined"),
        "ScanningSequence": "\\".join(h.scanning_sequence) or None,
        "SequenceVariant": "\\".join(h.sequence_variant) or None,
        "ImageType": list(h.image_type) or None,
        "SeriesNumber": h.series_number,
        "AcquisitionNumber": h.acquisition_number,
        "EchoNumber": h.echo_number,
        "EchoTime": _seconds(h.echo_time),
        "RepetitionTime": _seconds(h.repetition_time),
        "InversionTime": _seconds(h.inversion_time),
        "FlipAngle": h.flip_angle,
        "SliceThickness": h.slice_thickness,
        "SpacingBetweenSlices": h.spacing_between_slices,
        "DiffusionBValue": h.b_value,
        "ContrastBolusAgent": h.contrast_agent or None,
    }
    out.update({k: v for k, v in numbers.items() if v is not None})
    out.update(
        {
            "ConversionSoftware": "cnmri",
            "ConversionSoftwareVersion": __version__,
            "ConversionBackend": converted.backend,
            "IntensityScaling": converted.scaling,
            "SeriesVolume": volume,
            "SeriesVolumes": len(series.stacks),
            "SeriesVolumeLabel": stack.label,
        }
    )
    return out


def _volume_listing(series: SeriesInfo) -> str:
    return "; ".join(
        f"{index}: {stack.label or 'volume'} ({stack.n_images} images)"
        for index, stack in enumerate(series.stacks, start=1)
    )


def convert_series(
    study_dir: Path | str,
    series_number: int,
    out_path: Path | str,
    volume: int | None = None,
    study: str | None = None,
    backend: str = "auto",
) -> ConvertedVolume:
    """Convert one volume of series ``series_number`` to ``out_path`` (NIfTI); see ``cnmri convert``.

    Raises :class:`InputError` naming what exists when the series or volume is absent, when the series
    holds several volumes and none was chosen, or when it cannot be converted (colour, mosaic without CSA
    header, missing slices...).
    """
    discovery = select_study(_discover_checked(study_dir), study)
    images = [s for s in discovery.series if s.is_image and s.number == series_number]
    if not images:
        numbers = ", ".join(sorted({str(s.number) for s in discovery.series if s.is_image}, key=_number_key))
        raise InputError(
            f"--series {series_number}: no image series {series_number} in {discovery.root} "
            f"(image series found: {numbers or 'none'})"
        )
    if len(images) > 1:
        studies = {s.study_uid for s in images}
        hint = "pass --study UID" if len(studies) > 1 else "point STUDY_DIR at the folder of one of them"
        raise InputError(f"--series {series_number}: {len(images)} series share that number; {hint}")
    series = images[0]
    name = describe(series)
    if volume is None:
        if len(series.stacks) > 1:
            raise InputError(f"{name} holds {len(series.stacks)} volumes ({_volume_listing(series)}); pass --volume K")
        volume = 1
    if not 1 <= volume <= len(series.stacks):
        raise InputError(f"--volume {volume}: {name} holds {len(series.stacks)} volume(s) ({_volume_listing(series)})")
    converted = convert_stack(series.stacks[volume - 1], Path(out_path), name=name, backend=backend)
    return ConvertedVolume(converted, bids_sidecar(series, volume, converted), series, volume)


def _number_key(text: str) -> tuple[int, str]:
    return (int(text), "") if text.lstrip("-").isdigit() else (10**9, text)


__all__ = [
    "Classification",
    "ConvertedVolume",
    "PreparedStudy",
    "SeriesRow",
    "StudyInventory",
    "bids_sidecar",
    "convert_series",
    "inspect_study",
    "inventory_from_discovery",
    "prepare_study",
    "select_study",
]
