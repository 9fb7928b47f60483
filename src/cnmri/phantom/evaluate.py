"""Scoring a detector's findings against known truth: pure functions over (truth, findings) dicts.

``truth`` is a phantom's ``truth.json`` or a site's labels (see :func:`labels_to_truth`); ``findings``
is ``findings.json`` (CONTRACTS.md §2). Nothing here reads files except :func:`discover_cases`.

Metrics (nerve level = one nerve on one side, e.g. ``CN7-left``):

* sensitivity = TP / (TP + FN) over lesioned nerve-sides; specificity = TN / (TN + FP) over the others;
* false-positive nerves per control study = mean FP count over cases without lesions;
* per segment: the same counts over segments; physiologic false calls = segments flagged
  ``physiologic_enhancement`` called abnormal without a lesion, as the fraction of controls in which
  each such segment was called (the target is ≤ 5 % for every one);
* thickness error = |measured − true diameter| for lesioned segments;
* registration error = distance between the detector's subject-space skull-base landmarks and the
  true ones (phantoms know their deformation).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.atlas.model import NERVES
from cnmri.errors import InputError

ALL_NERVE_SIDES: tuple[str, ...] = tuple(f"{n}-{s}" for n in NERVES for s in ("left", "right"))


@dataclass(frozen=True)
class CaseScore:
    case_id: str
    is_control: bool
    true_nerves: tuple[str, ...]
    called_nerves: tuple[str, ...]
    tp: int
    fp: int
    fn: int
    tn: int
    segment_tp: int
    segment_fp: int
    segment_fn: int
    segment_tn: int
    physiologic_false_calls: tuple[str, ...]
    thickness_errors_mm: tuple[tuple[str, float, float], ...]  # (segment key, true diameter, error)
    registration_errors_mm: dict[str, float]
    contrast: float | None
    snr: float | None
    seconds: float | None
    per_nerve: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "is_control": self.is_control,
            "true_nerves": list(self.true_nerves),
            "called_nerves": list(self.called_nerves),
            "nerve_counts": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
            "segment_counts": {
                "tp": self.segment_tp,
                "fp": self.segment_fp,
                "fn": self.segment_fn,
                "tn": self.segment_tn,
            },
            "physiologic_false_calls": list(self.physiologic_false_calls),
            "thickness_errors_mm": [
                {"segment": k, "true_mm": t, "error_mm": round(e, 4)} for k, t, e in self.thickness_errors_mm
            ],
            "registration_errors_mm": {k: round(v, 4) for k, v in self.registration_errors_mm.items()},
            "contrast": self.contrast,
            "snr": self.snr,
            "seconds": self.seconds,
            "per_nerve": self.per_nerve,
        }


def _seg_key(seg: dict[str, Any]) -> str:
    return f"{seg['nerve']}-{seg['side']}-{seg['segment']}"


def _truth_segment_diameters(truth: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for lesion in truth.get("lesions", []) or []:
        for seg in lesion.get("segments", []):
            key = seg.get("key") or f"{lesion['nerve']}-{lesion['side']}-{seg['segment']}"
            out[key] = float(seg.get("thickness_mm", lesion.get("thickness_mm", math.nan)))
    return out


def _registration_errors(truth: dict[str, Any], findings: dict[str, Any]) -> dict[str, float]:
    reg = findings.get("registration") or {}
    errors: dict[str, float] = {}
    subject = reg.get("skull_base_landmarks_subject_mm") or {}
    landmarks = truth.get("landmarks") or {}
    for name, point in subject.items():
        if name in landmarks:
            true = np.asarray(landmarks[name]["subject_mm"], dtype=np.float64)
            errors[name] = float(np.linalg.norm(np.asarray(point, dtype=np.float64) - true))
    # Landmarks the detector names by template position: map them with the phantom's true map.
    template = reg.get("skull_base_landmarks_template_mm") or {}
    if template and truth.get("subject_map"):
        from cnmri.phantom.realism import SubjectMap

        mapping = SubjectMap.from_truth(truth["subject_map"])
        for name, q in template.items():
            if name in errors or name not in subject:
                continue
            true = mapping.template_to_subject(np.asarray(q, dtype=np.float64))[0]
            errors[name] = float(np.linalg.norm(np.asarray(subject[name], dtype=np.float64) - true))
    return errors


def restrict_to_field_of_view(truth: dict[str, Any], findings: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Drop what the study's field of view did not contain (``truth["field_of_view"]``, written for
    partial-FOV heads by :mod:`cnmri.phantom.real_head`): excluded segments leave the segment list and
    no longer make their nerve abnormal; excluded nerve-sides are not scored at all. Returns the
    restricted findings and the excluded nerve-sides."""
    fov = truth.get("field_of_view") or {}
    excluded = set(fov.get("excluded_segments") or [])
    excluded_nerves = set(fov.get("excluded_nerves") or [])
    if not excluded and not excluded_nerves:
        return findings, set()
    segments = [s for s in findings.get("segments", []) if _seg_key(s) not in excluded]
    nerves = []
    for nerve in findings.get("nerves", []):
        ns = f"{nerve['nerve']}-{nerve['side']}"
        if ns in excluded_nerves:
            continue
        nerve = dict(nerve)
        if nerve.get("abnormal") and "abnormal_segments" in nerve:
            kept = [seg for seg in nerve["abnormal_segments"] if f"{ns}-{seg}" not in excluded]
            nerve["abnormal_segments"] = kept
            nerve["abnormal"] = bool(kept)
        nerves.append(nerve)
    return dict(findings, segments=segments, nerves=nerves), excluded_nerves


