"""Per-segment features computed in subject space (DESIGN.md §4).

Intensities are first normalised to a reference tissue that does not enhance (pons and cerebellar
white matter spheres from the atlas; intact blood–brain barrier). In those units:

* ``enhancement`` = 75th percentile (upper quartile) of (post_n − pre_n) over the segment's core ROI
  (voxels within ``CORE_FRACTION`` of the tube radius of the centreline). The core keeps a thickened
  neighbour (CN7 beside CN8) from leaking in, while still tolerating ~1 mm of registration error. The
  upper quartile, not a higher percentile: an enhancing vessel crossing the cistern beside the nerve
  (basilar artery and CN6, vertebral artery and CN12, AICA loop and CN7/8) fills a small part of the
  ROI and moved the 90th percentile by up to 0.4 reference units between controls (SD 0.13 for CN6 and
  CN12 vs 0.03 elsewhere), hiding moderate lesions; a lesion along the nerve fills most of the core and
  moves the upper quartile as much. A single noisy voxel never decides.
  Relative signal increase of the nerve is the quantity Kress et al. (Radiology 2004;230:504) found
  discriminative in facial palsy; normalising to reference tissue follows the nerve/reference ratio
  proposed for bilateral disease (knowledge base §3).
* ``enhancement_ratio`` = mean(post_n) / mean(pre_n) over the ROI (post/pre signal-intensity ratio).
* ``thickness_mm`` = median over the centreline of the equivalent-circle diameter of the nerve's
  cross-section, measured at half maximum (peak vs surrounding CSF/bone) in planes orthogonal to the
  centreline, on the normalised post-contrast image. Resolution-limited below ~1.5 × voxel size.

Post-only mode: ``enhancement`` is the 75th percentile of post_n − 1 (signal above reference tissue),
which is not comparable with pre/post values and is flagged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.measure.roi import SubjectSegment
from cnmri.volume import FloatArray, Volume

ENHANCEMENT_PERCENTILE = 75.0
PROFILE_STEP_MM = 0.25
CORE_FRACTION = 0.65
MIN_PROFILE_CONTRAST = 0.12  # reference-tissue units; below this no structure stands out of its surround


@dataclass(frozen=True)
class SegmentMeasurement:
    key: str
    enhancement: float | None
    enhancement_mean: float | None
    enhancement_ratio: float | None
    post_signal: float | None
    thickness_mm: float | None
    thickness_points: int
    roi_voxels: int
    roi_volume_mm3: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: voxels the enhancement percentile was taken over (the core); sets how much noise moves it
    core_voxels: int = 0
    #: core voxels left out of the enhancement figures (``exclude`` of :func:`measure_segment`)
    excluded_voxels: int = 0
    #: largest over median cross-section diameter (:func:`nodularity_ratio`); None when not measurable
    nodularity_ratio: float | None = None


def reference_scale(volume: Volume, mask: NDArray[np.bool_]) -> float:
    """Median intensity over the reference mask (the normalisation denominator)."""
    values = volume.data[mask]
    values = values[values > 0]
    if values.size < 20:
        return float("nan")
    return float(np.median(values))


#: 1.4826 × MAD estimates the SD of a normal sample robustly (a few bright vessels do not move it).
MAD_TO_SD = 1.4826


def study_noise_sd(post_n: Volume, pre_n: Volume | None, reference: NDArray[np.bool_]) -> float | None:
    """Robust SD of the study's own noise in the image the enhancement is read from (reference units).

    Pre/post: 1.4826 × MAD of (post_n − pre_n) over the reference tissue, which does not enhance, so
    what varies there is noise (and residual misregistration). Post-only: 1.4826 × MAD of differences
    between neighbouring voxels of post_n over the reference tissue, divided by √2 (anatomy varies
    slowly there; a neighbour difference removes it). None when the reference has too few voxels.
    """
    if int(reference.sum()) < 50:
        return None
    if pre_n is not None:
        values = (post_n.data[reference] - pre_n.data[reference]).astype(np.float64)
        return float(MAD_TO_SD * np.median(np.abs(values - np.median(values))))
    data = post_n.data.astype(np.float64)
    both = reference[1:, :, :] & reference[:-1, :, :]
    neighbour = (data[1:, :, :] - data[:-1, :, :])[both]
    if neighbour.size < 50:
        return None
    return float(MAD_TO_SD * np.median(np.abs(neighbour - np.median(neighbour))) / np.sqrt(2.0))


def _orthonormal_basis(tangent: FloatArray) -> tuple[FloatArray, FloatArray]:
    t = tangent / max(float(np.linalg.norm(tangent)), 1e-9)
    helper = np.array([1.0, 0.0, 0.0]) if abs(t[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(t, helper)
    u /= np.linalg.norm(u)
    v = np.cross(t, u)
    return u, v


def cross_section_diameter(
    image: Volume, center: FloatArray, tangent: FloatArray, search_radius_mm: float
) -> float | None:
    """Equivalent diameter (mm) of the bright structure at ``center`` in the plane normal to ``tangent``.

    Half-maximum between the peak found within ``search_radius_mm`` and the surrounding level (median of
    a ring 2–3 mm beyond the search radius). Returns None when nothing stands out, or when the
    structure is larger than the sampled plane (e.g. brainstem, sinus).
    """
    u, v = _orthonormal_basis(tangent)
    outer = search_radius_mm + 3.0
    offsets = np.arange(-outer, outer + 1e-6, PROFILE_STEP_MM)
    a, b = np.meshgrid(offsets, offsets, indexing="ij")
    world = center[None, :] + a.reshape(-1, 1) * u[None, :] + b.reshape(-1, 1) * v[None, :]
    ijk = image.world_to_voxel(world)
    plane = ndimage.map_coordinates(image.data, ijk.T, order=1, mode="nearest").reshape(a.shape)
    radius = np.hypot(a, b)
    search = radius <= search_radius_mm
    ring = (radius >= search_radius_mm + 2.0) & (radius <= outer)
    if not search.any() or not ring.any():
        return None
    peak_index = np.unravel_index(np.argmax(np.where(search, plane, -np.inf)), plane.shape)
    peak = float(plane[peak_index])
    background = float(np.median(plane[ring]))
    if peak - background < MIN_PROFILE_CONTRAST:
        return None
    above = plane >= background + 0.5 * (peak - background)
    components, _ = ndimage.label(above)
    region = components == components[peak_index]
    if (region & (radius >= outer - PROFILE_STEP_MM * 2)).any():
        return None
    area = float(region.sum()) * PROFILE_STEP_MM**2
    return float(2.0 * np.sqrt(area / np.pi))


def segment_thickness(image: Volume, segment: SubjectSegment, step_mm: float = 1.0) -> tuple[float | None, int]:
    """Median cross-sectional diameter along the centreline and the number of valid cross-sections."""
    return _median_thickness(*cross_section_profile(image, segment, step_mm))


#: Cross-sections needed before the profile's shape (nodularity) is reported.
MIN_NODULARITY_SECTIONS = 4


def nodularity_ratio(diameters: list[float]) -> float | None:
    """Largest cross-section diameter over the median one: 1 for a smooth tube, above it for a nodule.

    Smooth versus nodular thickening is how leptomeningeal and perineural spread is described (knowledge
    base §2.1 weighs nodularity; §5 describes leukemic infiltration as smooth or nodular thickening).
    Reported, not yet a rule: no normative spread of this ratio exists. None below
    :data:`MIN_NODULARITY_SECTIONS` sections.
    """
    if len(diameters) < MIN_NODULARITY_SECTIONS:
        return None
    median = float(np.median(diameters))
    return float(max(diameters) / median) if median > 0 else None


def cross_section_profile(image: Volume, segment: SubjectSegment, step_mm: float = 1.0) -> tuple[list[float], int]:
    """Half-maximum diameters of the valid cross-sections every ``step_mm`` along the centreline, and
    the number of stations tried."""
    points = segment.points_mm
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    total = float(cumulative[-1])
    if total <= 0:
        return [], 0
    stations = np.arange(step_mm / 2, total, step_mm)
    diameters: list[float] = []
    for s in stations:
        i = int(np.clip(np.searchsorted(cumulative, s) - 1, 0, len(points) - 2))
        frac = (s - cumulative[i]) / max(lengths[i], 1e-9)
        center = points[i] + frac * (points[i + 1] - points[i])
        radius = float(segment.radius_mm[i] * (1 - frac) + segment.radius_mm[i + 1] * frac)
        d = cross_section_diameter(image, center, points[i + 1] - points[i], radius)
        if d is not None:
            diameters.append(d)
    return diameters, len(stations)


def measure_segment(
    segment: SubjectSegment,
    labels: NDArray[np.int16],
    relative_distance: NDArray[np.float32],
    post_n: Volume,
    pre_n: Volume | None,
    exclude: NDArray[np.bool_] | None = None,
) -> SegmentMeasurement:
    """All features of one segment; ``post_n``/``pre_n`` are reference-normalised on the same grid.

    ``exclude`` (same grid) marks voxels left out of the enhancement figures, e.g. a vessel crossing
    the ROI (:mod:`cnmri.measure.vessels`); if fewer than 3 core voxels would remain, none is left out.
    """
    roi = labels == segment.label
    mask = roi & (relative_distance <= CORE_FRACTION)
    if mask.sum() < 3:
        mask = roi
    excluded_voxels = 0
    if exclude is not None:
        kept = mask & ~exclude
        if kept.sum() >= 3:
            excluded_voxels = int(mask.sum() - kept.sum())
            mask = kept
    voxels = int(roi.sum())
    voxel_mm3 = float(abs(np.linalg.det(post_n.affine[:3, :3])))
    notes: list[str] = []
    if voxels < 3:
        return SegmentMeasurement(
            segment.key,
            None,
            None,
            None,
            None,
            None,
            0,
            voxels,
            voxels * voxel_mm3,
            ("segment ROI falls outside the image or is too small to measure",),
        )
    post_values = post_n.data[mask].astype(np.float64)
    if pre_n is not None:
        pre_values = pre_n.data[mask].astype(np.float64)
        diff = post_values - pre_values
        enhancement = float(np.percentile(diff, ENHANCEMENT_PERCENTILE))
        enhancement_mean = float(diff.mean())
        pre_mean = float(pre_values.mean())
        ratio = float(post_values.mean() / pre_mean) if pre_mean > 0.05 else None
        if ratio is None:
            notes.append("pre-contrast signal too low in the ROI for a post/pre ratio")
    else:
        enhancement = float(np.percentile(post_values - 1.0, ENHANCEMENT_PERCENTILE))
        enhancement_mean = float((post_values - 1.0).mean())
        ratio = None
    diameters, stations = cross_section_profile(post_n, segment)
    thickness, n_points = _median_thickness(diameters, stations)
    if thickness is None:
        notes.append("thickness not measurable: no nerve cross-section stands out of its surroundings")
    return SegmentMeasurement(
        key=segment.key,
        enhancement=enhancement,
        enhancement_mean=enhancement_mean,
        enhancement_ratio=ratio,
        post_signal=float(np.percentile(post_values, ENHANCEMENT_PERCENTILE)),
        thickness_mm=thickness,
        thickness_points=n_points,
        roi_voxels=voxels,
        roi_volume_mm3=voxels * voxel_mm3,
        notes=tuple(notes),
        core_voxels=int(mask.sum()),
        excluded_voxels=excluded_voxels,
        nodularity_ratio=nodularity_ratio(diameters) if thickness is not None else None,
    )


def _median_thickness(diameters: list[float], stations: int) -> tuple[float | None, int]:
    needed = max(2, int(np.ceil(0.4 * stations)))
    if len(diameters) < needed:
        return None, len(diameters)
    return float(np.median(diameters)), len(diameters)


def far_side_enhancement(
    segment: SubjectSegment,
    neighbour: SubjectSegment,
    labels: NDArray[np.int16],
    post_n: Volume,
    pre_n: Volume | None,
    exclude: NDArray[np.bool_] | None = None,
) -> tuple[float | None, int]:
    """Enhancement of the half of ``segment``'s ROI that faces away from ``neighbour``, and its voxels.

    Partial volume of an enhancing, thickened neighbour (a CN7 lesion of 2–3 mm beside a CN8 of 1 mm, a
    few millimetres apart in the cerebellopontine angle) falls off with distance from *its* centreline, so
    it brightens the near half of this segment's ROI and barely reaches the far half. A nerve that is
    itself infiltrated enhances across its whole cross-section, the far half included. Far half: ROI
    voxels at least as far from the neighbour's centreline as their nearest point on this segment's own
    centreline is. Same statistic as ``enhancement`` (75th percentile of post − pre, or post − 1).
    None when fewer than 3 such voxels lie in the image.
    """
    from cnmri.measure.roi import distance_to_polyline

    roi = labels == segment.label
    if exclude is not None and (roi & ~exclude).sum() >= 3:
        roi &= ~exclude
    index = np.argwhere(roi)
    if len(index) < 3 or len(neighbour.points_mm) < 2 or len(segment.points_mm) < 2:
        return None, 0
    world = post_n.voxel_to_world(index.astype(float))
    _, piece, fraction = distance_to_polyline(world, segment.points_mm)
    pts = segment.points_mm
    own = pts[piece] * (1.0 - fraction)[:, None] + pts[piece + 1] * fraction[:, None]
    voxel_to_neighbour, _, _ = distance_to_polyline(world, neighbour.points_mm)
    centre_to_neighbour, _, _ = distance_to_polyline(own, neighbour.points_mm)
    far = voxel_to_neighbour >= centre_to_neighbour
    if int(far.sum()) < 3:
        return None, int(far.sum())
    at = tuple(index[far].T)
    post_values = post_n.data[at].astype(np.float64)
    values = post_values - pre_n.data[at].astype(np.float64) if pre_n is not None else post_values - 1.0
    return float(np.percentile(values, ENHANCEMENT_PERCENTILE)), int(far.sum())


def enhancement_profile(
    segment: SubjectSegment,
    labels: NDArray[np.int16],
    relative_distance: NDArray[np.float32],
    post_n: Volume,
    pre_n: Volume | None,
    exclude: NDArray[np.bool_] | None = None,
) -> list[tuple[float, float]]:
    """Per piece of the centreline: (piece length in mm, enhancement of the ROI core around it).

    The statistic is ``enhancement``'s (75th percentile of post − pre, or post − 1), over the core voxels
    nearest to that piece (all of its ROI voxels when no core voxel is). Pieces with no voxel in the
    image are left out. Tells a lesion along the nerve (raised along all of it) from a vessel touching
    it over a stretch (raised where it touches).
    """
    from cnmri.measure.roi import distance_to_polyline

    roi = labels == segment.label
    if exclude is not None and (roi & ~exclude).sum() >= 3:
        roi &= ~exclude
    index = np.argwhere(roi)
    points = segment.points_mm
    if len(index) == 0 or len(points) < 2:
        return []
    _, piece, _ = distance_to_polyline(post_n.voxel_to_world(index.astype(float)), points)
    at = tuple(index.T)
    post_values = post_n.data[at].astype(np.float64)
    values = post_values - pre_n.data[at].astype(np.float64) if pre_n is not None else post_values - 1.0
    core = relative_distance[at] <= CORE_FRACTION
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    profile: list[tuple[float, float]] = []
    for p in range(len(lengths)):
        mine = piece == p
        if not mine.any():
            continue
        chosen = values[mine & core] if (mine & core).any() else values[mine]
        profile.append((float(lengths[p]), float(np.percentile(chosen, ENHANCEMENT_PERCENTILE))))
    return profile


def fraction_of_course_above(profile: list[tuple[float, float]], level: float) -> float | None:
    """Length-weighted fraction of the profile at or above ``level``; None for an empty profile."""
    total = sum(length for length, _ in profile)
    if total <= 0:
        return None
    return float(sum(length for length, value in profile if value >= level) / total)
