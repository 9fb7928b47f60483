"""``cnmri serve`` as a user runs it: the printed URL, the token sources and the bad-input exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cnmri.cli import main


def test_missing_results_folder_is_exit_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["serve", "--results", str(missing), "--token", "x" * 20]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


def test_short_token_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--results", str(tmp_path), "--token", "short"]) == 2
    assert "--token" in capsys.readouterr().err


def test_serve_prints_the_url_with_a_generated_token_and_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CNMRI_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnmri.cli", "serve", "--results", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and "/?token=" in line
        base, token = line.split("/?token=")
        assert len(token) >= 40
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/studies", timeout=10).status_code == 401
        ok = httpx.get(f"{base}/api/studies", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["total"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_token_from_the_environment_is_used_and_not_echoed(tmp_path: Path) -> None:
    token = "env-token-0123456789abcdef"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnmri.cli", "serve", "--results", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CNMRI_TOKEN": token},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert token not in line
        base = line.split("/?token=")[0]
        response = httpx.get(f"{base}/api/studies", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
