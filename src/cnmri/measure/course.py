"""Find each cisternal nerve in the subject's own image, between its registered end points.

The atlas centreline carried through the registration is where the *template's* nerve runs. Between
its exit from the brainstem and its foramen a cisternal nerve is a thin tubular structure crossing
cerebrospinal fluid: grey in dark CSF on a T1 image, dark in bright CSF on a heavily T2-weighted
CISS/FIESTA image. So each cisternal course is refined as a minimal path over a tubularity cost between
the two registered end points, kept inside a corridor of :data:`CORRIDOR_MM` around the registered
course and away from the other nerves' courses. The refined path is used only when it is clearly better
supported by the image than the registered course (cost ratio ≤ :data:`ACCEPT_COST_RATIO` and a tube seen
along ≥ :data:`MIN_SUPPORT` of it); otherwise the registered course is kept.

``Placement.confidence`` is the fraction of the reported course along which a bright tubular structure
of at least half the reference nerve contrast is seen (1 = a nerve is visible along all of it, 0 =
nothing tubular there, e.g. a normal 1 mm nerve at 1 mm voxels, or noise): it says how much the image,
not only the template, supports where the segment is measured.

Tubularity is a multi-scale Hessian measure (Frangi et al., MICCAI 1998, with the plate and blob terms)
computed on a 0.5 mm isotropic crop resampled around the segment, so anisotropic voxels are handled the
same way in every direction. The minimal path is scikit-image's ``MCP_Geometric`` (Dijkstra on the
26-connected grid, edge cost = mean of the two voxel costs × step length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.measure.roi import SubjectSegment, distance_to_polyline
from cnmri.volume import FloatArray, Volume

#: segments refined: the nerve crosses CSF between two registered end points
REFINED_SEGMENT_NAMES = ("cisternal",)
STEP_MM = 0.5  # crop sampling
CORRIDOR_MM = 3.0  # how far from the registered course the refined path may run
#: Hessian scales (mm): a 1–3 mm nerve; the largest keeps a thickened nerve (lesion) a tube
SCALES_MM = (0.6, 1.0, 1.5)
#: tube score (reference-tissue units, scale-normalised Hessian) of a clearly visible nerve: a 2 mm
#: tube of contrast 0.35 against CSF (nerve ~0.6, CSF ~0.25 × reference tissue on T1) scores ~0.06;
#: Rician-like noise of SD 0.05 (SNR 20) scores < 0.02 in 99 % of voxels
TUBE_REFERENCE = 0.06
#: cost = 1 / (COST_FLOOR + normalised tubularity clipped to 1)
COST_FLOOR = 0.15
ACCEPT_COST_RATIO = 0.75
MIN_SUPPORT = 0.7
#: a cisternal nerve runs nearly straight between its end points; a path much longer than the
#: registered course is following something else (e.g. the brainstem surface)
MAX_LENGTH_RATIO = 1.3
SUPPORT_LEVEL = 0.5  # a station "sees a tube" when tube score ≥ SUPPORT_LEVEL × TUBE_REFERENCE
FRANGI_ALPHA = 0.5
FRANGI_BETA = 0.5
ENDPOINT_FREE_MM = 1.0  # around each end point the corridor is always open (nerves meet at foramina)


@dataclass(frozen=True)
class Placement:
    """How a segment's course was placed, and how much the image supports it."""

    method: str  # "atlas" | "refined"
    confidence: float | None  # None: not assessed (segments in bone are not refined)
    shift_mm: float  # mean distance of the reported course from the registered atlas course
    cost_ratio: float | None = None  # mean path cost refined / registered (< 1: refined better supported)
    image: str = ""  # the image the course was looked for in

    def seen_in(self, image: str) -> Placement:
        return Placement(self.method, self.confidence, self.shift_mm, self.cost_ratio, image)

    def to_findings(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "confidence": None if self.confidence is None else round(float(self.confidence), 3),
            "shift_mm": round(float(self.shift_mm), 2),
            "cost_ratio": None if self.cost_ratio is None else round(float(self.cost_ratio), 3),
            **({"image": self.image} if self.image else {}),
        }


