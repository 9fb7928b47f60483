"""Synthetic cranial-nerve pathology on a real head: pre/post-contrast T1 pairs with known truth.

The base image (the real Colin27 head by default) is the pre-contrast T1 in template space. The
post-contrast image adds the normal enhancement of :mod:`cnmri.phantom.physiology` and, for each
lesion, a tube along the chosen atlas segments whose diameter is the lesion thickness and whose
enhancement (post − pre) is ``contrast`` × white-matter signal. Thickening replaces what was there
(usually dark CSF) with nerve tissue of grey-matter-like T1 signal, visible on the pre-contrast image
too. Shapes are rendered with partial volume (:mod:`cnmri.phantom.render`).

With scanner realism on, both images are then forward-deformed to a subject scanner grid
(:mod:`cnmri.phantom.realism`): head pose, size, a smooth nonlinear deformation, voxel size, pre→post
motion, partial field of view, bias field and Rician noise; ``truth.json`` records the true map so
registration error can be scored.

The generator reads the atlas only to know where segments are in template space. It never calls the
detector's registration or measurement code; the detector must recover the lesions on its own.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cnmri import __version__
from cnmri.atlas.model import NERVES, Atlas, Segment, Side
from cnmri.errors import InputError
from cnmri.phantom import render
from cnmri.phantom.models import PHYSIOLOGY_MODELS, model_structures
from cnmri.phantom.physiology import Kind, Structure
from cnmri.phantom.realism import SubjectMap, anti_alias_sigma_vox, bias_field, pull_back, rician
from cnmri.volume import Volume

FloatArray = NDArray[np.float64]

CONTRAST_RANGE = (0.05, 3.0)
THICKNESS_RANGE_MM = (0.5, 8.0)
SNR_RANGE = (3.0, 1000.0)
SCALE_RANGE = (0.85, 1.0)
VOXEL_RANGE_MM = (0.5, 1.2)
#: Nerve tissue on T1 is grey-matter-like; as a fraction of white-matter signal.
NERVE_T1_FRACTION = 0.62
#: White-matter sample spheres (centrum semiovale, template mm) used to measure the base's WM signal.
WM_SPHERES_MM = ((-26.0, -12.0, 28.0), (26.0, -12.0, 28.0), (-24.0, 10.0, 26.0), (24.0, 10.0, 26.0))
#: Skull-base landmarks of the phantom (template RAS mm), to score registration error.
SKULL_BASE_LANDMARKS_MM: dict[str, tuple[float, float, float]] = {
    "dorsum_sellae": (0.0, -2.0, -28.0),
    "pituitary_fossa": (0.0, 2.0, -34.0),
    "clivus_mid": (0.0, -7.0, -40.0),
    "prepontine_cistern": (0.0, -11.0, -36.0),
}
#: Atlas points that are skull-base landmarks too: (name, nerve, segment, where on the centerline).
ATLAS_LANDMARKS: tuple[tuple[str, str, str, str], ...] = (
    ("porus_acusticus", "CN7", "canalicular", "start"),
    ("iac_fundus", "CN7", "canalicular", "end"),
    ("geniculate_ganglion", "CN7", "geniculate", "middle"),
    ("stylomastoid_foramen", "CN7", "mastoid", "end"),
    ("jugular_foramen", "CN9", "jugular_foramen", "start"),
    ("hypoglossal_canal", "CN12", "hypoglossal_canal", "middle"),
    ("foramen_ovale", "CN5", "V3", "end"),
    ("meckel_cave", "CN5", "meckel_cave", "middle"),
    ("dorello_canal", "CN6", "dorello", "middle"),
    ("optic_canal", "CN2", "intracanalicular", "middle"),
)


def skull_base_landmarks(atlas: Atlas | None) -> dict[str, FloatArray]:
    """Named skull-base points in template mm: the phantom's midline set plus atlas foramina."""
    out = {name: np.asarray(p, dtype=np.float64) for name, p in SKULL_BASE_LANDMARKS_MM.items()}
    if atlas is None:
        return out
    for name, nerve, seg_name, where in ATLAS_LANDMARKS:
        for side in (Side.LEFT, Side.RIGHT):
            try:
                seg = atlas.segment(nerve, side, seg_name)
            except KeyError:
                continue
            pts = np.asarray(seg.points_mm, dtype=np.float64)
            point = pts[0] if where == "start" else pts[-1] if where == "end" else pts[len(pts) // 2]
            out[f"{name}_{side.value}"] = point
    return out


@dataclass(frozen=True)
class LesionSpec:
    """Thickening and enhancement along one nerve on one side.

    ``segments`` None means every segment of that nerve and side in the atlas. ``contrast`` is the
    enhancement (post − pre) as a fraction of white-matter signal; ``thickness_mm`` the lesion
    diameter; ``nodular`` adds beads (up to 1.6× the diameter) along the segment.
    """

    nerve: str
    side: str
    segments: tuple[str, ...] | None = None
    contrast: float = 0.6
    thickness_mm: float = 2.5
    nodular: bool = False

    @property
    def label(self) -> str:
        return f"{self.nerve}-{self.side}"


@dataclass(frozen=True)
class Realism:
    """Scanner realism; every option is off by default. Random draws come from the case seed.

    ``voxel_size_mm``: None keeps the base grid unless ``random_voxel_size``; ``snr``: None = no noise,
    else Rician noise with σ = WM signal / snr.
    """

    pose: bool = False
    deformation: bool = False
    head_scale: bool = False
    random_voxel_size: bool = False
    voxel_size_mm: tuple[float, float, float] | None = None
    bias_field: bool = False
    snr: float | None = None
    motion: bool = False
    partial_fov: bool = False
    #: pre and post get their own global gain and offset (receiver gain / prescan normalisation differ
    #: per series on real scanners): post = g_post · post + o_post, likewise pre
    series_scaling: bool = False

    @property
    def geometric(self) -> bool:
        return (
            self.pose
            or self.deformation
            or self.head_scale
            or self.random_voxel_size
            or self.voxel_size_mm is not None
            or self.motion
            or self.partial_fov
        )

    @staticmethod
    def standard(snr: float | None = 30.0) -> Realism:
        return Realism(
            pose=True,
            deformation=True,
            head_scale=True,
            random_voxel_size=True,
            bias_field=True,
            snr=snr,
            motion=True,
            partial_fov=True,
        )

    @staticmethod
    def varied(snr: float | None = 30.0) -> Realism:
        """Everything of :meth:`standard` plus per-series intensity scaling (validation models B, C)."""
        return replace(Realism.standard(snr), series_scaling=True)

    @staticmethod
    def for_model(physiology_model: str, snr: float | None = 30.0) -> Realism:
        """The scanner realism the validation gives a physiology model: :meth:`standard` for model A (the
        standard suite's), :meth:`varied` for the independent models B and C."""
        return Realism.standard(snr) if physiology_model == "A" else Realism.varied(snr)


@dataclass(frozen=True)
class PhantomSpec:
    lesions: tuple[LesionSpec, ...] = ()
    leptomeningeal: bool = False
    physiologic: bool = True
    #: False keeps the pre-contrast image exactly the base (the lesion's bulk then shows on post only).
    pre_shows_thickening: bool = True
    realism: Realism = field(default_factory=Realism)
    #: model of normal enhancement and vessels: "A" (original), "B", "C" (cnmri.phantom.models)
    physiology_model: str = "A"


@dataclass(frozen=True)
class PhantomCase:
    pre: Volume
    post: Volume
    truth: dict[str, Any]


def demo_spec() -> PhantomSpec:
    """The seed case: both facial and both glossopharyngeal nerves thickened and intensely enhancing,
    normal physiologic enhancement, no scanner realism; pre is the base head unchanged."""
    lesions = tuple(
        LesionSpec(nerve, side, None, contrast=0.9, thickness_mm=2.8)
        for nerve in ("CN7", "CN9")
        for side in ("left", "right")
    )
    return PhantomSpec(lesions=lesions, pre_shows_thickening=False)


# ---- validation ------------------------------------------------------------------------------------------


def validate_spec(spec: PhantomSpec, atlas: Atlas | None) -> None:
    """Raise :class:`InputError` naming the bad field and the allowed values."""
    for lesion in spec.lesions:
        if lesion.nerve not in NERVES:
            raise InputError(f"unknown nerve {lesion.nerve!r}; allowed: {', '.join(NERVES)}")
        if lesion.side not in ("left", "right"):
            raise InputError(f"unknown side {lesion.side!r} for {lesion.nerve}; allowed: left, right")
        lo, hi = CONTRAST_RANGE
        if not lo <= lesion.contrast <= hi:
            raise InputError(f"contrast {lesion.contrast} is out of range; allowed {lo}–{hi} (fraction of WM signal)")
        lo, hi = THICKNESS_RANGE_MM
        if not lo <= lesion.thickness_mm <= hi:
            raise InputError(f"thickness {lesion.thickness_mm} mm is out of range; allowed {lo}–{hi} mm")
        if atlas is None:
            raise InputError("lesions need the nerve atlas, and none was found")
        names = atlas.segment_names(lesion.nerve)
        if not names:
            raise InputError(f"the atlas has no segments for {lesion.nerve}")
        for name in lesion.segments or ():
            if name not in names:
                raise InputError(f"unknown segment {name!r} of {lesion.nerve}; allowed: {', '.join(names)}")
    if spec.physiology_model not in PHYSIOLOGY_MODELS:
        raise InputError(f"unknown physiology model {spec.physiology_model!r}; allowed: {', '.join(PHYSIOLOGY_MODELS)}")
    snr = spec.realism.snr
    if snr is not None and not SNR_RANGE[0] <= snr <= SNR_RANGE[1]:
        raise InputError(f"SNR {snr} is out of range; allowed {SNR_RANGE[0]:g}–{SNR_RANGE[1]:g}")
    vs = spec.realism.voxel_size_mm
    if vs is not None and (len(vs) != 3 or not all(VOXEL_RANGE_MM[0] <= v <= VOXEL_RANGE_MM[1] for v in vs)):
        raise InputError(
            f"voxel size {vs} is out of range; allowed three values {VOXEL_RANGE_MM[0]}–{VOXEL_RANGE_MM[1]} mm"
        )


def check_head(base: Volume) -> None:
    """Refuse a base image that cannot be a whole head in template (MNI) space."""
    data = np.asarray(base.data)
    if not np.isfinite(data).all() or float(data.max()) <= float(data.min()):
        raise InputError(f"base image {base.source or base.name} is empty, constant or has non-finite voxels")
    hi = float(np.percentile(data, 99.5))
    mask = data > 0.2 * hi
    if mask.sum() == 0:
        raise InputError(f"base image {base.source or base.name} has no foreground")
    idx = np.argwhere(mask)
    corners = base.voxel_to_world(np.stack([idx.min(axis=0), idx.max(axis=0)]).astype(np.float64))
    extent = np.abs(corners[1] - corners[0])
    centre = corners.mean(axis=0)
    if (extent < 100).any() or (extent > 320).any():
        raise InputError(
            f"base image {base.source or base.name} does not look like a head: foreground extent "
            f"{np.round(extent).astype(int).tolist()} mm (a head is about 140×180×160 mm)"
        )
    if np.linalg.norm(centre[:2]) > 60 or not -80 < centre[2] < 60:
        raise InputError(
            f"base image {base.source or base.name} is not in template (MNI) space: the head "
            f"centre is at {np.round(centre).astype(int).tolist()} mm; register it to MNI first"
        )
    frac = float(mask.mean())
    if not 0.05 < frac < 0.9:
        raise InputError(
            f"base image {base.source or base.name} does not look like a head ({frac:.0%} of voxels are bright)"
        )


def wm_signal(base: Volume) -> float:
    """Median base intensity in the phantom's centrum-semiovale spheres (template mm)."""
    values: list[NDArray[np.floating]] = []
    for centre in WM_SPHERES_MM:
        patch = render.ellipsoid(base.shape, base.affine, np.asarray(centre), np.full(3, 5.0), supersample=1)
        values.append(base.data.reshape(-1)[patch.index])
    merged = np.concatenate(values) if values else np.zeros(0)
    if merged.size == 0 or float(np.median(merged)) <= 0:
        raise InputError(
            f"base image {base.source or base.name}: no white-matter signal found at the centrum "
            "semiovale; is it a T1 in MNI space?"
        )
    return float(np.median(merged))


# ---- lesions ---------------------------------------------------------------------------------------------


def _resample_polyline(points: FloatArray, step_mm: float = 0.5) -> tuple[FloatArray, FloatArray]:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(arc[-1] / step_mm)) + 1)
    s = np.linspace(0.0, arc[-1], n)
    out = np.stack([np.interp(s, arc, points[:, d]) for d in range(3)], axis=1)
    return out, s