def score_case(
    truth: dict[str, Any], findings: dict[str, Any], case_id: str = "", seconds: float | None = None
) -> CaseScore:
    """Score one study. Nerve-sides absent from ``findings`` count as not called; segments and nerves
    outside a partial field of view (``truth["field_of_view"]``) are not scored."""
    true_nerves = set(truth.get("abnormal_nerves", []))
    unknown = true_nerves - set(ALL_NERVE_SIDES)
    if unknown:
        raise InputError(f"case {case_id}: unknown nerve labels {sorted(unknown)}; use e.g. CN7-left")
    findings, excluded_nerves = restrict_to_field_of_view(truth, findings)
    true_nerves -= excluded_nerves
    called = {f"{n['nerve']}-{n['side']}" for n in findings.get("nerves", []) if n.get("abnormal")}
    tp = len(true_nerves & called)
    fp = len(called - true_nerves)
    fn = len(true_nerves - called)
    tn = len(ALL_NERVE_SIDES) - len(excluded_nerves) - tp - fp - fn
    true_segments = set(truth.get("abnormal_segments", []))
    seg_counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    physiologic_false: list[str] = []
    thickness: list[tuple[str, float, float]] = []
    diameters = _truth_segment_diameters(truth)
    seen: set[str] = set()
    for seg in findings.get("segments", []):
        key = _seg_key(seg)
        seen.add(key)
        is_true = key in true_segments
        is_called = bool(seg.get("abnormal"))
        seg_counts[("tp" if is_called else "fn") if is_true else ("fp" if is_called else "tn")] += 1
        if is_called and not is_true and seg.get("physiologic_enhancement"):
            physiologic_false.append(key)
        measured = seg.get("thickness_mm")
        if is_true and key in diameters and measured is not None and math.isfinite(float(measured)):
            thickness.append((key, diameters[key], abs(float(measured) - diameters[key])))
    seg_counts["fn"] += len(true_segments - seen)
    per_nerve = {
        ns: {"true": ns in true_nerves, "called": ns in called}
        for ns in ALL_NERVE_SIDES
        if ns in true_nerves or ns in called
    }
    for nerve in findings.get("nerves", []):
        ns = f"{nerve['nerve']}-{nerve['side']}"
        if ns in per_nerve:
            per_nerve[ns]["score"] = nerve.get("score")
            per_nerve[ns]["abnormal_segments"] = nerve.get("abnormal_segments", [])
    contrasts = [float(les["contrast_wm"]) for les in truth.get("lesions", []) or [] if "contrast_wm" in les]
    noise = ((truth.get("realism") or {}).get("noise") or {}).get("snr")
    return CaseScore(
        case_id=case_id,
        is_control=not true_nerves,
        true_nerves=tuple(sorted(true_nerves)),
        called_nerves=tuple(sorted(called)),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        segment_tp=seg_counts["tp"],
        segment_fp=seg_counts["fp"],
        segment_fn=seg_counts["fn"],
        segment_tn=seg_counts["tn"],
        physiologic_false_calls=tuple(sorted(physiologic_false)),
        thickness_errors_mm=tuple(thickness),
        registration_errors_mm=_registration_errors(truth, findings),
        contrast=min(contrasts) if contrasts else None,
        snr=None if noise is None else float(noise),
        seconds=seconds,
        per_nerve=per_nerve,
    )


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "mean": None, "p90": None, "max": None}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "n": len(arr),
        "median": round(float(np.median(arr)), 4),
        "mean": round(float(arr.mean()), 4),
        "p90": round(float(np.percentile(arr, 90)), 4),
        "max": round(float(arr.max()), 4),
    }


