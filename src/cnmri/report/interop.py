"""DICOM and FHIR outputs of ``cnmri analyze``: ``OUT/dicom/`` (SR, SEG, KO, SC) and ``OUT/fhir/bundle.json``.

``analyze`` makes :func:`interop_writer` before the analysis and calls it inside the atomic output folder
after findings.json and report.html are written. NIfTI input has no DICOM source to file objects into:
only the FHIR bundle is written (without an ImagingStudy), and findings.json says so in ``outputs``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnmri.errors import CnmriError
from cnmri.io.outputs import write_json_atomic

if TYPE_CHECKING:
    from cnmri.analysis import Analysis
    from cnmri.report.dicom_common import DicomSource

_log = logging.getLogger(__name__)
FHIR_VERSION_ENV = "CNMRI_FHIR_VERSION"


@dataclass
class InteropRequest:
    """Which source series to file the objects into, and how to treat identifiers."""

    post_files: Sequence[Path] = ()
    pre_files: Sequence[Path] = ()
    deidentify: bool = False
    identify: bool = False
    fhir_version: str = field(default_factory=lambda: os.environ.get(FHIR_VERSION_ENV, "R4").upper())


def write_dicom_objects(analysis: Analysis, folder: Path, source: DicomSource) -> dict[str, Any]:
    """SEG, SR, SCs and KO into ``folder``; returns file names and the time taken."""
    from cnmri.report.dicom_seg import build_seg
    from cnmri.report.dicom_sr import build_sr
    from cnmri.report.key_images import (
        build_key_object_selection,
        build_secondary_captures,
        key_images_from_report,
        report_key_images,
    )

    # highdicom logs every module it copies at INFO; cnmri's progress lines would drown in them.
    logging.getLogger("highdicom").setLevel(logging.WARNING)
    start, start_cpu = time.perf_counter(), time.process_time()
    folder.mkdir(parents=True, exist_ok=True)
    seg, entries = build_seg(analysis.labels, analysis.label_keys, source)
    sr = build_sr(analysis.findings, seg, entries, source)
    report = folder.parent / "report.html"
    from_report = key_images_from_report(report.read_text(encoding="utf-8")) if report.exists() else []
    captures = build_secondary_captures(from_report or report_key_images(analysis), source)
    ko = build_key_object_selection(captures, source)
    if not source.deidentified:
        # PACS browsers group series by date; with --deidentify the outputs carry no dates beyond the creation stamp.
        for ds in (seg, sr, ko, *captures):
            if "ContentDate" in ds:
                ds.SeriesDate, ds.SeriesTime = ds.ContentDate, ds.get("ContentTime", "")
    seg.save_as(folder / "seg.dcm", enforce_file_format=True)
    sr.save_as(folder / "sr.dcm", enforce_file_format=True)
    ko.save_as(folder / "ko.dcm", enforce_file_format=True)
    (folder / "sc").mkdir(exist_ok=True)
    names = []
    for number, sc in enumerate(captures, start=1):
        name = f"sc/{number:02d}.dcm"
        sc.save_as(folder / name, enforce_file_format=True)
        names.append(name)
    return {
        "files": ["sr.dcm", "seg.dcm", "ko.dcm", *names],
        "segments": len(entries),
        "study_instance_uid": source.study_uid,
        "seconds": round(time.perf_counter() - start, 2),
        # CPU time of this process: what the step costs on an idle machine, however busy this one was
        "cpu_seconds": round(time.process_time() - start_cpu, 2),
    }


def write_interop_outputs(analysis: Analysis, folder: Path, request: InteropRequest) -> None:
    from cnmri.report.dicom_common import load_source
    from cnmri.report.fhir import build_bundle

    folder = Path(folder)
    source = None
    record: dict[str, Any] = {}
    if request.post_files:
        source = load_source(request.post_files, request.pre_files, request.deidentify, request.identify)
        try:
            record["dicom"] = write_dicom_objects(analysis, folder / "dicom", source)
            _log.info("DICOM SR, SEG and key images written in %.1f s", record["dicom"]["seconds"])
        except (CnmriError, ValueError, AttributeError, KeyError) as err:
            # The findings stand without the DICOM objects: say why they are missing instead of failing the study.
            shutil.rmtree(folder / "dicom", ignore_errors=True)
            record["dicom"] = {"files": [], "note": f"DICOM SR/SEG/key images not written: {err}"}
            _log.warning("DICOM SR/SEG/key images not written: %s", err)
    else:
        record["dicom"] = {"files": [], "note": "NIfTI input: no DICOM study to file SR/SEG/key images into"}
    report = folder / "report.html"
    bundle = build_bundle(
        analysis.findings,
        source,
        report_html=report.read_bytes() if report.exists() else None,
        version=request.fhir_version,
        identify=request.identify,
    )
    (folder / "fhir").mkdir(exist_ok=True)
    write_json_atomic(folder / "fhir" / "bundle.json", bundle)
    record["fhir"] = {"file": "fhir/bundle.json", "version": request.fhir_version}
    write_json_atomic(folder / "interop.json", record)


def interop_writer(request: InteropRequest) -> Callable[[Analysis, Path], None]:
    """The writer ``cnmri analyze`` runs after the standard files; a bad FHIR version fails when it is made."""
    from cnmri.errors import InputError
    from cnmri.report.fhir import FHIR_VERSIONS

    if request.fhir_version not in FHIR_VERSIONS:
        raise InputError(f"{FHIR_VERSION_ENV}={request.fhir_version} is not supported; use R4 or R5")
    return lambda analysis, folder: write_interop_outputs(analysis, folder, request)