def lesion_segments(lesion: LesionSpec, atlas: Atlas) -> tuple[Segment, ...]:
    side = Side(lesion.side)
    chosen = [
        s
        for s in atlas.segments
        if s.nerve == lesion.nerve and s.side is side and (lesion.segments is None or s.segment in lesion.segments)
    ]
    return tuple(chosen)


def _lesion_geometry(lesion: LesionSpec, segment: Segment, rng: np.random.Generator) -> dict[str, Any]:
    points, arc = _resample_polyline(np.asarray(segment.points_mm, dtype=np.float64))
    r0 = lesion.thickness_mm / 2.0
    radius = np.full(len(points), r0)
    nodules: list[float] = []
    if lesion.nodular:
        count = max(1, round(arc[-1] / 6.0))
        nodules = sorted(float(v) for v in rng.uniform(0.15, 0.85, size=count) * arc[-1])
        bump = np.zeros_like(arc)
        for pos in nodules:
            bump = np.maximum(bump, np.exp(-((arc - pos) ** 2) / (2 * 1.2**2)))
        radius = r0 * (1.0 + 0.6 * bump)
    return {"points_mm": points, "radius_mm": radius, "nodules_arc_mm": nodules, "length_mm": float(arc[-1])}


# ---- rendering in template space -------------------------------------------------------------------------


