"""``Study``: what one analysis reads, built by an io adapter (DESIGN.md §2).

Adapters:

- :func:`nifti_study`: a NIfTI pair (``--pre`` optional, ``--post``), optionally a CISS/FIESTA image;
- :func:`dicom_study`: a DICOM folder: series discovery and selection, conversion into a work folder,
  de-identification of what reaches the outputs (docs/dicom.md);
- BIDS sessions go through :func:`nifti_study` (the cohort runner adds the ``bids`` block);
- PACS studies are pulled into a folder (:mod:`cnmri.io.pacs`) and read by :func:`dicom_study`.
  A new source (e.g. a PACS study read in memory) is one more function returning a ``Study``.

Every adapter records its inputs (findings.json ``inputs``) so that nothing identifies the patient
unless ``identify``: a NIfTI file is named by its role and a SHA-256 of its bytes, not by its file
name (which may hold the patient's name); a DICOM series by its number, cleaned description and UID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnmri.errors import InputError
from cnmri.settings import file_digest

__all__ = ["Study", "dicom_input_records", "dicom_study", "dicom_study_record", "nifti_input_record", "nifti_study"]


@dataclass(frozen=True)
class Study:
    """One study: the image files per role, the optional clinical case and baseline, and their records."""

    post: Path
    pre: Path | None = None
    #: 3D heavily T2-weighted (CISS/FIESTA): cisternal nerve courses are found in it
    ciss: Path | None = None
    #: clinical case file (CONTRACTS.md §4) joined to the images
    clinical: Path | None = None
    #: an earlier analysis of the same patient (output folder or findings.json) to compare with
    baseline: Path | None = None
    #: findings.json ``inputs``: per role, what was read (no identifier unless asked for)
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: findings.json ``study`` (DICOM: scanner, sequences, de-identification record)
    metadata: Mapping[str, Any] | None = None
    #: warnings of reading the study (they join the analysis' warnings)
    warnings: tuple[str, ...] = ()
    #: DICOM: per role, the source instances (DICOM SR/SEG/key images are filed against them)
    source_files: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)
    #: which adapter built it: "nifti" | "dicom"
    origin: str = "nifti"

    @property
    def mode(self) -> str:
        return "pre_post" if self.pre is not None else "post_only"

    def input_files(self) -> tuple[Path, ...]:
        """Every file the study reads (an output folder must never replace one of them)."""
        return tuple(p for p in (self.pre, self.post, self.ciss, self.clinical, self.baseline) if p is not None)


# ---------------------------------------------------------------------------------------------- NIfTI


def nifti_input_record(path: Path, role: str, identify: bool = False) -> dict[str, Any]:
    """findings.json ``inputs.<role>`` for a NIfTI file: role and content hash; the file name only if
    ``identify`` (a file name often holds the patient's name or record number)."""
    record: dict[str, Any] = {"role": role, "format": "nifti", "sha256": file_digest(path)}
    if identify:
        record["file"] = Path(path).name
    return record


def nifti_study(
    post: Path,
    pre: Path | None = None,
    *,
    ciss: Path | None = None,
    clinical: Path | None = None,
    baseline: Path | None = None,
    identify: bool = False,
    warnings: tuple[str, ...] = (),
) -> Study:
    """A study from NIfTI files; refuses a missing file by name (exit 2) before any work."""
    for role, path in (("--post", post), ("--pre", pre), ("--ciss", ciss), ("--clinical", clinical)):
        if path is not None and not Path(path).exists():
            raise InputError(f"{role} {path} does not exist")
    images = {"pre": pre, "post": post, "ciss": ciss}
    inputs = {
        role: nifti_input_record(Path(path), role, identify)
        for role, path in images.items()
        if path is not None and Path(path).is_file()
    }
    return Study(
        post=Path(post),
        pre=Path(pre) if pre is not None else None,
        ciss=Path(ciss) if ciss is not None else None,
        clinical=Path(clinical) if clinical is not None else None,
        baseline=Path(baseline) if baseline is not None else None,
        inputs=inputs,
        warnings=tuple(warnings),
        origin="nifti",
    )


# ---------------------------------------------------------------------------------------------- DICOM


def dicom_study(
    study_dir: Path,
    work_dir: Path,
    *,
    pre_series: int | None = None,
    post_series: int | None = None,
    study_uid: str | None = None,
    identify: bool = False,
    deidentify: bool = False,
    clinical: Path | None = None,
    baseline: Path | None = None,
) -> Study:
    """A study from a folder of DICOM files: the chosen series converted into ``work_dir``.

    ``work_dir`` should lie inside the partial output folder, so the converted patient images go with
    it on any failure or signal. Without ``identify`` no record or warning names the patient, a file
    or a folder; ``deidentify`` also replaces UIDs and drops dates (PS3.15 basic profile).
    """
    import logging

    from cnmri.io.dicom import prepare_study

    if identify and deidentify:
        raise InputError("--identify and --deidentify contradict each other; choose one")
    prepared = prepare_study(
        study_dir,
        work_dir,
        pre_series=pre_series,
        post_series=post_series,
        identify=identify,
        study=study_uid,
    )
    log = logging.getLogger("cnmri")
    for role, info in prepared.inputs.items():
        log.info(
            "using %s series %s (%s): %s",
            role,
            info.get("series_number"),
            info.get("series_description"),
            info.get("why", info.get("reason", "")),
        )
    return Study(
        post=prepared.post,
        pre=prepared.pre,
        ciss=prepared.ciss,
        clinical=clinical,
        baseline=baseline,
        inputs=dicom_input_records(prepared.inputs, deidentify),
        metadata=dicom_study_record(prepared.metadata, identify, deidentify),
        warnings=tuple(prepared.warnings),
        source_files=dict(prepared.source_files),
        origin="dicom",
    )


def dicom_input_records(inputs: Mapping[str, Mapping[str, Any]], deidentify: bool) -> dict[str, dict[str, Any]]:
    """Per-role input records for findings.json: file names only, UIDs replaced when de-identifying."""
    from cnmri.report.dicom_common import hashed_uid

    out: dict[str, dict[str, Any]] = {}
    for role, record in inputs.items():
        clean = dict(record)
        clean["file"] = Path(str(record.get("file", f"{role}.nii.gz"))).name
        if deidentify and clean.get("series_instance_uid"):
            clean["series_instance_uid"] = hashed_uid(str(clean["series_instance_uid"]))
        out[role] = clean
    return out


def dicom_study_record(metadata: Mapping[str, Any], identify: bool, deidentify: bool) -> dict[str, Any]:
    """Study metadata for the report; patient identifiers only with --identify, no dates with --deidentify."""
    from cnmri.io.dicom.deid import deidentification_record, deidentify_metadata

    record = deidentify_metadata(metadata, identify)
    if deidentify:
        record = _drop_keys(record, ("date", "time", "uid"))
    record["deidentification"] = deidentification_record(identify, deidentify)
    if deidentify:
        record["deidentification"]["also"] = "UIDs replaced by hashed 2.25 UIDs; dates and times removed"
    return record


def _drop_keys(value: Mapping[str, Any], fragments: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if any(f in key.lower() for f in fragments):
            continue
        out[key] = _drop_keys(item, fragments) if isinstance(item, Mapping) else item
    return out
