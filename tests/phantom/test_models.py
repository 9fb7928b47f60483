"""Physiology models A, B, C: deterministic, within their documented ranges, different, touching nerves."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from cnmri.atlas import Atlas, load_atlas
from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, physiology_rng
from cnmri.phantom.models import CATALOG, NORMAL_NERVE_RADIUS_MM, catalog_markdown, model_structures
from cnmri.volume import Volume


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas()


def _draw(model: str, seed: int, atlas: Atlas):  # type: ignore[no-untyped-def]
    return model_structures(model, atlas, physiology_rng(seed, model))


@pytest.mark.parametrize("model", ["B", "C"])
def test_same_seed_same_structures(model: str, atlas: Atlas) -> None:
    a, b, c = _draw(model, 3, atlas), _draw(model, 3, atlas), _draw(model, 4, atlas)
    assert json.dumps([s.to_truth() for s in a.structures]) == json.dumps([s.to_truth() for s in b.structures])
    assert json.dumps([s.to_truth() for s in a.structures]) != json.dumps([s.to_truth() for s in c.structures])


@pytest.mark.parametrize("model", ["B", "C"])
def test_every_structure_within_its_documented_range(model: str, atlas: Atlas) -> None:
    seen: dict[str, list[float]] = {}
    for seed in range(25):
        for s in _draw(model, seed, atlas).structures:
            assert s.catalog_id in CATALOG[model], s.name
            param = CATALOG[model][s.catalog_id]
            lo, hi = param.enhancement
            assert lo <= s.enhancement <= hi, (s.name, s.enhancement)
            seen.setdefault(s.catalog_id, []).append(s.enhancement)
            if s.group == "vessel" and param.size is not None:
                radius = np.atleast_1d(np.asarray(s.radius_mm))
                # Vessels taper distally by ≤ 25 % and a non-dominant vertebral is 0.7–1.0 × its draw.
                assert radius.max() <= param.size[1] + 1e-9, s.name
                assert radius.min() >= 0.7 * 0.75 * param.size[0] - 1e-9, s.name
    # Every structure of the catalog appears, and amplitudes are randomised over the range, not fixed.
    assert set(seen) == set(CATALOG[model])
    for cid, values in seen.items():
        assert np.ptp(values) > 0.2 * np.ptp(CATALOG[model][cid].enhancement), cid


def test_models_differ(atlas: Atlas) -> None:
    names = {m: {s.catalog_id or s.name for s in _draw(m, 1, atlas).structures} for m in ("A", "B", "C")}
    assert names["B"] != names["C"]
    assert "superior_petrosal_sinus" in names["B"] and "superior_petrosal_sinus" not in names["C"]
    assert "petrosal_vein" in names["C"] and "facial_canalicular" in names["C"]
    assert "facial_canalicular" not in names["B"]
    # Model A has none of the catalog's randomisation: the same structures whatever the seed.
    a1 = [s.to_truth() for s in _draw("A", 1, atlas).structures]
    a2 = [s.to_truth() for s in _draw("A", 2, atlas).structures]
    assert a1 == a2
    # B draws amplitudes independently, C around one contrast-timing factor per case.
    assert _draw("C", 1, atlas).case_factors["contrast_timing"] != _draw("C", 2, atlas).case_factors["contrast_timing"]


def _dense(points: np.ndarray, step: float = 0.05) -> np.ndarray:
    out = [points[0]]
    for a, b in itertools.pairwise(points):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out += [a + (b - a) * t for t in np.linspace(0, 1, n + 1)[1:]]
    return np.asarray(out)


@pytest.mark.parametrize("model", ["B", "C"])
def test_loops_touch_the_cisternal_nerves(model: str, atlas: Atlas) -> None:
    touching = 0
    segments = {s.key: np.asarray(s.points_mm) for s in atlas.segments}
    for seed in range(12):
        draw = _draw(model, seed, atlas)
        vessels = {s.name: s for s in draw.structures}
        for contact in draw.contacts:
            assert contact["nerve_segment"].endswith("-cisternal")
            nerve = contact["nerve_segment"].split("-")[0]
            vessel = vessels[contact["vessel"]]
            # Brute force: closest approach of the two centerlines, sampled every 0.05 mm.
            d = np.linalg.norm(
                _dense(np.asarray(vessel.points_mm))[:, None, :]
                - _dense(segments[contact["nerve_segment"]])[None, :, :],
                axis=-1,
            ).min()
            wall_to_wall = d - NORMAL_NERVE_RADIUS_MM[nerve] - float(np.max(vessel.radius_mm))
            if contact["designed_touch"]:
                touching += 1
                assert wall_to_wall <= 0.06, (contact, d)
            else:
                assert wall_to_wall > 0.0 or contact["touches"], (contact, d)
    assert touching >= 10  # contacts are common, as in healthy people


def test_series_scaling_per_series(base2mm: Volume, small_atlas: Atlas) -> None:
    plain = generate_case(PhantomSpec(physiology_model="B"), 5, base2mm, small_atlas, supersample=1)
    scaled = generate_case(
        PhantomSpec(physiology_model="B", realism=Realism(series_scaling=True)), 5, base2mm, small_atlas, supersample=1
    )
    info = scaled.truth["realism"]["series_scaling"]
    assert info["pre"]["gain"] != info["post"]["gain"]
    for name in ("pre", "post"):
        expected = info[name]["gain"] * getattr(plain, name).data + info[name]["offset"]
        np.testing.assert_allclose(getattr(scaled, name).data, expected, rtol=1e-4, atol=1e-3)
    assert scaled.truth["physiology_model"] == "B"
    assert scaled.truth["spec"]["physiology_model"] == "B"


def test_model_c_enhances_the_canalicular_facial_nerve_sometimes(atlas: Atlas) -> None:
    present = [
        any(s.catalog_id == "facial_canalicular" for s in _draw("C", seed, atlas).structures) for seed in range(20)
    ]
    assert 0 < sum(present) < 20


def test_catalog_table_lists_every_structure() -> None:
    table = catalog_markdown()
    for model in ("B", "C"):
        for cid in CATALOG[model]:
            assert cid.replace("_", " ") in table


def test_cli_model_flag(tmp_path: Path, base2mm: Volume) -> None:
    from cnmri.cli import main
    from cnmri.io.nifti import save_volume

    base_path = tmp_path / "base.nii.gz"
    save_volume(base2mm, base_path)
    out = tmp_path / "case"
    assert (
        main(["phantom", "-o", str(out), "--model", "C", "--series-scaling", "--seed", "2", "--base", str(base_path)])
        == 0
    )
    truth = json.loads((out / "truth.json").read_text())
    assert truth["physiology_model"] == "C"
    assert "series_scaling" in truth["realism"]
    assert any(s.get("catalog_id") == "petrosal_vein" for s in truth["physiologic_structures"])
