"""Fixtures for the DICOM/FHIR outputs and PACS tests: a real Orthanc, a DICOM study, one analysis.

Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) runs as a child process on a free loopback port with
its storage in a temporary folder, HTTP basic authentication on, and the DICOMweb plugin enabled.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io" / "dicom"))

from dicom_study_builder import COLIN, Patient, Study, StudyWriter, build_siemens_study

ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "cnmri", "s3cret-test"


@dataclass(frozen=True)
class Orthanc:
    url: str  # REST root
    dicomweb: str
    auth: tuple[str, str]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    binary = shutil.which("Orthanc")
    if binary is None or not ORTHANC_PLUGIN.exists():
        pytest.fail("Orthanc or its DICOMweb plugin is missing: apt-get install orthanc orthanc-dicomweb")
    root = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = _free_port(), _free_port()
    config = {
        "Name": "cnmri-test",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(ORTHANC_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "SaveJobs": False,
        "HttpTimeout": 60,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    log = root / "orthanc.log"
    with log.open("w") as handle:
        process = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/system", auth=(USER, PASSWORD), timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Orthanc did not start: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    try:
        yield Orthanc(url, f"{url}/dicom-web", (USER, PASSWORD), log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def upload(orthanc: Orthanc, files: list[Path]) -> None:
    """Orthanc's own REST upload (not cnmri code), so that the tests start from a PACS that holds a study."""
    for path in files:
        response = requests.post(f"{orthanc.url}/instances", data=path.read_bytes(), auth=orthanc.auth, timeout=30)
        response.raise_for_status()


@pytest.fixture(scope="session")
def pacs_study(tmp_path_factory: pytest.TempPathFactory) -> StudyWriter:
    """A 2 mm Siemens-style pre/post study of the real Colin27 head (no extra series)."""
    if not COLIN.exists():
        pytest.fail(f"{COLIN} is missing (apt-get install mricron-data)")
    study = Study(patient=Patient(name="Roe^Richard", patient_id="CN-PACS-7"), vendor={"Manufacturer": "SIEMENS"})
    return build_siemens_study(tmp_path_factory.mktemp("pacs-study"), study=study, extras=False)


__all__ = ["PASSWORD", "USER", "Orthanc", "upload"]
