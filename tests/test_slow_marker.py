"""Plain `pytest` skips the slow tests; `make test` (what CI runs) runs them all."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRATION = "tests/core/test_registration.py"
SLOW_ONE = f"{REGISTRATION}::test_a_moved_and_scaled_head_maps_skull_base_points_within_1_5_mm"
FAST_ONE = f"{REGISTRATION}::test_greedy_survives_a_closed_stdout_from_an_earlier_caller"


@pytest.fixture()
def root_conftest(request: pytest.FixtureRequest) -> ModuleType:
    """tests/conftest.py as pytest loaded it (it holds the lists of slow fixtures and tests)."""
    for plugin in request.config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and Path(getattr(plugin, "__file__", "")) == ROOT / "tests" / "conftest.py":
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def _collect(*args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args, REGISTRATION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_default_run_deselects_slow_tests_and_make_test_keeps_them() -> None:
    default = _collect()
    everything = _collect("-m", "")
    only_slow = _collect("-m", "slow")
    assert FAST_ONE in default and SLOW_ONE not in default
    assert {SLOW_ONE, FAST_ONE} <= set(everything)
    assert SLOW_ONE in only_slow and FAST_ONE not in only_slow


def test_the_configuration_says_so() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "-m 'not slow'" in options["addopts"]
    assert any(marker.startswith("slow:") for marker in options["markers"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test: .*\n\t(.*)$", makefile, re.M)
    fast_target = re.search(r"^test-fast: .*\n\t(.*)$", makefile, re.M)
    assert test_target is not None and 'pytest -q -p no:cacheprovider -m ""' in test_target.group(1)
    assert fast_target is not None and fast_target.group(1).endswith("pytest -q -p no:cacheprovider")


def test_every_listed_slow_test_and_fixture_exists(root_conftest: ModuleType) -> None:
    for node in root_conftest.SLOW_TESTS:
        path, _, name = node.partition("::")
        assert (ROOT / path).is_file(), node
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), node
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    for fixture in root_conftest.SLOW_FIXTURES:
        assert re.search(rf"@pytest\.fixture[^\n]*\n(?:@[^\n]*\n)*def {fixture}\(", sources), fixture


def test_a_test_is_slow_through_its_fixtures(root_conftest: ModuleType) -> None:
    reason = root_conftest.slow_reason
    assert reason("tests/web/test_api.py::test_x", ["client", "app", "results_dir", "demo_analysis"])
    assert reason("tests/cohort/test_store.py::test_postgresql_store", ["postgres_url"]) == "starts a PostgreSQL server"
    assert reason(SLOW_ONE + "[param]", []) == "registers the full Colin27 head"
    assert reason("tests/phantom/test_bench_real_pipeline.py::test_anything", ["tmp_path"])
    assert reason(FAST_ONE, ["tmp_path"]) is None
