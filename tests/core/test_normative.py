from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnmri.cli import main
from cnmri.errors import InputError
from cnmri.measure.normative import MIN_SD, build_normative, load_normative


def findings(enhancement: float, thickness: float | None, mode: str = "pre_post") -> dict:
    return {
        "mode": mode,
        "segments": [
            {
                "nerve": "CN7",
                "side": side,
                "segment": "cisternal",
                "enhancement": enhancement,
                "thickness_mm": thickness,
            }
            for side in ("left", "right")
        ],
    }


def test_pooled_statistics_and_z(tmp_path: Path) -> None:
    payload = build_normative([findings(0.1, 1.2), findings(0.3, 1.4), findings(0.2, None)], "three controls")
    entry = payload["stats"]["pre_post"]["CN7-cisternal"]
    assert entry["enhancement"]["n"] == 6 and entry["enhancement"]["mean"] == pytest.approx(0.2)
    assert entry["thickness_mm"]["n"] == 4, "missing thickness is not a zero"
    path = tmp_path / "norm.json"
    path.write_text(json.dumps(payload))
    normative = load_normative(path)
    sd = max(entry["enhancement"]["sd"], MIN_SD["enhancement"])
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", 0.2 + 3 * sd) == pytest.approx(3.0, abs=0.01)
    assert normative.z("post_only", "CN7-cisternal", "enhancement", 1.0) is None
    assert normative.z("pre_post", "CN8-cisternal", "enhancement", 1.0) is None
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", None) is None


def test_sd_floor_keeps_z_finite_when_controls_agree() -> None:
    payload = build_normative([findings(0.1, 1.2), findings(0.1, 1.2)], "identical")
    from cnmri.measure.normative import Normative

    normative = Normative("x", payload["stats"], "memory")
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", 0.1 + MIN_SD["enhancement"]) == pytest.approx(1.0)


def test_one_control_is_not_a_reference() -> None:
    with pytest.raises(InputError, match="at least two"):
        build_normative([findings(0.1, 1.0)], "one")


def test_malformed_and_missing_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_normative(bad)
    bad.write_text("{}")
    with pytest.raises(InputError, match="malformed"):
        load_normative(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_normative(tmp_path / "absent.json")


def test_cli_builds_from_analysis_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, value in enumerate((0.1, 0.2)):
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        (folder / "findings.json").write_text(json.dumps(findings(value, 1.0)))
    out = tmp_path / "norm.json"
    assert main(["normative", "build", str(tmp_path / "c0"), str(tmp_path / "c1"), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert load_normative(out).z("pre_post", "CN7-cisternal", "enhancement", 0.15) == pytest.approx(0.0, abs=1e-6)
    assert main(["normative", "build", str(tmp_path / "c0"), str(tmp_path / "nope"), "-o", str(out)]) == 2
