"""Synthetic pathology on a second real head, placed through the project's own registration.

Colin27 is the only head the standard phantom uses, so a detector can quietly learn its anatomy. This
module puts the same physiology models and lesions on *another person's* head (for the validation
benchmark: ``shared/data/real/seg3d_t1.nii.gz``, a clinical T1 with a partial field of view):

1. register Colin27 to the head with :func:`cnmri.preprocess.registration.register_to_template` (the
   head is the subject, Colin27 the template), and sample the resulting template → head map on a 2 mm
   grid over the skull-base box (:class:`HeadMap`; outside the box, the least-squares affine of that
   grid is used — only midline venous sinuses and the choroid glomus lie there);
2. carry every physiologic structure and every atlas centerline to the head through that map and
   draw them on the head's own grid (the pre-contrast image *is* the real head);
3. skip what falls outside the field of view: an atlas segment with less than
   :data:`MIN_SEGMENT_FRACTION_IN_FOV` of its centerline inside the image, or squashed by the
   registration into the image edge (:data:`MIN_RELATIVE_JACOBIAN`), is excluded, lesions on it are
   not drawn, and ``truth.json``'s ``field_of_view`` lists every excluded segment, nerve and structure
   so that scoring ignores them (:func:`cnmri.phantom.evaluate.score_case`).

The head map is computed once per head and cached (``HeadMap.save``/``load``): registration takes
tens of seconds, drawing a case a few.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri import __version__
from cnmri.atlas.model import Atlas, Segment
from cnmri.errors import InputError
from cnmri.phantom.generator import (
    WM_SPHERES_MM,
    PhantomCase,
    PhantomSpec,
    _apply_realism,
    _jsonable,
    _render_template,
    _spec_dict,
    physiology_rng,
    skull_base_landmarks,
    validate_spec,
)
from cnmri.phantom.models import model_structures
from cnmri.phantom.physiology import Kind, Structure
from cnmri.phantom.render import ellipsoid
from cnmri.volume import Volume

FloatArray = NDArray[np.float64]

#: A segment counts as inside the field of view when at least this fraction of its centerline points
#: lies inside the image, at least ``FOV_MARGIN_MM`` from its edge.
MIN_SEGMENT_FRACTION_IN_FOV = 0.9
FOV_MARGIN_MM = 2.0
#: Template → head map sampling step over the skull-base box (mm).
MAP_STEP_MM = 2.0
#: Below this local volume change of the map, relative to its affine part, the registration has
#: squashed template anatomy into the edge of the image: on seg3d the jugular foramina and hypoglossal
#: canals, below the field of view, map to ~0.1 of the affine volume, acquired anatomy to 0.5–1.7.
#: Segments (median along the centerline) and structures there count as outside the field of view.
MIN_RELATIVE_JACOBIAN = 0.35


@dataclass
class HeadMap:
    """Template (Colin27 mm) → head (scanner mm), sampled on a grid over the skull-base box."""

    axes_mm: tuple[FloatArray, FloatArray, FloatArray]
    mapped_mm: FloatArray  # (nx, ny, nz, 3) head mm of each grid point
    affine: FloatArray  # 4×4 least-squares template → head affine of the grid
    quality: dict[str, Any] = field(default_factory=dict)

    def template_to_subject(self, points_mm: FloatArray) -> FloatArray:
        """(N, 3) template mm → head mm: trilinear inside the box, the fitted affine outside."""
        from scipy.interpolate import RegularGridInterpolator

        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        out = pts @ self.affine[:3, :3].T + self.affine[:3, 3]
        inside = np.all(
            [(pts[:, d] >= self.axes_mm[d][0]) & (pts[:, d] <= self.axes_mm[d][-1]) for d in range(3)], axis=0
        )
        if inside.any():
            interp = RegularGridInterpolator(self.axes_mm, self.mapped_mm, method="linear")
            out[inside] = interp(pts[inside])
        return out

    @staticmethod
    def from_affine(affine: FloatArray, quality: dict[str, Any] | None = None) -> HeadMap:
        """A purely affine map (tests, or a head already in template space with ``np.eye(4)``)."""
        axes = tuple(np.array([-200.0, 200.0]) for _ in range(3))
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        mapped = grid @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
        return HeadMap((axes[0], axes[1], axes[2]), mapped, np.asarray(affine, dtype=np.float64), quality or {})

    def relative_jacobian(self, points_mm: FloatArray) -> FloatArray:
        """Local volume change of the map at template points, divided by that of its affine part."""
        from scipy.interpolate import RegularGridInterpolator

        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        if any(len(a) < 3 for a in self.axes_mm):
            return np.ones(len(pts))
        spacing = [float(a[1] - a[0]) for a in self.axes_mm]
        rows = []
        for c in range(3):
            grads = np.gradient(self.mapped_mm[..., c], *spacing)
            rows.append(np.stack([np.asarray(g) for g in grads], -1))
        jac = np.stack(rows, -2)
        det = np.linalg.det(jac) / float(np.linalg.det(self.affine[:3, :3]))
        inside = np.all(
            [(pts[:, d] >= self.axes_mm[d][0]) & (pts[:, d] <= self.axes_mm[d][-1]) for d in range(3)], axis=0
        )
        out = np.ones(len(pts))
        if inside.any():
            out[inside] = RegularGridInterpolator(self.axes_mm, det, method="linear")(pts[inside])
        return out

    @property
    def scale(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])) ** (1.0 / 3.0))

    def save(self, path: Path) -> None:
        import json

        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            x=self.axes_mm[0],
            y=self.axes_mm[1],
            z=self.axes_mm[2],
            mapped=self.mapped_mm,
            affine=self.affine,
            quality=json.dumps(_jsonable(self.quality)),
        )
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> HeadMap:
        import json

        with np.load(path) as raw:
            return HeadMap(
                (raw["x"], raw["y"], raw["z"]),
                raw["mapped"],
                raw["affine"],
                json.loads(str(raw["quality"])),
            )


def _map_with_coverage(reg: Any, points_mm: FloatArray) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Template points → head mm through the registration, and whether each lands inside the head image.

    As :func:`cnmri.preprocess.registration.map_template_points` (coordinate images resliced with
    greedy), plus an image of ones resliced the same way: where it reads < 1 the point maps outside the
    head's field of view (greedy pads with 0), so its coordinates are not trustworthy."""
    from scipy import ndimage

    from cnmri.preprocess.sitk_bridge import from_sitk, to_sitk

    subject = reg.subject
    ii, jj, kk = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in subject.shape), indexing="ij")
    a = subject.affine
    channels = [(a[d, 0] * ii + a[d, 1] * jj + a[d, 2] * kk + a[d, 3]).astype(np.float32) for d in range(3)]
    channels.append(np.ones(subject.shape, dtype=np.float32))
    ijk = reg.template_crop.world_to_voxel(points_mm)
    out = []
    for c, data in enumerate(channels):
        image = to_sitk(subject.with_data(data))
        reg.greedy.execute(
            f"-rf crop -rm hm_in{c} hm_out{c} -r {reg.transforms}", **{f"hm_in{c}": image, f"hm_out{c}": None}
        )
        resliced = from_sitk(reg.greedy[f"hm_out{c}"]).data
        out.append(ndimage.map_coordinates(resliced, ijk.T, order=1, mode="constant", cval=0.0))
        del image
    mapped = np.stack(out[:3], axis=1).astype(np.float64)
    return mapped, out[3] > 0.999


