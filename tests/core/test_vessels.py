"""Vessel separation on synthetic cisterns: tubes of known course and enhancement, partial volume."""

from __future__ import annotations

import numpy as np
import pytest
from tests.core.synthetic_tubes import grid, line, tube_fraction

from cnmri.measure.features import SegmentMeasurement, measure_segment
from cnmri.measure.roi import SubjectSegment, rasterize_with_distance
from cnmri.measure.vessels import find_vessels
from cnmri.volume import Volume

CSF = 0.25  # reference units on T1
NERVE = 0.6
COURSE = line((-10.0, 0.3, -0.2), (10.0, -0.2, 0.4))  # the registered course, slightly off the grid axes
SEGMENT = SubjectSegment("CN7-left-cisternal", 1, COURSE, np.array([1.6, 1.6]))
#: a vessel crossing the nerve at right angles, and an AICA-like loop crossing obliquely (~60°)
CROSSING = line((-3.0, -14.0, 2.0), (-3.0, 14.0, -1.0))
LOOP = line((1.0, -13.0, -6.0), (6.0, 0.0, 0.0), (12.0, 13.0, 5.0))


def study(lesion_contrast: float = 0.0, vessels: tuple[np.ndarray, ...] = (), seed: int = 0) -> tuple[Volume, Volume]:
    """(pre_n, post_n): a 1 mm nerve (2 mm diameter) in CSF, optionally enhancing, plus enhancing vessels."""
    base = grid()
    nerve = tube_fraction(base, COURSE, 1.0)
    pre = CSF + (NERVE - CSF) * nerve
    post = pre + lesion_contrast * tube_fraction(base, COURSE, 1.5)
    for vessel in vessels:
        fraction = tube_fraction(base, vessel, 1.0)
        post = np.maximum(post, pre + 0.8 * fraction)  # the vessel's blood replaces CSF, not the nerve's signal
    rng = np.random.default_rng(seed)
    noise = 0.02
    pre_n = base.with_data((pre + rng.normal(0, noise, pre.shape)).astype(np.float32))
    post_n = base.with_data((post + rng.normal(0, noise, post.shape)).astype(np.float32))
    return pre_n, post_n


def measure(pre_n: Volume, post_n: Volume, exclude_vessels: bool) -> tuple[SegmentMeasurement, int]:
    labels, distance = rasterize_with_distance(pre_n, [SEGMENT])
    exclusion = find_vessels(SEGMENT, labels, post_n.with_data(post_n.data - pre_n.data))
    mask = exclusion.mask if exclude_vessels else None
    return measure_segment(SEGMENT, labels, distance, post_n, pre_n, exclude=mask), exclusion.voxels


def test_enhancing_nerve_along_its_course_is_never_excluded() -> None:
    pre_n, post_n = study(lesion_contrast=0.6)
    with_exclusion, excluded = measure(pre_n, post_n, exclude_vessels=True)
    without, _ = measure(pre_n, post_n, exclude_vessels=False)
    assert excluded == 0
    assert with_exclusion.enhancement == pytest.approx(without.enhancement)
    assert with_exclusion.enhancement is not None and with_exclusion.enhancement > 0.45


@pytest.mark.parametrize("vessels", [(CROSSING,), (CROSSING, LOOP)], ids=["crossing", "crossing+loop"])
def test_vessels_crossing_a_normal_nerve_are_excluded_and_the_nerve_measured(vessels: tuple[np.ndarray, ...]) -> None:
    truth, _ = measure(*study(), exclude_vessels=False)  # the nerve alone: no enhancement
    pre_n, post_n = study(vessels=vessels)
    contaminated, _ = measure(pre_n, post_n, exclude_vessels=False)
    cleaned, excluded = measure(pre_n, post_n, exclude_vessels=True)
    assert excluded > 0 and cleaned.excluded_voxels > 0
    assert contaminated.enhancement_mean is not None and truth.enhancement_mean is not None
    assert contaminated.enhancement_mean - truth.enhancement_mean > 0.05  # the vessels did contaminate it
    assert cleaned.enhancement_mean == pytest.approx(truth.enhancement_mean, abs=0.03)
    assert cleaned.enhancement == pytest.approx(truth.enhancement, abs=0.03)


def test_vessel_crossing_an_enhancing_nerve_leaves_the_lesion_measured() -> None:
    truth, _ = measure(*study(lesion_contrast=0.5), exclude_vessels=False)
    pre_n, post_n = study(lesion_contrast=0.5, vessels=(CROSSING, LOOP))
    cleaned, _ = measure(pre_n, post_n, exclude_vessels=True)
    assert cleaned.enhancement == pytest.approx(truth.enhancement, abs=0.05)
    assert cleaned.enhancement_mean == pytest.approx(truth.enhancement_mean, abs=0.05)
    # Most of the lesion stays in the measurement.
    assert cleaned.excluded_voxels < 0.3 * truth.roi_voxels


def test_nothing_bright_means_nothing_excluded() -> None:
    pre_n, post_n = study()
    _, excluded = measure(pre_n, post_n, exclude_vessels=True)
    assert excluded == 0
