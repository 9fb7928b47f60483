"""``analyze_study()``: one study from images to findings (DESIGN.md §2).

The CLI, demo, phantom benchmark and cohort runner are thin shells around this function. Stages hand
typed values forward; only :func:`analyze_study` touches the output folder, and it writes atomically.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri import __version__
from cnmri.assess.imaging import (
    RULES_VERSION,
    SPILLOVER_MARGIN_MM,
    apply_continuity,
    asymmetry_index,
    attribute_adjacent_findings,
    attribute_shared_segments,
    classify_pattern,
    compartment_of,
    judge_segment,
    judged_as_physiologic,
    sequence_from_dicom,
    summarize_nerves,
)
from cnmri.atlas import NERVES, Atlas, load_atlas
from cnmri.errors import InputError, RegistrationError
from cnmri.io.nifti import load_volume
from cnmri.measure.course import NOT_REFINED, Placement, prepare_ciss, refine_cisternal_courses
from cnmri.measure.features import (
    SegmentMeasurement,
    far_side_enhancement,
    measure_segment,
    reference_scale,
    study_noise_sd,
)
from cnmri.measure.normative import Normative, load_normative
from cnmri.measure.roi import SubjectSegment, adjacent_segments, rasterize_with_distance, sphere_mask
from cnmri.measure.vessels import VesselExclusion, find_vessels, is_vessel_segment
from cnmri.preprocess.registration import MIN_SKULL_BASE_NCC, TemplateRegistration
from cnmri.volume import Volume

SCHEMA_VERSION = "1"
_log = logging.getLogger(__name__)


@dataclass
class AnalyzeOptions:
    template: Path | None = None
    #: the template already in memory (the demo loads it to build its case); skips loading it again
    template_volume: Volume | None = None
    atlas: Path | None = None
    normative: Path | None = None
    #: post-contrast T1 sequence family (assess/imaging.py SEQUENCES); "unknown" reads it from DICOM
    t1_sequence: str = "unknown"
    allow_download: bool = False
    bias_correct: bool = True
    deformable: bool = True
    threads: int = 2
    min_ncc: float = MIN_SKULL_BASE_NCC
    report: bool = True
    clinical: Path | None = None
    #: an earlier analysis (output folder or findings.json) to compare this one with
    baseline: Path | None = None
    inputs_meta: dict[str, Any] | None = None
    study_meta: dict[str, Any] | None = None
    extra_warnings: list[str] = field(default_factory=list)
    #: called with the analysis and the temporary output folder after the standard files (DICOM/FHIR outputs)
    extra_writer: Callable[[Analysis, Path], None] | None = None
    #: refine cisternal courses in the subject's image (measure/course.py); off = registered atlas course
    refine_course: bool = True
    #: CISS/FIESTA (heavily T2-weighted) series: when given, cisternal courses are looked for in it
    ciss: Path | None = None
    #: leave vessels that cross a cisternal/canalicular ROI out of its measurement (measure/vessels.py)
    exclude_vessels: bool = True


@dataclass
class Analysis:
    """Everything the writers need: findings plus subject-space images for the report."""

    findings: dict[str, Any]
    post: Volume
    pre: Volume | None
    enhancement: Volume | None
    labels: Volume
    label_keys: dict[int, str]
    centerlines_mm: dict[str, np.ndarray]
    clinical_html: str | None = None
    comparison_html: str | None = None


class Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._start, 3)
        self._start = now
        _log.info("%-22s %6.1f s", name, self.timings[name])


def _check_head_extent(volume: Volume) -> None:
    extent = np.asarray(volume.shape) * np.asarray(volume.zooms_mm)
    if (extent < 60).sum() > 0:
        raise InputError(
            f"{volume.name} image {volume.source} covers only {extent.round(0).tolist()} mm: not a whole-head "
            "volume; the skull base from the orbits to the foramen magnum must be in the field of view"
        )


def _world_bbox(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array(
        [
            [i, j, k]
            for i in (0, volume.shape[0] - 1)
            for j in (0, volume.shape[1] - 1)
            for k in (0, volume.shape[2] - 1)
        ],
        dtype=float,
    )
    world = volume.voxel_to_world(corners)
    return world.min(axis=0), world.max(axis=0)


def _check_overlap(pre: Volume, post: Volume) -> None:
    lo_a, hi_a = _world_bbox(pre)
    lo_b, hi_b = _world_bbox(post)
    inter = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None)
    smaller = min(np.prod(hi_a - lo_a), np.prod(hi_b - lo_b))
    fraction = float(np.prod(inter) / max(smaller, 1e-6))
    if fraction < 0.3:
        raise InputError(
            f"pre {pre.source} and post {post.source} do not overlap in world space ({fraction:.0%} of the smaller "
            "field of view): are they from the same study and the same patient?"
        )


def _map_atlas(reg: TemplateRegistration, atlas: Atlas) -> tuple[list[SubjectSegment], list[tuple[np.ndarray, float]]]:
    from cnmri.preprocess.registration import map_template_points

    all_points = [seg.points_mm for seg in atlas.segments]
    ref_points = [r.center_mm.reshape(1, 3) for r in atlas.reference_regions]
    landmarks = dict(atlas.qc_landmarks)  # from the atlas file (qc_landmarks); a user's atlas may have none
    qc_points = [np.stack(list(landmarks.values()))] if landmarks else []
    stacked = np.concatenate(all_points + ref_points + qc_points, axis=0)
    mapped = map_template_points(reg, stacked)
    n_fixed = len(stacked) - len(landmarks)
    reg.landmarks = {
        "skull_base_landmarks_template_mm": {k: np.round(v, 2).tolist() for k, v in landmarks.items()},
        "skull_base_landmarks_subject_mm": {
            k: np.round(mapped[n_fixed + i], 2).tolist() for i, k in enumerate(landmarks)
        },
    }
    segments: list[SubjectSegment] = []
    offset = 0
    for label, seg in enumerate(atlas.segments, start=1):
        n = len(seg.points_mm)
        segments.append(SubjectSegment(seg.key, label, mapped[offset : offset + n], seg.radius_mm))
        offset += n
    refs = [(mapped[offset + i], r.radius_mm) for i, r in enumerate(atlas.reference_regions)]
    return segments, refs


def _software() -> dict[str, Any]:
    return {"name": "cnmri", "version": __version__, "python": platform.python_version()}


def _input_record(path: Path | None, role: str, meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if meta and role in meta:
        return dict(meta[role])
    if path is None:
        return None
    return {"file": Path(path).name}


@dataclass
class PreparedSubject:
    """A study after loading, preprocessing and registration: what measurement needs, nothing written.

    The images are on the subject grid (the pre-contrast image's, or the post's in post-only mode);
    ``post_n``/``pre_n`` are normalised to reference tissue.
    """

    mode: str
    subject: Volume
    post: Volume
    pre: Volume | None
    post_n: Volume
    pre_n: Volume | None
    segments: list[SubjectSegment]
    labels: NDArray[np.int16]
    relative_distance: NDArray[np.float32]
    reference_voxels: int
    registration: dict[str, Any]
    template_origin: str
    #: robust SD of the study's own noise in the normalised enhancement image (reference units); None
    #: when it cannot be estimated. Widens the normative scale at low SNR (measure/normative.py).
    noise_sd: float | None = None
    #: per segment key: how its course was placed (measure/course.py); empty = registered atlas course
    placement: dict[str, Placement] = field(default_factory=dict)
    #: the registered atlas courses before refinement (``segments`` holds the courses measured)
    atlas_segments: list[SubjectSegment] = field(default_factory=list)
    exclude_vessels: bool = True
    #: the CISS/FIESTA image on the subject grid, scaled for course refinement (None when not given)
    ciss_n: Volume | None = None


def prepare_subject(
    pre_path: Path | None,
    post_path: Path,
    atlas: Atlas,
    options: AnalyzeOptions,
    clock: Stopwatch,
    warnings: list[str],
) -> PreparedSubject:
    """Load, bias-correct, co-register, register to the template, carry the atlas, normalise."""
    from cnmri.preprocess.bias import n4_correct
    from cnmri.preprocess.quiet import native_output_to_log
    from cnmri.preprocess.registration import coregister_rigid, register_to_template
    from cnmri.templates import load_template

    post_raw = load_volume(post_path, "post")
    pre_raw = load_volume(pre_path, "pre") if pre_path is not None else None
    _check_head_extent(post_raw)
    if pre_raw is not None:
        _check_head_extent(pre_raw)
        _check_overlap(pre_raw, post_raw)
    template = options.template_volume or load_template(options.template, options.allow_download)
    clock.lap("load")
    mode = "pre_post" if pre_raw is not None else "post_only"
    if mode == "post_only":
        warnings.append(
            "post-only mode: no pre-contrast image, so 'enhancement' is post-contrast signal above "
            "reference tissue, not post−pre; intrinsic T1 brightness (fat, blood products, "
            "dense protein) cannot be told from enhancement"
        )

    with native_output_to_log():
        if pre_raw is not None:
            pre = n4_correct(pre_raw) if options.bias_correct else pre_raw
            clock.lap("bias_correction")
            post_on_pre, coreg_quality = coregister_rigid(pre_raw, post_raw, options.threads)
            if options.bias_correct:
                # Same session and coil: the pre image's bias field applies to the co-registered post.
                field_ratio = np.divide(
                    pre.data, np.maximum(pre_raw.data, 1e-3), where=pre_raw.data > 1e-3, out=np.ones_like(pre.data)
                )
                post = post_on_pre.with_data((post_on_pre.data * field_ratio).astype(np.float32))
            else:
                post = post_on_pre
            clock.lap("coregistration")
            if coreg_quality["ncc_head"] < 0.5:
                raise RegistrationError(
                    f"post-contrast {post_raw.source} could not be aligned to pre-contrast {pre_raw.source} "
                    f"(head correlation {coreg_quality['ncc_head']:.2f}); check that both are the same patient "
                    "and session, or run post-only by omitting --pre"
                )
        else:
            post = n4_correct(post_raw) if options.bias_correct else post_raw
            pre = None
            coreg_quality = {}
            clock.lap("bias_correction")
        subject = pre if pre is not None else post
        reg = register_to_template(
            subject, template, options.threads, min_ncc=options.min_ncc, deformable=options.deformable
        )
        clock.lap("template_registration")
        subject_segments, refs = _map_atlas(reg, atlas)
    clock.lap("atlas_warp")

    ref_mask = np.zeros(subject.shape, dtype=bool)
    for center, radius in refs:
        ref_mask |= sphere_mask(subject, center, radius)
    if not ref_mask.any():
        raise InputError(
            "the reference tissue (pons, cerebellar white matter) falls outside the image; "
            "the field of view must include the posterior fossa"
        )
    post_n = post.with_data((post.data / reference_scale(post, ref_mask)).astype(np.float32), name="post_n")
    pre_n = None
    if pre is not None:
        pre_n = pre.with_data((pre.data / reference_scale(pre, ref_mask)).astype(np.float32), name="pre_n")
    noise_sd = study_noise_sd(post_n, pre_n, ref_mask)
    clock.lap("normalisation")
    ciss_n = None
    ciss_quality: dict[str, float] = {}
    if options.ciss is not None:
        try:
            with native_output_to_log():
                fixed = pre_raw if pre_raw is not None else post_raw
                ciss_n, ciss_quality = prepare_ciss(options.ciss, fixed, subject_segments, ref_mask, options.threads)
        except InputError as err:
            # An optional series: the analysis goes on with the T1 images, and says why.
            warnings.append(f"CISS/FIESTA not used for course refinement: {err}")
        clock.lap("ciss_coregistration")
    atlas_segments = subject_segments
    placement: dict[str, Placement] = {}
    if options.refine_course:
        subject_segments, placement = refine_cisternal_courses(subject_segments, *_course_image(pre_n, post_n, ciss_n))
    labels, relative_distance = rasterize_with_distance(subject, subject_segments)
    clock.lap("course_refinement")
    return PreparedSubject(
        mode=mode,
        subject=subject,
        post=post,
        pre=pre,
        post_n=post_n,
        pre_n=pre_n,
        segments=subject_segments,
        labels=labels,
        relative_distance=relative_distance,
        reference_voxels=int(ref_mask.sum()),
        registration={
            **reg.quality,
            "coregistration": coreg_quality,
            **({"ciss_coregistration": ciss_quality} if ciss_quality else {}),
            **reg.landmarks,
            "timings_s": {k: round(v, 2) for k, v in reg.timings_s.items()},
        },
        template_origin=str(template.meta.get("template_origin", "")),
        noise_sd=noise_sd,
        placement=placement,
        atlas_segments=atlas_segments,
        exclude_vessels=options.exclude_vessels,
        ciss_n=ciss_n,
    )


def _course_image(
    pre_n: Volume | None, post_n: Volume, ciss_n: Volume | None
) -> tuple[list[Volume], float, str]:
    """Where cisternal nerves are looked for: CISS (dark nerve in bright CSF) when given, else T1 pre
    and post (grey nerve in dark CSF; an infiltrated nerve stands out on post, where the pre may show
    it no better than the tissue around it)."""
    if ciss_n is not None:
        return [ciss_n], -1.0, "CISS"
    if pre_n is not None:
        return [pre_n, post_n], 1.0, "T1_pre+post"
    return [post_n], 1.0, "T1_post"


def refine_courses(prepared: PreparedSubject) -> PreparedSubject:
    """``prepared`` with its cisternal courses refined in its own image (what ``refine_course`` does)."""
    atlas_segments = prepared.atlas_segments or prepared.segments
    course_image = _course_image(prepared.pre_n, prepared.post_n, prepared.ciss_n)
    segments, placement = refine_cisternal_courses(atlas_segments, *course_image)
    labels, relative_distance = rasterize_with_distance(prepared.subject, segments)
    return replace(
        prepared,
        segments=segments,
        labels=labels,
        relative_distance=relative_distance,
        placement=placement,
        atlas_segments=list(atlas_segments),
    )


def assess_segments(
    prepared: PreparedSubject, atlas: Atlas, normative: Normative, sequence: str = "unknown"
) -> list[dict[str, Any]]:
    """Measure every atlas segment on the prepared subject and judge it (pure computation)."""
    shared = {seg.key for seg in atlas.segments if seg.shared_with}
    measurements: dict[str, SegmentMeasurement] = {}
    vessels = _find_vessels(prepared)
    for s in prepared.segments:
        if s.key in shared:
            # The jugular foramen is one ROI for CN9–CN11: measure each on its own tube, not the partition.
            alone = SubjectSegment(s.key, 1, s.points_mm, s.radius_mm)
            own, own_distance = rasterize_with_distance(prepared.subject, [alone])
            measurements[s.key] = measure_segment(alone, own, own_distance, prepared.post_n, prepared.pre_n)
        else:
            measurements[s.key] = measure_segment(
                s, prepared.labels, prepared.relative_distance, prepared.post_n, prepared.pre_n,
                exclude=vessels[s.key].mask if s.key in vessels else None,
            )
    noise_sd = getattr(prepared, "noise_sd", None)  # absent from subjects pickled by older versions
    segments = _assemble_segments(atlas, measurements, normative, prepared.mode, noise_sd, sequence)
    _record_course_and_vessels(segments, prepared, measurements, vessels)
    adjacent = adjacent_segments(prepared.segments, SPILLOVER_MARGIN_MM)
    attribute_adjacent_findings(segments, adjacent, _far_side_of_abnormal_pairs(prepared, segments, adjacent, vessels))
    apply_continuity(segments, {nerve: atlas.segment_names(nerve) for nerve in NERVES})
    attribute_shared_segments(segments)
    return segments


def _far_side_of_abnormal_pairs(
    prepared: PreparedSubject,
    segments: list[dict[str, Any]],
    adjacent: dict[str, list[str]],
    vessels: dict[str, VesselExclusion],
) -> dict[tuple[str, str], float | None]:
    """Far-half enhancement (measure/features.py) of each abnormal segment beside an abnormal neighbour."""
    abnormal = {s["key"] for s in segments if s["abnormal"]}
    by_key = {s.key: s for s in prepared.segments}
    out: dict[tuple[str, str], float | None] = {}
    for key in abnormal:
        for other in adjacent.get(key, []):
            if other in abnormal and key in by_key and other in by_key:
                exclusion = vessels.get(key)
                out[(key, other)] = far_side_enhancement(
                    by_key[key], by_key[other], prepared.labels, prepared.post_n, prepared.pre_n,
                    exclude=exclusion.mask if exclusion is not None else None,
                )[0]
    return out


def _find_vessels(prepared: PreparedSubject) -> dict[str, VesselExclusion]:
    """Vessels crossing each cisternal/canalicular ROI, on reference-normalised post − pre (or post − 1)."""
    if not prepared.exclude_vessels:
        return {}
    base = prepared.pre_n.data if prepared.pre_n is not None else 1.0
    enhancement = prepared.post_n.with_data((prepared.post_n.data - base).astype(np.float32), name="enhancement")
    return {
        s.key: find_vessels(s, prepared.labels, enhancement)
        for s in prepared.segments
        if is_vessel_segment(s.key)
    }


def _record_course_and_vessels(
    segments: list[dict[str, Any]],
    prepared: PreparedSubject,
    measurements: dict[str, SegmentMeasurement],
    vessels: dict[str, VesselExclusion],
) -> None:
    """Additive findings fields: ``placement`` and ``computed_from.vessel_excluded_voxels``."""
    for record in segments:
        key = record["key"]
        record["placement"] = prepared.placement.get(key, NOT_REFINED).to_findings()
        record["computed_from"]["vessel_excluded_voxels"] = measurements[key].excluded_voxels
        if key in vessels:
            record["computed_from"]["vessel_exclusion"] = vessels[key].reason


def assess_study(
    prepared: PreparedSubject, atlas: Atlas, normative: Normative, sequence: str = "unknown"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Segments, nerves and pattern of one prepared study, as findings.json records them."""
    segments = assess_segments(prepared, atlas, normative, sequence)
    nerves = summarize_nerves(segments, NERVES)
    for seg in segments:
        seg.pop("_evidence_z", None)
        seg.pop("_by_continuity", None)
    return segments, nerves, classify_pattern(nerves)


