from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnmri.cli import main
from cnmri.errors import InputError
from cnmri.measure.normative import (
    PHYSIOLOGIC_SCALE_FLOOR,
    SCALE_FLOOR,
    Normative,
    build_normative,
    load_normative,
    noise_standard_error,
    small_sample_inflation,
)


def findings(
    enhancement: float,
    thickness: float | None,
    mode: str = "pre_post",
    segment: str = "cisternal",
    physiologic: bool = False,
    noise_sd: float | None = None,
) -> dict:
    return {
        "mode": mode,
        **({"image_noise": {"sd": noise_sd}} if noise_sd is not None else {}),
        "segments": [
            {
                "nerve": "CN7",
                "side": side,
                "segment": segment,
                "physiologic_enhancement": physiologic,
                "enhancement": enhancement,
                "thickness_mm": thickness,
            }
            for side in ("left", "right")
        ],
    }


def test_small_sample_inflation_is_the_chi_square_upper_bound() -> None:
    # Tabulated χ²₀.₀₅ quantiles: 3.325 for 9 degrees of freedom, 10.117 for 19.
    assert small_sample_inflation(10) == pytest.approx((9 / 3.325) ** 0.5, rel=1e-3)
    assert small_sample_inflation(20) == pytest.approx((19 / 10.117) ** 0.5, rel=1e-3)
    assert small_sample_inflation(1000) < 1.1


def test_scale_is_the_inflated_robust_spread_of_the_controls(tmp_path: Path) -> None:
    values = [0.1, 0.5, 0.3, 0.9, 0.2, 0.7]  # wide spread: above the floor
    payload = build_normative([findings(v, 1.2) for v in values], "six controls")
    entry = payload["stats"]["pre_post"]["CN7-cisternal"]["enhancement"]
    assert entry["n"] == 12 and entry["location"] == pytest.approx(float(np.median(values)))
    pooled = np.asarray(values * 2)
    sd = max(float(pooled.std(ddof=1)), 1.4826 * float(np.median(np.abs(pooled - np.median(pooled)))))
    assert entry["scale"] == pytest.approx(sd * small_sample_inflation(12), rel=1e-2)
    path = tmp_path / "norm.json"
    path.write_text(json.dumps(payload))
    normative = load_normative(path)
    assert normative.schema_version == "2"
    at_3 = entry["location"] + 3 * entry["scale"]
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", at_3) == pytest.approx(3.0, abs=0.01)
    assert normative.z("post_only", "CN7-cisternal", "enhancement", 1.0) is None
    assert normative.z("pre_post", "CN8-cisternal", "enhancement", 1.0) is None
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", None) is None


def test_tight_controls_meet_the_compartment_floor() -> None:
    # Ten clones of one simulator agree to 0.01 units; the scale must not follow them.
    tight = build_normative([findings(0.03 + 0.001 * i, 1.2) for i in range(10)], "tight")
    assert tight["stats"]["pre_post"]["CN7-cisternal"]["enhancement"]["scale"] == SCALE_FLOOR["enhancement"]
    assert tight["stats"]["pre_post"]["CN7-cisternal"]["thickness_mm"]["scale"] == SCALE_FLOOR["thickness_mm"]
    plexus = build_normative(
        [findings(0.5 + 0.001 * i, 1.2, segment="mastoid", physiologic=True) for i in range(10)], "plexus"
    )
    assert plexus["stats"]["pre_post"]["CN7-mastoid"]["enhancement"]["scale"] == PHYSIOLOGIC_SCALE_FLOOR["enhancement"]
    normative = Normative("x", tight["stats"], "memory")
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", 0.0345 + 0.08) == pytest.approx(1.0, abs=0.01)


