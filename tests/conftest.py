"""Shared fixtures: the real Colin27 head (Debian mricron-data) and small images built from it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


@pytest.fixture(scope="session")
def colin27_path() -> Path:
    if not COLIN27.exists():
        pytest.fail(f"{COLIN27} is missing: install Debian's mricron-data (make install does)")
    return COLIN27


@pytest.fixture(scope="session")
def colin27(colin27_path: Path) -> nib.Nifti1Image:
    return nib.load(str(colin27_path))


def save(tmp: Path, name: str, data: np.ndarray, affine: np.ndarray) -> Path:
    path = tmp / name
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


# --------------------------------------------------------------------------------------- slow tests
# `pytest` skips tests marked `slow` (pyproject addopts `-m "not slow"`); `make test` and CI run them all
# (`-m ""`). A test is slow when it runs a full analysis, starts a server (Orthanc, PostgreSQL, the web
# app for a browser) or generates phantom datasets. Mark it with @pytest.mark.slow, or list the fixture
# or the test below so that every test reaching it is marked.

#: Fixtures that make every test using them (directly or through another fixture) slow.
SLOW_FIXTURES: dict[str, str] = {
    "demo_out": "runs `cnmri demo`, a full analysis",
    "demo_analysis": "runs `cnmri demo` for the web app",
    "analysed": "analyses a DICOM study end to end",
    "orthanc": "starts an Orthanc PACS server",
    "postgres_url": "starts a PostgreSQL server",
    "page": "drives a Playwright browser",
}
#: Tests (node id without parameters, or a whole file) that are slow by themselves.
SLOW_TESTS: dict[str, str] = {
    "tests/core/test_registration.py::test_a_moved_and_scaled_head_maps_skull_base_points_within_1_5_mm": (
        "registers the full Colin27 head"
    ),
    (
        "tests/core/test_registration.py::"
        "test_a_linear_stage_that_lands_in_a_wrong_optimum_is_retried_from_another_start"
    ): "registers the full Colin27 head",
    "tests/io/dicom/test_analyze_dicom.py::test_analyze_picks_the_series_says_why_and_leaks_no_identifiers": (
        "a full analysis of a DICOM study"
    ),
    "tests/io/dicom/test_hostile_and_private.py::test_no_identifier_reaches_any_output_or_stderr": (
        "a full analysis of a DICOM study"
    ),
    "tests/phantom/test_bench_real_pipeline.py": "the CI phantom suite through the real detector",
    "tests/cohort/test_bids_app.py": "real analyses of a phantom BIDS dataset on 2 Dask workers",
    # measured on the loaded 2-core machine (pytest --durations): 72 s and 19 s
    "tests/core/test_cli_analyze.py::test_an_image_that_is_not_a_head_is_refused": (
        "registers noise to the template before refusing it"
    ),
    "tests/phantom/test_real_head.py::test_anatomy_squashed_into_the_image_edge_counts_as_outside": (
        "generates a phantom on a deformed head"
    ),
}


def slow_reason(nodeid: str, fixturenames: Iterable[str]) -> str | None:
    """Why the test ``nodeid`` is slow, or ``None``."""
    name = nodeid.split("[", 1)[0]
    for key in (name, name.split("::", 1)[0]):
        if key in SLOW_TESTS:
            return SLOW_TESTS[key]
    for fixture in fixturenames:
        if fixture in SLOW_FIXTURES:
            return SLOW_FIXTURES[fixture]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = slow_reason(item.nodeid, getattr(item, "fixturenames", ()))
        if reason is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow(reason=reason))