def run_analysis(pre_path: Path | None, post_path: Path, options: AnalyzeOptions | None = None) -> Analysis:
    """Everything but writing: load, preprocess, register, measure, assess."""
    options = options or AnalyzeOptions()
    clock = Stopwatch()
    warnings: list[str] = list(options.extra_warnings)
    atlas = load_atlas(options.atlas)
    normative = load_normative(options.normative)
    prepared = prepare_subject(pre_path, post_path, atlas, options, clock, warnings)
    sequence, sequence_from = _t1_sequence(options)
    segments, nerves, pattern = assess_study(prepared, atlas, normative, sequence)
    clock.lap("measurement")
    mode = prepared.mode
    subject = prepared.subject
    if normative.source == "none":
        warnings.append("no normative reference available: z-scores are missing and segments are not judged")
    elif "phantom" in normative.built_from.lower():
        warnings.append(
            "z-scores use the shipped normative reference built from control phantoms (one real "
            "anatomy, simulated variation), not from patients; rebuild it from your site's "
            "controls with 'cnmri normative build'"
        )
    if max(subject.zooms_mm) > 1.2:
        warnings.append(
            f"voxels of {max(subject.zooms_mm):.1f} mm: thickness of nerves under ~2 mm is resolution-limited"
        )

    findings: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "software": _software(),
        "inputs": {
            k: v
            for k, v in {
                "pre": _input_record(pre_path, "pre", options.inputs_meta),
                "post": _input_record(post_path, "post", options.inputs_meta),
                "ciss": _input_record(options.ciss, "ciss", options.inputs_meta),
            }.items()
            if v is not None
        },
        "mode": mode,
        **({"study": options.study_meta} if options.study_meta else {}),
        "template": {"name": "MNIColin27", "origin": prepared.template_origin},
        "atlas": {"version": atlas.version, "space": atlas.space, "source": "cnmri nerve atlas"},
        "normative": {"built_from": normative.built_from, "source": normative.source},
        "rules_version": RULES_VERSION,
        "t1_sequence": {"value": sequence, "from": sequence_from},
        "image_noise": {
            "sd": _round(prepared.noise_sd, 4),
            "method": "1.4826 × MAD of the normalised (post − pre) over the reference tissue"
            if mode == "pre_post"
            else "1.4826 × MAD of neighbouring-voxel differences of normalised post / √2 over the reference tissue",
        },
        "registration": prepared.registration,
        "reference_tissue": {
            "regions": [r.name for r in atlas.reference_regions],
            "voxels": prepared.reference_voxels,
        },
        "segments": segments,
        "nerves": nerves,
        "pattern": pattern,
        "timings_s": clock.timings,
        "warnings": warnings,
    }
    enhancement = None
    if prepared.pre_n is not None:
        enhancement = prepared.post_n.with_data(
            (prepared.post_n.data - prepared.pre_n.data).astype(np.float32), name="enhancement"
        )
    label_keys = {s.label: s.key for s in prepared.segments}
    centerlines = {s.key: s.points_mm for s in prepared.segments}
    return Analysis(
        findings,
        prepared.post,
        prepared.pre,
        enhancement,
        subject.with_data(prepared.labels.astype(np.float32)),
        label_keys,
        centerlines,
    )


