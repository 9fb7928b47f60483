"""The shipped nerve atlas v1 is complete and sits on the right anatomy of the MNIColin27 template.

The template is loaded once per module. Image-based checks use only what a T1 shows: brainstem and
nerves light grey (~100), CSF dark grey (~30-65), cortical bone and air black (< 25).

Brainstem proxy: voxels brighter than 70 % of the median of the pons reference sphere, connected to
the pons centre, inside a box around the brainstem, opened by
one voxel so that thin nerve roots do not count as brainstem. The box is |x| <= 17 mm above z = -28
(midbrain) and |x| <= 26 mm below it (pons with the middle cerebellar peduncles), -42 <= y <= -4 and
z <= -12 mm, which keeps out the temporal lobes and most of the cerebellum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage as ndi

from cnmri.atlas import build
from cnmri.atlas.model import Atlas, Side, load_atlas
from cnmri.volume import Volume

REQUIRED: dict[str, tuple[str, ...]] = {
    "CN2": ("intracanalicular", "prechiasmatic"),
    "CN3": ("cisternal", "cavernous"),
    "CN4": ("cisternal",),
    "CN5": ("cisternal", "meckel_cave", "V1", "V2", "V3"),
    "CN6": ("cisternal", "dorello"),
    "CN7": ("cisternal", "canalicular", "labyrinthine", "geniculate", "tympanic", "mastoid"),
    "CN8": ("cisternal", "canalicular"),
    "CN9": ("cisternal", "jugular_foramen"),
    "CN10": ("cisternal", "jugular_foramen"),
    "CN11": ("cisternal", "jugular_foramen"),
    "CN12": ("cisternal", "hypoglossal_canal"),
}

#: clinical knowledge §2: segments that may enhance normally; every other segment must not.
PHYSIOLOGIC: set[tuple[str, str]] = {
    ("CN7", "labyrinthine"),
    ("CN7", "geniculate"),
    ("CN7", "tympanic"),
    ("CN7", "mastoid"),
    ("CN5", "meckel_cave"),
    ("CN5", "V2"),
    ("CN5", "V3"),
    ("CN5", "V1"),
    ("CN6", "dorello"),
    ("CN3", "cavernous"),
    ("CN12", "hypoglossal_canal"),
    ("CN9", "jugular_foramen"),
    ("CN10", "jugular_foramen"),
    ("CN11", "jugular_foramen"),
}

#: segments of a nerve that follow one another (the end of one is the start of the next)
CHAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CN2", ("prechiasmatic", "intracanalicular")),
    ("CN3", ("cisternal", "cavernous")),
    ("CN5", ("cisternal", "meckel_cave", "V1")),
    ("CN6", ("cisternal", "dorello")),
    ("CN7", ("cisternal", "canalicular", "labyrinthine", "geniculate", "tympanic", "mastoid")),
    ("CN8", ("cisternal", "canalicular")),
    ("CN9", ("cisternal", "jugular_foramen")),
    ("CN12", ("cisternal", "hypoglossal_canal")),
)

BONE_MAX = 25.0
CSF_BAND = (25.0, 68.0)


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas()


@pytest.fixture(scope="module")
def template() -> Volume:
    from cnmri.errors import TemplateNotFoundError
    from cnmri.templates.lookup import DEBIAN_COLIN27, load_template

    try:
        return load_template(DEBIAN_COLIN27 if DEBIAN_COLIN27.exists() else None, allow_download=False)
    except TemplateNotFoundError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"MNIColin27 template not available: {err}")


def sample(volume: Volume, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
    ijk = volume.world_to_voxel(np.asarray(points_mm, dtype=np.float64).reshape(-1, 3))
    return np.asarray(ndi.map_coordinates(volume.data.astype(np.float32), ijk.T, order=1), dtype=np.float64)


def ball_offsets(radius: float) -> NDArray[np.float64]:
    r = int(np.ceil(radius))
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)
    return grid[np.linalg.norm(grid, axis=1) <= radius]


def pons_reference_median(volume: Volume, atlas: Atlas) -> float:
    pons = next(r for r in atlas.reference_regions if r.name == "pons")
    return float(np.median(sample(volume, pons.center_mm + ball_offsets(pons.radius_mm))))


def brainstem_mask(volume: Volume, atlas: Atlas, pons_median: float) -> NDArray[np.bool_]:
    """Brainstem proxy (module docstring): bright tissue connected to the pons centre inside a box."""
    assert np.allclose(volume.affine[:3, :3], np.diag(np.diag(volume.affine[:3, :3]))), "axis-aligned grid"
    axes = [volume.affine[n, n] * np.arange(volume.shape[n]) + volume.affine[n, 3] for n in range(3)]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    half_width = np.where(z > -28.0, 17.0, 26.0)  # midbrain is narrower than pons with the peduncles
    box = (np.abs(x) <= half_width) & (y >= -42.0) & (y <= -4.0) & (z <= -12.0)
    mask = ndi.binary_opening((volume.data > 0.7 * pons_median) & box, iterations=1)
    labels, _ = ndi.label(mask)
    pons = next(r for r in atlas.reference_regions if r.name == "pons")
    seed = tuple(np.round(volume.world_to_voxel(pons.center_mm)[0]).astype(int))
    assert labels[seed] > 0, "the pons reference centre is not brainstem tissue"
    return np.asarray(labels == labels[seed])


@pytest.fixture(scope="module")
def pons_median(template: Volume, atlas: Atlas) -> float:
    return pons_reference_median(template, atlas)


@pytest.fixture(scope="module")
def brainstem(template: Volume, atlas: Atlas, pons_median: float) -> NDArray[np.bool_]:
    return brainstem_mask(template, atlas, pons_median)


@pytest.fixture(scope="module")
def brainstem_distance(brainstem: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(distance outside the brainstem, distance inside it), in voxels = mm."""
    return ndi.distance_transform_edt(~brainstem), ndi.distance_transform_edt(brainstem)