def _structure_patch(structure: Structure, base: Volume, supersample: int) -> render.Patch:
    if structure.kind is Kind.ELLIPSOID:
        return render.ellipsoid(base.shape, base.affine, structure.center_mm, structure.semi_axes_mm, supersample)
    return render.tube(
        base.shape,
        base.affine,
        structure.points_mm,
        structure.radius_mm,
        structure.inner_radius_mm if structure.kind is Kind.SLEEVE else None,
        supersample,
    )


def _leptomeningeal(base: Volume, wm: float, rng: np.random.Generator) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """Thin patchy coating of the brainstem and cerebellar surfaces in the posterior fossa."""
    data = base.data
    tissue = data > 0.55 * wm
    csf = data < 0.45 * wm
    zooms = np.array(base.zooms_mm)
    dist = ndimage.distance_transform_edt(~tissue, sampling=zooms)
    shell = csf & (dist > 0) & (dist <= 1.5)
    world = base.voxel_to_world(np.argwhere(np.ones(base.shape, dtype=bool)).astype(np.float64)).reshape(*base.shape, 3)
    box = (
        (world[..., 0] > -50)
        & (world[..., 0] < 50)
        & (world[..., 1] > -90)
        & (world[..., 1] < 0)
        & (world[..., 2] > -65)
        & (world[..., 2] < -5)
    )
    noise = ndimage.gaussian_filter(rng.normal(size=base.shape), sigma=4.0 / zooms)
    patchy = noise > np.percentile(noise, 40)
    level = 0.5
    enh = (shell & box & patchy).astype(np.float32) * level
    return enh, {
        "region": "posterior fossa pial surfaces (brainstem, cerebellum)",
        "enhancement_wm": level,
        "thickness_mm": 1.5,
        "coverage": 0.6,
    }


