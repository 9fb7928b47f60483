"""Measurement on synthetic nerves of known geometry (a tube drawn analytically with partial volume)."""

from __future__ import annotations

import numpy as np
import pytest

from cnmri.assess.imaging import SPILLOVER_MARGIN_MM
from cnmri.measure.features import cross_section_diameter, measure_segment, segment_thickness
from cnmri.measure.roi import SubjectSegment, adjacent_segments, distance_to_polyline, rasterize_with_distance
from cnmri.volume import Volume


def tube_image(
    diameter_mm: float,
    voxel_mm: float = 1.0,
    contrast: float = 1.0,
    background: float = 0.2,
    direction: tuple[float, float, float] = (0.3, 1.0, 0.2),
    supersample: int = 5,
) -> tuple[Volume, SubjectSegment]:
    """A straight nerve of ``diameter_mm`` through a 40 mm cube, voxel values by supersampled partial volume."""
    n = round(40 / voxel_mm)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -20.0
    d = np.asarray(direction, dtype=float)
    d /= np.linalg.norm(d)
    line = np.stack([-15 * d, 15 * d])
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    grid = np.indices((n, n, n)).reshape(3, -1).T.astype(float)
    inside = np.zeros(len(grid))
    for ox in offsets:
        for oy in offsets:
            for oz in offsets:
                world = (grid + np.array([ox, oy, oz])) * voxel_mm - 20.0
                dist, _, _ = distance_to_polyline(world, line)
                inside += dist <= diameter_mm / 2
    inside /= supersample**3
    data = (background + contrast * inside).reshape(n, n, n).astype(np.float32)
    segment = SubjectSegment("CN7-left-cisternal", 1, np.stack([-10 * d, 10 * d]), np.array([2.0, 2.0]))
    return Volume(data, affine, "post_n"), segment


@pytest.mark.parametrize("diameter", [2.0, 2.5, 3.0, 4.0])
def test_thickness_of_a_known_tube_within_half_a_millimetre(diameter: float) -> None:
    image, segment = tube_image(diameter)
    segment = SubjectSegment(segment.key, 1, segment.points_mm, np.array([diameter / 2 + 1.0] * 2))
    thickness, n = segment_thickness(image, segment)
    assert thickness is not None and n >= 10
    assert thickness == pytest.approx(diameter, abs=0.5)


def test_thickness_is_not_reported_where_nothing_stands_out() -> None:
    image, segment = tube_image(2.5, contrast=0.0)
    thickness, n = segment_thickness(image, segment)
    assert thickness is None and n == 0


def test_a_structure_larger_than_the_search_plane_is_not_called_a_nerve() -> None:
    image, _segment = tube_image(14.0)
    center = np.zeros(3)
    assert cross_section_diameter(image, center, np.array([0.3, 1.0, 0.2]), 2.0) is None


def test_thickness_is_independent_of_anisotropic_position_in_the_grid() -> None:
    image, segment = tube_image(3.0, voxel_mm=0.5, supersample=3)
    thickness, _ = segment_thickness(image, SubjectSegment(segment.key, 1, segment.points_mm, np.array([2.5, 2.5])))
    assert thickness == pytest.approx(3.0, abs=0.35)


def test_enhancement_is_post_minus_pre_percentile_in_the_core() -> None:
    post, segment = tube_image(3.0, contrast=1.0)
    pre = post.with_data(np.full(post.shape, 0.2, dtype=np.float32))
    labels, distance = rasterize_with_distance(post, [segment])
    m = measure_segment(segment, labels, distance, post, pre)
    assert m.enhancement == pytest.approx(1.0, abs=0.05)
    assert m.enhancement_ratio is not None and m.enhancement_ratio > 2.5
    post_only = measure_segment(segment, labels, distance, post, None)
    assert post_only.enhancement_ratio is None
    assert post_only.enhancement == pytest.approx(0.2, abs=0.05)  # 1.2 − reference level 1