def register_head(head: Volume, template: Volume | None = None, threads: int = 2) -> HeadMap:
    """Register the template (Colin27) to ``head`` with the project's registration; sample the map.

    Grid points that map outside the head's image take the affine fitted to the points that do not."""
    from cnmri.preprocess.quiet import native_output_to_log
    from cnmri.preprocess.registration import SKULL_BASE_BOX_MM, register_to_template
    from cnmri.templates import load_template

    template = template or load_template()
    started = time.perf_counter()
    with native_output_to_log():
        reg = register_to_template(head, template, threads)
        lo, hi = (np.asarray(b, dtype=np.float64) for b in SKULL_BASE_BOX_MM)
        axes = tuple(np.arange(lo[d], hi[d] + 1e-6, MAP_STEP_MM) for d in range(3))
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        mapped, covered = _map_with_coverage(reg, grid)
    if covered.sum() < 1000:
        raise InputError(f"{head.source or head.name}: the registered head covers almost none of the skull base")
    design = np.hstack([grid, np.ones((len(grid), 1))])
    coef, *_ = np.linalg.lstsq(design[covered], mapped[covered], rcond=None)
    affine = np.eye(4)
    affine[:3, :3] = coef[:3].T
    affine[:3, 3] = coef[3]
    fitted = design @ coef
    residual = np.linalg.norm(fitted[covered] - mapped[covered], axis=1)
    mapped[~covered] = fitted[~covered]
    quality: dict[str, Any] = dict(reg.quality)
    quality.update(
        {
            "seconds": round(time.perf_counter() - started, 1),
            "map_step_mm": MAP_STEP_MM,
            "skull_base_box_covered_fraction": round(float(covered.mean()), 4),
            "nonlinear_part_mm": {"median": float(np.median(residual)), "max": float(residual.max())},
            "method": "cnmri.preprocess.registration.register_to_template(head, Colin27); template → head; "
            "uncovered grid points by the affine fit",
        }
    )
    shape = (len(axes[0]), len(axes[1]), len(axes[2]))
    return HeadMap((axes[0], axes[1], axes[2]), mapped.reshape(*shape, 3), affine, quality)


