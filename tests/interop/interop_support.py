"""Types shared by the interop tests (a module of its own: ``conftest`` is ambiguous in a full-suite run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicom_study_builder import StudyWriter


@dataclass
class Analysed:
    """One full ``cnmri analyze STUDY_DIR --clinical CASE`` run, and the Analysis it wrote from."""

    study: StudyWriter
    out: Path
    analysis: Any
    request: Any