def signed_distance(
    template: Volume, dist: tuple[NDArray[np.float64], NDArray[np.float64]], point: NDArray[np.float64]
) -> float:
    """Distance (mm) to the brainstem surface: positive outside, negative inside."""
    ijk = tuple(np.round(template.world_to_voxel(point)[0]).astype(int))
    outside, inside = dist
    return float(outside[ijk]) if outside[ijk] > 0 else -float(inside[ijk])


def resample(points: NDArray[np.float64], n: int = 12) -> NDArray[np.float64]:
    """n points equally spaced along the polyline's arc length."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(targets, arc, points[:, k]) for k in range(3)], axis=1)


# --- completeness and metadata ----------------------------------------------------------------------------


def test_every_required_segment_exists_on_both_sides(atlas: Atlas) -> None:
    present = {(s.nerve, s.side.value, s.segment) for s in atlas.segments}
    expected = {(n, side, seg) for n, segs in REQUIRED.items() for seg in segs for side in ("left", "right")}
    assert expected - present == set(), "missing segments"
    assert present - expected == set(), "unexpected segments (add them to REQUIRED deliberately)"
    assert atlas.space == "MNIColin27"


def test_physiologic_enhancement_flags_follow_the_clinical_table(atlas: Atlas) -> None:
    for seg in atlas.segments:
        expected = (seg.nerve, seg.segment) in PHYSIOLOGIC
        assert seg.physiologic_enhancement is expected, seg.key
    assert not any(s.physiologic_enhancement for s in atlas.segments if s.segment == "cisternal")
    assert not any(s.physiologic_enhancement for s in atlas.segments if s.nerve in ("CN2", "CN8"))


def test_sources_landmarks_and_neighbours_are_filled(atlas: Atlas) -> None:
    for seg in atlas.segments:
        assert "MNIColin27" in seg.source and len(seg.source) > 40, seg.key
        assert len(seg.landmarks) >= 2, seg.key
        if seg.physiologic_enhancement:
            assert seg.neighbours, f"{seg.key}: name the normally enhancing neighbours"
    for nerve in ("CN9", "CN10", "CN11"):
        for side in Side:
            shared = set(atlas.segment(nerve, side, "jugular_foramen").shared_with)
            assert shared == {"CN9", "CN10", "CN11"} - {nerve}


def test_geometry_is_dense_ordered_and_plausibly_sized(atlas: Atlas) -> None:
    for seg in atlas.segments:
        steps = np.linalg.norm(np.diff(seg.points_mm, axis=0), axis=1)
        assert steps.max() <= 1.5 and steps.min() > 0.2, seg.key
        assert seg.radius_mm.min() >= 1.0 and seg.radius_mm.max() <= 5.0, seg.key
        assert 3.0 <= seg.length_mm <= 45.0, f"{seg.key}: {seg.length_mm:.1f} mm"
    for side in Side:
        assert (
            atlas.segment("CN5", side, "meckel_cave").radius_mm.max()
            > atlas.segment("CN5", side, "cisternal").radius_mm.max()
        )


@pytest.mark.parametrize(("nerve", "chain"), CHAINS)
def test_consecutive_segments_join(atlas: Atlas, nerve: str, chain: tuple[str, ...]) -> None:
    for side in Side:
        for first, second in itertools.pairwise(chain):
            gap = np.linalg.norm(
                atlas.segment(nerve, side, first).points_mm[-1] - atlas.segment(nerve, side, second).points_mm[0]
            )
            assert gap < 0.5, f"{nerve}-{side.value}: {first} does not end where {second} starts"


def test_shipped_file_is_what_the_builder_writes() -> None:
    assert build.DATA_PATH.read_text(encoding="utf-8") == build.render(build.build_atlas()), (
        "run python -m cnmri.atlas.build"
    )


# --- orientation convention -----------------------------------------------------------------------------


def test_template_is_ras_and_right_means_positive_x(template: Volume, atlas: Atlas) -> None:
    """RAS+: x grows toward the subject's right. ch2: world = voxel + (-90, -125, -71)."""
    assert template.orientation == ("R", "A", "S")
    assert np.allclose(template.affine, [[1, 0, 0, -90], [0, 1, 0, -125], [0, 0, 1, -71], [0, 0, 0, 1]])
    for seg in atlas.segments:
        sign = 1.0 if seg.side is Side.RIGHT else -1.0
        assert (sign * seg.points_mm[:, 0] > 0).all(), f"{seg.key} crosses to the wrong side"
    # The eyes are anterior (+y) and the cerebellum posterior/inferior: a check on the other two axes.
    optic = atlas.segment("CN2", "right", "intracanalicular").points_mm
    assert optic[-1, 1] > optic[0, 1] > atlas.segment("CN7", "right", "canalicular").points_mm[0, 1]