NOT_REFINED = Placement("atlas", None, 0.0)


@dataclass(frozen=True)
class Crop:
    """An axis-aligned (world RAS) isotropic sampling grid: world = origin + index × step."""

    origin_mm: FloatArray
    step_mm: float
    shape: tuple[int, int, int]

    @staticmethod
    def around(points: FloatArray, margin_mm: float, step_mm: float = STEP_MM) -> Crop:
        lo = points.min(axis=0) - margin_mm
        hi = points.max(axis=0) + margin_mm
        shape = tuple(int(n) for n in np.ceil((hi - lo) / step_mm).astype(int) + 1)
        return Crop(lo, step_mm, (shape[0], shape[1], shape[2]))

    def world(self, index: NDArray[Any]) -> FloatArray:
        return self.origin_mm + np.asarray(index, dtype=np.float64) * self.step_mm

    def index(self, world: FloatArray) -> FloatArray:
        return (np.asarray(world, dtype=np.float64) - self.origin_mm) / self.step_mm

    def sample(self, image: Volume) -> NDArray[np.float32]:
        """Linear interpolation of ``image`` on the crop; NaN outside the image."""
        # The crop is a linear image of its indices: build the image's voxel coordinates by broadcasting.
        inverse = np.linalg.inv(image.affine)
        start = inverse[:3, :3] @ self.origin_mm + inverse[:3, 3]
        per_index = inverse[:3, :3] * self.step_mm  # column d: voxel-coordinate change per crop index along d
        ranges = [
            np.arange(n, dtype=np.float32).reshape([-1 if d == a else 1 for d in range(3)])
            for a, n in enumerate(self.shape)
        ]
        coords = np.empty((3, *self.shape), dtype=np.float32)
        for c in range(3):
            coords[c] = (
                start[c] + ranges[0] * per_index[c, 0] + ranges[1] * per_index[c, 1] + ranges[2] * per_index[c, 2]
            )
        values = ndimage.map_coordinates(image.data, coords, order=1, mode="constant", cval=np.nan)
        return np.asarray(values, dtype=np.float32)


def densify(points: FloatArray, step_mm: float = 0.25) -> FloatArray:
    """Points every ``step_mm`` along a polyline (end points kept)."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    if cumulative[-1] <= 0:
        return points[:1].copy()
    s = np.append(np.arange(0.0, cumulative[-1], step_mm), cumulative[-1])
    return np.stack([np.interp(s, cumulative, points[:, d]) for d in range(3)], axis=1)


def resample_polyline(points: FloatArray, n: int) -> FloatArray:
    """``n`` points equally spaced by arc length along ``points`` (end points kept)."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    s = np.linspace(0.0, cumulative[-1], n)
    return np.stack([np.interp(s, cumulative, points[:, d]) for d in range(3)], axis=1)


def hessian_eigen(
    image: NDArray[np.floating], sigma_mm: float, spacing_mm: float | Sequence[float], mask: NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray]:
    """Scale-normalised Hessian eigenvalues (M, 3) sorted by magnitude and the axis (M, 3) at ``mask``.

    Gaussian smoothing at ``sigma_mm`` then central differences (one filter per scale instead of six
    derivative filters: the crop is small, but this runs for every segment). ``spacing_mm`` is the
    voxel size per array axis; the axis (eigenvector of the smallest-magnitude eigenvalue, the
    direction along a tube) is in array-axis millimetres.
    """
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    smoothed = ndimage.gaussian_filter(data, sigma_mm / spacing, mode="nearest")
    h = np.empty((int(mask.sum()), 3, 3), dtype=np.float32)
    for a in range(3):
        first = np.gradient(smoothed, spacing[a], axis=a)
        for b in range(a, 3):
            second = np.gradient(first, spacing[b], axis=b)[mask] * np.float32(sigma_mm**2)
            h[:, a, b] = second
            h[:, b, a] = second
    values, vectors = np.linalg.eigh(h)
    order_idx = np.argsort(np.abs(values), axis=1)
    values = np.take_along_axis(values, order_idx, axis=1).astype(np.float64)
    axis = np.take_along_axis(vectors, order_idx[:, None, :], axis=2)[:, :, 0].astype(np.float64)
    return values, axis