@dataclass(frozen=True)
class _TemplateImages:
    pre: NDArray[np.float32]
    post: NDArray[np.float32]
    lesion_fraction: NDArray[np.float32]


def _render_template(
    spec: PhantomSpec,
    base: Volume,
    atlas: Atlas | None,
    wm: float,
    rng: np.random.Generator,
    supersample: int,
    structures: tuple[Structure, ...] = (),
) -> tuple[_TemplateImages, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    shape = base.shape
    n = int(np.prod(shape))
    pre = np.asarray(base.data, dtype=np.float32).reshape(-1).copy()
    enh = np.zeros(n, dtype=np.float32)
    structures_truth: list[dict[str, Any]] = []
    if spec.physiologic:
        for structure in structures:
            patch = _structure_patch(structure, base, supersample)
            if patch.empty:
                continue
            enh[patch.index] = np.maximum(enh[patch.index], (patch.fraction * structure.enhancement).astype(np.float32))
            structures_truth.append(structure.to_truth())
    lepto_truth: dict[str, Any] | None = None
    if spec.leptomeningeal:
        lepto, lepto_truth = _leptomeningeal(base, wm, rng)
        enh = np.maximum(enh, lepto.reshape(-1))
    lesion_frac = np.zeros(n, dtype=np.float32)
    lesions_truth: list[dict[str, Any]] = []
    nerve_signal = NERVE_T1_FRACTION * wm
    thick_pre = pre.copy()
    for lesion in spec.lesions:
        assert atlas is not None  # validated
        segs_truth: list[dict[str, Any]] = []
        for segment in lesion_segments(lesion, atlas):
            geom = _lesion_geometry(lesion, segment, rng)
            patch = render.tube(shape, base.affine, geom["points_mm"], geom["radius_mm"], None, supersample)
            f = patch.fraction.astype(np.float32)
            idx = patch.index
            thick_pre[idx] = (1 - f) * thick_pre[idx] + f * nerve_signal
            enh[idx] = (1 - f) * enh[idx] + f * lesion.contrast
            lesion_frac[idx] = np.maximum(lesion_frac[idx], f)
            segs_truth.append(
                {
                    "segment": segment.segment,
                    "key": segment.key,
                    "physiologic_enhancement": segment.physiologic_enhancement,
                    "template_points_mm": geom["points_mm"],
                    "radius_mm": geom["radius_mm"],
                    "nodules_arc_mm": geom["nodules_arc_mm"],
                    "length_mm": geom["length_mm"],
                    "diameter_max_mm": float(2 * geom["radius_mm"].max()),
                }
            )
        lesions_truth.append(
            {
                "nerve": lesion.nerve,
                "side": lesion.side,
                "label": lesion.label,
                "contrast_wm": lesion.contrast,
                "thickness_mm": lesion.thickness_mm,
                "nodular": lesion.nodular,
                "segments": segs_truth,
            }
        )
    post = thick_pre + enh * np.float32(wm)
    pre_out = thick_pre if spec.pre_shows_thickening else pre
    images = _TemplateImages(pre_out.reshape(shape), post.reshape(shape).astype(np.float32), lesion_frac.reshape(shape))
    return images, lesions_truth, structures_truth, lepto_truth


# ---- realism ---------------------------------------------------------------------------------------------


def _draw_map(realism: Realism, base: Volume, rng: np.random.Generator) -> SubjectMap:
    rot = rng.uniform(-10, 10, 3) if realism.pose else np.zeros(3)
    trans = rng.uniform(-10, 10, 3) if realism.pose else np.zeros(3)
    scale = float(rng.uniform(*SCALE_RANGE)) if realism.head_scale else 1.0
    if realism.deformation:
        grid = np.array(
            [
                [x, y, z]
                for x in (-60.0, -20.0, 20.0, 60.0)
                for y in (-90.0, -45.0, 0.0, 45.0)
                for z in (-60.0, -20.0, 20.0, 60.0)
            ]
        )
        centers = grid + rng.uniform(-8, 8, grid.shape)
        amps = rng.normal(0.0, 1.5, grid.shape)
        sigma = 28.0
    else:
        centers, amps, sigma = np.zeros((0, 3)), np.zeros((0, 3)), 28.0
    mrot = rng.uniform(-1.5, 1.5, 3) if realism.motion else np.zeros(3)
    mtrans = rng.uniform(-1.5, 1.5, 3) if realism.motion else np.zeros(3)
    return SubjectMap(rot, trans, scale, centers, amps, sigma, mrot, mtrans)


def _subject_grid(
    realism: Realism, base: Volume, mapping: SubjectMap, wm: float, rng: np.random.Generator
) -> tuple[tuple[int, int, int], FloatArray, dict[str, Any]]:
    if realism.voxel_size_mm is not None:
        zooms = np.asarray(realism.voxel_size_mm, dtype=np.float64)
    elif realism.random_voxel_size:
        inplane = float(rng.uniform(0.5, 1.0))
        through = float(rng.choice([inplane, rng.uniform(inplane, 1.2)]))
        zooms = np.array([inplane, inplane, through])
        zooms = np.round(zooms, 2)
    else:
        zooms = np.array(base.zooms_mm)
    head = np.argwhere(np.asarray(base.data) > 0.1 * wm)
    lo, hi = (
        base.voxel_to_world(head.min(axis=0).astype(np.float64))[0],
        base.voxel_to_world(head.max(axis=0).astype(np.float64))[0],
    )
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    fov: dict[str, Any] = {"partial": False}
    if realism.partial_fov:
        top = float(rng.uniform(15.0, 40.0))
        hi[2] = min(hi[2], top)
        fov = {"partial": True, "template_z_max_mm": round(top, 3)}
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    # Sample the box faces densely enough to bound the deformed head.
    t = np.linspace(0, 1, 5)
    face_pts = np.array([lo + (hi - lo) * np.array([a, b, c]) for a in t for b in t for c in t])
    pts = mapping.template_to_subject(np.vstack([corners, face_pts]))
    s_lo, s_hi = pts.min(axis=0) - 4.0, pts.max(axis=0) + 4.0
    shape = tuple(int(np.ceil((s_hi[d] - s_lo[d]) / zooms[d])) + 1 for d in range(3))
    affine = np.eye(4)
    affine[:3, :3] = np.diag(zooms)
    affine[:3, 3] = s_lo
    return (shape[0], shape[1], shape[2]), affine, fov


def _apply_realism(
    spec: PhantomSpec, base: Volume, images: _TemplateImages, wm: float, rng: np.random.Generator
) -> tuple[Volume, Volume, SubjectMap, dict[str, Any]]:
    realism = spec.realism
    mapping = _draw_map(realism, base, rng) if realism.geometric else SubjectMap.identity()
    info: dict[str, Any] = {}
    if realism.geometric:
        shape, affine, fov = _subject_grid(realism, base, mapping, wm, rng)
        info["field_of_view"] = fov
        sigma = anti_alias_sigma_vox(
            np.array(base.zooms_mm), np.sqrt((affine[:3, :3] ** 2).sum(axis=0)) / mapping.scale
        )
        pre_t, post_t = images.pre, images.post
        if (sigma > 0.05).any():
            pre_t = ndimage.gaussian_filter(pre_t, sigma).astype(np.float32)
            post_t = ndimage.gaussian_filter(post_t, sigma).astype(np.float32)
        pre = pull_back(pre_t, base.affine, shape, affine, mapping, post=False)
        post = pull_back(post_t, base.affine, shape, affine, mapping, post=True)
        if fov.get("partial"):
            # Voxels above the slab read nothing (the scanner did not acquire them).
            zmax = fov["template_z_max_mm"]
            for img, is_post in ((pre, False), (post, True)):
                kk = np.arange(shape[2])
                centre_cols = np.stack([np.full_like(kk, shape[0] // 2), np.full_like(kk, shape[1] // 2), kk], axis=1)
                world = centre_cols @ affine[:3, :3].T + affine[:3, 3]
                q = mapping.subject_to_template(world.astype(np.float64), post=is_post)
                cut = q[:, 2] > zmax + 25.0
                img[:, :, cut] = 0.0
        pre = np.clip(pre, 0, None)
        post = np.clip(post, 0, None)
    else:
        affine = base.affine
        pre, post = images.pre.copy(), images.post.copy()
    if realism.bias_field:
        field_arr, info["bias_field"] = bias_field(pre.shape, affine, rng)
        pre = pre * field_arr
        post = post * field_arr
    if realism.snr is not None:
        noise_sigma = wm / realism.snr
        pre = rician(pre, noise_sigma, rng)
        post = rician(post, noise_sigma, rng)
        info["noise"] = {
            "kind": "rician",
            "snr": realism.snr,
            "sigma": round(noise_sigma, 6),
            "definition": "sigma = white-matter signal / snr, per channel",
        }
    if realism.series_scaling:
        scaling = draw_series_scaling(wm, rng)
        pre = scaling["pre"]["gain"] * pre + scaling["pre"]["offset"]
        post = scaling["post"]["gain"] * post + scaling["post"]["offset"]
        info["series_scaling"] = scaling
    return (
        Volume(pre.astype(np.float32), affine, "pre", "cnmri phantom"),
        Volume(post.astype(np.float32), affine, "post", "cnmri phantom"),
        mapping,
        info,
    )


def draw_series_scaling(wm: float, rng: np.random.Generator) -> dict[str, Any]:
    """Global gain and offset of each series: gain 0.5–2 (arbitrary scanner units), post/pre gain ratio
    0.8–1.25, offset 0–5 % of WM (why: receiver gain and prescan normalisation are set per series, so
    raw intensities of pre and post are not comparable; the detector must normalise each series)."""
    pre_gain = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    post_gain = pre_gain * float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    return {
        "pre": {"gain": round(pre_gain, 6), "offset": round(float(rng.uniform(0.0, 0.05)) * wm * pre_gain, 6)},
        "post": {"gain": round(post_gain, 6), "offset": round(float(rng.uniform(0.0, 0.05)) * wm * post_gain, 6)},
        "definition": "image = gain * image + offset, after noise",
    }


def physiology_rng(seed: int, model: str) -> np.random.Generator:
    """The physiology draws of models B and C come from their own stream, so the lesion and scanner
    draws of a seed stay the same whatever the model (and model A stays bit-identical)."""
    return np.random.default_rng([int(seed), PHYSIOLOGY_MODELS.index(model) + 1])


# ---- public API ------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(np.round(value, 4).tolist())
    if isinstance(value, np.floating):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _default_atlas() -> Atlas | None:
    from cnmri.atlas.model import load_atlas

    try:
        return load_atlas()
    except (FileNotFoundError, InputError):
        return None


def generate_case(
    spec: PhantomSpec, seed: int, base: Volume | None = None, atlas: Atlas | None = None, supersample: int = 3
) -> PhantomCase:
    """Make a pre/post pair and its truth. Deterministic for (spec, seed, base, atlas)."""
    started = time.perf_counter()
    if base is None:
        from cnmri.templates.lookup import load_template

        base = load_template()
    if atlas is None:
        atlas = _default_atlas()
    validate_spec(spec, atlas)
    base = base.as_closest_canonical() if base.orientation != ("R", "A", "S") else base
    check_head(base)
    rng = np.random.default_rng(seed)
    wm = wm_signal(base)
    draw = model_structures(spec.physiology_model, atlas, physiology_rng(seed, spec.physiology_model))
    images, lesions_truth, structures_truth, lepto = _render_template(
        spec, base, atlas, wm, rng, supersample, draw.structures
    )
    pre, post, mapping, info = _apply_realism(spec, base, images, wm, rng)
    for lesion in lesions_truth:
        for seg in lesion["segments"]:
            pts = seg["template_points_mm"]
            seg["subject_points_mm"] = mapping.template_to_subject(pts)
            seg["subject_points_post_mm"] = mapping.template_to_subject(pts, post=True)
    landmarks = {}
    named = skull_base_landmarks(atlas)
    names = sorted(named)
    q = np.array([named[n] for n in names])
    p = mapping.template_to_subject(q)
    for name, qi, pi in zip(names, q, p, strict=True):
        landmarks[name] = {"template_mm": qi, "subject_mm": pi}
    abnormal_segments = sorted({s["key"] for les in lesions_truth for s in les["segments"]})
    truth: dict[str, Any] = {
        "schema_version": "1",
        "kind": "cnmri-phantom",
        "software": {"name": "cnmri", "version": __version__},
        "seed": int(seed),
        "spec": _spec_dict(spec),
        "base": {"source": base.source, "shape": list(base.shape), "zooms_mm": list(base.zooms_mm)},
        "atlas": {"version": atlas.version if atlas else None, "space": atlas.space if atlas else None},
        "wm_signal_base": wm,
        "nerve_signal_base": NERVE_T1_FRACTION * wm,
        "abnormal_nerves": sorted({les["label"] for les in lesions_truth}),
        "abnormal_segments": abnormal_segments,
        "lesions": lesions_truth,
        "leptomeningeal": lepto,
        "physiologic_structures": structures_truth,
        "physiology_model": spec.physiology_model,
        "vessel_contacts": list(draw.contacts) if spec.physiologic else [],
        "physiology_case_factors": draw.case_factors,
        "subject_map": mapping.to_truth(),
        "subject_grid": {"shape": list(pre.shape), "affine": pre.affine, "zooms_mm": list(pre.zooms_mm)},
        "landmarks": landmarks,
        "realism": info,
        "generation_seconds": round(time.perf_counter() - started, 3),
    }
    return PhantomCase(pre, post, _jsonable(truth))


def _spec_dict(spec: PhantomSpec) -> dict[str, Any]:
    raw = asdict(spec)
    raw["lesions"] = [dict(asdict(les), segments=list(les.segments) if les.segments else None) for les in spec.lesions]
    return raw


def spec_from_dict(raw: dict[str, Any]) -> PhantomSpec:
    """Inverse of the ``spec`` block of truth.json."""
    r = dict(raw.get("realism", {}))
    voxel = r.get("voxel_size_mm")
    realism = Realism(
        pose=bool(r.get("pose", False)),
        deformation=bool(r.get("deformation", False)),
        head_scale=bool(r.get("head_scale", False)),
        random_voxel_size=bool(r.get("random_voxel_size", False)),
        voxel_size_mm=(float(voxel[0]), float(voxel[1]), float(voxel[2])) if voxel else None,
        bias_field=bool(r.get("bias_field", False)),
        snr=None if r.get("snr") is None else float(r["snr"]),
        motion=bool(r.get("motion", False)),
        partial_fov=bool(r.get("partial_fov", False)),
        series_scaling=bool(r.get("series_scaling", False)),
    )
    lesions = tuple(
        LesionSpec(
            les["nerve"],
            les["side"],
            tuple(les["segments"]) if les.get("segments") else None,
            float(les["contrast"]),
            float(les["thickness_mm"]),
            bool(les["nodular"]),
        )
        for les in raw.get("lesions", [])
    )
    return PhantomSpec(
        lesions=lesions,
        leptomeningeal=bool(raw.get("leptomeningeal", False)),
        physiologic=bool(raw.get("physiologic", True)),
        pre_shows_thickening=bool(raw.get("pre_shows_thickening", True)),
        realism=realism,
        physiology_model=str(raw.get("physiology_model", "A")),
    )


def write_case(case: PhantomCase, out_dir: Path | str, overwrite: bool = True) -> Path:
    """Write ``pre.nii.gz``, ``post.nii.gz`` and ``truth.json`` into ``out_dir`` atomically.

    ``overwrite`` replaces only a previous cnmri output (rules in :mod:`cnmri.io.outputs`).
    """
    from cnmri.io.outputs import output_folder

    out_dir = Path(out_dir)
    with output_folder(out_dir, command="phantom", force=overwrite) as folder:
        write_case_files(case, folder.path)
    return out_dir


def write_case_files(case: PhantomCase, folder: Path) -> None:
    """Write the case's three files into ``folder`` (created if needed), which the caller has claimed."""
    from cnmri.io.nifti import save_volume
    from cnmri.io.outputs import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    save_volume(case.pre, folder / "pre.nii.gz", dtype=np.float32)
    save_volume(case.post, folder / "post.nii.gz", dtype=np.float32)
    write_json_atomic(folder / "truth.json", dict(case.truth, files={"pre": "pre.nii.gz", "post": "post.nii.gz"}))


def with_lesions(spec: PhantomSpec, lesions: tuple[LesionSpec, ...]) -> PhantomSpec:
    return replace(spec, lesions=lesions)


__all__ = [
    "CONTRAST_RANGE",
    "SKULL_BASE_LANDMARKS_MM",
    "SNR_RANGE",
    "THICKNESS_RANGE_MM",
    "LesionSpec",
    "PhantomCase",
    "PhantomSpec",
    "Realism",
    "check_head",
    "demo_spec",
    "draw_series_scaling",
    "generate_case",
    "skull_base_landmarks",
    "spec_from_dict",
    "validate_spec",
    "with_lesions",
    "wm_signal",
    "write_case",
]