def _curve(scores: Iterable[CaseScore], attr: str) -> list[dict[str, Any]]:
    groups: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for s in scores:
        value = getattr(s, attr)
        if s.is_control or value is None:
            continue
        groups[float(value)][0] += s.tp
        groups[float(value)][1] += s.tp + s.fn
    return [{attr: k, "sensitivity": _ratio(v[0], v[1]), "lesioned_nerves": v[1]} for k, v in sorted(groups.items())]


def aggregate(scores: Sequence[CaseScore], min_contrast: float = 0.4, min_snr: float = 20.0) -> dict[str, Any]:
    """Suite metrics; ``headline`` restricts lesion cases to contrast ≥ ``min_contrast`` and SNR ≥ ``min_snr``
    (the issue's target conditions); controls always count."""

    def block(selected: Sequence[CaseScore]) -> dict[str, Any]:
        tp = sum(s.tp for s in selected)
        fp = sum(s.fp for s in selected)
        fn = sum(s.fn for s in selected)
        tn = sum(s.tn for s in selected)
        controls = [s for s in selected if s.is_control]
        phys_counts: dict[str, int] = defaultdict(int)
        for s in controls:
            for key in set(s.physiologic_false_calls):
                phys_counts[key] += 1
        phys_rate = {k: round(v / len(controls), 4) for k, v in sorted(phys_counts.items())} if controls else {}
        thick = [e for s in selected for (_, t, e) in s.thickness_errors_mm if t >= 2.0]
        reg = [e for s in selected for e in s.registration_errors_mm.values()]
        seg_tp = sum(s.segment_tp for s in selected)
        seg_fn = sum(s.segment_fn for s in selected)
        seg_fp = sum(s.segment_fp for s in selected)
        seg_tn = sum(s.segment_tn for s in selected)
        return {
            "cases": len(selected),
            "controls": len(controls),
            "nerve_counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
            "sensitivity": _ratio(tp, tp + fn),
            "specificity": _ratio(tn, tn + fp),
            "fp_nerves_per_control": None if not controls else round(sum(s.fp for s in controls) / len(controls), 4),
            "segment_counts": {"tp": seg_tp, "fp": seg_fp, "fn": seg_fn, "tn": seg_tn},
            "segment_sensitivity": _ratio(seg_tp, seg_tp + seg_fn),
            "segment_specificity": _ratio(seg_tn, seg_tn + seg_fp),
            "physiologic_false_call_rate_in_controls": phys_rate,
            "physiologic_false_call_rate_max": max(phys_rate.values()) if phys_rate else (0.0 if controls else None),
            "thickness_error_mm_lesions_ge_2mm": _stats(thick),
            "registration_error_mm": _stats(reg),
            "seconds_per_case": _stats([s.seconds for s in selected if s.seconds is not None]),
        }

    headline_cases = [
        s
        for s in scores
        if s.is_control or ((s.contrast is None or s.contrast >= min_contrast) and (s.snr is None or s.snr >= min_snr))
    ]
    headline = block(headline_cases)
    targets = {
        "sensitivity_ge_0.95": _meets(headline["sensitivity"], 0.95, ge=True),
        "fp_nerves_per_control_le_0.1": _meets(headline["fp_nerves_per_control"], 0.1, ge=False),
        "physiologic_false_call_rate_le_0.05": _meets(headline["physiologic_false_call_rate_max"], 0.05, ge=False),
        "thickness_error_median_le_0.5mm": _meets(
            headline["thickness_error_mm_lesions_ge_2mm"]["median"], 0.5, ge=False
        ),
        "registration_error_median_le_1.5mm": _meets(headline["registration_error_mm"]["median"], 1.5, ge=False),
    }
    return {
        "headline_conditions": {"min_contrast_wm": min_contrast, "min_snr": min_snr},
        "headline": headline,
        "all_cases": block(list(scores)),
        "targets": targets,
        "detection_vs_contrast": _curve(scores, "contrast"),
        "detection_vs_snr": _curve(scores, "snr"),
    }


