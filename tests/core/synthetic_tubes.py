"""Tubes of known geometry drawn with partial volume on a small grid (shared by the vessel and course tests)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cnmri.measure.roi import distance_to_polyline
from cnmri.volume import Volume


def grid(size_mm: float = 40.0, voxel_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Volume:
    """An empty image centred on the world origin."""
    zooms = np.asarray(voxel_mm, dtype=float)
    shape = tuple(round(float(size_mm / z)) for z in zooms)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = -size_mm / 2
    return Volume(np.zeros(shape, dtype=np.float32), affine)


def tube_fraction(
    image: Volume, line: NDArray[np.float64], radius_mm: float, supersample: int = 3
) -> NDArray[np.float32]:
    """Fraction of each voxel within ``radius_mm`` of the polyline ``line`` (world mm)."""
    zooms = np.asarray(image.zooms_mm)
    idx = np.indices(image.shape).reshape(3, -1).T.astype(float)
    # Only voxels near the line need the supersampled test.
    centres = image.voxel_to_world(idx)
    near = distance_to_polyline(centres, line)[0] <= radius_mm + float(zooms.max())
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    inside = np.zeros(int(near.sum()))
    for ox in offsets:
        for oy in offsets:
            for oz in offsets:
                world = image.voxel_to_world(idx[near] + np.array([ox, oy, oz]))
                inside += distance_to_polyline(world, line)[0] <= radius_mm
    out = np.zeros(len(idx), dtype=np.float32)
    out[near] = inside / supersample**3
    return out.reshape(image.shape)


def line(*points: tuple[float, float, float]) -> NDArray[np.float64]:
    return np.asarray(points, dtype=np.float64)
