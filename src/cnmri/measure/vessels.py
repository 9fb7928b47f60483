"""Separate a cisternal or canalicular nerve from the enhancing vessels beside it.

In the cisterns an enhancing artery or vein often touches a normal nerve (AICA loop at CN7/CN8, SCA at
CN5, vertebral artery and PICA at CN9–CN12; neurovascular contact is common in healthy people), and
where it crosses the segment's ROI it adds vessel signal to the nerve's measurement. A vessel differs
from an enhancing nerve by its course: it is a tube that *leaves* the nerve's course, while a thickened,
enhancing nerve runs along it. So, on the enhancement image (reference-normalised post − pre, or
post − 1 in post-only mode), inside a crop around the segment:

1. bright voxels: enhancement ≥ :data:`BRIGHT_LEVEL` reference units;
2. their local tube axis from the Hessian (eigenvector of the smallest-magnitude eigenvalue, Frangi et
   al. MICCAI 1998) at :data:`VESSEL_SCALES_MM`, kept where the shape is tubular (two clearly negative
   eigenvalues, a small third);
3. "crossing" voxels: tubular with an axis more than :data:`CROSSING_ANGLE_DEG` from the local
   centreline direction;
4. a connected group of crossing voxels (26-neighbours) that reaches more than
   :data:`LEAVES_COURSE_MM` beyond the segment's ROI radius is a vessel leaving the course: its voxels in
   the ROI, and their one-voxel partial-volume rim that does not itself run along the course, are
   excluded from the measurement.

Voxels whose tube axis runs along the course are never excluded, so a lesion along the nerve stays in
full, even where a vessel touches it; a vessel running parallel inside the ROI cannot be told from the
nerve by shape and stays too (the measurement then says nothing was excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.measure.course import hessian_eigen
from cnmri.measure.roi import SubjectSegment, distance_to_polyline
from cnmri.volume import FloatArray, Volume

#: segments whose ROI crosses CSF or a canal where vessels run beside the nerve
VESSEL_SEGMENT_NAMES = ("cisternal", "canalicular", "prechiasmatic")
BRIGHT_LEVEL = 0.25  # reference units; physiologic vessels enhance 0.7–1.0, a lesion ≥ 0.2
VESSEL_SCALES_MM = (0.7, 1.2)
CROSSING_ANGLE_DEG = 40.0
LEAVES_COURSE_MM = 2.5  # beyond the ROI radius; a nodule on the nerve (≤ 1.6 × diameter) stays inside
CROP_MARGIN_MM = 7.0
TUBULAR_RATIO = 0.5  # |λ1| < TUBULAR_RATIO × |λ2| and λ2, λ3 < 0: a bright tube


@dataclass(frozen=True)
class VesselExclusion:
    """Voxels of a segment's ROI excluded as vessel, and why."""

    mask: NDArray[np.bool_] | None  # full grid; None when nothing is excluded
    voxels: int
    structures: int  # vessel pieces found crossing the ROI
    reason: str

    @property
    def excluded(self) -> bool:
        return self.voxels > 0


NOTHING_EXCLUDED = VesselExclusion(None, 0, 0, "no enhancing tubular structure leaves the course")


def is_vessel_segment(key: str) -> bool:
    return key.rsplit("-", 1)[-1] in VESSEL_SEGMENT_NAMES


def _crop_slices(grid: Volume, points: FloatArray, margin_mm: float) -> tuple[slice, slice, slice]:
    lo_mm = points.min(axis=0) - margin_mm
    hi_mm = points.max(axis=0) + margin_mm
    corners = np.array(
        [[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
    )
    ijk = grid.world_to_voxel(corners)
    shape = np.array(grid.shape)
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, shape)
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, shape)
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))