def test_left_and_right_are_near_mirror_images(atlas: Atlas) -> None:
    mirror = np.array([-1.0, 1.0, 1.0])
    for seg in atlas.segments:
        if seg.side is not Side.RIGHT:
            continue
        left = atlas.segment(seg.nerve, "left", seg.segment)
        gap = np.linalg.norm(resample(seg.points_mm) - resample(left.points_mm) * mirror, axis=1)
        assert gap.mean() <= 3.0 and gap.max() <= 4.5, f"{seg.nerve} {seg.segment}: {gap.round(1)}"
        assert abs(seg.length_mm - left.length_mm) <= 4.0, seg.key


def test_sides_are_placed_separately_not_just_mirrored(atlas: Atlas) -> None:
    mirror = np.array([-1.0, 1.0, 1.0])
    right = atlas.segment("CN7", "right", "canalicular").points_mm
    left = atlas.segment("CN7", "left", "canalicular").points_mm
    assert np.abs(resample(right) - resample(left) * mirror).max() > 0.5


# --- image-based placement ------------------------------------------------------------------------------


def test_brainstem_proxy_is_plausible(brainstem: NDArray[np.bool_]) -> None:
    volume_ml = brainstem.sum() / 1000.0  # 1 mm voxels
    assert 15.0 < volume_ml < 90.0  # brainstem ~25-30 ml plus peduncle stumps inside the box


