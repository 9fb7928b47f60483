"""``ruff check``, ``ruff format --check`` and ``mypy`` run in the tests, so CI fails when one finds a problem.

Both come with ``pip install -e '.[dev]'``; they run on the source tree this file belongs to.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_tool_is_installed(tool: str) -> None:
    assert _run(tool, "--version").returncode == 0, f"{tool} is missing: pip install -e '.[dev]'"


def test_ruff_check_is_clean() -> None:
    run = _run("ruff", "check", "--no-cache", "src", "tests", "benchmarks")
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format_is_clean() -> None:
    run = _run("ruff", "format", "--check", "--no-cache", "src", "tests", "benchmarks")
    assert run.returncode == 0, "run 'ruff format src tests benchmarks':\n" + run.stdout + run.stderr


def test_mypy_is_clean() -> None:
    run = _run("mypy")  # files and options from pyproject.toml [tool.mypy]
    assert run.returncode == 0, run.stdout + run.stderr