def _meets(value: Any, limit: float, ge: bool) -> bool | None:
    if value is None:
        return None
    return bool(value >= limit) if ge else bool(value <= limit)


def labels_to_truth(labels: dict[str, Any], where: str = "labels") -> dict[str, Any]:
    """A site's label file → the truth fields scoring needs.

    Accepted keys: ``abnormal_nerves`` (list of ``CN7-left``; required, ``[]`` for a normal study),
    optional ``abnormal_segments`` (``CN7-left-canalicular``), optional ``thickness_mm``
    (``{"CN7-left-canalicular": 2.4}``).
    """
    if "abnormal_nerves" not in labels or not isinstance(labels["abnormal_nerves"], list):
        raise InputError(f"{where}: needs a list 'abnormal_nerves' (e.g. [\"CN7-left\"], or [] for normal)")
    nerves = [str(n) for n in labels["abnormal_nerves"]]
    bad = [n for n in nerves if n not in ALL_NERVE_SIDES]
    if bad:
        raise InputError(f"{where}: unknown nerve labels {bad}; allowed e.g. {', '.join(ALL_NERVE_SIDES[:4])}, ...")
    segments = [str(s) for s in labels.get("abnormal_segments", [])]
    thickness = {str(k): float(v) for k, v in (labels.get("thickness_mm") or {}).items()}
    lesions = [
        {
            "nerve": key.split("-")[0],
            "side": key.split("-")[1],
            "segments": [{"key": key, "segment": key.split("-", 2)[2], "thickness_mm": value}],
        }
        for key, value in thickness.items()
        if key.count("-") >= 2
    ]
    return {"abnormal_nerves": nerves, "abnormal_segments": segments, "lesions": lesions}


@dataclass(frozen=True)
class LabelledCase:
    case_id: str
    pre: Path | None
    post: Path
    truth: dict[str, Any]


def discover_cases(root: Path) -> list[LabelledCase]:
    """Find labelled studies under ``root`` (layout in docs/phantom.md).

    * BIDS-like: ``sub-<id>[/ses-<id>]/anat/*_T1w.nii.gz`` (pre: no ``ce-`` entity or ``ce-none``;
      post: any other ``ce-<agent>``) with ``sub-<id>[_ses-<id>]_labels.json`` in the subject or
      session folder;
    * phantom folders: ``<case>/pre.nii.gz``, ``<case>/post.nii.gz``, ``<case>/truth.json``.
    """
    import json

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"--cases {root} is not a folder")
    cases: list[LabelledCase] = []
    for truth_path in sorted(root.rglob("truth.json")):
        folder = truth_path.parent
        post = folder / "post.nii.gz"
        if not post.exists():
            raise InputError(f"{folder}: truth.json without post.nii.gz")
        pre = folder / "pre.nii.gz"
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        cases.append(LabelledCase(str(folder.relative_to(root)), pre if pre.exists() else None, post, truth))
    for label_path in sorted(root.rglob("*_labels.json")):
        folder = label_path.parent
        anat = folder / "anat"
        images = sorted(anat.glob("*_T1w.nii*")) if anat.is_dir() else []
        post_images = [p for p in images if "_ce-" in p.name and "_ce-none" not in p.name]
        pre_images = [p for p in images if p not in post_images]
        if len(post_images) != 1:
            raise InputError(
                f"{folder}: expected exactly one post-contrast anat/*_ce-<agent>_T1w.nii.gz, found "
                f"{[p.name for p in post_images]}"
            )
        if len(pre_images) > 1:
            raise InputError(f"{folder}: more than one pre-contrast T1w: {[p.name for p in pre_images]}")
        try:
            labels = json.loads(label_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"{label_path} is not valid JSON ({err})") from None
        case_id = label_path.name.removesuffix("_labels.json")
        cases.append(
            LabelledCase(
                case_id,
                pre_images[0] if pre_images else None,
                post_images[0],
                labels_to_truth(labels, str(label_path)),
            )
        )
    if not cases:
        raise InputError(
            f"no labelled studies under {root}: expected sub-*/anat/*_T1w.nii.gz with *_labels.json, "
            "or folders with post.nii.gz and truth.json (see docs/phantom.md)"
        )
    return cases


__all__ = [
    "ALL_NERVE_SIDES",
    "CaseScore",
    "LabelledCase",
    "aggregate",
    "discover_cases",
    "labels_to_truth",
    "restrict_to_field_of_view",
    "score_case",
]