def test_cisternal_segments_start_at_the_brainstem_surface(
    atlas: Atlas, template: Volume, brainstem_distance: tuple[NDArray[np.float64], NDArray[np.float64]]
) -> None:
    for seg in atlas.segments:
        if seg.segment != "cisternal":
            continue
        distances = [signed_distance(template, brainstem_distance, p) for p in seg.points_mm]
        start, end = distances[0], distances[-1]
        assert abs(start) <= 3.0, f"{seg.key} starts {start:.1f} mm from the brainstem surface"
        # CN4 hugs the midbrain in the ambient cistern, so only ask that every nerve gets away from it
        assert max(distances) >= start + 2.0 and end >= start, f"{seg.key} does not run outwards"


def test_cisternal_segments_run_through_csf(atlas: Atlas, template: Volume, pons_median: float) -> None:
    """Beyond the first 2 mm, every tube cross-section contains CSF and the centreline is darker than pons."""
    for seg in atlas.segments:
        if seg.segment != "cisternal":
            continue
        centre = sample(template, seg.points_mm[2:])
        assert np.median(centre) < 0.9 * pons_median, f"{seg.key}: centreline is as bright as brainstem"
        fractions = []
        for point, radius in zip(seg.points_mm[2:], seg.radius_mm[2:], strict=True):
            values = sample(template, point + ball_offsets(radius + 1.0))
            fractions.append(float(((values > CSF_BAND[0]) & (values < CSF_BAND[1])).mean()))
        assert np.mean(fractions) >= 0.4, f"{seg.key}: mean CSF fraction {np.mean(fractions):.2f}"
        assert min(fractions) >= 0.05, f"{seg.key}: a cross-section without any CSF"