def test_an_enhancing_vessel_crossing_the_nerve_does_not_read_as_nerve_enhancement() -> None:
    # The basilar artery crosses cisternal CN6, a vertebral artery CN12: a bright tube through a small
    # part of the ROI. A lesion along the nerve fills the core instead.
    _, nerve = tube_image(2.0)
    perpendicular = np.cross(np.array([0.3, 1.0, 0.2]), np.array([1.0, 0.0, 0.0]))
    vessel_post, _ = tube_image(3.0, contrast=0.8, background=0.2, direction=tuple(perpendicular))
    pre = vessel_post.with_data(np.full(vessel_post.shape, 0.2, dtype=np.float32))
    labels, distance = rasterize_with_distance(vessel_post, [nerve])
    crossed = measure_segment(nerve, labels, distance, vessel_post, pre)
    core = (labels == 1) & (distance <= 0.65)
    assert np.percentile(vessel_post.data[core] - 0.2, 90) > 0.3  # a high percentile would see the vessel
    assert crossed.enhancement is not None and crossed.enhancement < 0.1
    lesion_post, _ = tube_image(3.0, contrast=0.4)
    infiltrated = measure_segment(nerve, labels, distance, lesion_post, pre)
    assert infiltrated.enhancement is not None and infiltrated.enhancement > 0.3


def test_overlapping_tubes_are_partitioned_to_the_relatively_closer_centreline() -> None:
    grid = Volume(
        np.zeros((40, 40, 40), dtype=np.float32),
        np.diag([1.0, 1, 1, 1]) + np.array([[0, 0, 0, -20], [0, 0, 0, -20], [0, 0, 0, -20], [0, 0, 0, 0]]),
    )
    a = SubjectSegment("CN7-left-canalicular", 1, np.array([[-1.5, -10, 0], [-1.5, 10, 0]]), np.array([2.0, 2.0]))
    b = SubjectSegment("CN8-left-canalicular", 2, np.array([[1.5, -10, 0], [1.5, 10, 0]]), np.array([2.0, 2.0]))
    labels, _ = rasterize_with_distance(grid, [a, b])
    # voxel centres at x = -2 (closer to a) and x = +2 (closer to b) on the y = 0 row
    ia = grid.world_to_voxel(np.array([[-2.0, 0, 0]]))[0].round().astype(int)
    ib = grid.world_to_voxel(np.array([[2.0, 0, 0]]))[0].round().astype(int)
    assert labels[tuple(ia)] == 1 and labels[tuple(ib)] == 2
    assert adjacent_segments([a, b]) == {a.key: [b.key], b.key: [a.key]}
    far = SubjectSegment("CN12-left-cisternal", 3, np.array([[15, -10, 0], [15, 10, 0]]), np.array([1.5, 1.5]))
    assert adjacent_segments([a, far])[a.key] == []


def test_nerves_just_beyond_touching_are_adjacent_within_the_spillover_margin() -> None:
    # CN7 and CN8 in the internal auditory canal after warping: centrelines 3.2 mm apart, radii 1.5 and 1.6.
    cn7 = SubjectSegment("CN7-right-canalicular", 1, np.array([[0.0, -5, 0], [0.0, 5, 0]]), np.array([1.5, 1.5]))
    cn8 = SubjectSegment("CN8-right-canalicular", 2, np.array([[3.2, -5, 0], [3.2, 5, 0]]), np.array([1.6, 1.6]))
    assert adjacent_segments([cn7, cn8])[cn7.key] == []
    assert adjacent_segments([cn7, cn8], margin_mm=SPILLOVER_MARGIN_MM)[cn7.key] == [cn8.key]
    other_side = SubjectSegment("CN8-left-canalicular", 3, cn8.points_mm, cn8.radius_mm)
    assert adjacent_segments([cn7, other_side], margin_mm=SPILLOVER_MARGIN_MM)[cn7.key] == []


@pytest.mark.parametrize("sigma", [0.02, 0.07])
def test_study_noise_is_read_from_the_reference_tissue(sigma: float) -> None:
    from cnmri.measure.features import study_noise_sd

    rng = np.random.default_rng(7)
    shape = (30, 30, 30)
    anatomy = 1.0 + 0.1 * np.sin(np.indices(shape)[0] / 15.0)  # slow structure shared by pre and post
    pre = Volume((anatomy + rng.normal(0, sigma, shape)).astype(np.float32), np.eye(4), "pre_n")
    post_data = anatomy + rng.normal(0, sigma, shape)
    post_data[:5] += 2.0  # an enhancing vessel outside the reference does not count
    post = Volume(post_data.astype(np.float32), np.eye(4), "post_n")
    reference = np.zeros(shape, dtype=bool)
    reference[8:28, 5:25, 5:25] = True
    estimate = study_noise_sd(post, pre, reference)
    assert estimate == pytest.approx(sigma * np.sqrt(2.0), rel=0.1)
    post_only = study_noise_sd(post, None, reference)
    assert post_only == pytest.approx(sigma, rel=0.25)
    assert study_noise_sd(post, pre, np.zeros(shape, dtype=bool)) is None
