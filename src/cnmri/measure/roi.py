"""Rasterise centreline tubes into a subject-space label map.

A voxel belongs to a segment when it lies within that segment's radius of its centreline; where tubes
overlap (e.g. CN7 and CN8 in the internal auditory canal) the voxel goes to the centreline it is
relatively closest to (distance / radius), so neighbouring nerves do not share voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cnmri.volume import FloatArray, Volume


@dataclass(frozen=True)
class SubjectSegment:
    """A segment's centreline carried into subject space."""

    key: str
    label: int
    points_mm: FloatArray  # (N, 3) subject RAS mm
    radius_mm: FloatArray  # (N,)


def distance_to_polyline(points: FloatArray, line: FloatArray) -> tuple[FloatArray, NDArray[np.intp], FloatArray]:
    """Distance from each of (M, 3) ``points`` to the polyline (N, 3).

    Returns (distance (M,), index of the nearest line piece (M,), fraction along that piece (M,)).
    """
    a = line[:-1]
    b = line[1:]
    ab = b - a
    length2 = np.maximum((ab * ab).sum(axis=1), 1e-12)
    ap = points[:, None, :] - a[None, :, :]
    t = np.clip((ap * ab[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    d = np.linalg.norm(points[:, None, :] - closest, axis=2)
    idx = np.argmin(d, axis=1)
    rows = np.arange(len(points))
    return d[rows, idx], idx, t[rows, idx]


def rasterize_segments(grid: Volume, segments: list[SubjectSegment]) -> NDArray[np.int16]:
    """Label map on ``grid`` (0 = background, else ``SubjectSegment.label``)."""
    return rasterize_with_distance(grid, segments)[0]


def rasterize_with_distance(
    grid: Volume, segments: list[SubjectSegment]
) -> tuple[NDArray[np.int16], NDArray[np.float32]]:
    """Label map and, per voxel, distance to its segment's centreline relative to the local radius."""
    labels = np.zeros(grid.shape, dtype=np.int16)
    best = np.full(grid.shape, np.inf, dtype=np.float32)
    inv = np.linalg.inv(grid.affine)
    shape = np.array(grid.shape)
    for seg in segments:
        rmax = float(seg.radius_mm.max())
        lo_mm = seg.points_mm.min(axis=0) - rmax - 1
        hi_mm = seg.points_mm.max(axis=0) + rmax + 1
        corners = np.array(
            [[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
        )
        ijk = corners @ inv[:3, :3].T + inv[:3, 3]
        lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, shape)
        hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, shape)
        if np.any(hi <= lo):
            continue
        sub = np.indices(tuple(hi - lo)).reshape(3, -1).T + lo
        world = grid.voxel_to_world(sub.astype(float))
        d, idx, t = distance_to_polyline(world, seg.points_mm)
        radius = seg.radius_mm[idx] * (1 - t) + seg.radius_mm[idx + 1] * t
        rel = (d / radius).astype(np.float32)
        inside = rel <= 1.0
        if not inside.any():
            continue
        vox = sub[inside]
        rel_in = rel[inside]
        current = best[vox[:, 0], vox[:, 1], vox[:, 2]]
        win = rel_in < current
        vox = vox[win]
        best[vox[:, 0], vox[:, 1], vox[:, 2]] = rel_in[win]
        labels[vox[:, 0], vox[:, 1], vox[:, 2]] = seg.label
    return labels, best


def sphere_mask(grid: Volume, center_mm: FloatArray, radius_mm: float) -> NDArray[np.bool_]:
    ijk = grid.world_to_voxel(np.asarray(center_mm).reshape(1, 3))[0]
    zooms = np.asarray(grid.zooms_mm)
    reach = np.ceil(radius_mm / zooms).astype(int) + 1
    lo = np.clip(np.floor(ijk).astype(int) - reach, 0, np.array(grid.shape))
    hi = np.clip(np.floor(ijk).astype(int) + reach + 1, 0, np.array(grid.shape))
    mask = np.zeros(grid.shape, dtype=bool)
    if np.any(hi <= lo):
        return mask
    sub = np.indices(tuple(hi - lo)).reshape(3, -1).T + lo
    world = grid.voxel_to_world(sub.astype(float))
    inside = np.linalg.norm(world - center_mm, axis=1) <= radius_mm
    vox = sub[inside]
    mask[vox[:, 0], vox[:, 1], vox[:, 2]] = True
    return mask


def adjacent_segments(segments: list[SubjectSegment], margin_mm: float = 0.0) -> dict[str, list[str]]:
    """Segments of *other* nerves on the same side whose tubes touch or nearly touch.

    Adjacent = centrelines closer than r1 + r2 + ``margin_mm`` anywhere along them.
    """
    out: dict[str, list[str]] = {s.key: [] for s in segments}
    for i, a in enumerate(segments):
        nerve_a, side_a, _ = a.key.split("-", 2)
        for b in segments[i + 1 :]:
            nerve_b, side_b, _ = b.key.split("-", 2)
            if nerve_a == nerve_b or side_a != side_b:
                continue
            d, _, _ = distance_to_polyline(a.points_mm, b.points_mm)
            if float(d.min()) < float(a.radius_mm.max() + b.radius_mm.max()) + margin_mm:
                out[a.key].append(b.key)
                out[b.key].append(a.key)
    return out
