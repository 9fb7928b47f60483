"""Registration with greedy (Yushkevich et al., picsl-greedy), chosen by measurement.

knowledge/registration.md measured greedy rigid → affine on the whole head, then an NCC deformable
stage restricted to a skull-base box, as the fastest method under 1.5 mm skull-base error on 2 cores
(~20 s, < 0.5 GB). The same sequence is used here; ``benchmarks/`` re-measures it inside cnmri.

Conventions: for subject→template registration the template is greedy's *fixed* image, so the
resulting transform maps template world points to subject world points, which is exactly what is
needed to carry atlas centrelines (template mm) into the subject. Points are mapped through
"coordinate images" (subject voxels holding their own world x, y, z) resliced with greedy's own
resampler: linear interpolation of a linear function is exact, and no RAS/LPS matrix convention of
greedy has to be re-implemented here.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from cnmri.errors import InputError, RegistrationError
from cnmri.preprocess.sitk_bridge import from_sitk, to_sitk
from cnmri.volume import FloatArray, Volume

_log = logging.getLogger(__name__)

#: Template-space box (RAS mm) around the skull base where the deformable stage runs: optic canals
#: to foramen magnum, both petrous bones. Inclusive bounds.
SKULL_BASE_BOX_MM: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    (-62.0, -85.0, -75.0),
    (62.0, 35.0, 10.0),
)

#: Below this correlation after the affine stage alone the image is not taken for a head T1 covering the
#: skull base (phantoms: 0.85–0.89; smoothed noise: −0.06–0.01). The deformable stage is not trusted
#: for this decision because it can bend even noise towards the template (seen: 0.45 on noise).
MIN_AFFINE_NCC = 0.3

#: Below this affine-stage correlation the linear stages are run again from other starting points and
#: the best kept. Greedy's multi-threaded NMI is not bit-reproducible, and on a partial field of view a
#: run can slide into a wrong optimum (a 0.67 mm phantom with 40 % overlap: 1 run in 3 ended at 0.00,
#: the others at 0.85).
RETRY_BELOW_AFFINE_NCC = 0.6

#: greedy jitters the sample points of its linear stages at random and, with its default seed (0),
#: differently on every run: the same study analysed twice could be co-registered and warped a few
#: hundredths of a millimetre apart, enough to flip a segment whose z lies at a threshold (seen: a
#: cisternal CN8 of a model-B control called in one run and not in the next). A fixed seed removes that.
#: With more than one thread greedy still sums in a varying order: the affine differs by ~0.0001 mm
#: between runs and the deformable warp by a median of 0 but up to 2-3.6 mm in a few low-texture voxels
#: (99th percentile 0.22 mm, measured on two phantoms); ``--threads 1`` (about 7 s slower) makes the
#: registration bit-identical. benchmarks/results/reproducibility.md measures what reaches the findings.
REGISTRATION_SEED = 1

#: Below this normalised cross-correlation between the template and the registered subject inside the
#: skull-base box the registration is refused (same-subject phantoms give > 0.9; a non-head or a
#: failed alignment gives < 0.3). See benchmarks/results for the measured distribution.
MIN_SKULL_BASE_NCC = 0.45

#: greedy metrics of the template registration: rigid and affine on the whole head, deformable on the
#: skull-base box (NCC with its patch radius in voxels). findings ``registration.method`` is made from them.
LINEAR_METRIC = "NMI"
DEFORMABLE_METRIC = "NCC 2x2x2"

#: The whole-head linear stages (co-registration, rigid and affine to the template) run on copies
#: block-averaged to about this voxel size (mm; None: the full grid). They never used a level finer than
#: 2x down-sampling anyway; averaging first makes that level the same 2 mm for every input (a 0.6 mm
#: series no longer registers at 1.2 mm) and spares greedy its full-resolution pyramid.
LINEAR_VOXEL_MM: float | None = 2.0

#: greedy iterations per pyramid level (coarsest first) of each stage: the linear stages on the
#: ``LINEAR_VOXEL_MM`` copies, the deformable one on the 1 mm template crop. Chosen by
#: ``benchmarks/bench_registration.py`` (results/registration_schedule.md), which measures each
#: schedule's time and its error against the phantoms' known geometry.
#: Measured on 4 phantoms (0.57–1.2 mm voxels, SNR 15–30) against the full grid with 100x50x0:
#: co-registration 4.3 s instead of 12.0 s and template registration 19.1 s instead of 24.4 s on average;
#: landmark error (TRE) mean 0.17 mm (was 0.16), worst 0.81 mm (was 0.66), co-registration error ≤ 0.2 mm;
#: on the second real head the landmarks move 0.09 mm on average (max 0.35 mm). Fewer 2 mm iterations
#: (100x20) were faster still but moved the head's landmarks by up to 1.2 mm, so they were not taken.
COREGISTRATION_ITERATIONS = "100x50"
RIGID_ITERATIONS = "100x50"
AFFINE_ITERATIONS = "100x50"
DEFORMABLE_ITERATIONS = "100x50x10"


@dataclass
class TemplateRegistration:
    """Subject→template registration result (template is the fixed image)."""

    greedy: Any
    template_crop: Volume
    subject: Volume
    affine_ras: FloatArray
    quality: dict[str, float | str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    #: images greedy refers to by name; held here so they outlive the registration call
    keep_alive: list[Any] = field(default_factory=list)
    #: greedy transform chain from template to subject, e.g. "warp affine"
    transforms: str = "warp affine"
    #: named landmarks mapped into the subject, for registration QC (filled by the caller)
    landmarks: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def _run_options(threads: int) -> str:
    """What every greedy stage is run with: its thread count and the fixed seed (REGISTRATION_SEED)."""
    return f"-threads {threads} -seed {REGISTRATION_SEED}"


def _greedy() -> Any:
    from cnmri.preprocess.quiet import import_greedy

    return import_greedy().Greedy3D()


def crop_to_box(volume: Volume, box_mm: tuple[tuple[float, float, float], tuple[float, float, float]]) -> Volume:
    """Crop (no resampling) to the voxel range covering the world box."""
    corners = np.array(
        [
            [x, y, z]
            for x in (box_mm[0][0], box_mm[1][0])
            for y in (box_mm[0][1], box_mm[1][1])
            for z in (box_mm[0][2], box_mm[1][2])
        ]
    )
    ijk = volume.world_to_voxel(corners)
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, np.array(volume.shape) - 1)
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 1, np.array(volume.shape))
    data = volume.data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    affine = volume.affine.copy()
    affine[:3, 3] = volume.voxel_to_world(lo.astype(float))[0]
    return Volume(np.ascontiguousarray(data), affine, volume.name, f"crop({volume.source})", dict(volume.meta))


def normalized_cross_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is None:
        mask = np.ones(a.shape, dtype=bool)
    x = a[mask].astype(np.float64)
    y = b[mask].astype(np.float64)
    if x.size < 10:
        return 0.0
    x -= x.mean()
    y -= y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def _scaled_for_registration(volume: Volume) -> sitk.Image:
    """Robustly scale intensities to ~[0, 1] so metric settings do not depend on scanner units."""
    data = volume.data
    hi = float(np.percentile(data[data > 0], 99.5)) if np.any(data > 0) else 1.0
    return to_sitk(volume.with_data(np.clip(data / max(hi, 1e-6), 0, 1.5).astype(np.float32)))


def head_centroid_mm(volume: Volume) -> FloatArray:
    """World centroid (RAS mm) of the head: voxels above a fifth of the robust maximum, hole-filled."""
    data = volume.data
    positive = data[data > 0]
    threshold = 0.2 * float(np.percentile(positive, 99)) if positive.size else 0.0
    mask = data > threshold
    ijk = np.argwhere(mask).mean(axis=0) if mask.any() else (np.asarray(volume.shape) - 1) / 2.0
    return volume.voxel_to_world(np.asarray(ijk, dtype=np.float64))[0]


def centroid_initialisation(template: Volume, subject: Volume) -> FloatArray:
    """Translation (greedy RAS matrix, template → subject) that superimposes the head centroids.

    Image-centre initialisation fails when the field of view is off-centre (neck included, vertex cut):
    a rigid fit then slid 15 cm on a phantom with a partial field of view. Head centroids are robust.
    """
    matrix = np.eye(4)
    matrix[:3, 3] = head_centroid_mm(subject) - head_centroid_mm(template)
    return matrix


def for_linear_stage(image: sitk.Image) -> sitk.Image:
    """``image`` block-averaged to about ``LINEAR_VOXEL_MM`` (integer factors per axis; the physical
    extent and position are kept by ITK's BinShrink)."""
    if LINEAR_VOXEL_MM is None:
        return image
    factors = [max(1, round(LINEAR_VOXEL_MM / spacing)) for spacing in image.GetSpacing()]
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def rigid_coregistration(fixed: Volume, moving: Volume, threads: int = 2) -> tuple[Any, FloatArray]:
    """greedy rigid NMI from ``fixed`` to ``moving``: the greedy object (holding ``rigid``) and the matrix
    (greedy RAS, fixed world → moving world)."""
    g = _greedy()
    g.execute(
        f"{_run_options(threads)} -i fix mov -a -dof 6 -ia-image-centers -m NMI "
        f"-n {COREGISTRATION_ITERATIONS} -o rigid",
        fix=for_linear_stage(_scaled_for_registration(fixed)),
        mov=for_linear_stage(_scaled_for_registration(moving)),
        rigid=None,
    )
    return g, np.asarray(g["rigid"], dtype=np.float64)


def coregister_rigid(fixed: Volume, moving: Volume, threads: int = 2) -> tuple[Volume, dict[str, float]]:
    """Rigidly align ``moving`` (e.g. post-contrast) to ``fixed`` (pre-contrast); reslice on fixed's grid.

    Returns the resliced moving image (linear interpolation) and quality figures (NCC over the head).
    """
    g, _ = rigid_coregistration(fixed, moving, threads)
    g.execute("-rf fixgrid -rm movraw resliced -r rigid", fixgrid=to_sitk(fixed), movraw=to_sitk(moving), resliced=None)
    resliced = from_sitk(g["resliced"], moving.name, f"rigid({moving.source}→{fixed.source})")
    resliced = Volume(resliced.data, fixed.affine, moving.name, resliced.source, dict(moving.meta))
    overlap = (fixed.data > np.percentile(fixed.data, 60)) & (resliced.data > 0)
    quality = {
        "ncc_head": normalized_cross_correlation(fixed.data, resliced.data, overlap),
        "overlap_fraction": float(overlap.mean()),
    }
    return resliced, quality


@dataclass
class _LinearResult:
    greedy: Any
    matrix: FloatArray
    initial: str  # greedy name of the linear transform kept: "affine", or "rigid" when the affine ran away
    scale: float
    ncc_affine: float  # template vs subject in the skull-base box after this linear stage
    notes: list[str]


def _linear_starts(template: Volume, subject: Volume) -> list[tuple[str, FloatArray]]:
    """Starting transforms (template → subject, greedy RAS) for the linear stages, most trusted first."""
    centroid = centroid_initialisation(template, subject)
    return [
        ("head centroids", centroid),
        ("head centroids, repeated", centroid),
        ("image centres", _image_centres(template, subject)),
    ]


def _image_centres(template: Volume, subject: Volume) -> FloatArray:
    matrix = np.eye(4)
    centre = [(np.asarray(v.shape, dtype=float) - 1) / 2 for v in (subject, template)]
    matrix[:3, 3] = subject.voxel_to_world(centre[0][None])[0] - template.voxel_to_world(centre[1][None])[0]
    return matrix


def _rigid_then_affine(
    tpl_linear: sitk.Image,
    subj_linear: sitk.Image,
    subj: sitk.Image,
    crop_img: sitk.Image,
    start: FloatArray,
    threads: int,
    template_scaled: NDArray[np.float32],
    tissue: NDArray[np.bool_],
) -> _LinearResult:
    """Rigid (NMI) from ``start``, then affine, on the linear-stage copies; scored by correlation with
    ``template_scaled`` (the crop's intensities) in ``tissue`` after reslicing the full-resolution ``subj``."""
    g = _greedy()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cnmri-reg-") as scratch:
        init_file = Path(scratch) / "init.mat"
        np.savetxt(init_file, start)
        g.execute(
            f"{_run_options(threads)} -i tpl_lin subj_lin -a -dof 6 -ia {init_file} "
            f"-m {LINEAR_METRIC} -n {RIGID_ITERATIONS} -o rigid",
            tpl_lin=tpl_linear,
            subj_lin=subj_linear,
            rigid=None,
        )
    g.execute(
        f"{_run_options(threads)} -i tpl_lin subj_lin -a -dof 12 -ia rigid -m {LINEAR_METRIC} "
        f"-n {AFFINE_ITERATIONS} -o affine",
        affine=None,
    )
    affine = np.asarray(g["affine"], dtype=np.float64)
    scale = float(abs(np.linalg.det(affine[:3, :3])) ** (1 / 3))
    initial = "affine"
    if not 0.6 <= scale <= 1.6:
        # A 12-parameter fit can run away on a partial field of view; the rigid fit is more constrained.
        notes.append(f"affine stage rejected (scale {scale:.2f}); rigid result used before the deformable stage")
        _log.warning("registration: %s", notes[-1])
        initial = "rigid"
        affine = np.asarray(g["rigid"], dtype=np.float64)
        scale = 1.0
    g.execute(f"-rf crop -rm subj resliced_affine -r {initial}", crop=crop_img, subj=subj, resliced_affine=None)
    ncc = normalized_cross_correlation(template_scaled, from_sitk(g["resliced_affine"]).data, tissue)
    return _LinearResult(g, affine, initial, scale, ncc, notes)


def registration_method(deformable: bool) -> str:
    """findings ``registration.method``: the stages and metrics :func:`register_to_template` runs."""
    copies = f" on {LINEAR_VOXEL_MM:g} mm copies" if LINEAR_VOXEL_MM else ""
    linear = f"greedy rigid({LINEAR_METRIC})+affine({LINEAR_METRIC}) whole head{copies}"
    return f"{linear}; deformable {DEFORMABLE_METRIC} on skull-base box" if deformable else linear


def register_to_template(
    subject: Volume,
    template: Volume,
    threads: int = 2,
    box_mm: tuple[tuple[float, float, float], tuple[float, float, float]] = SKULL_BASE_BOX_MM,
    min_ncc: float = MIN_SKULL_BASE_NCC,
    deformable: bool = True,
) -> TemplateRegistration:
    """Rigid → affine on the whole head, then NCC deformable on the skull-base box (template fixed)."""
    import time

    timings: dict[str, float] = {}
    tpl_linear = for_linear_stage(_scaled_for_registration(template))
    subj = _scaled_for_registration(subject)
    subj_linear = for_linear_stage(subj)
    crop = crop_to_box(template, box_mm)
    crop_img = _scaled_for_registration(crop)
    template_scaled = sitk.GetArrayFromImage(crop_img).transpose(2, 1, 0)
    tissue = ndimage.binary_erosion(template_scaled > 0.05, iterations=2)
    notes: list[str] = []
    t0 = time.perf_counter()
    results: list[_LinearResult] = []
    for attempt, (start_name, start_matrix) in enumerate(_linear_starts(template, subject)):
        results.append(
            _rigid_then_affine(tpl_linear, subj_linear, subj, crop_img, start_matrix, threads, template_scaled, tissue)
        )
        _log.info("registration: linear start %s: skull-base NCC %.3f", start_name, results[-1].ncc_affine)
        if results[-1].ncc_affine >= RETRY_BELOW_AFFINE_NCC:
            break
        notes.append(f"linear start {attempt + 1} ({start_name}) reached skull-base NCC {results[-1].ncc_affine:.2f}")
    best = max(results, key=lambda r: r.ncc_affine)
    g, affine, initial, scale, ncc_affine = best.greedy, best.matrix, best.initial, best.scale, best.ncc_affine
    notes.extend(best.notes)
    timings["linear"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if deformable:
        g.execute(
            f"{_run_options(threads)} -i crop subj -it {initial} -m {DEFORMABLE_METRIC} "
            f"-s 2.0vox 0.5vox -n {DEFORMABLE_ITERATIONS} -o warp",
            crop=crop_img,
            warp=None,
        )
        transforms = f"warp {initial}"
    else:
        transforms = initial
    timings["deformable"] = time.perf_counter() - t0
    g.execute(f"-rf crop -rm subj resliced -r {transforms}", resliced=None)
    resliced = from_sitk(g["resliced"]).data
    ncc = normalized_cross_correlation(template_scaled, resliced, tissue)
    quality: dict[str, float | str] = {
        "skull_base_ncc": round(ncc, 4),
        "skull_base_ncc_affine_only": round(ncc_affine, 4),
        "affine_scale": round(scale, 4),
        "min_skull_base_ncc": min_ncc,
        "method": registration_method(deformable),
    }
    if notes:
        quality["notes"] = "; ".join(notes)
    reg = TemplateRegistration(g, crop, subject, affine, quality, timings, transforms=transforms)
    # greedy keeps named inputs by reference: they must outlive every later call that names them.
    reg.keep_alive = [tpl_linear, subj_linear, subj, crop_img]
    _log.info("registration: skull-base NCC %.3f (affine only %.3f), scale %.2f", ncc, ncc_affine, scale)
    if ncc_affine < MIN_AFFINE_NCC:
        # Judged before the deformable stage, which can bend even noise towards the template.
        quality["status"] = "failed"
        raise InputError(
            f"{subject.source or subject.name} does not look like a head T1 covering the skull base: after "
            f"affine alignment its correlation with the template's skull base is {ncc_affine:.2f} "
            f"(< {MIN_AFFINE_NCC:.2f}). Check that it is a whole-head T1 including the skull base."
        )
    if ncc < min_ncc:
        quality["status"] = "failed"
        raise RegistrationError(
            f"registration to the template failed: skull-base correlation {ncc:.2f} is below {min_ncc:.2f}. "
            "The image may not be a head T1, may not cover the skull base, or may be badly oriented."
        )
    quality["status"] = "ok"
    return reg


def map_template_points(reg: TemplateRegistration, points_mm: FloatArray) -> FloatArray:
    """Map (N, 3) template RAS mm points (inside the skull-base box) to subject RAS mm."""
    subject = reg.subject
    ii, jj, kk = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in subject.shape), indexing="ij")
    a = subject.affine
    g = reg.greedy
    transforms = reg.transforms
    mapped = []
    for axis in range(3):
        coord = (a[axis, 0] * ii + a[axis, 1] * jj + a[axis, 2] * kk + a[axis, 3]).astype(np.float32)
        coord_img = to_sitk(subject.with_data(coord))
        g.execute(
            f"-rf crop -rm coord{axis} cout{axis} -r {transforms}", **{f"coord{axis}": coord_img, f"cout{axis}": None}
        )
        mapped.append(from_sitk(g[f"cout{axis}"]).data)
        del coord_img
    ijk = reg.template_crop.world_to_voxel(points_mm)
    out = np.stack([ndimage.map_coordinates(m, ijk.T, order=1, mode="nearest") for m in mapped], axis=1)
    return out.astype(np.float64)
