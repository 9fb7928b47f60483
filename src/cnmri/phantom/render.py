"""Partial-volume rendering of tubes, sleeves and ellipsoids on a voxel grid.

Shapes are defined in world millimetres (RAS). Each voxel receives the fraction of its volume that
lies inside the shape, estimated by testing ``supersample**3`` evenly spaced points per voxel, so a
2 mm nerve on a 1 mm grid is rendered with the soft edge a scanner would show, not as a staircase of
whole voxels. Only voxels near the shape are tested.

This module is the phantom's own geometry; it shares nothing with the detector's measurement code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Patch:
    """Fractions for a set of voxels: flat indices into the grid and the inside fraction (0..1]."""

    index: NDArray[np.int64]
    fraction: NDArray[np.float64]

    def to_dense(self, shape: tuple[int, int, int]) -> NDArray[np.float32]:
        out = np.zeros(int(np.prod(shape)), dtype=np.float32)
        out[self.index] = self.fraction.astype(np.float32)
        return out.reshape(shape)

    @property
    def empty(self) -> bool:
        return self.index.size == 0


def _subsample_offsets(supersample: int) -> FloatArray:
    step = (np.arange(supersample) + 0.5) / supersample - 0.5
    grid = np.stack(np.meshgrid(step, step, step, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid.astype(np.float64)


def _candidate_voxels(
    shape: tuple[int, int, int], affine: FloatArray, lo_mm: FloatArray, hi_mm: FloatArray
) -> NDArray[np.int64]:
    """Voxel indices (M, 3) whose centres lie in the world box [lo, hi] (after mapping its corners)."""
    corners = np.array(
        [[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
    )
    inv = np.linalg.inv(affine)
    ijk = corners @ inv[:3, :3].T + inv[:3, 3]
    lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, np.array(shape) - 1)
    if (hi < lo).any():
        return np.zeros((0, 3), dtype=np.int64)
    axes = [np.arange(lo[d], hi[d] + 1) for d in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int64)


def _polyline_signed(
    points: FloatArray, radius: FloatArray, inner: FloatArray | None, query: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """For each query point: min over pieces of (distance − outer radius) and of (distance − inner radius)."""
    best_outer = np.full(len(query), np.inf)
    best_inner = np.full(len(query), np.inf)
    for k in range(len(points) - 1):
        a, b = points[k], points[k + 1]
        ab = b - a
        denom = float(ab @ ab)
        t = np.zeros(len(query)) if denom == 0.0 else np.clip((query - a) @ ab / denom, 0.0, 1.0)
        closest = a + t[:, None] * ab
        dist = np.linalg.norm(query - closest, axis=1)
        r_out = radius[k] + t * (radius[k + 1] - radius[k])
        np.minimum(best_outer, dist - r_out, out=best_outer)
        if inner is not None:
            r_in = inner[k] + t * (inner[k + 1] - inner[k])
            np.minimum(best_inner, dist - r_in, out=best_inner)
    return best_outer, best_inner


def tube(
    shape: tuple[int, int, int],
    affine: FloatArray,
    points_mm: FloatArray,
    radius_mm: FloatArray | float,
    inner_radius_mm: FloatArray | float | None = None,
    supersample: int = 3,
) -> Patch:
    """Partial-volume fraction of a tube (or, with ``inner_radius_mm``, a sleeve) around a polyline.

    ``points_mm`` is (N, 3) world RAS mm; radii are per point (or one value), in mm.
    """
    points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    radius = np.broadcast_to(np.asarray(radius_mm, dtype=np.float64), (len(points),)).copy()
    inner = None
    if inner_radius_mm is not None:
        inner = np.broadcast_to(np.asarray(inner_radius_mm, dtype=np.float64), (len(points),)).copy()
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    half_diag = 0.5 * float(np.linalg.norm(zooms))
    rmax = float(radius.max())
    inv = np.linalg.inv(affine)
    offsets = _subsample_offsets(supersample)
    world_offsets = offsets @ affine[:3, :3].T
    found: dict[int, float] = {}
    # Piece by piece keeps the candidate boxes small for long curved structures (venous sinuses).
    for k in range(max(len(points) - 1, 1)):
        piece = points[k : k + 2]
        lo = piece.min(axis=0) - rmax - half_diag
        hi = piece.max(axis=0) + rmax + half_diag
        cand = _candidate_voxels(shape, affine, lo, hi)
        if cand.size == 0:
            continue
        flat = np.asarray(np.ravel_multi_index(tuple(cand.T), shape), dtype=np.int64)
        keep = np.fromiter((f not in found for f in flat.tolist()), dtype=np.bool_, count=len(flat))
        cand, flat = cand[keep], flat[keep]
        if cand.size == 0:
            continue
        centres = cand @ affine[:3, :3].T + affine[:3, 3]
        coarse, _ = _polyline_signed(points, radius, None, centres)
        near = coarse <= half_diag
        cand, flat, centres = cand[near], flat[near], centres[near]
        if cand.size == 0:
            continue
        query = (centres[:, None, :] + world_offsets[None, :, :]).reshape(-1, 3)
        outer, inner_d = _polyline_signed(points, radius, inner, query)
        inside = outer <= 0.0
        if inner is not None:
            inside &= inner_d > 0.0
        frac = inside.reshape(len(cand), -1).mean(axis=1)
        for f, v in zip(flat.tolist(), frac.tolist(), strict=True):
            found[f] = v
    del inv
    if not found:
        return Patch(np.zeros(0, dtype=np.int64), np.zeros(0))
    idx = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
    val = np.fromiter(found.values(), dtype=np.float64, count=len(found))
    order = np.argsort(idx)
    idx, val = idx[order], val[order]
    nz = val > 0
    return Patch(idx[nz], val[nz])


def ellipsoid(
    shape: tuple[int, int, int],
    affine: FloatArray,
    center_mm: FloatArray,
    semi_axes_mm: FloatArray,
    supersample: int = 3,
) -> Patch:
    """Partial-volume fraction of an axis-aligned (world RAS axes) ellipsoid."""
    center = np.asarray(center_mm, dtype=np.float64)
    semi = np.asarray(semi_axes_mm, dtype=np.float64)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    half_diag = 0.5 * float(np.linalg.norm(zooms))
    cand = _candidate_voxels(shape, affine, center - semi - half_diag, center + semi + half_diag)
    if cand.size == 0:
        return Patch(np.zeros(0, dtype=np.int64), np.zeros(0))
    centres = cand @ affine[:3, :3].T + affine[:3, 3]
    offsets = _subsample_offsets(supersample) @ affine[:3, :3].T
    query = (centres[:, None, :] + offsets[None, :, :]) - center
    inside = ((query / semi) ** 2).sum(axis=-1) <= 1.0
    frac = inside.mean(axis=1)
    flat = np.asarray(np.ravel_multi_index(tuple(cand.T), shape), dtype=np.int64)
    nz = frac > 0
    return Patch(flat[nz].astype(np.int64), frac[nz])


__all__ = ["Patch", "ellipsoid", "tube"]