def cached_head_map(head: Volume, cache: Path, template: Volume | None = None) -> HeadMap:
    """:func:`register_head`, computed once and kept in ``cache`` (an .npz file)."""
    if cache.exists():
        return HeadMap.load(cache)
    head_map = register_head(head, template)
    cache.parent.mkdir(parents=True, exist_ok=True)
    head_map.save(cache)
    return head_map


# ---- field of view ---------------------------------------------------------------------------------------


def _inside_fraction(head: Volume, points_mm: FloatArray, margin_mm: float = FOV_MARGIN_MM) -> float:
    ijk = head.world_to_voxel(np.asarray(points_mm, dtype=np.float64).reshape(-1, 3))
    margin = margin_mm / np.asarray(head.zooms_mm)
    upper = np.asarray(head.shape) - 1 - margin
    ok = np.all((ijk >= margin) & (ijk <= upper), axis=1)
    return float(ok.mean()) if len(ok) else 0.0


def _map_structure(s: Structure, head_map: HeadMap) -> Structure:
    if s.kind is Kind.ELLIPSOID:
        center = head_map.template_to_subject(s.center_mm)[0]
        return replace(s, center_mm=center, semi_axes_mm=np.asarray(s.semi_axes_mm) * head_map.scale)
    return replace(s, points_mm=head_map.template_to_subject(s.points_mm))


def _structure_in_fov(s: Structure, head: Volume) -> float:
    if s.kind is Kind.ELLIPSOID:
        return 1.0 if not ellipsoid(head.shape, head.affine, s.center_mm, s.semi_axes_mm, 1).empty else 0.0
    return _inside_fraction(head, s.points_mm, margin_mm=0.0)


