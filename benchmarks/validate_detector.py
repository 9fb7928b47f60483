"""Validation that cannot be tuned to: calibrate on one model of normal, report on the others.

Cases come from three independently parameterised physiology models (``cnmri.phantom.models``: A is the
original simulator, B and C are independent) on the Colin27 head with full scanner realism, and from a
second real head (``../shared/data/real/seg3d_t1.nii.gz``, partial field of view) with synthetic
physiology and lesions placed through the project's own registration (``cnmri.phantom.real_head``).
The detector is the real pipeline, split as the detector workbench does: ``prepare_subject`` once per
case (load, N4, co-registration, template registration, atlas warp: the slow part), cached as a pickle;
then ``assess_study`` against a normative reference, which is cheap, so the detector can be re-scored in
seconds after every change to measurement or rules.

    # everything (quick: 4 test cases per model + 4 on the second head; --size medium: 11 per model + 8
    # on the head; --size full: 18 per model at the standard suite's finer voxels + 10 on the head)
    python benchmarks/validate_detector.py all --work /tmp/cnmri-validation --size medium
    # after a detector change: re-score only (no registration), optionally leave-one-model-out
    python benchmarks/validate_detector.py score --work /tmp/cnmri-validation --calibrate shipped
    # calibration controls of B and C too, for the full leave-one-model-out table
    python benchmarks/validate_detector.py prepare --work /tmp/cnmri-validation --calibrate A,B,C

Calibration ``shipped`` uses the normative reference the package ships (built from model-A controls by
benchmarks/build_normative.py); ``A``/``B``/``C`` rebuild a reference from that model's own calibration
controls (never the test controls) with ``cnmri.measure.normative.build_normative``. If a prepared pickle
no longer loads after a change to ``PreparedSubject``, delete ``WORK/prepared`` and run ``prepare`` again.

Outputs (``--out``, default benchmarks/results/validation): metrics.json, metrics.md, per_case.tsv and
plots (fp_per_control.png, sensitivity.png, false_calls_by_nerve.png).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.atlas import Atlas, load_atlas
from cnmri.errors import CnmriError
from cnmri.phantom.evaluate import CaseScore, aggregate, score_case
from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, generate_case, write_case

ROOT = Path(__file__).resolve().parents[1]
HEAD = ROOT.parent / "shared" / "data" / "real" / "seg3d_t1.nii.gz"
MODELS = ("A", "B", "C")
SEED_PATTERN = tuple(LesionSpec(n, s, None, 0.8, 2.8) for n in ("CN7", "CN9") for s in ("left", "right"))
LESION_NERVES = ("CN3", "CN5", "CN6", "CN7", "CN8", "CN9", "CN10", "CN12")
#: Headline conditions of issue 9: lesions ≥ 0.4 × WM at SNR ≥ 20.
MIN_CONTRAST, MIN_SNR = 0.4, 20.0


@dataclass(frozen=True)
class Case:
    case_id: str
    group: str  # "A", "B", "C" (Colin27 head) or "head" (second real head)
    role: str  # "control", "lesion", "seed", "calibration"
    spec: PhantomSpec
    seed: int


# ---- the case plan ---------------------------------------------------------------------------------------


def _realism(model: str, snr: float | None, voxel_mm: tuple[float, float, float] | None) -> Realism:
    """Model A keeps the standard suite's realism; B and C add per-series intensity scaling.

    ``voxel_mm`` None draws the voxel size as the standard suite does (in-plane 0.5–1.0 mm); the quick
    mode fixes a coarser one per case (in-plane 0.8–1.1, slice up to 1.2 mm) because a 0.5 mm grid
    costs the generator and the detector several times more on a shared 2-core machine."""
    realism = Realism.for_model(model, snr)
    if voxel_mm is not None:
        realism = replace(realism, random_voxel_size=False, voxel_size_mm=voxel_mm)
    return realism


#: Cases per size: controls, seed-pattern and random-lesion cases per model, calibration controls per
#: model, and on the second head controls, seed-pattern and single-lesion cases.
SIZES: dict[str, dict[str, int]] = {
    "quick": {
        "controls": 2,
        "seed": 1,
        "random": 1,
        "calibration": 3,
        "head_controls": 2,
        "head_seed": 1,
        "head_singles": 1,
    },
    "medium": {
        "controls": 6,
        "seed": 2,
        "random": 3,
        "calibration": 3,
        "head_controls": 4,
        "head_seed": 2,
        "head_singles": 2,
    },
    "full": {
        "controls": 8,
        "seed": 2,
        "random": 8,
        "calibration": 10,
        "head_controls": 4,
        "head_seed": 2,
        "head_singles": 4,
    },
}


def _voxel(rng: np.random.Generator, full: bool) -> tuple[float, float, float] | None:
    if full:
        return None
    inplane = round(float(rng.uniform(0.8, 1.1)), 2)
    through = inplane if rng.random() < 0.5 else round(float(rng.uniform(inplane, 1.2)), 2)
    return (inplane, inplane, through)


def _random_lesions(rng: np.random.Generator, contrast: float) -> tuple[LesionSpec, ...]:
    count = 1 + int(rng.integers(0, 2))
    lesions = []
    for nerve in rng.choice(LESION_NERVES, size=count, replace=False):
        sides = ("left", "right") if rng.random() < 0.3 else (str(rng.choice(["left", "right"])),)
        thickness = float(np.round(rng.uniform(2.0, 3.5), 1))
        nodular = bool(rng.random() < 0.3)
        lesions += [LesionSpec(str(nerve), side, None, contrast, thickness, nodular) for side in sides]
    return tuple(lesions)


def case_plan(size: str | bool, calibrate: tuple[str, ...]) -> list[Case]:
    """Every case, fully determined by the size (quick, medium or full) and the calibration models.

    Quick and medium draw coarser voxels (0.8–1.2 mm) than full (the standard suite's 0.5–1.0 mm) and
    keep to the headline conditions; full also sweeps below them."""
    size = ("full" if size else "quick") if isinstance(size, bool) else size
    full = size == "full"
    n = SIZES[size]
    n_controls, n_seed, n_random, n_calibration = n["controls"], n["seed"], n["random"], n["calibration"]
    cases: list[Case] = []
    for m_index, model in enumerate(MODELS):
        base_seed = 7000 + 1000 * m_index
        # Own random streams per model and role: the test cases do not depend on which calibrations
        # are asked for, nor on the mode's counts of other roles.
        cal_rng = np.random.default_rng([90210, m_index, 0])
        rng = np.random.default_rng([90210, m_index, 1])
        voxel_rng = np.random.default_rng([90210, m_index, 2])
        if model in calibrate:
            for i in range(n_calibration):
                snr = (20.0, 30.0, 40.0, None)[i % 4] if model == "A" else float(cal_rng.integers(15, 51))
                spec = PhantomSpec(realism=_realism(model, snr, _voxel(cal_rng, full)), physiology_model=model)
                cases.append(Case(f"cal-{model}-{i:02d}", model, "calibration", spec, base_seed + 500 + i))
        for i in range(n_controls):
            snr = float(rng.integers(10, 51))
            spec = PhantomSpec(realism=_realism(model, snr, _voxel(voxel_rng, full)), physiology_model=model)
            cases.append(Case(f"{model}-control-{i:02d}-snr{snr:g}", model, "control", spec, base_seed + i))
        for i in range(n_seed):
            snr = float(rng.integers(20, 51))
            spec = PhantomSpec(
                SEED_PATTERN, realism=_realism(model, snr, _voxel(voxel_rng, full)), physiology_model=model
            )
            cases.append(Case(f"{model}-seed-{i:02d}-snr{snr:g}", model, "seed", spec, base_seed + 100 + i))
        for i in range(n_random):
            # Quick mode: headline conditions only; full mode also sweeps below them.
            contrast = float(rng.choice([0.4, 0.6, 0.8, 1.0] if not full else [0.2, 0.3, 0.4, 0.6, 0.8, 1.0]))
            snr = float(rng.integers(20, 51) if not full else rng.integers(10, 51))
            lesions = _random_lesions(rng, contrast)
            label = "-".join(f"{les.nerve}{les.side[0]}" for les in lesions)
            spec = PhantomSpec(lesions, realism=_realism(model, snr, _voxel(voxel_rng, full)), physiology_model=model)
            cases.append(
                Case(
                    f"{model}-lesion-{i:02d}-{label}-c{contrast:g}-snr{snr:g}",
                    model,
                    "lesion",
                    spec,
                    base_seed + 200 + i,
                )
            )
    # The second real head: controls, the seed pattern, single lesions (physiology B and C alternate).
    head_controls, head_seed, head_singles = n["head_controls"], n["head_seed"], n["head_singles"]
    singles = (("CN5", "left"), ("CN7", "right"), ("CN3", "right"), ("CN8", "left"))
    for i in range(head_controls):
        model = "BC"[i % 2]
        spec = PhantomSpec(realism=Realism(snr=40.0, series_scaling=True), physiology_model=model)
        cases.append(Case(f"head-control-{i:02d}-{model}", "head", "control", spec, 19000 + i))
    for i in range(head_seed):
        model = "CB"[i % 2]
        spec = PhantomSpec(SEED_PATTERN, realism=Realism(snr=40.0, series_scaling=True), physiology_model=model)
        cases.append(Case(f"head-seed-{i:02d}-{model}", "head", "seed", spec, 19100 + i))
    for i in range(head_singles):
        nerve, side = singles[i % len(singles)]
        model = "BC"[i % 2]
        lesion = (LesionSpec(nerve, side, None, 0.7, 2.8),)
        spec = PhantomSpec(lesion, realism=Realism(snr=40.0, series_scaling=True), physiology_model=model)
        cases.append(Case(f"head-lesion-{i:02d}-{nerve}{side[0]}-{model}", "head", "lesion", spec, 19200 + i))
    return cases


# ---- generate and prepare --------------------------------------------------------------------------------


def generate(cases: list[Case], work: Path) -> None:
    from cnmri.io.nifti import load_volume
    from cnmri.phantom.real_head import cached_head_map, generate_on_head
    from cnmri.templates import load_template

    base = None
    atlas = load_atlas()
    head = head_map = None
    for case in cases:
        folder = work / "cases" / case.case_id
        if (folder / "truth.json").exists():
            continue
        t0 = time.perf_counter()
        if case.group == "head":
            if head is None:
                head = load_volume(HEAD, "pre")
                head_map = cached_head_map(head, work / "seg3d_headmap.npz")
            assert head_map is not None
            generated = generate_on_head(case.spec, case.seed, head, head_map, atlas)
        else:
            base = base or load_template()
            generated = generate_case(case.spec, case.seed, base=base, atlas=atlas)
        folder.parent.mkdir(parents=True, exist_ok=True)
        write_case(generated, folder)
        print(f"generated {case.case_id} ({time.perf_counter() - t0:.0f} s)", flush=True)


def interleaved(cases: list[Case]) -> list[Case]:
    """Calibration controls first, then round robin over the test sets, each in the order control,
    seed pattern, control, lesion, ...: whenever the run is stopped, every test set has its most
    informative cases prepared."""
    rank = {"control": 0, "seed": 1, "lesion": 2}
    groups: dict[str, list[Case]] = {}
    for case in cases:
        if case.role != "calibration":
            groups.setdefault(case.group, []).append(case)
    queues = []
    for members in groups.values():
        by_role = {r: [c for c in members if c.role == r] for r in rank}
        order: list[Case] = []
        while any(by_role.values()):
            for role in ("control", "seed", "control", "lesion"):
                if by_role[role]:
                    order.append(by_role[role].pop(0))
        queues.append(order)
    out = [c for c in cases if c.role == "calibration"]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _prepared_path(work: Path, case_id: str) -> Path:
    return work / "prepared" / f"{case_id}.pre_post.pkl"


def prepare(cases: list[Case], work: Path) -> None:
    from cnmri.pipeline import AnalyzeOptions, Stopwatch, prepare_subject

    atlas = load_atlas()
    (work / "prepared").mkdir(parents=True, exist_ok=True)
    for case in cases:
        target = _prepared_path(work, case.case_id)
        if target.exists():
            continue
        folder = work / "cases" / case.case_id
        t0 = time.perf_counter()
        try:
            prepared = prepare_subject(
                folder / "pre.nii.gz", folder / "post.nii.gz", atlas, AnalyzeOptions(report=False), Stopwatch(), []
            )
        except CnmriError as err:
            (work / "prepared" / f"{case.case_id}.failed.txt").write_text(f"{err}\n")
            print(f"failed {case.case_id}: {err}", flush=True)
            continue
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(prepared, handle, protocol=5)
        tmp.replace(target)
        print(f"prepared {case.case_id} ({time.perf_counter() - t0:.0f} s)", flush=True)


# ---- score ----------------------------------------------------------------------------------------------


def _findings(prepared: Any, atlas: Atlas, normative: Any, measured: Any = None) -> dict[str, Any]:
    from cnmri.pipeline import assess_study

    segments, nerves, pattern = assess_study(prepared, atlas, normative, measured=measured)
    return {
        "mode": prepared.mode,
        "segments": segments,
        "nerves": nerves,
        "pattern": pattern,
        "registration": prepared.registration,
    }


def _load(path: Path) -> Any:
    with path.open("rb") as handle:
        prepared = pickle.load(handle)
    if "placement" not in prepared.__dict__:
        # prepared before course refinement existed: refine now, as prepare_subject does today
        from cnmri.pipeline import refine_courses

        prepared.__dict__.update(atlas_segments=[], placement={})
        prepared = refine_courses(prepared)
    return prepared


def _normative(calibration: str, cases: list[Case], work: Path, atlas: Atlas) -> Any:
    from cnmri.measure.normative import Normative, build_normative, load_normative

    if calibration == "shipped":
        return load_normative(None)
    empty = Normative("none", {}, "none")
    controls = [
        c
        for c in cases
        if c.role == "calibration" and c.group == calibration and _prepared_path(work, c.case_id).exists()
    ]
    if not controls:
        raise SystemExit(
            f"no prepared calibration controls of model {calibration}; run prepare --calibrate {calibration}"
        )
    findings = [_findings(_load(_prepared_path(work, c.case_id)), atlas, empty) for c in controls]
    payload = build_normative(findings, f"validation calibration: {len(controls)} model-{calibration} controls")
    path = work / f"normative_{calibration}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return Normative(payload["built_from"], payload["stats"], str(path))


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def summarise(scores: list[tuple[Case, CaseScore]]) -> dict[str, Any]:
    """The issue-9 numbers for one test set under one calibration."""
    controls = [s for c, s in scores if c.role == "control"]
    headline = [
        s
        for c, s in scores
        if c.role in ("lesion", "seed")
        and (s.contrast is None or s.contrast >= MIN_CONTRAST)
        and (s.snr is None or s.snr >= MIN_SNR)
    ]
    seeds = [s for c, s in scores if c.role == "seed"]
    false_calls = Counter(n for s in controls for n in s.called_nerves)
    return {
        "controls": len(controls),
        "fp_nerves_per_control": None if not controls else round(sum(s.fp for s in controls) / len(controls), 4),
        "lesion_cases_headline": len(headline),
        "sensitivity_headline": _rate(sum(s.tp for s in headline), sum(s.tp + s.fn for s in headline)),
        "fp_nerves_per_lesion_case": None if not headline else round(sum(s.fp for s in headline) / len(headline), 4),
        "seed_cases": len(seeds),
        "seed_pattern_sensitivity": _rate(sum(s.tp for s in seeds), sum(s.tp + s.fn for s in seeds)),
        "seed_pattern_found_fraction": _rate(sum(1 for s in seeds if s.fn == 0), len(seeds)),
        "false_calls_in_controls_by_nerve": dict(sorted(false_calls.items())),
        "targets": {
            "fp_per_control_le_0.1": None if not controls else sum(s.fp for s in controls) / len(controls) <= 0.1,
            "sensitivity_ge_0.9": None
            if not headline
            else sum(s.tp for s in headline) / max(1, sum(s.tp + s.fn for s in headline)) >= 0.9,
            "seed_ge_0.95": None
            if not seeds
            else sum(s.tp for s in seeds) / max(1, sum(s.tp + s.fn for s in seeds)) >= 0.95,
        },
        "aggregate": {k: v for k, v in aggregate([s for _, s in scores]).items() if k in ("headline", "all_cases")},
    }


def score(cases: list[Case], work: Path, out: Path, calibrations: tuple[str, ...], size: str) -> dict[str, Any]:
    atlas = load_atlas()
    tests = [c for c in cases if c.role != "calibration" and _prepared_path(work, c.case_id).exists()]
    missing = [c.case_id for c in cases if c.role != "calibration" and not _prepared_path(work, c.case_id).exists()]
    from cnmri.pipeline import measure_study

    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    normatives = {calibration: _normative(calibration, cases, work, atlas) for calibration in calibrations}
    groups: dict[str, dict[str, list[tuple[Case, CaseScore]]]] = {c: {} for c in calibrations}
    # Measurement does not depend on the reference: measure each case once, judge it per calibration.
    for case in tests:
        truth = json.loads((work / "cases" / case.case_id / "truth.json").read_text(encoding="utf-8"))
        prepared = _load(_prepared_path(work, case.case_id))
        measured = measure_study(prepared, atlas)
        for calibration in calibrations:
            t0 = time.perf_counter()
            findings = _findings(prepared, atlas, normatives[calibration], measured)
            s = score_case(truth, findings, case.case_id, round(time.perf_counter() - t0, 3))
            groups[calibration].setdefault(case.group, []).append((case, s))
            fov = truth.get("field_of_view") or {}
            rows.append(
                {
                    "calibration": calibration,
                    "case_id": case.case_id,
                    "test_set": case.group,
                    "physiology_model": truth.get("physiology_model", "A"),
                    "role": case.role,
                    "snr": s.snr,
                    "contrast": s.contrast,
                    "true_nerves": ",".join(s.true_nerves),
                    "called_nerves": ",".join(s.called_nerves),
                    "false_positive_nerves": ",".join(sorted(set(s.called_nerves) - set(s.true_nerves))),
                    "missed_nerves": ",".join(sorted(set(s.true_nerves) - set(s.called_nerves))),
                    "called_segments": ";".join(
                        f"{ns}:{'/'.join(v.get('abnormal_segments', []))}"
                        for ns, v in sorted(s.per_nerve.items())
                        if v.get("called")
                    ),
                    "excluded_nerves_outside_fov": ",".join(fov.get("excluded_nerves", [])),
                    "excluded_segments_outside_fov": len(fov.get("excluded_segments", [])),
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
            )
    rows.sort(key=lambda row: calibrations.index(row["calibration"]))  # stable: case order kept per calibration
    for calibration in calibrations:
        per_group = groups[calibration]
        results[calibration] = {
            "normative": getattr(normatives[calibration], "built_from", ""),
            "test_sets": {g: summarise(v) for g, v in sorted(per_group.items())},
        }
        # Out of sample = every test set whose physiology was not used for the calibration.
        held_out = [pair for g, v in per_group.items() if g != calibration_model(calibration) for pair in v]
        results[calibration]["held_out_pooled"] = summarise(held_out)
    metrics = {
        "schema_version": "1",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": size,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "headline_conditions": {"min_contrast_wm": MIN_CONTRAST, "min_snr": MIN_SNR},
        "cases_scored": len(tests),
        "cases_missing": missing,
        "calibrations": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    _write_tsv(rows, out / "per_case.tsv")
    (out / "metrics.md").write_text(markdown(metrics, rows))
    plot(metrics, out)
    return metrics


def calibration_model(calibration: str) -> str:
    return "A" if calibration == "shipped" else calibration


def _write_tsv(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        path.write_text("")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown(metrics: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Detector validation: calibrate on one model of normal, report on the others",
        "",
        f"Date {metrics['date']}, mode {metrics['mode']}, {metrics['cases_scored']} cases scored"
        + (f" ({len(metrics['cases_missing'])} not prepared)" if metrics["cases_missing"] else "")
        + ". Headline: lesions ≥ 0.4 × WM at SNR ≥ 20. Targets (issue 9): ≤ 0.1 FP nerves per control, "
        "sensitivity ≥ 0.9, seed pattern ≥ 0.95; second head: 0 FP, seed found.",
        "",
        "| calibration | test set | controls | FP nerves / control | lesion cases | sensitivity | "
        "FP / lesion case | seed cases | seed sensitivity | most frequent false calls (controls) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cal, block in metrics["calibrations"].items():
        entries = [*block["test_sets"].items(), ("held-out pooled", block["held_out_pooled"])]
        for group, s in entries:
            top = ", ".join(f"{k} ×{v}" for k, v in Counter(s["false_calls_in_controls_by_nerve"]).most_common(6))
            lines.append(
                f"| {cal} | {group} | {s['controls']} | {_fmt(s['fp_nerves_per_control'])} | "
                f"{s['lesion_cases_headline']} | {_fmt(s['sensitivity_headline'])} | "
                f"{_fmt(s['fp_nerves_per_lesion_case'])} | {s['seed_cases']} | "
                f"{_fmt(s['seed_pattern_sensitivity'])} | {top or '—'} |"
            )
    lines += [
        "",
        "## Per case",
        "",
        "| calibration | case | truth | called | FP | missed | outside FOV |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['calibration']} | {r['case_id']} | {r['true_nerves'] or '—'} | {r['called_nerves'] or '—'} | "
            f"{r['false_positive_nerves'] or '—'} | {r['missed_nerves'] or '—'} | "
            f"{r['excluded_nerves_outside_fov'] or '—'} |"
        )
    return "\n".join(lines) + "\n"


def plot(metrics: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cals = list(metrics["calibrations"])
    groups = sorted({g for b in metrics["calibrations"].values() for g in b["test_sets"]})
    width = 0.8 / max(1, len(cals))
    for key, fname, label, target in (
        ("fp_nerves_per_control", "fp_per_control.png", "false-positive nerves per control", 0.1),
        ("sensitivity_headline", "sensitivity.png", "nerve sensitivity (≥ 0.4 × WM, SNR ≥ 20)", 0.9),
    ):
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for i, cal in enumerate(cals):
            values = [metrics["calibrations"][cal]["test_sets"].get(g, {}).get(key) for g in groups]
            ax.bar(
                np.arange(len(groups)) + i * width,
                [v if v is not None else 0 for v in values],
                width,
                label=f"calibrated on {cal}",
            )
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target}")
        ax.set_xticks(np.arange(len(groups)) + width * (len(cals) - 1) / 2, groups)
        ax.set_xlabel("test set (physiology model, or the second real head)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
    # Which nerves are falsely called in controls, per test set (first calibration).
    first = metrics["calibrations"][cals[0]]["test_sets"]
    nerves = sorted({n for s in first.values() for n in s["false_calls_in_controls_by_nerve"]})
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(nerves) + 2), 3.5))
    if nerves:
        grid = np.array(
            [
                [first[g]["false_calls_in_controls_by_nerve"].get(n, 0) / max(1, first[g]["controls"]) for n in nerves]
                for g in groups
            ]
        )
        im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(nerves)), nerves, rotation=60, fontsize=8)
        ax.set_yticks(range(len(groups)), groups)
        fig.colorbar(im, ax=ax, label="fraction of controls called")
    ax.set_title(f"false calls in controls (calibration {cals[0]})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "false_calls_by_nerve.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("generate", "prepare", "score", "all", "plan"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnmri-validation"), help="cases and prepared cache")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "validation")
    parser.add_argument("--full", action="store_true", help="the full case set (same as --size full)")
    parser.add_argument("--size", choices=tuple(SIZES), default="quick", help="how many cases (default quick)")
    parser.add_argument(
        "--calibrate",
        default="shipped",
        help="comma-separated calibrations: shipped (the packaged reference) and/or models A, B, C",
    )
    parser.add_argument("--only", default="", help="comma-separated test sets to generate/prepare (A,B,C,head)")
    args = parser.parse_args(argv)
    calibrations = tuple(c.strip() for c in args.calibrate.split(",") if c.strip())
    bad = [c for c in calibrations if c not in ("shipped", *MODELS)]
    if bad:
        print(f"--calibrate: unknown {bad}; allowed shipped, A, B, C", file=sys.stderr)
        return 2
    size = "full" if args.full else args.size
    cases = case_plan(size, tuple(c for c in calibrations if c in MODELS))
    if args.only:
        wanted = set(args.only.split(","))
        work_cases = [c for c in cases if c.group in wanted]
    else:
        work_cases = cases
    if args.action == "plan":
        for c in work_cases:
            print(c.case_id, c.role, c.seed)
        return 0
    if args.action == "generate":
        generate(work_cases, args.work)
    if args.action in ("prepare", "all"):
        # One case at a time, generated then prepared, in an order that is useful if stopped early.
        for case in interleaved(work_cases):
            generate([case], args.work)
            prepare([case], args.work)
    if args.action in ("score", "all"):
        metrics = score(cases, args.work, args.out, calibrations, size)
        for cal, block in metrics["calibrations"].items():
            for group, s in block["test_sets"].items():
                print(cal, group, json.dumps({k: v for k, v in s.items() if not isinstance(v, dict)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Case", "case_plan", "replace"]
