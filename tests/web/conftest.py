"""Fixtures for the web app: a results folder built from ONE real analysis (the demo case, run once per
session), a few studies derived from it (a follow-up with changed findings, an older analysis without
viewer volumes, an unreadable one), the FastAPI test client and, for the browser tests, uvicorn on a
free loopback port.

Set CNMRI_TEST_DEMO_OUT to an existing 'cnmri demo -o' folder to reuse it instead of running the
pipeline (development only; CI runs the analysis).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reuse = os.environ.get("CNMRI_TEST_DEMO_OUT")
    if reuse and (Path(reuse) / "post.nii.gz").is_file():
        return Path(reuse)
    from cnmri.cli import main

    out = tmp_path_factory.mktemp("web-demo") / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    return out


def _derive(source: Path, target: Path, edit: Any = None, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("inputs", *drop))
    if edit is not None:
        findings = json.loads((target / "findings.json").read_text())
        edit(findings)
        (target / "findings.json").write_text(json.dumps(findings))
    return target


def resolve_cn9(findings: dict[str, Any]) -> None:
    """A follow-up in which both glossopharyngeal nerves have returned to normal."""
    for seg in findings["segments"]:
        if seg["nerve"] == "CN9":
            seg["abnormal"] = False
            seg["enhancement"] = 0.0
    for nerve in findings["nerves"]:
        if nerve["nerve"] == "CN9":
            nerve["abnormal"] = False
            nerve["abnormal_segments"] = []
    findings["pattern"]["nerves"] = [n for n in findings["pattern"]["nerves"] if not n.startswith("CN9")]


def make_normal(findings: dict[str, Any]) -> None:
    for seg in findings["segments"]:
        seg["abnormal"] = False
    for nerve in findings["nerves"]:
        nerve["abnormal"] = False
        nerve["abnormal_segments"] = []
    findings["pattern"] = {"kind": "normal", "nerves": []}


@pytest.fixture(scope="session")
def results_dir(demo_analysis: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    _derive(demo_analysis, root / "patient-a_2024-01_baseline")
    _derive(demo_analysis, root / "patient-a_2024-04_followup", resolve_cn9)
    _derive(
        demo_analysis,
        root / "patient-b_normal_old-version",
        make_normal,
        drop=("post.nii.gz", "pre.nii.gz", "enhancement.nii.gz"),
    )
    broken = root / "patient-c_broken"
    broken.mkdir()
    (broken / "findings.json").write_text("{not json")
    (root / ".patient-d.partial-123").mkdir()  # an analysis still being written: not a study
    (root / ".patient-d.partial-123" / "findings.json").write_text("{}")
    (root / "notes.txt").write_text("not a study")
    return root


@pytest.fixture(scope="session")
def app(results_dir: Path) -> Any:
    from cnmri.web.app import create_app

    return create_app(results_dir, TOKEN)


@pytest.fixture()
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture()
def authed(client: Any) -> Any:
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(app: Any) -> Iterator[str]:
    """uvicorn serving the app in a background thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