def map_atlas(atlas: Atlas, head_map: HeadMap, head: Volume) -> tuple[Atlas, dict[str, str]]:
    """The atlas with centerlines in head mm, without the segments outside the field of view
    (returned with the reason for each)."""
    kept: list[Segment] = []
    excluded: dict[str, str] = {}
    for seg in atlas.segments:
        template = np.asarray(seg.points_mm, dtype=np.float64)
        mapped = head_map.template_to_subject(template)
        inside = _inside_fraction(head, mapped)
        squash = float(np.median(head_map.relative_jacobian(template)))
        if inside < MIN_SEGMENT_FRACTION_IN_FOV:
            excluded[seg.key] = f"{inside:.0%} of the centerline inside the image"
        elif squash < MIN_RELATIVE_JACOBIAN:
            excluded[seg.key] = f"squashed by the registration at the image edge (volume change {squash:.2f} of affine)"
        else:
            kept.append(replace(seg, points_mm=mapped))
    return replace(atlas, segments=tuple(kept)), excluded


def _lesions_in_fov(spec: PhantomSpec, mapped_atlas: Atlas) -> tuple[PhantomSpec, list[dict[str, Any]]]:
    """Drop lesions (or lesion segments) that the field of view does not contain."""
    kept = []
    skipped: list[dict[str, Any]] = []
    for lesion in spec.lesions:
        names = {s.segment for s in mapped_atlas.segments if s.nerve == lesion.nerve and s.side.value == lesion.side}
        wanted = set(lesion.segments) if lesion.segments else None
        present = names if wanted is None else names & wanted
        if not present:
            skipped.append({"lesion": lesion.label, "reason": "no segment of it inside the field of view"})
            continue
        if wanted is not None and present != wanted:
            skipped.append({"lesion": lesion.label, "segments_outside": sorted(wanted - present)})
            lesion = replace(lesion, segments=tuple(sorted(present)))
        kept.append(lesion)
    return replace(spec, lesions=tuple(kept)), skipped


def head_wm_signal(head: Volume, head_map: HeadMap) -> float:
    """Median head intensity in the phantom's centrum-semiovale spheres carried onto the head."""
    values = []
    for centre in WM_SPHERES_MM:
        c = head_map.template_to_subject(np.asarray(centre))[0]
        patch = ellipsoid(head.shape, head.affine, c, np.full(3, 5.0), 1)
        values.append(head.data.reshape(-1)[patch.index])
    merged = np.concatenate(values)
    if merged.size == 0 or float(np.median(merged)) <= 0:
        raise InputError(f"{head.source or head.name}: no white-matter signal at the centrum semiovale")
    return float(np.median(merged))


# ---- the case --------------------------------------------------------------------------------------------


