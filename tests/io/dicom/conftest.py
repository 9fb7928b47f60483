"""Session fixtures: realistic DICOM studies built from the real Colin27 head (see dicom_study_builder)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from dicom_study_builder import (
    COLIN,
    GE,
    Patient,
    Study,
    StudyWriter,
    build_ge_study,
    build_philips_study,
    build_siemens_study,
)

import cnmri.cli

if not COLIN.exists():  # pragma: no cover - the Debian package mricron-data provides it
    pytest.skip(f"{COLIN} is missing (apt-get install mricron-data)", allow_module_level=True)

PYDICOM_FILES = Path(__import__("pydicom.data", fromlist=["x"]).__file__).parent / "test_files"


@pytest.fixture(scope="session")
def siemens(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    """A messy Siemens study: renamed shuffled nested files, a text file, random bytes, a truncated
    slice, an exact copy of a slice, and a DICOMDIR-less layout."""
    root = tmp_path_factory.mktemp("siemens")
    writer = build_siemens_study(root)
    (root / "README.txt").write_text("exported from PACS\n")
    (root / "DICOM" / "thumbs.db").write_bytes(os.urandom(3000))
    dwi = writer.series[3].files[0]
    truncated = root / "export" / "TRUNC0001"
    truncated.write_bytes(dwi.read_bytes()[:5000])
    shutil.copy(writer.series[5].files[0], root / "IMG" / "copy_of_slice")
    return writer


@pytest.fixture(scope="session")
def ge(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    return build_ge_study(tmp_path_factory.mktemp("ge"))


@pytest.fixture(scope="session")
def philips(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    return build_philips_study(tmp_path_factory.mktemp("philips"))


@pytest.fixture(scope="session")
def oblique_study(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    return build_siemens_study(tmp_path_factory.mktemp("oblique"), seed=4, oblique_pair=True, extras=False)


@pytest.fixture
def ge_variant(tmp_path: Path) -> Callable[..., StudyWriter]:
    """A GE study in a fresh folder (for tests that add or remove series)."""

    def make(**kwargs: object) -> StudyWriter:
        return build_ge_study(tmp_path / "study", study=Study(vendor=GE, **kwargs))  # type: ignore[arg-type]

    return make


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sequence[str]], int]:
    """``cnmri.cli.main`` restricted to the command modules that exist in this checkout."""
    available = tuple(
        name for name in cnmri.cli.COMMANDS if importlib.util.find_spec(f"cnmri.commands.{name}") is not None
    )
    monkeypatch.setattr(cnmri.cli, "COMMANDS", available)
    return lambda argv: cnmri.cli.main(list(argv))


__all__ = ["PYDICOM_FILES", "Patient"]
