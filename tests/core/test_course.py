"""Course refinement on synthetic cisterns: a nerve of known position in CSF, noise, neighbours."""

from __future__ import annotations

import numpy as np
import pytest
from tests.core.synthetic_tubes import grid, line, tube_fraction

from cnmri.measure.course import T1_NERVE_CSF_CONTRAST, densify, refine_cisternal_courses, refine_course, scale_ciss
from cnmri.measure.roi import SubjectSegment, distance_to_polyline
from cnmri.volume import Volume

CSF = 0.25
NERVE = 0.6
#: the registered (atlas) course: brainstem exit to foramen, 22 mm, oblique to the grid
ATLAS = line((-11.0, -3.0, -1.0), (-4.0, -1.0, 0.0), (4.0, 1.0, 0.5), (11.0, 3.0, 1.0))
#: the subject's nerve: same end points, the middle 2 mm away (diagonally, off the voxel grid)
TRUE = line((-11.0, -3.0, -1.0), (-5.0, -0.1, 1.5), (0.0, 1.4, 1.65), (5.0, 2.6, 1.9), (11.0, 3.0, 1.0))


def segment(points: np.ndarray = ATLAS, key: str = "CN7-left-cisternal") -> SubjectSegment:
    return SubjectSegment(key, 1, points, np.full(len(points), 1.6))


def cistern(nerves: tuple[tuple[np.ndarray, float], ...], noise: float, seed: int = 0, voxel=(1.0, 1.0, 1.0)) -> Volume:
    """T1-like: dark CSF, grey nerves (course, radius), Gaussian noise of SD ``noise`` (reference units)."""
    image = grid(voxel_mm=voxel)
    data = np.full(image.shape, CSF, dtype=np.float32)
    for course, radius in nerves:
        data += (NERVE - CSF) * tube_fraction(image, course, radius)
    data += np.random.default_rng(seed).normal(0, noise, data.shape).astype(np.float32)
    return image.with_data(data)


def mean_error_mm(points: np.ndarray, truth: np.ndarray) -> float:
    return float(distance_to_polyline(densify(points, 0.5), truth)[0].mean())


def test_true_course_is_two_mm_from_the_atlas() -> None:
    # The fixture itself: the nerve really is displaced ~2 mm in its middle.
    assert mean_error_mm(ATLAS, TRUE) > 1.0 and distance_to_polyline(TRUE, ATLAS)[0].max() > 1.8


@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (0.6, 0.6, 1.2)], ids=["1mm", "anisotropic"])
@pytest.mark.parametrize("noise", [0.02, 0.05], ids=["snr50", "snr20"])
def test_displaced_nerve_in_csf_is_found(noise: float, voxel: tuple[float, float, float]) -> None:
    image = cistern(((TRUE, 1.0),), noise, voxel=voxel)
    moved, placement = refine_course(segment(), image)
    assert placement.method == "refined"
    assert mean_error_mm(moved.points_mm, TRUE) < 0.7
    assert mean_error_mm(ATLAS, TRUE) - mean_error_mm(moved.points_mm, TRUE) > 0.5
    assert placement.confidence is not None and placement.confidence >= 0.7
    assert 0.8 < placement.shift_mm < 2.0
    # End points are the registered ones: the neighbouring segments stay connected.
    np.testing.assert_allclose(moved.points_mm[[0, -1]], ATLAS[[0, -1]])
    assert len(moved.radius_mm) == len(moved.points_mm)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_keeps_the_atlas_course_with_low_confidence(seed: int) -> None:
    image = cistern((), noise=0.05, seed=seed)
    moved, placement = refine_course(segment(), image)
    assert placement.method == "atlas"
    np.testing.assert_array_equal(moved.points_mm, ATLAS)
    assert placement.confidence is not None and placement.confidence < 0.3
    assert placement.shift_mm == 0.0


def test_nerve_where_the_atlas_says_keeps_the_atlas_course_with_high_confidence() -> None:
    image = cistern(((ATLAS, 1.0),), noise=0.05)
    moved, placement = refine_course(segment(), image)
    assert mean_error_mm(moved.points_mm, ATLAS) < 0.4
    assert placement.confidence is not None and placement.confidence >= 0.7


def test_a_thickened_neighbour_does_not_capture_the_segment() -> None:
    # CN8 registered 2.5 mm from CN7; CN7 is a thick (lesion) tube, CN8 a thin normal nerve.
    cn8_course = ATLAS + np.array([0.0, 0.0, -2.5])
    image = cistern(((ATLAS, 1.6), (cn8_course, 0.7)), noise=0.03)
    cn7 = SubjectSegment("CN7-left-cisternal", 1, ATLAS, np.full(len(ATLAS), 1.6))
    cn8 = SubjectSegment("CN8-left-cisternal", 2, cn8_course, np.full(len(ATLAS), 1.7))
    moved, placement = refine_cisternal_courses([cn7, cn8], image)
    assert mean_error_mm(moved[1].points_mm, cn8_course) < 0.6
    assert mean_error_mm(moved[1].points_mm, ATLAS) > 1.8
    assert placement["CN8-left-cisternal"].shift_mm < 0.6


def test_dark_nerve_in_bright_ciss_is_found_after_scaling() -> None:
    # CISS/FIESTA in scanner units: CSF 900, nerve and brain tissue 250, noise SD 20.
    image = grid()
    nerve = tube_fraction(image, TRUE, 1.0)
    rng = np.random.default_rng(3)
    raw = 900.0 - 650.0 * nerve + rng.normal(0, 20.0, image.shape)
    ciss = scale_ciss(image.with_data(raw.astype(np.float32)), tissue_level=250.0, csf_level=900.0)
    assert float(np.median(ciss.data)) == pytest.approx(T1_NERVE_CSF_CONTRAST, abs=0.02)
    moved, placement = refine_course(segment(), ciss, polarity=-1.0)
    assert placement.method == "refined"
    assert mean_error_mm(moved.points_mm, TRUE) < 0.7
    # Read with the T1 polarity the same image shows no bright nerve: the atlas course is kept.
    _, wrong_polarity = refine_course(segment(), ciss, polarity=1.0)
    assert wrong_polarity.method == "atlas"


def test_only_cisternal_segments_are_refined() -> None:
    image = cistern(((TRUE, 1.0),), noise=0.02)
    canal = segment(key="CN7-left-canalicular")
    moved, placement = refine_cisternal_courses([canal], image)
    assert moved[0] is canal
    assert placement["CN7-left-canalicular"].confidence is None