def iac_axis(side: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return build.landmark("porus_acusticus", side), build.landmark("iac_fundus", side)


@pytest.mark.parametrize("side", ["left", "right"])
def test_iac_is_a_csf_channel_in_petrous_bone(template: Volume, side: str, pons_median: float) -> None:
    """Along the porus-fundus axis the canal (CSF + nerves) is brighter than the bone 4.5 mm around it."""
    porus, fundus = iac_axis(side)
    axis = (fundus - porus) / np.linalg.norm(fundus - porus)
    assert abs(axis[0]) > 0.85, "the IAC runs mainly laterally"
    assert np.sign(axis[0]) == (1 if side == "right" else -1), "the fundus is lateral to the porus"
    u = np.cross(axis, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for t in (0.25, 0.5, 0.75):
        centre = porus + t * (fundus - porus)
        ring = centre + 4.5 * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)
        inside = sample(template, centre[None])[0]
        bone = float(np.median(sample(template, ring)))
        assert bone < BONE_MAX, f"t={t}: the ring around the canal is not bone ({bone:.0f})"
        assert inside > 1.8 * bone, f"t={t}: canal {inside:.0f} not brighter than bone {bone:.0f}"
        assert inside < 0.9 * pons_median


@pytest.mark.parametrize("nerve", ["CN7", "CN8"])
def test_canalicular_segments_lie_inside_the_iac(atlas: Atlas, nerve: str) -> None:
    for side in ("left", "right"):
        porus, fundus = iac_axis(side)
        axis = fundus - porus
        length = float(np.linalg.norm(axis))
        assert 5.0 <= length <= 12.0, f"IAC length {length:.1f} mm"
        pts = atlas.segment(nerve, side, "canalicular").points_mm
        t = (pts - porus) @ axis / length**2
        assert t.min() >= -0.05 and t.max() <= 1.05, f"{nerve}-{side} leaves the porus-fundus span"
        radial = np.linalg.norm((pts - porus) - np.outer(t, axis), axis=1)
        assert radial.max() <= 1.6, f"{nerve}-{side} is {radial.max():.1f} mm off the IAC axis"
        assert abs(t[0]) <= 0.05, f"{nerve}-{side} does not start at the porus cross-section"


def test_facial_nerve_runs_anterosuperior_to_the_vestibulocochlear_nerve(atlas: Atlas) -> None:
    for side in ("left", "right"):
        for segment in ("cisternal", "canalicular"):
            cn7 = atlas.segment("CN7", side, segment).points_mm
            cn8 = atlas.segment("CN8", side, segment).points_mm
            # compare the distal halves, where the nerves have left their separate brainstem exits
            a, b = cn7[len(cn7) // 2 :].mean(axis=0), cn8[len(cn8) // 2 :].mean(axis=0)
            assert a[1] > b[1] and a[2] > b[2], f"{side} {segment}: CN7 must be anterior and superior to CN8"
            assert 2.0 <= float(np.linalg.norm(a - b)) <= 4.0


def test_cn7_and_cn8_reach_the_porus_from_the_brainstem(
    atlas: Atlas, template: Volume, brainstem_distance: tuple[NDArray[np.float64], NDArray[np.float64]]
) -> None:
    for side in ("left", "right"):
        porus = build.landmark("porus_acusticus", side)
        assert signed_distance(template, brainstem_distance, porus) >= 8.0
        for nerve in ("CN7", "CN8"):
            end = atlas.segment(nerve, side, "cisternal").points_mm[-1]
            assert np.linalg.norm(end - porus) <= 1.6, f"{nerve}-{side} cisternal does not reach the porus"


def test_intratemporal_facial_nerve_runs_lateral_then_down(atlas: Atlas) -> None:
    for side in Side:
        sign = 1.0 if side is Side.RIGHT else -1.0
        fundus = atlas.segment("CN7", side, "canalicular").points_mm[-1]
        geniculate = build.landmark("geniculate_ganglion", side.value)
        mastoid = atlas.segment("CN7", side, "mastoid").points_mm
        assert sign * (geniculate[0] - fundus[0]) > 0 and geniculate[1] > fundus[1], "GG is anterolateral"
        assert mastoid[-1, 2] < mastoid[0, 2] - 10.0, "the mastoid segment descends"
        assert sign * (mastoid[-1, 0] - fundus[0]) > 3.0


def test_reference_regions_are_uniform_non_enhancing_tissue(
    atlas: Atlas, template: Volume, brainstem: NDArray[np.bool_], pons_median: float
) -> None:
    names = {r.name: r for r in atlas.reference_regions}
    assert {"pons", "cerebellar_white_matter_left", "cerebellar_white_matter_right"} <= set(names)
    pons = names["pons"]
    assert 4.0 <= pons.radius_mm <= 6.0
    ijk = np.round(template.world_to_voxel(pons.center_mm + ball_offsets(pons.radius_mm))).astype(int)
    assert brainstem[tuple(ijk.T)].all(), "the pons sphere leaves the brainstem"
    # keep away from the basilar artery on the anterior pontine surface (~y = -12 at the midline)
    assert pons.center_mm[1] + pons.radius_mm < -15.0
    values = sample(template, pons.center_mm + ball_offsets(pons.radius_mm))
    assert values.std() < 0.12 * values.mean()
    right = names["cerebellar_white_matter_right"]
    left = names["cerebellar_white_matter_left"]
    assert right.center_mm[0] > 0 > left.center_mm[0]
    for region in (left, right):
        wm = sample(template, region.center_mm + ball_offsets(region.radius_mm))
        assert np.median(wm) > pons_median, f"{region.name}: not white matter"
        assert wm.min() > 0.8 * pons_median, f"{region.name}: includes CSF or grey matter"
