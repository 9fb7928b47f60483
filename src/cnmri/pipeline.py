"""``analyze(study, settings) -> Analysis``: one study from images to findings (DESIGN.md §2).

A :class:`~cnmri.io.study.Study` is built by an io adapter (NIfTI pair, DICOM folder); the CLI
(``analyze``, ``demo``), the PACS watcher (through ``analyze``), the cohort runner and the phantom
benchmark are thin shells around :func:`analyze` and the writers. Stages hand typed values forward;
nothing here writes but :func:`analyze_study` (NIfTI convenience), which writes atomically.

``Analysis``, ``AnalyzeOptions`` (= :class:`~cnmri.settings.Settings`) and ``run_analysis`` stay
importable from here for benchmarks and scripts.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri import __version__
from cnmri.analysis import Analysis
from cnmri.assess.findings import NerveFinding, SegmentFinding
from cnmri.assess.imaging import (
    MIN_ENHANCEMENT_UNITS,
    NON_PHYSIOLOGIC_Z,
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
    side_thickening_margin_mm,
    summarize_nerves,
    withdraw_partial_enhancement_at_vessel_contact,
)
from cnmri.atlas import NERVES, Atlas, load_atlas
from cnmri.errors import InputError, RegistrationError
from cnmri.io.nifti import load_volume
from cnmri.io.study import Study, nifti_study
from cnmri.measure.course import NOT_REFINED, Placement, prepare_ciss, refine_cisternal_courses
from cnmri.measure.features import (
    SegmentMeasurement,
    enhancement_profile,
    far_side_enhancement,
    fraction_of_course_above,
    measure_segment,
    reference_scale,
    study_noise_sd,
)
from cnmri.measure.normative import Normative, load_normative
from cnmri.measure.roi import SubjectSegment, adjacent_segments, rasterize_with_distance, sphere_mask
from cnmri.measure.vessels import VesselExclusion, find_vessels, is_vessel_segment
from cnmri.preprocess.registration import TemplateRegistration
from cnmri.provenance import TEMPLATE_NAME, enhancement_method, noise_method, reference_tissue_text
from cnmri.settings import Settings
from cnmri.volume import Volume

__all__ = [
    "Analysis",
    "AnalyzeOptions",
    "PreparedSubject",
    "Settings",
    "Study",
    "analyze",
    "analyze_study",
    "assess_study",
    "join_clinical",
    "join_comparison",
    "prepare_subject",
    "refine_courses",
    "run_analysis",
]

SCHEMA_VERSION = "1"
_log = logging.getLogger(__name__)


#: The settings of an analysis under their earlier name (benchmarks and scripts construct it).
AnalyzeOptions = Settings


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


def _course_image(pre_n: Volume | None, post_n: Volume, ciss_n: Volume | None) -> tuple[list[Volume], float, str]:
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


@dataclass(frozen=True)
class StudyMeasurements:
    """What measurement found on a prepared study, before any reference or rule: per segment key its
    features and the vessels excluded from its ROI. Judging against several references reuses it."""

    segments: dict[str, SegmentMeasurement]
    vessels: dict[str, VesselExclusion]


def measure_study(prepared: PreparedSubject, atlas: Atlas) -> StudyMeasurements:
    """Measure every atlas segment on the prepared subject (pure computation, no reference needed)."""
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
                s,
                prepared.labels,
                prepared.relative_distance,
                prepared.post_n,
                prepared.pre_n,
                exclude=vessels[s.key].mask if s.key in vessels else None,
            )
    return StudyMeasurements(measurements, vessels)


def assess_segments(
    prepared: PreparedSubject,
    atlas: Atlas,
    normative: Normative,
    sequence: str = "unknown",
    measured: StudyMeasurements | None = None,
) -> list[dict[str, Any]]:
    """Measure every atlas segment on the prepared subject (unless ``measured`` is given) and judge it."""
    measured = measured or measure_study(prepared, atlas)
    measurements, vessels = measured.segments, measured.vessels
    noise_sd = getattr(prepared, "noise_sd", None)  # absent from subjects pickled by older versions
    segments = _assemble_segments(atlas, measurements, normative, prepared.mode, noise_sd, sequence)
    _record_course_and_vessels(segments, prepared, measurements, vessels)
    withdraw_partial_enhancement_at_vessel_contact(
        segments, _course_fraction_at_vessel_contact(prepared, segments, vessels)
    )
    adjacent = adjacent_segments(prepared.segments, SPILLOVER_MARGIN_MM)
    attribute_adjacent_findings(segments, adjacent, _far_side_of_abnormal_pairs(prepared, segments, adjacent, vessels))
    apply_continuity(segments, {nerve: atlas.segment_names(nerve) for nerve in NERVES})
    attribute_shared_segments(segments)
    return segments


def _course_fraction_at_vessel_contact(
    prepared: PreparedSubject, segments: list[dict[str, Any]], vessels: dict[str, VesselExclusion]
) -> dict[str, float | None]:
    """For abnormal segments an enhancing vessel crosses: the fraction of the course raised to the level
    that made them abnormal (z ≥ 3 against the reference and ≥ the absolute floor); recorded in
    ``computed_from.enhancing_course_fraction``."""
    by_key = {s.key: s for s in prepared.segments}
    out: dict[str, float | None] = {}
    for record in segments:
        key = record["key"]
        contact = vessels.get(key)
        if not record["abnormal"] or contact is None or contact.structures == 0 or key not in by_key:
            continue
        detail = record["computed_from"]
        location, scale = detail.get("z_location"), detail.get("z_scale")
        if location is None or not scale:
            continue
        level = max(MIN_ENHANCEMENT_UNITS, float(location) + NON_PHYSIOLOGIC_Z * float(scale))
        profile = enhancement_profile(
            by_key[key], prepared.labels, prepared.relative_distance, prepared.post_n, prepared.pre_n, contact.mask
        )
        out[key] = fraction_of_course_above(profile, level)
        detail["enhancing_course_fraction"] = _round(out[key], 2)
    return out


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
                    by_key[key],
                    by_key[other],
                    prepared.labels,
                    prepared.post_n,
                    prepared.pre_n,
                    exclude=exclusion.mask if exclusion is not None else None,
                )[0]
    return out


def _find_vessels(prepared: PreparedSubject) -> dict[str, VesselExclusion]:
    """Vessels crossing each cisternal/canalicular ROI, on reference-normalised post − pre (or post − 1)."""
    if not prepared.exclude_vessels:
        return {}
    base = prepared.pre_n.data if prepared.pre_n is not None else 1.0
    enhancement = prepared.post_n.with_data((prepared.post_n.data - base).astype(np.float32), name="enhancement")
    return {s.key: find_vessels(s, prepared.labels, enhancement) for s in prepared.segments if is_vessel_segment(s.key)}


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
    prepared: PreparedSubject,
    atlas: Atlas,
    normative: Normative,
    sequence: str = "unknown",
    measured: StudyMeasurements | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Segments, nerves and pattern of one prepared study, as findings.json records them."""
    segments = assess_segments(prepared, atlas, normative, sequence, measured)
    nerves = summarize_nerves(segments, NERVES)
    for seg in segments:
        # Public, additive fields: the evidence behind the nerve score, and whether the call came by continuity.
        seg["evidence_z"] = round(float(seg.get("evidence_z", 0.0)), 2)
        seg["abnormal_by_continuity"] = bool(seg["abnormal"] and seg.get("abnormal_by_continuity", False))
    return segments, nerves, classify_pattern(nerves)


