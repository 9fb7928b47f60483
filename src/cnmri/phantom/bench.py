"""The accuracy benchmark: seeded phantom suites, run through the detector, scored and reported.

``standard`` (40 cases): 10 controls and 30 lesion cases with scanner realism on, sweeping lesion
contrast (0.2–1.0 of WM signal) and SNR (10–50), smooth and nodular, one to three nerves, unilateral
and bilateral. ``ci`` (3 cases): a 2 mm copy of the head, realism off, for the test suite.

The detector is any callable ``(pre, post, out_dir) -> findings``; by default
``cnmri.pipeline.analyze_study`` (:func:`cnmri.pipeline.analyze` of a NIfTI study, written).
Scores come from :mod:`cnmri.phantom.evaluate`.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cnmri import __version__
from cnmri.errors import InputError
from cnmri.phantom.evaluate import CaseScore, LabelledCase, aggregate, score_case
from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, generate_case, write_case
from cnmri.volume import Volume

_log = logging.getLogger(__name__)

Analyzer = Callable[[Path | None, Path, Path], dict[str, Any]]
SUITES = ("standard", "ci")
#: Nerves drawn for lesions in the standard suite (all with both sides in the atlas).
LESION_NERVES = ("CN3", "CN5", "CN6", "CN7", "CN8", "CN9", "CN10", "CN12")


@dataclass(frozen=True)
class BenchCase:
    case_id: str
    spec: PhantomSpec
    seed: int


def downsampled_base(factor: int = 2, base: Volume | None = None) -> Volume:
    """The template head on a coarser grid (block average), for fast tests and the CI suite."""
    if base is None:
        from cnmri.templates.lookup import load_template

        base = load_template()
    data = np.asarray(base.data, dtype=np.float32)
    shape = [s // factor * factor for s in data.shape]
    data = data[: shape[0], : shape[1], : shape[2]]
    data = data.reshape(shape[0] // factor, factor, shape[1] // factor, factor, shape[2] // factor, factor)
    data = data.mean(axis=(1, 3, 5))
    affine = base.affine.copy()
    affine[:3, :3] = base.affine[:3, :3] * factor
    affine[:3, 3] = base.affine[:3, 3] + base.affine[:3, :3] @ np.full(3, (factor - 1) / 2.0)
    return Volume(data.astype(np.float32), affine, base.name, f"{base.source} (block-averaged x{factor})")


def suite_cases(name: str) -> list[BenchCase]:
    """The cases of a suite, fully determined by its name."""
    if name == "ci":
        off = Realism(snr=40.0)
        return [
            BenchCase("ci-000-control", PhantomSpec(realism=off), 1),
            BenchCase("ci-001-cn7l", PhantomSpec((LesionSpec("CN7", "left", None, 0.8, 3.0),), realism=off), 2),
            BenchCase(
                "ci-002-cn9r-cn5l",
                PhantomSpec(
                    (
                        LesionSpec("CN9", "right", None, 0.6, 2.5),
                        LesionSpec("CN5", "left", None, 0.6, 3.0, True),
                    ),
                    realism=off,
                ),
                3,
            ),
        ]
    if name != "standard":
        raise InputError(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}")
    rng = np.random.default_rng(20240601)
    cases: list[BenchCase] = []
    snrs = (20.0, 30.0, 50.0)
    for i in range(10):
        snr = snrs[i % 3]
        cases.append(BenchCase(f"std-{i:03d}-control-snr{snr:g}", PhantomSpec(realism=Realism.standard(snr)), 100 + i))
    contrasts = (0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
    for i in range(30):
        # 18 cases sweep contrast at SNR 30; 12 sweep SNR (10, 20, 30, 50) at contrast 0.6.
        if i < 18:
            contrast, snr = contrasts[i % len(contrasts)], 30.0
        else:
            contrast, snr = 0.6, (10.0, 20.0, 30.0, 50.0)[i % 4]
        count = 1 + int(rng.integers(0, 3))
        nerves = rng.choice(LESION_NERVES, size=count, replace=False)
        lesions = []
        for nerve in nerves:
            sides = ("left", "right") if rng.random() < 0.3 else (str(rng.choice(["left", "right"])),)
            thickness = float(np.round(rng.uniform(2.0, 3.5), 1))
            nodular = bool(rng.random() < 0.3)
            lesions += [LesionSpec(str(nerve), side, None, contrast, thickness, nodular) for side in sides]
        label = "-".join(f"{les.nerve}{les.side[0]}" for les in lesions)
        cases.append(
            BenchCase(
                f"std-{10 + i:03d}-{label}-c{contrast:g}-snr{snr:g}",
                PhantomSpec(tuple(lesions), realism=Realism.standard(snr)),
                200 + i,
            )
        )
    return cases


def default_analyzer(pre: Path | None, post: Path, out_dir: Path) -> dict[str, Any]:
    from cnmri.pipeline import analyze_study
    from cnmri.settings import Settings

    return analyze_study(pre, post, out_dir, Settings(report=False), force=True)


def run_labelled(
    cases: Sequence[LabelledCase], out_dir: Path, analyzer: Analyzer | None = None
) -> tuple[list[CaseScore], list[dict[str, Any]]]:
    """Run the detector on each case and score it; failures are recorded, not fatal."""
    from cnmri.errors import CnmriError

    analyzer = analyzer or default_analyzer
    scores: list[CaseScore] = []
    failures: list[dict[str, Any]] = []
    runs = out_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for case in cases:
        _log.info("analysing %s", case.case_id)
        started = time.perf_counter()
        try:
            findings = analyzer(case.pre, case.post, runs / case.case_id.replace("/", "_"))
        except CnmriError as err:
            failures.append({"case_id": case.case_id, "error": str(err), "exit_code": err.exit_code})
            _log.warning("%s failed: %s", case.case_id, err)
            continue
        seconds = time.perf_counter() - started
        scores.append(score_case(case.truth, findings, case.case_id, round(seconds, 3)))
    return scores, failures


def run_suite(name: str, out_dir: Path, analyzer: Analyzer | None = None, base: Volume | None = None) -> dict[str, Any]:
    """Generate the suite's cases into ``out_dir/cases``, analyse, score, and write the report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = suite_cases(name)
    if base is None and name == "ci":
        base = downsampled_base(2)
    labelled: list[LabelledCase] = []
    for case in cases:
        folder = out_dir / "cases" / case.case_id
        if not (folder / "truth.json").exists():
            _log.info("generating %s", case.case_id)
            generated = generate_case(case.spec, case.seed, base=base)
            folder.parent.mkdir(parents=True, exist_ok=True)
            write_case(generated, folder)
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        labelled.append(LabelledCase(case.case_id, folder / "pre.nii.gz", folder / "post.nii.gz", truth))
    scores, failures = run_labelled(labelled, out_dir, analyzer)
    return write_report(scores, failures, out_dir, title=f"cnmri bench --suite {name}", suite=name)


