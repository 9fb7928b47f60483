"""A throw-away Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) for tests and benchmarks.

Runs the ``Orthanc`` binary as a child process (no systemd) on free loopback ports, storage in the given
folder, HTTP basic authentication on and the DICOMweb plugin enabled at ``/dicom-web/``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "cnmri", "s3cret-test"


class OrthancUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Orthanc:
    url: str  # REST root
    dicomweb: str
    auth: tuple[str, str]
    log: Path

    def upload(self, files: list[Path]) -> None:
        """Orthanc's own REST upload (not cnmri code): puts a study into the PACS."""
        for path in files:
            response = requests.post(f"{self.url}/instances", data=path.read_bytes(), auth=self.auth, timeout=60)
            response.raise_for_status()

    def series_of(self, study_uid: str) -> list[dict[str, object]]:
        """QIDO-RS series of a study, as Orthanc answers it (DICOM JSON)."""
        response = requests.get(f"{self.dicomweb}/studies/{study_uid}/series", auth=self.auth, timeout=30)
        response.raise_for_status()
        return list(response.json())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_orthanc(root: Path) -> Iterator[Orthanc]:
    binary = shutil.which("Orthanc")
    if binary is None or not ORTHANC_PLUGIN.exists():
        raise OrthancUnavailable("Orthanc or its DICOMweb plugin is missing: apt-get install orthanc orthanc-dicomweb")
    root.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
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
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    log = root / "orthanc.log"
    with log.open("w") as handle:
        process = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/system", auth=(USER, PASSWORD), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise OrthancUnavailable(f"Orthanc did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield Orthanc(url, f"{url}/dicom-web", (USER, PASSWORD), log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