def generate_on_head(
    spec: PhantomSpec,
    seed: int,
    head: Volume,
    head_map: HeadMap,
    atlas: Atlas,
    supersample: int = 2,
) -> PhantomCase:
    """A pre/post pair on ``head`` with the physiology of ``spec.physiology_model`` and its lesions.

    Geometric realism (pose, warp, voxel size, motion) is ignored: the head is a real scan already.
    Bias field, Rician noise (on top of the scan's own) and per-series scaling are applied if asked.
    """
    started = time.perf_counter()
    validate_spec(spec, atlas)
    head = head.as_closest_canonical() if head.orientation != ("R", "A", "S") else head
    head = head.with_data(np.asarray(head.data, dtype=np.float32))
    mapped_atlas, excluded_segments = map_atlas(atlas, head_map, head)
    spec_fov, skipped_lesions = _lesions_in_fov(spec, mapped_atlas)
    rng = np.random.default_rng(seed)
    wm = head_wm_signal(head, head_map)
    draw = model_structures(spec.physiology_model, atlas, physiology_rng(seed, spec.physiology_model))
    structures: list[Structure] = []
    skipped_structures: list[str] = []
    for s in draw.structures:
        m = _map_structure(s, head_map)
        where = s.center_mm if s.kind is Kind.ELLIPSOID else s.points_mm
        squash = float(np.median(head_map.relative_jacobian(where)))
        if _structure_in_fov(m, head) == 0.0 or squash < MIN_RELATIVE_JACOBIAN:
            skipped_structures.append(s.name)
            continue
        structures.append(m)
    images, lesions_truth, structures_truth, lepto = _render_template(
        spec_fov, head, mapped_atlas, wm, rng, supersample, tuple(structures)
    )
    head_realism = replace(
        spec.realism,
        pose=False,
        deformation=False,
        head_scale=False,
        random_voxel_size=False,
        voxel_size_mm=None,
        motion=False,
        partial_fov=False,
    )
    pre, post, _, info = _apply_realism(replace(spec, realism=head_realism), head, images, wm, rng)
    template_lines = {seg.key: np.asarray(seg.points_mm) for seg in atlas.segments}
    for lesion in lesions_truth:
        for seg in lesion["segments"]:
            # Drawn in head mm; the template centerline is the atlas's.
            seg["subject_points_mm"] = seg["template_points_mm"]
            seg["subject_points_post_mm"] = seg["template_points_mm"]
            seg["template_points_mm"] = template_lines[seg["key"]]
    named = skull_base_landmarks(atlas)
    landmarks = {
        name: {"template_mm": q, "subject_mm": head_map.template_to_subject(q)[0]} for name, q in sorted(named.items())
    }
    all_keys = {seg.key for seg in atlas.segments}
    nerve_sides = sorted({"-".join(k.split("-")[:2]) for k in all_keys})
    kept_keys = {seg.key for seg in mapped_atlas.segments}
    excluded_nerves = [ns for ns in nerve_sides if not any(k.startswith(ns + "-") for k in kept_keys)]
    truth: dict[str, Any] = {
        "schema_version": "1",
        "kind": "cnmri-phantom-real-head",
        "software": {"name": "cnmri", "version": __version__},
        "seed": int(seed),
        "spec": _spec_dict(spec),
        "base": {"source": head.source, "shape": list(head.shape), "zooms_mm": list(head.zooms_mm)},
        "atlas": {"version": atlas.version, "space": atlas.space},
        "wm_signal_base": wm,
        "abnormal_nerves": sorted({les["label"] for les in lesions_truth}),
        "abnormal_segments": sorted({s["key"] for les in lesions_truth for s in les["segments"]}),
        "lesions": lesions_truth,
        "leptomeningeal": lepto,
        "physiologic_structures": structures_truth,
        "physiology_model": spec.physiology_model,
        "vessel_contacts": list(draw.contacts) if spec.physiologic else [],
        "physiology_case_factors": draw.case_factors,
        "field_of_view": {
            "rule": f"an atlas segment is excluded when < {MIN_SEGMENT_FRACTION_IN_FOV:.0%} of its centerline "
            f"lies inside the image ({FOV_MARGIN_MM:g} mm margin), or when the registration squashed it into the "
            f"image edge (median volume change < {MIN_RELATIVE_JACOBIAN} of the affine); scoring ignores "
            "excluded segments and nerves",
            "excluded_segments": sorted(excluded_segments),
            "excluded_segment_reasons": dict(sorted(excluded_segments.items())),
            "excluded_nerves": excluded_nerves,
            "skipped_structures": skipped_structures,
            "skipped_lesions": skipped_lesions,
        },
        "head_registration": head_map.quality,
        "subject_grid": {"shape": list(pre.shape), "affine": pre.affine, "zooms_mm": list(pre.zooms_mm)},
        "landmarks": landmarks,
        "realism": info,
        "generation_seconds": round(time.perf_counter() - started, 3),
    }
    return PhantomCase(pre, post, _jsonable(truth))


__all__ = [
    "FOV_MARGIN_MM",
    "MIN_SEGMENT_FRACTION_IN_FOV",
    "HeadMap",
    "cached_head_map",
    "generate_on_head",
    "head_wm_signal",
    "map_atlas",
    "register_head",
]
