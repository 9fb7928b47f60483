"""QC landmarks live in the atlas file and the analysis maps the ones of the atlas it is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from cnmri import pipeline
from cnmri.atlas import build
from cnmri.atlas.model import load_atlas, parse_atlas
from cnmri.errors import InputError


def test_the_shipped_atlas_holds_every_qc_landmark_on_both_sides() -> None:
    atlas = load_atlas()
    expected = [f"atlas_{name}_{side}" for name in build.QC_LANDMARKS for side in ("left", "right")]
    assert list(atlas.qc_landmarks) == expected and len(expected) == 18
    # the file holds the builder's coordinates, and a right-sided point has x > 0 (RAS)
    assert atlas.qc_landmarks["atlas_porus_acusticus_right"].tolist() == [33.0, -23.5, -41.5]
    for name, point in atlas.qc_landmarks.items():
        assert (point[0] > 0) == name.endswith("_right"), name


def _payload() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(build.render(build.build_atlas()))
    return payload


class _Registration:
    """Just what ``_map_atlas`` reads and writes; the point mapping itself is replaced below."""

    landmarks: dict[str, Any]


def _shift(reg: object, points: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(points, dtype=np.float64) + np.array([1.0, 2.0, 3.0])


def test_the_analysis_maps_the_qc_landmarks_of_the_atlas_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnmri.preprocess.registration as registration

    monkeypatch.setattr(registration, "map_template_points", _shift)
    payload = _payload()
    payload["qc_landmarks"] = {"clivus_top": [0.0, -20.0, -30.0], "atlas_iac_fundus_left": [-38.0, -22.0, -40.0]}
    reg = _Registration()
    segments, _ = pipeline._map_atlas(reg, parse_atlas(payload))  # type: ignore[arg-type]
    assert reg.landmarks["skull_base_landmarks_template_mm"] == {
        "clivus_top": [0.0, -20.0, -30.0],
        "atlas_iac_fundus_left": [-38.0, -22.0, -40.0],
    }
    assert reg.landmarks["skull_base_landmarks_subject_mm"]["clivus_top"] == [1.0, -18.0, -27.0]
    first = parse_atlas(payload).segments[0]
    assert np.allclose(segments[0].points_mm, first.points_mm + np.array([1.0, 2.0, 3.0]))  # nerves mapped alike

    del payload["qc_landmarks"]  # a user's atlas without QC landmarks reports none
    reg = _Registration()
    pipeline._map_atlas(reg, parse_atlas(payload))  # type: ignore[arg-type]
    assert reg.landmarks == {"skull_base_landmarks_template_mm": {}, "skull_base_landmarks_subject_mm": {}}


@pytest.mark.parametrize(
    "value", [[1.0, 2.0], "porus", [1.0, float("nan"), 2.0], [[1.0, 2.0, 3.0]]], ids=["two", "text", "nan", "nested"]
)
def test_a_malformed_qc_landmark_names_itself(value: Any, tmp_path: Path) -> None:
    payload = _payload()
    payload["qc_landmarks"]["atlas_foramen_ovale_left"] = value
    with pytest.raises(InputError, match=r"qc_landmarks\.atlas_foramen_ovale_left must be three finite numbers"):
        parse_atlas(payload, "my_atlas.json")
    payload["qc_landmarks"] = [[1.0, 2.0, 3.0]]
    with pytest.raises(InputError, match=r"my_atlas\.json: qc_landmarks must map each landmark name"):
        parse_atlas(payload, "my_atlas.json")