def _machine() -> dict[str, Any]:
    import os

    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(metrics: dict[str, Any], title: str) -> str:
    h = metrics["headline"]
    lines = [
        f"# {title}",
        "",
        f"Date: {metrics['date']}; machine: {metrics['machine']['node']} "
        f"({metrics['machine']['cpus']} CPUs); cnmri {metrics['software']['version']}",
        "",
        f"Headline conditions: lesion contrast ≥ {metrics['headline_conditions']['min_contrast_wm']} of WM "
        f"signal, SNR ≥ {metrics['headline_conditions']['min_snr']}; all controls.",
        "",
        "| metric | headline | all cases | target |",
        "| --- | --- | --- | --- |",
    ]
    a = metrics["all_cases"]
    rows = [
        ("cases (controls)", f"{h['cases']} ({h['controls']})", f"{a['cases']} ({a['controls']})", ""),
        ("nerve-level sensitivity", _fmt(h["sensitivity"]), _fmt(a["sensitivity"]), "≥ 0.95"),
        ("nerve-level specificity", _fmt(h["specificity"]), _fmt(a["specificity"]), ""),
        (
            "false-positive nerves per control",
            _fmt(h["fp_nerves_per_control"]),
            _fmt(a["fp_nerves_per_control"]),
            "≤ 0.1",
        ),
        ("segment sensitivity", _fmt(h["segment_sensitivity"]), _fmt(a["segment_sensitivity"]), ""),
        ("segment specificity", _fmt(h["segment_specificity"]), _fmt(a["segment_specificity"]), ""),
        (
            "worst physiologic segment false-call rate in controls",
            _fmt(h["physiologic_false_call_rate_max"]),
            _fmt(a["physiologic_false_call_rate_max"]),
            "≤ 0.05",
        ),
        (
            "thickness error, median mm (lesions ≥ 2 mm)",
            _fmt(h["thickness_error_mm_lesions_ge_2mm"]["median"]),
            _fmt(a["thickness_error_mm_lesions_ge_2mm"]["median"]),
            "≤ 0.5",
        ),
        (
            "skull-base registration error, median mm",
            _fmt(h["registration_error_mm"]["median"]),
            _fmt(a["registration_error_mm"]["median"]),
            "≤ 1.5",
        ),
        (
            "seconds per case, median",
            _fmt(h["seconds_per_case"]["median"]),
            _fmt(a["seconds_per_case"]["median"]),
            "",
        ),
    ]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    lines += [
        "",
        "## Detection against lesion contrast",
        "",
        "| contrast (× WM) | sensitivity | lesioned nerves |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {r['contrast']:g} | {_fmt(r['sensitivity'])} | {r['lesioned_nerves']} |"
        for r in metrics["detection_vs_contrast"]
    ]
    lines += [
        "",
        "## Detection against noise",
        "",
        "| SNR | sensitivity | lesioned nerves |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {r['snr']:g} | {_fmt(r['sensitivity'])} | {r['lesioned_nerves']} |" for r in metrics["detection_vs_snr"]
    ]
    lines += [
        "",
        "## Per case",
        "",
        "| case | truth | called | FP | FN | physiologic false calls | s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in metrics["cases"]:
        lines.append(
            f"| {c['case_id']} | {', '.join(c['true_nerves']) or '—'} | "
            f"{', '.join(c['called_nerves']) or '—'} | "
            f"{c['nerve_counts']['fp']} | {c['nerve_counts']['fn']} | "
            f"{', '.join(c['physiologic_false_calls']) or '—'} | {_fmt(c['seconds'])} |"
        )
    if metrics["failures"]:
        lines += ["", "## Failed cases", ""]
        lines += [f"- {f['case_id']}: {f['error']}" for f in metrics["failures"]]
    return "\n".join(lines) + "\n"


def plot_metrics(metrics: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    for key, xlabel, fname in (
        ("detection_vs_contrast", "lesion contrast (fraction of WM signal)", "detection_vs_contrast.png"),
        ("detection_vs_snr", "SNR", "detection_vs_snr.png"),
    ):
        rows = [r for r in metrics[key] if r["sensitivity"] is not None]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        attr = "contrast" if "contrast" in key else "snr"
        ax.plot([r[attr] for r in rows], [r["sensitivity"] for r in rows], "o-")
        ax.axhline(0.95, color="grey", ls="--", lw=1, label="target 0.95")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("nerve-level sensitivity")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=100)
        plt.close(fig)
        written.append(fname)
    errors = [t["error_mm"] for c in metrics["cases"] for t in c["thickness_errors_mm"]]
    reg = [v for c in metrics["cases"] for v in c["registration_errors_mm"].values()]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].hist(errors or [0.0], bins=20)
    axes[0].set_xlabel("thickness error (mm)")
    axes[0].axvline(0.5, color="grey", ls="--")
    axes[1].hist(reg or [0.0], bins=20)
    axes[1].set_xlabel("skull-base landmark error (mm)")
    axes[1].axvline(1.5, color="grey", ls="--")
    fig.tight_layout()
    fig.savefig(out_dir / "errors.png", dpi=100)
    plt.close(fig)
    written.append("errors.png")
    return written


def write_report(
    scores: Sequence[CaseScore],
    failures: Sequence[dict[str, Any]],
    out_dir: Path,
    title: str,
    suite: str = "",
) -> dict[str, Any]:
    """metrics.json, metrics.md and plots into ``out_dir``; returns the metrics dict."""
    from cnmri.io.outputs import write_json_atomic, write_text_atomic

    metrics = aggregate(scores)
    metrics.update(
        {
            "schema_version": "1",
            "suite": suite,
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": _machine(),
            "software": {"name": "cnmri", "version": __version__},
            "cases": [s.to_dict() for s in scores],
            "failures": list(failures),
        }
    )
    metrics["plots"] = plot_metrics(metrics, out_dir)
    write_json_atomic(out_dir / "metrics.json", metrics)
    write_text_atomic(out_dir / "metrics.md", markdown_table(metrics, title))
    return metrics


__all__ = [
    "SUITES",
    "Analyzer",
    "BenchCase",
    "default_analyzer",
    "downsampled_base",
    "markdown_table",
    "run_labelled",
    "run_suite",
    "suite_cases",
    "write_report",
]
