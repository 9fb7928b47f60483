"""Fixtures for the HTML report: the real Colin27 head cropped to the skull base, two fake facial-nerve
centrelines in the internal auditory canals, their label map, a synthetic enhancement map and a
findings dictionary with one abnormal nerve (CN7 left)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.report.example import crop_to_box, rasterize_tubes
from cnmri.report.html import NERVES, ReportImages
from cnmri.volume import Volume

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
BOX_MM = ((-55.0, -75.0, -60.0), (55.0, -5.0, -10.0))
RADIUS_MM = 2.0
CENTERLINES: dict[str, NDArray[np.float64]] = {
    "CN7-left-canalicular": np.array([[-15.0, -45.0, -35.0], [-25.0, -41.5, -32.5], [-35.0, -38.0, -30.0]]),
    "CN7-right-canalicular": np.array([[15.0, -45.0, -35.0], [25.0, -41.5, -32.5], [35.0, -38.0, -30.0]]),
}


@pytest.fixture(scope="session")
def fake_centerlines() -> tuple[dict[str, NDArray[np.float64]], float]:
    """The two fake centrelines (world RAS mm) and the tube radius (mm) rasterised around them."""
    return dict(CENTERLINES), RADIUS_MM


@pytest.fixture(scope="session")
def colin_crop() -> Volume:
    if not COLIN27.exists():
        pytest.skip(f"{COLIN27} missing (apt-get install mricron-data)")
    image = nib.as_closest_canonical(nib.load(COLIN27))
    head = Volume(np.asarray(image.dataobj, dtype=np.float32), image.affine, "colin27", str(COLIN27))
    return crop_to_box(head, *BOX_MM)


@pytest.fixture(scope="session")
def report_images(colin_crop: Volume) -> ReportImages:
    labels, keys = rasterize_tubes(colin_crop, {k: (v, RADIUS_MM) for k, v in CENTERLINES.items()})
    left = next(v for v, k in keys.items() if k == "CN7-left-canalicular")
    enhancement = ndimage.gaussian_filter((np.asarray(labels.data) == left).astype(np.float32) * 2.0, 0.7)
    pre = np.asarray(colin_crop.data, dtype=np.float32)
    post = pre + enhancement * float(np.percentile(pre, 75))
    return ReportImages(
        post=colin_crop.with_data(post, name="post"),
        pre=colin_crop.with_data(pre, name="pre"),
        enhancement=colin_crop.with_data(enhancement, name="enhancement"),
        labels=labels,
        label_keys=keys,
        centerlines_mm=dict(CENTERLINES),
    )


def _segment(side: str, abnormal: bool, segment: str = "canalicular") -> dict[str, Any]:
    return {
        "nerve": "CN7",
        "side": side,
        "segment": segment,
        "abnormal": abnormal,
        "physiologic_enhancement": False,
        "enhancement": 1.9 if abnormal else 0.1,
        "enhancement_ratio": 2.1 if abnormal else 1.05,
        "thickness_mm": 3.1 if abnormal else 1.8,
        "asymmetry": 0.45 if abnormal else -0.45,
        "z": 4.2 if abnormal else 0.3,
        "z_thickness": 3.0 if abnormal else -0.2,
        "reasons": ["enhancement above the normal limit"] if abnormal else [],
        "computed_from": {"sequences": ["pre", "post"], "roi_voxels": 40, "reference_tissue": "pons"},
    }


@pytest.fixture()
def findings() -> dict[str, Any]:
    nerves = [
        {
            "nerve": n,
            "side": s,
            "abnormal": (n, s) == ("CN7", "left"),
            "score": 0.97 if (n, s) == ("CN7", "left") else 0.05,
            "abnormal_segments": ["canalicular"] if (n, s) == ("CN7", "left") else [],
        }
        for n in NERVES
        for s in ("left", "right")
    ]
    return {
        "schema_version": "1",
        "software": {"name": "cnmri", "version": "0.1.0"},
        "inputs": {
            "pre": {"file": "/data/patients/Doe_John_1961-02-03/pre.nii.gz"},
            "post": {"file": "C:\\PACS\\Smith^Jane\\post.nii.gz"},
        },
        "mode": "pre_post",
        "segments": [_segment("left", True), _segment("right", False)],
        "nerves": nerves,
        "pattern": {"kind": "single_nerve", "nerves": ["CN7-left"]},
        "registration": {"skull_base_ncc": 0.81, "status": "ok"},
        "warnings": ["bias field correction skipped"],
    }