def analyze(study: Study, settings: Settings | None = None) -> Analysis:
    """One study from images to findings: the function every front end calls (DESIGN.md §2).

    Load, preprocess, register, measure, assess; then join the study's clinical case and the
    comparison with its baseline when it has them. Nothing is written: the caller writes the
    :class:`Analysis` with :func:`cnmri.report.writers.write_outputs` (findings.json, settings.json,
    tables, images, report).
    """
    settings = settings or Settings()
    if study.clinical is not None:
        from cnmri.assess.clinical import load_case

        load_case(study.clinical)  # a bad case file fails now, before any image work
    baseline = _read_baseline(study.baseline) if study.baseline is not None else None
    # prepare_subject reads the CISS image from the settings (its signature is shared with benchmarks)
    analysis = _measure(study, replace(settings, ciss=study.ciss))
    analysis.settings = settings
    if study.clinical is not None:
        join_clinical(analysis, study.clinical)
    if baseline is not None:
        join_comparison(analysis, baseline)
    return analysis


def run_analysis(pre_path: Path | None, post_path: Path, options: Settings | None = None) -> Analysis:
    """Images only (no clinical join): ``analyze`` of a NIfTI study, for benchmarks and scripts."""
    options = options or Settings()
    return analyze(nifti_study(Path(post_path), Path(pre_path) if pre_path else None, ciss=options.ciss), options)