def test_cisternal_trigeminal_thickness_is_judged_against_its_published_spread() -> None:
    """Erbay 2006: the normal cisternal CN5 is 2.62 ± 0.56 mm. A reference whose controls agree to 0.1 mm
    (built now, or a file built before the floor existed) still divides by 0.56 mm there, and only there."""
    controls = [findings(0.03, 3.0 + 0.01 * i, segment="cisternal") for i in range(10)]
    for control in controls:
        control["segments"] += [{**seg, "nerve": "CN5"} for seg in control["segments"]]
    built = build_normative(controls, "tight")["stats"]["pre_post"]
    assert built["CN5-cisternal"]["thickness_mm"]["scale"] == pytest.approx(0.56)
    assert built["CN7-cisternal"]["thickness_mm"]["scale"] == SCALE_FLOOR["thickness_mm"]
    built["CN5-cisternal"]["thickness_mm"]["scale"] = 0.39  # as a file written before the floor
    normative = Normative("x", {"pre_post": built}, "memory")
    location = built["CN5-cisternal"]["thickness_mm"]["location"]
    z_cn5 = normative.z("pre_post", "CN5-cisternal", "thickness_mm", location + 1.34)
    assert z_cn5 == pytest.approx(1.34 / 0.56, abs=0.01)  # 2.4: within the normal range, not thickened
    z_cn7 = normative.z("pre_post", "CN7-cisternal", "thickness_mm", location + 1.34)
    assert z_cn7 == pytest.approx(1.34 / SCALE_FLOOR["thickness_mm"], abs=0.05)


def test_study_noise_shrinks_z_at_low_snr() -> None:
    payload = build_normative([findings(0.04, 1.2, noise_sd=0.05) for _ in range(10)], "controls at SNR ~28")
    assert payload["control_noise_sd"] == {"pre_post": 0.05}
    normative = Normative("x", payload["stats"], "memory", control_noise_sd=payload["control_noise_sd"])
    value = 0.35
    clean = normative.z("pre_post", "CN7-cisternal", "enhancement", value, noise_sd=0.05, n_voxels=20)
    noisy = normative.z("pre_post", "CN7-cisternal", "enhancement", value, noise_sd=0.14, n_voxels=20)
    assert clean is not None and noisy is not None
    assert clean > 3.0 > noisy, "an SNR-10 study must not reach z 3 with what is z > 3 at the controls' SNR"
    # fewer voxels, more noise in their upper quartile
    few = normative.z("pre_post", "CN7-cisternal", "enhancement", value, noise_sd=0.14, n_voxels=6)
    assert few is not None and few < noisy
    assert noise_standard_error(0.1, 50) == pytest.approx(1.3626 * 0.1 / 5.0, rel=1e-3)
    assert noise_standard_error(None, 50) == 0.0


def test_schema_1_files_still_load_with_the_schema_2_scale(tmp_path: Path) -> None:
    v1 = {
        "schema_version": "1",
        "built_from": "an old site file",
        "stats": {"pre_post": {"CN7-cisternal": {"enhancement": {"mean": 0.03, "sd": 0.01, "p95": 0.05, "n": 20}}}},
    }
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1))
    normative = load_normative(path)
    assert normative.schema_version == "1"
    ref = normative.reference("pre_post", "CN7-cisternal", "enhancement")
    assert ref is not None and ref["mean"] == 0.03 and ref["scale"] == SCALE_FLOOR["enhancement"]
    assert normative.z("pre_post", "CN7-cisternal", "enhancement", 0.03 + 0.16) == pytest.approx(2.0, abs=0.01)


def test_the_shipped_reference_is_schema_2_with_floors() -> None:
    normative = load_normative()
    assert normative.schema_version == "2"
    for per_key in normative.stats.values():
        for entry in per_key.values():
            for feature, stats in entry.items():
                assert stats["scale"] >= SCALE_FLOOR[feature] - 1e-9


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
    bad.write_text(json.dumps({"schema_version": "7", "built_from": "x", "stats": {}}))
    with pytest.raises(InputError, match="schema_version"):
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
    assert json.loads(out.read_text())["schema_version"] == "2"
    assert load_normative(out).z("pre_post", "CN7-cisternal", "enhancement", 0.15) == pytest.approx(0.0, abs=1e-6)
    assert main(["normative", "build", str(tmp_path / "c0"), str(tmp_path / "nope"), "-o", str(out)]) == 2
