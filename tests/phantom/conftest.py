"""Fixtures: a 2 mm copy of the real Colin27 head and a small hand-made atlas (fast tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnmri.atlas.model import Atlas, parse_atlas
from cnmri.volume import Volume

COLIN = Path("/usr/share/mricron/templates/ch2.nii.gz")


@pytest.fixture(scope="session")
def base2mm() -> Volume:
    if not COLIN.exists():
        pytest.skip("Colin27 (mricron-data) not installed")
    from cnmri.phantom.bench import downsampled_base
    from cnmri.templates.lookup import load_template

    return downsampled_base(2, load_template(COLIN))


def _seg(nerve: str, side: str, name: str, points: list[list[float]], phys: bool = False) -> dict[str, object]:
    sign = -1.0 if side == "left" else 1.0
    pts = [[sign * abs(p[0]), p[1], p[2]] for p in points]
    return {
        "nerve": nerve,
        "side": side,
        "segment": name,
        "points_mm": pts,
        "radius_mm": 1.5,
        "physiologic_enhancement": phys,
        "source": "test",
    }


@pytest.fixture(scope="session")
def small_atlas() -> Atlas:
    segs = []
    for side in ("left", "right"):
        segs += [
            _seg("CN7", side, "cisternal", [[19, -30, -41], [30, -24, -41]]),
            _seg("CN7", side, "canalicular", [[30, -24, -41], [40, -20, -40]]),
            _seg("CN7", side, "geniculate", [[41, -16, -39], [45, -20, -40]], phys=True),
            _seg("CN9", side, "cisternal", [[10, -32, -51], [27, -28, -54]]),
            _seg("CN9", side, "jugular_foramen", [[27, -28, -54], [32, -26, -63]], phys=True),
            _seg("CN12", side, "hypoglossal_canal", [[14, -30, -63], [22, -24, -67]], phys=True),
        ]
    return parse_atlas({"segments": segs})


def world_value(vol: Volume, point: np.ndarray) -> float:
    ijk = np.round(vol.world_to_voxel(point)[0]).astype(int)
    return float(vol.data[tuple(ijk)])
