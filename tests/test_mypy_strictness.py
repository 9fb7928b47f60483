"""mypy runs with most of --strict (pyproject.toml [tool.mypy]); a lapse a flag catches fails the check."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The --strict flags the code passes today; test_static_checks runs mypy with them on src/cnmri.
STRICT_FLAGS_ON = (
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "check_untyped_defs",
    "disallow_untyped_decorators",
    "disallow_subclassing_any",
    "warn_redundant_casts",
    "warn_unused_ignores",
    "warn_unused_configs",
    "no_implicit_reexport",
    "strict_equality",
    "extra_checks",
)

LAPSES = """
from typing import cast


def half_typed(count: int, label) -> None:  # disallow_incomplete_defs
    pass


def never_equal(count: int, label: str) -> bool:
    return count == label  # strict_equality


def needless(count: int) -> int:
    return cast(int, count)  # warn_redundant_casts


def untyped_body():  # disallow_untyped_defs; check_untyped_defs still looks inside
    return 1 + "a"
"""


def test_the_strict_flags_are_on() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert [flag for flag in STRICT_FLAGS_ON if options.get(flag) is not True] == []


def test_mypy_with_the_project_settings_refuses_each_lapse(tmp_path: Path) -> None:
    sample = tmp_path / "lapses.py"
    sample.write_text(LAPSES, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", str(sample)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "lapses.py:5: error: Function is missing a type annotation for one or more parameters" in out
    assert "lapses.py:10: error: Non-overlapping equality check" in out
    assert 'lapses.py:14: error: Redundant cast to "int"' in out
    assert "lapses.py:17: error: Function is missing a return type annotation" in out
    assert 'lapses.py:18: error: Unsupported operand types for + ("int" and "str")' in out