def _measure(study: Study, settings: Settings) -> Analysis:
    """Everything but writing and the joins: load, preprocess, register, measure, assess."""
    clock = Stopwatch()
    warnings: list[str] = list(study.warnings)
    atlas = load_atlas(settings.atlas)
    normative = load_normative(settings.normative)
    prepared = prepare_subject(study.pre, study.post, atlas, settings, clock, warnings)
    sequence, sequence_from = _t1_sequence(settings, study)
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

    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "software": _software(),
        "inputs": {role: dict(item) for role, item in study.inputs.items()},
        "mode": mode,
        **({"study": dict(study.metadata)} if study.metadata else {}),
        "template": {"name": TEMPLATE_NAME, "origin": prepared.template_origin},
        "atlas": {"version": atlas.version, "space": atlas.space, "source": "cnmri nerve atlas"},
        "normative": {"built_from": normative.built_from, "source": normative.source},
        "rules_version": RULES_VERSION,
        "t1_sequence": {"value": sequence, "from": sequence_from},
        "image_noise": {"sd": _round(prepared.noise_sd, 4), "method": noise_method(mode)},
        "registration": prepared.registration,
        "reference_tissue": {
            "regions": [r.name for r in atlas.reference_regions],
            "voxels": prepared.reference_voxels,
        },
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
        record,
        prepared.post,
        prepared.pre,
        enhancement,
        subject.with_data(prepared.labels.astype(np.float32)),
        label_keys,
        centerlines,
        # the typed boundary: the rules' working records become frozen findings here
        segments=tuple(SegmentFinding.from_record(s) for s in segments),
        nerves=tuple(NerveFinding.from_record(n) for n in nerves),
        settings=settings,
    )


def _t1_sequence(settings: Settings, study: Study) -> tuple[str, str]:
    """The post-contrast sequence family and where it came from (option, DICOM header, default)."""
    if settings.t1_sequence != "unknown":
        return settings.t1_sequence, "option"
    post = study.inputs.get("post")
    from_dicom = sequence_from_dicom(dict(post) if post is not None else None)
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
            side_thickening_margin_mm(seg.segment),
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
                    "enhancement": enhancement_method(mode),
                    "thickness_mm": "median half-maximum cross-section diameter on the normalised post image",
                    "sequences": ["T1_pre", "T1_post"] if mode == "pre_post" else ["T1_post"],
                    "roi_voxels": m.roi_voxels,
                    "roi_volume_mm3": round(m.roi_volume_mm3, 1),
                    "thickness_cross_sections": m.thickness_points,
                    "nodularity_ratio": "largest over median half-maximum cross-section diameter along the "
                    "segment (reported, not used by the rules)",
                    "reference_tissue": reference_tissue_text(atlas),
                    "z_reference": f"{ns_key} ({mode})",
                    "z_location": _round(z_detail[1], 4) if z_detail else None,
                    "z_scale": _round(z_detail[2], 4) if z_detail else None,
                    "rule_set": f"{verdict.rule} (sequence {sequence})",
                },
                "evidence_z": verdict.evidence_z,
            }
        )
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def analyze_study(
    pre: Path | None,
    post: Path,
    out_dir: Path,
    options: Settings | None = None,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """:func:`analyze` a NIfTI study and write ``out_dir`` atomically (rules in :mod:`cnmri.io.outputs`)."""
    from cnmri.io.outputs import output_folder
    from cnmri.report.writers import write_outputs

    settings = options or Settings()
    study = nifti_study(Path(post), Path(pre) if pre else None, ciss=settings.ciss)
    inputs = (*study.input_files(), settings.template, settings.atlas, settings.normative)
    with output_folder(Path(out_dir), command="analyze", force=force, inputs=inputs) as folder:
        analysis = analyze(study, settings)
        write_outputs(analysis, folder.path, report=settings.report)
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
    analysis.record["comparison"] = comparison
    analysis.add_warnings(f"comparison: {w}" for w in comparison["warnings"])
    analysis.comparison_html = render_comparison_section(comparison, plot_comparison(comparison))


def join_clinical(analysis: Analysis, case_path: Path) -> None:
    from cnmri.assess.clinical import evaluate_case, load_case
    from cnmri.report.clinical_html import render_clinical_html

    case = load_case(case_path)
    imaging_nerves = analysis.record["pattern"]["nerves"]
    imaging = getattr(case, "imaging", None)
    override = getattr(imaging, "nerve_findings", None) if imaging is not None else None
    result = evaluate_case(case, nerve_findings_override=None if override else list(imaging_nerves))
    for key in ("cns_status", "cns_relapse", "differential", "differential_version", "next_steps"):
        if key in result:
            analysis.record[key] = result[key]
    analysis.record["clinical_nerve_findings_from"] = "case file" if override else "images"
    analysis.add_warnings(f"clinical: {w}" for w in result.get("warnings", []))
    analysis.clinical_html = render_clinical_html(result)


_join_clinical = join_clinical  # the earlier private name