def _tube_axes(
    image: NDArray[np.floating], zooms: FloatArray, rotation: FloatArray, at: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], FloatArray]:
    """Per voxel of ``at`` (C order): is it a bright tube at some scale, and its axis (world)."""
    count = int(at.sum())
    tubular = np.zeros(count, dtype=bool)
    axes = np.zeros((count, 3))
    strength = np.zeros(count)
    for sigma_mm in VESSEL_SCALES_MM:
        values, axis = hessian_eigen(image, sigma_mm, tuple(float(z) for z in zooms), at)
        tube = (values[:, 1] < 0) & (values[:, 2] < 0) & (np.abs(values[:, 0]) < TUBULAR_RATIO * np.abs(values[:, 1]))
        better = tube & (np.abs(values[:, 1]) > strength)
        strength[better] = np.abs(values[better, 1])
        axes[better] = axis[better]
        tubular |= tube
    world_axes = axes @ rotation.T
    world_axes /= np.maximum(np.linalg.norm(world_axes, axis=1, keepdims=True), 1e-12)
    return tubular, world_axes


def find_vessels(segment: SubjectSegment, labels: NDArray[np.integer], enhancement: Volume) -> VesselExclusion:
    """Voxels of the segment's ROI (``labels == segment.label``) that belong to vessels leaving the course."""
    slices = _crop_slices(enhancement, segment.points_mm, float(segment.radius_mm.max()) + CROP_MARGIN_MM)
    crop = np.asarray(enhancement.data[slices], dtype=np.float32)
    roi_crop = labels[slices] == segment.label
    bright = crop >= BRIGHT_LEVEL
    if not (bright & roi_crop).any():
        return NOTHING_EXCLUDED
    offset = np.array([s.start for s in slices])
    bright_idx = np.argwhere(bright)
    world = enhancement.voxel_to_world(bright_idx + offset)
    distance, piece, fraction = distance_to_polyline(world, segment.points_mm)
    radius = segment.radius_mm[piece] * (1 - fraction) + segment.radius_mm[piece + 1] * fraction
    tangents = np.diff(segment.points_mm, axis=0)
    tangents /= np.maximum(np.linalg.norm(tangents, axis=1, keepdims=True), 1e-12)
    zooms = np.asarray(enhancement.zooms_mm)
    rotation = enhancement.affine[:3, :3] / zooms[None, :]
    tubular, axes = _tube_axes(crop, zooms, rotation, bright)
    cosine = np.abs((axes * tangents[piece]).sum(axis=1))
    crossing = tubular & (cosine < np.cos(np.radians(CROSSING_ANGLE_DEG)))
    along = tubular & ~crossing
    # Beyond the ends the nerve continues into its next segment: only lateral reach counts.
    at_end = ((piece == 0) & (fraction <= 0.0)) | ((piece == len(tangents) - 1) & (fraction >= 1.0))
    beyond = np.where(at_end, 0.0, distance - radius)

    crossing_map = np.zeros(crop.shape, dtype=bool)
    crossing_map[tuple(bright_idx[crossing].T)] = True
    components, count = ndimage.label(crossing_map, structure=np.ones((3, 3, 3), dtype=bool))
    component_of = components[tuple(bright_idx.T)]
    vessel = np.zeros(crop.shape, dtype=bool)
    reach: list[float] = []
    for label in range(1, count + 1):
        members = component_of == label
        farthest = float(beyond[members].max())
        touches_roi = bool(roi_crop[tuple(bright_idx[members].T)].any())
        if touches_roi and farthest > LEAVES_COURSE_MM:
            vessel[components == label] = True
            reach.append(farthest)
    if not reach:
        return NOTHING_EXCLUDED
    along_map = np.zeros(crop.shape, dtype=bool)
    along_map[tuple(bright_idx[along].T)] = True
    # The vessel's partial-volume rim (one voxel), never a voxel that runs along the course.
    vessel = ndimage.binary_dilation(vessel, structure=np.ones((3, 3, 3), dtype=bool)) & ~along_map
    vessel &= roi_crop
    voxels = int(vessel.sum())
    if voxels == 0:
        return NOTHING_EXCLUDED
    mask = np.zeros(labels.shape, dtype=bool)
    mask[slices] = vessel
    reason = (
        f"{len(reach)} enhancing tubular structure(s) cross the course at > {CROSSING_ANGLE_DEG:.0f}° and reach "
        f"{max(reach):.1f} mm beyond the ROI: vessel, excluded ({voxels} voxels)"
    )
    return VesselExclusion(mask, voxels, len(reach), reason)


__all__ = ["NOTHING_EXCLUDED", "VesselExclusion", "find_vessels", "is_vessel_segment"]