def _t1_sequence(options: AnalyzeOptions) -> tuple[str, str]:
    """The post-contrast sequence family and where it came from (option, DICOM header, default)."""
    if options.t1_sequence != "unknown":
        return options.t1_sequence, "option"
    from_dicom = sequence_from_dicom((options.inputs_meta or {}).get("post"))
    if from_dicom != "unknown":
        return from_dicom, "dicom"
    return "unknown", "default"


def _assemble_segments(
    atlas: Atlas,
    measurements: dict[str, SegmentMeasurement],
    normative: Normative,
    mode: str,
    noise_sd: float | None = None,
    sequence: str = "unknown",
) -> list[dict[str, Any]]:
    """One findings record per atlas segment: measurements, z-scores, verdict and provenance."""
    out: list[dict[str, Any]] = []
    for seg in atlas.segments:
        m = measurements[seg.key]
        other_key = f"{seg.nerve}-{seg.side.other.value}-{seg.segment}"
        other = measurements.get(other_key)
        ns_key = f"{seg.nerve}-{seg.segment}"
        physiologic = judged_as_physiologic(seg.nerve, seg.segment, seg.physiologic_enhancement, sequence)
        z_detail = normative.z_detail(
            mode, ns_key, "enhancement", m.enhancement, noise_sd, m.core_voxels, seg.physiologic_enhancement
        )
        z = z_detail[0] if z_detail else None
        z_thick = normative.z(mode, ns_key, "thickness_mm", m.thickness_mm, physiologic=seg.physiologic_enhancement)
        thick_ref = normative.reference(mode, ns_key, "thickness_mm")
        verdict = judge_segment(
            physiologic,
            m.enhancement,
            z,
            z_thick,
            m.thickness_mm,
            float(thick_ref["mean"]) if thick_ref else None,
            other.thickness_mm if other else None,
        )
        reasons = list(verdict.reasons) + list(m.notes)
        out.append(
            {
                "nerve": seg.nerve,
                "side": seg.side.value,
                "segment": seg.segment,
                "key": seg.key,
                "abnormal": verdict.abnormal,
                "physiologic_enhancement": seg.physiologic_enhancement,
                "compartment": compartment_of(seg.segment),
                "rule": verdict.rule,
                "enhancement": _round(m.enhancement),
                "enhancement_mean": _round(m.enhancement_mean),
                "enhancement_ratio": _round(m.enhancement_ratio),
                "thickness_mm": _round(m.thickness_mm, 2),
                "nodularity_ratio": _round(m.nodularity_ratio, 2),
                "asymmetry": _round(asymmetry_index(m.enhancement, other.enhancement if other else None)),
                "z": _round(z, 2),
                "z_thickness": _round(z_thick, 2),
                "shared_with": list(seg.shared_with),
                "reasons": reasons,
                "computed_from": {
                    "enhancement": (
                        "75th percentile of reference-normalised (post − pre) in the core of the segment ROI"
                        if mode == "pre_post"
                        else "75th percentile of reference-normalised post − 1 in the core of the segment ROI "
                        "(post-only)"
                    ),
                    "thickness_mm": "median half-maximum cross-section diameter on the normalised post image",
                    "sequences": ["T1_pre", "T1_post"] if mode == "pre_post" else ["T1_post"],
                    "roi_voxels": m.roi_voxels,
                    "roi_volume_mm3": round(m.roi_volume_mm3, 1),
                    "thickness_cross_sections": m.thickness_points,
                    "nodularity_ratio": "largest over median half-maximum cross-section diameter along the "
                    "segment (reported, not used by the rules)",
                    "reference_tissue": "pons and cerebellar white matter (atlas reference regions)",
                    "z_reference": f"{ns_key} ({mode})",
                    "z_location": _round(z_detail[1], 4) if z_detail else None,
                    "z_scale": _round(z_detail[2], 4) if z_detail else None,
                    "rule_set": f"{verdict.rule} (sequence {sequence})",
                },
                "_evidence_z": verdict.evidence_z,
            }
        )
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def analyze_study(
    pre: Path | None,
    post: Path,
    out_dir: Path,
    options: AnalyzeOptions | None = None,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline and write ``out_dir`` atomically (rules in :mod:`cnmri.io.outputs`)."""
    from cnmri.io.outputs import output_folder

    options = options or AnalyzeOptions()
    inputs = (pre, post, options.clinical, options.template, options.atlas, options.normative, options.baseline)
    with output_folder(Path(out_dir), command="analyze", force=force, inputs=inputs) as folder:
        return analyze_into(pre, post, folder.path, options)


def analyze_into(pre: Path | None, post: Path, folder: Path, options: AnalyzeOptions | None = None) -> dict[str, Any]:
    """Run the whole pipeline and write its outputs into ``folder`` (an already claimed output)."""
    from cnmri.report.writers import write_outputs

    options = options or AnalyzeOptions()
    baseline = _read_baseline(options.baseline) if options.baseline is not None else None
    analysis = run_analysis(Path(pre) if pre else None, Path(post), options)
    if options.clinical is not None:
        join_clinical(analysis, options.clinical)
    if baseline is not None:
        join_comparison(analysis, baseline)
    write_outputs(analysis, folder, report=options.report)
    if options.extra_writer is not None:
        options.extra_writer(analysis, folder)
    return analysis.findings


def _read_baseline(path: Path) -> dict[str, Any]:
    """The baseline findings, checked before the (long) analysis so a bad path fails at once."""
    from cnmri.report.compare import compare_findings, read_findings

    baseline = read_findings(path)
    compare_findings(baseline, baseline)  # raises InputError naming the field when unusable
    return baseline


def join_comparison(analysis: Analysis, baseline: dict[str, Any]) -> None:
    """Embed the follow-up comparison with ``baseline`` (findings ``comparison``, a report section)."""
    from cnmri.report.compare import compare_findings, plot_comparison, render_comparison_section

    comparison = compare_findings(baseline, analysis.findings)
    analysis.findings["comparison"] = comparison
    analysis.findings["warnings"].extend(f"comparison: {w}" for w in comparison["warnings"])
    analysis.comparison_html = render_comparison_section(comparison, plot_comparison(comparison))


def join_clinical(analysis: Analysis, case_path: Path) -> None:
    from cnmri.assess.clinical import evaluate_case, load_case
    from cnmri.report.clinical_html import render_clinical_html

    case = load_case(case_path)
    imaging_nerves = analysis.findings["pattern"]["nerves"]
    imaging = getattr(case, "imaging", None)
    override = getattr(imaging, "nerve_findings", None) if imaging is not None else None
    result = evaluate_case(case, nerve_findings_override=None if override else list(imaging_nerves))
    for key in ("cns_status", "cns_relapse", "differential", "differential_version", "next_steps"):
        if key in result:
            analysis.findings[key] = result[key]
    analysis.findings["clinical_nerve_findings_from"] = "case file" if override else "images"
    analysis.findings["warnings"].extend(f"clinical: {w}" for w in result.get("warnings", []))
    analysis.clinical_html = render_clinical_html(result)


_join_clinical = join_clinical  # the earlier private name
