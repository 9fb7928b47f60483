"""Fixtures for the DICOM/FHIR outputs and PACS tests: a real Orthanc, a DICOM study, one analysis.

Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) runs as a child process on a free loopback port with
its storage in a temporary folder, HTTP basic authentication on, and the DICOMweb plugin enabled.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io" / "dicom"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dicom_study_builder import COLIN, SIEMENS, Patient, Study, StudyWriter, build_siemens_study
from interop_support import Analysed
from orthanc_server import Orthanc, OrthancUnavailable, running_orthanc


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    try:
        with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
            yield server
    except OrthancUnavailable as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session")
def pacs_study(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    """A 2 mm Siemens-style pre/post study of the real Colin27 head (no extra series)."""
    if not COLIN.exists():
        pytest.fail(f"{COLIN} is missing (apt-get install mricron-data)")
    study = Study(patient=Patient(name="Roe^Richard", patient_id="CN-PACS-7"), vendor=SIEMENS)
    return build_siemens_study(tmp_path_factory.mktemp("pacs-study"), study=study, extras=False)


CASE = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"


@pytest.fixture(scope="session")
def analysed(pacs_study: StudyWriter, tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    """The real CLI path; the interop writer is wrapped (not replaced) to keep the Analysis for more tests."""
    import cnmri.cli
    import cnmri.report.interop as interop

    captured: dict[str, Any] = {}
    original = interop.write_interop_outputs

    def recording(analysis: Any, folder: Path, request: Any) -> None:
        captured.update(analysis=analysis, request=request)
        original(analysis, folder, request)

    out = tmp_path_factory.mktemp("analysed") / "out"
    interop.write_interop_outputs = recording  # type: ignore[assignment]
    try:
        code = cnmri.cli.main(["analyze", str(pacs_study.root), "-o", str(out), "--clinical", str(CASE)])
    finally:
        interop.write_interop_outputs = original  # type: ignore[assignment]
    assert code == 0
    return Analysed(pacs_study, out, captured["analysis"], captured["request"])