def tube_score(image: NDArray[np.floating], step_mm: float, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Multi-scale bright-tube measure (Frangi 1998: plate and blob terms, strength = |λ2|)."""
    best = np.zeros(int(mask.sum()), dtype=np.float64)
    for sigma in SCALES_MM:
        values, _ = hessian_eigen(image, sigma, step_mm, mask)
        l1, l2, l3 = np.abs(values[:, 0]), values[:, 1], values[:, 2]
        bright_tube = (l2 < 0) & (l3 < 0)
        ra = np.abs(l2) / np.maximum(np.abs(l3), 1e-12)
        rb = l1 / np.sqrt(np.maximum(np.abs(l2 * l3), 1e-24))
        score = np.abs(l2) * (1 - np.exp(-(ra**2) / (2 * FRANGI_ALPHA**2))) * np.exp(-(rb**2) / (2 * FRANGI_BETA**2))
        best = np.maximum(best, np.where(bright_tube, score, 0.0))
    out = np.zeros(mask.shape, dtype=np.float32)
    out[mask] = best
    return out


def _distance_map(crop: Crop, lines: Sequence[FloatArray]) -> NDArray[np.float64]:
    """Distance (mm) from every crop voxel to the nearest of ``lines`` (rasterised every 0.25 mm)."""
    seeds = np.zeros(crop.shape, dtype=bool)
    for line in lines:
        idx = np.rint(crop.index(densify(line))).astype(int)
        inside = np.all((idx >= 0) & (idx < np.array(crop.shape)), axis=1)
        seeds[tuple(idx[inside].T)] = True
    if not seeds.any():
        return np.full(crop.shape, np.inf)
    return np.asarray(ndimage.distance_transform_edt(~seeds, sampling=crop.step_mm), dtype=np.float64)


def _distance_to_points(crop: Crop, points: FloatArray) -> NDArray[np.float64]:
    """Distance (mm) from every crop voxel to the nearest of a few points."""
    best = np.full(crop.shape, np.inf)
    for point in points:
        offset = crop.origin_mm - point
        parts = [(offset[a] + np.arange(n) * crop.step_mm) ** 2 for a, n in enumerate(crop.shape)]
        squared = parts[0][:, None, None] + parts[1][None, :, None] + parts[2][None, None, :]
        best = np.minimum(best, np.sqrt(squared))
    return best


def _sample_nearest(field: NDArray[Any], crop: Crop, points: FloatArray) -> NDArray[Any]:
    idx = np.rint(crop.index(points)).astype(int)
    idx = np.clip(idx, 0, np.array(crop.shape) - 1)
    return field[tuple(idx.T)]


def _smooth_path(points: FloatArray, window: int = 5) -> FloatArray:
    """Moving average of a grid path (removes the 0.5 mm staircase); end points stay fixed."""
    if len(points) <= window:
        return points
    kernel = np.ones(window) / window
    padded = np.pad(points, ((window // 2, window // 2), (0, 0)), mode="edge")
    out = np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in range(3)], axis=1)
    out[0], out[-1] = points[0], points[-1]
    return out


def refine_course(
    segment: SubjectSegment,
    image: Volume | Sequence[Volume],
    other_courses: Sequence[FloatArray] = (),
    polarity: float = 1.0,
    corridor_mm: float = CORRIDOR_MM,
) -> tuple[SubjectSegment, Placement]:
    """Minimal tubular path between the segment's end points, or the registered course if not better.

    ``image`` shows the nerve brighter than CSF when ``polarity`` is +1 (T1), darker when −1 (CISS);
    with several images (T1 pre and post) a voxel's tubularity is the largest among them.
    ``other_courses`` are the other nerves' registered centrelines: the corridor stops halfway to them,
    so a segment cannot jump onto its neighbour (CN8 onto a thickened CN7).
    """
    from skimage.graph import MCP_Geometric

    atlas_points = np.asarray(segment.points_mm, dtype=np.float64)
    crop = Crop.around(atlas_points, corridor_mm + 2 * max(SCALES_MM))
    images = [image] if isinstance(image, Volume) else list(image)
    samples = [crop.sample(img) * np.float32(polarity) for img in images]
    outside_image = np.any([np.isnan(v) for v in samples], axis=0)
    own = _distance_map(crop, [atlas_points])
    others = _distance_map(crop, list(other_courses))
    ends = _distance_to_points(crop, atlas_points[[0, -1]])
    corridor = ((own <= corridor_mm) & (own <= others)) | (ends <= ENDPOINT_FREE_MM)
    corridor &= ~outside_image
    score = np.zeros(crop.shape, dtype=np.float32)
    for values in samples:
        fill = np.nanmedian(values[corridor]) if corridor.any() else 0.0
        score = np.maximum(score, tube_score(np.where(outside_image, fill, values), crop.step_mm, corridor))
    tubularity = np.clip(score / TUBE_REFERENCE, 0.0, 1.0)
    cost = 1.0 / (COST_FLOOR + tubularity)
    dense_atlas = densify(atlas_points, 0.25)
    atlas_cost = float(np.mean(_sample_nearest(cost, crop, dense_atlas)))
    atlas_support = float(np.mean(_sample_nearest(score, crop, dense_atlas) >= SUPPORT_LEVEL * TUBE_REFERENCE))
    start = tuple(int(v) for v in np.rint(crop.index(atlas_points[0])))
    end = tuple(int(v) for v in np.rint(crop.index(atlas_points[-1])))
    if not (corridor[start] and corridor[end]):
        return segment, Placement("atlas", atlas_support, 0.0)
    mcp = MCP_Geometric(np.where(corridor, cost, np.inf), fully_connected=True)
    cumulative, _ = mcp.find_costs([start], [end])
    path_index = np.asarray(mcp.traceback(end), dtype=np.float64)
    path_world = crop.world(path_index)
    path_world[0], path_world[-1] = atlas_points[0], atlas_points[-1]
    path_steps = float(np.linalg.norm(np.diff(path_index, axis=0), axis=1).sum())  # in crop voxels, as MCP
    if not np.isfinite(cumulative[end]) or path_steps <= 0:
        return segment, Placement("atlas", atlas_support, 0.0)
    refined_cost = float(cumulative[end]) / path_steps
    ratio = refined_cost / max(atlas_cost, 1e-9)
    refined, radius = _as_segment_points(_smooth_path(path_world), atlas_points, segment.radius_mm)
    refined_support = float(
        np.mean(_sample_nearest(score, crop, densify(refined, 0.25)) >= SUPPORT_LEVEL * TUBE_REFERENCE)
    )
    length_ratio = _length(refined) / max(_length(atlas_points), 1e-9)
    if ratio > ACCEPT_COST_RATIO or refined_support < MIN_SUPPORT or length_ratio > MAX_LENGTH_RATIO:
        return segment, Placement("atlas", atlas_support, 0.0, ratio)
    shift = float(np.mean(distance_to_polyline(refined, atlas_points)[0]))
    moved = SubjectSegment(segment.key, segment.label, refined, radius)
    return moved, Placement("refined", refined_support, shift, ratio)


def _length(points: FloatArray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def _arc_fraction(points: FloatArray) -> FloatArray:
    cumulative = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    return cumulative / max(float(cumulative[-1]), 1e-9)


def _as_segment_points(
    path: FloatArray, atlas_points: FloatArray, radius_mm: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The refined path as segment points (at least one per mm) with the atlas radius carried along."""
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
    points = resample_polyline(path, max(len(atlas_points), int(np.ceil(length)) + 1))
    radius = np.interp(_arc_fraction(points), _arc_fraction(atlas_points), np.asarray(radius_mm, dtype=np.float64))
    return points, radius


def is_refined_segment(key: str) -> bool:
    return key.rsplit("-", 1)[-1] in REFINED_SEGMENT_NAMES


def refine_cisternal_courses(
    segments: Sequence[SubjectSegment],
    image: Volume | Sequence[Volume],
    polarity: float = 1.0,
    image_label: str = "",
) -> tuple[list[SubjectSegment], dict[str, Placement]]:
    """Refine every cisternal segment; other segments keep their registered course (not assessed)."""
    out: list[SubjectSegment] = []
    placement: dict[str, Placement] = {}
    for seg in segments:
        if not is_refined_segment(seg.key):
            out.append(seg)
            placement[seg.key] = NOT_REFINED
            continue
        nerve, side, _ = seg.key.split("-", 2)
        others = [o.points_mm for o in segments if o.key.split("-", 2)[1] == side and o.key.split("-", 2)[0] != nerve]
        moved, found = refine_course(seg, image, _near(seg, others), polarity)
        placement[seg.key] = found.seen_in(image_label)
        out.append(moved)
    return out, placement


#: nerve–CSF contrast on reference-normalised T1 (nerve ~0.6, CSF ~0.25) that TUBE_REFERENCE is set for
T1_NERVE_CSF_CONTRAST = 0.35


def scale_ciss(ciss: Volume, tissue_level: float, csf_level: float) -> Volume:
    """A CISS/FIESTA image on the T1 tube scale: brain tissue (≈ nerve) → 0, CSF → T1_NERVE_CSF_CONTRAST.

    The nerve is then a dark tube (refine with ``polarity=-1``) of the same contrast a T1 nerve has, so
    the thresholds above hold; a CISS usually shows cisternal nerves far better than a T1 does.
    """
    span = max(csf_level - tissue_level, 1e-6)
    scaled = (ciss.data - tissue_level) / span * T1_NERVE_CSF_CONTRAST
    return ciss.with_data(scaled.astype(np.float32), name="ciss_scaled")


def prepare_ciss(
    path: Path, fixed: Volume, segments: Sequence[SubjectSegment], reference_mask: NDArray[np.bool_], threads: int
) -> tuple[Volume, dict[str, float]]:
    """Load a CISS/FIESTA file, align it rigidly (NMI) to the subject grid, put it on the T1 tube scale.

    Tissue level: median over the reference tissue (pons, cerebellar white matter); CSF level: 95th
    percentile inside a box around the cisternal segments (the cisterns are mostly CSF).
    """
    from cnmri.errors import InputError
    from cnmri.io.nifti import load_volume
    from cnmri.preprocess.registration import coregister_rigid

    raw = load_volume(path, "ciss")
    aligned, quality = coregister_rigid(fixed, raw, threads)
    tissue = aligned.data[reference_mask]
    tissue = tissue[tissue > 0]
    cisternal = [s.points_mm for s in segments if is_refined_segment(s.key)]
    if tissue.size < 20 or not cisternal:
        raise InputError(f"--ciss {path}: the reference tissue or the cisterns fall outside this image")
    box = Crop.around(np.concatenate(cisternal), 3.0, 1.0).sample(aligned)
    box = box[np.isfinite(box)]
    if box.size < 100:
        raise InputError(f"--ciss {path}: the image does not cover the cisterns of the posterior fossa")
    tissue_level = float(np.median(tissue))
    csf_level = float(np.percentile(box, 95))
    if csf_level <= tissue_level * 1.2:
        raise InputError(
            f"--ciss {path}: CSF is not brighter than brain tissue in this image; is it a heavily T2-weighted "
            "CISS/FIESTA series?"
        )
    return scale_ciss(aligned, tissue_level, csf_level), {**quality, "csf_to_tissue": csf_level / tissue_level}


def _near(segment: SubjectSegment, lines: Sequence[FloatArray], reach_mm: float = 12.0) -> list[FloatArray]:
    """Only the courses that come within ``reach_mm`` of the segment matter for its corridor."""
    lo = segment.points_mm.min(axis=0) - reach_mm
    hi = segment.points_mm.max(axis=0) + reach_mm
    return [line for line in lines if np.any(np.all((line >= lo) & (line <= hi), axis=1))]


__all__ = [
    "CORRIDOR_MM",
    "NOT_REFINED",
    "Crop",
    "Placement",
    "hessian_eigen",
    "is_refined_segment",
    "prepare_ciss",
    "refine_cisternal_courses",
    "refine_course",
    "scale_ciss",
    "tube_score",
]
