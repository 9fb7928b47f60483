"""Score the detector on prepared cases grouped by physiology model (calibrated on A, held out B, C).

Cases are prepared once (registration, atlas warp, normalisation) with ``detector_workbench.py``'s
cache format (``NAME.pre_post.pkl`` beside a folder ``NAME`` holding ``truth.json`` under one of the
case roots), then assessed with the detector as it is now and the normative reference given (the
shipped one by default, built from model-A controls only). Results per case and per model go to
``--out`` as ``detector_heldout.json`` and ``detector_heldout.md``:

    python benchmarks/detector_heldout.py --cache /tmp/cache --cases /tmp/heldout/cases /tmp/bench/cases \\
        --out benchmarks/results/detector_heldout

Which numbers are in-sample is written into the table: model A is the calibration model (its
controls built the reference; the standard-suite cases are other seeds of the same model).
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

from cnmri.atlas import load_atlas
from cnmri.measure.normative import load_normative
from cnmri.phantom.evaluate import CaseScore, aggregate, score_case
from cnmri.pipeline import PreparedSubject, assess_study, refine_courses

SEED_PATTERN = {"CN7-left", "CN7-right", "CN9-left", "CN9-right"}


def _group(name: str, truth: dict[str, Any]) -> str:
    model = str(truth.get("physiology_model") or truth.get("spec", {}).get("physiology_model") or "A")
    if name.startswith("head"):
        return "second head"
    return f"model {model}"


def _row(case: CaseScore, group: str, noise: float | None, sequence: str) -> dict[str, Any]:
    return {
        "case": case.case_id,
        "group": group,
        "sequence": sequence,
        "noise_sd": None if noise is None else round(noise, 4),
        "snr": case.snr,
        "contrast": case.contrast,
        "truth": sorted(case.true_nerves),
        "called": sorted(case.called_nerves),
        "false_positive": sorted(set(case.called_nerves) - set(case.true_nerves)),
        "missed": sorted(set(case.true_nerves) - set(case.called_nerves)),
    }


def _summary(rows: list[dict[str, Any]], scores: list[CaseScore]) -> dict[str, Any]:
    metrics = aggregate(scores, min_contrast=0.4, min_snr=20.0)
    headline = metrics["headline"]
    seed = [r for r in rows if set(r["truth"]) == SEED_PATTERN]
    seed_found = sum(len(SEED_PATTERN & set(r["called"])) for r in seed)
    return {
        "cases": len(rows),
        "controls": sum(1 for r in rows if not r["truth"]),
        "fp_nerves_per_control": metrics["all_cases"]["fp_nerves_per_control"],
        "sensitivity_all": metrics["all_cases"]["sensitivity"],
        "sensitivity_headline": headline["sensitivity"],
        "seed_pattern_sensitivity": round(seed_found / (4 * len(seed)), 3) if seed else None,
        "fp_nerves_in_lesion_cases": sum(len(r["false_positive"]) for r in rows if r["truth"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--cases", type=Path, nargs="+", required=True, help="folders holding NAME/truth.json")
    parser.add_argument("--normative", type=Path, help="default: the shipped reference")
    parser.add_argument("--sequence", action="append", default=[], help="NAME-PREFIX=SEQUENCE, e.g. C-=3d-gre")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sequences = [tuple(item.split("=", 1)) for item in args.sequence]
    atlas = load_atlas()
    normative = load_normative(args.normative)
    rows: list[dict[str, Any]] = []
    by_group: dict[str, tuple[list[dict[str, Any]], list[CaseScore]]] = {}
    for pkl in sorted(args.cache.glob("*.pre_post.pkl")):
        name = pkl.name.removesuffix(".pre_post.pkl")
        found = [root / name / "truth.json" for root in args.cases if (root / name / "truth.json").exists()]
        truth_path = found[0] if found else None
        if truth_path is None:
            continue
        with pkl.open("rb") as handle:
            prepared: PreparedSubject = pickle.load(handle)
        if not prepared.__dict__.get("atlas_segments"):
            # prepared before course refinement existed: refine as prepare_subject now does
            prepared.__dict__.update(atlas_segments=[], placement={})
            prepared = refine_courses(prepared)
        sequence = next((seq for prefix, seq in sequences if name.startswith(prefix)), "unknown")
        segments, nerves, pattern = assess_study(prepared, atlas, normative, sequence)
        findings = {
            "mode": prepared.mode,
            "segments": segments,
            "nerves": nerves,
            "pattern": pattern,
            "registration": prepared.registration,
        }
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        case = score_case(truth, findings, name, None)
        group = _group(name, truth)
        row = _row(case, group, getattr(prepared, "noise_sd", None), sequence)
        rows.append(row)
        by_group.setdefault(group, ([], []))[0].append(row)
        by_group[group][1].append(case)
        print(f"{name:45s} {group:12s} FP {row['false_positive']} missed {row['missed']}", flush=True)
    summary = {group: _summary(r, s) for group, (r, s) in sorted(by_group.items())}
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"normative": normative.built_from, "summary": summary, "cases": rows}
    (args.out / "detector_heldout.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Detector on models of normal it was not calibrated on",
        "",
        f"Normative reference: {normative.built_from}. Model A is the calibration model (in-sample);",
        "B and C are held out. Headline: lesions ≥ 0.4 × WM at SNR ≥ 20.",
        "",
        "| group | cases | controls | FP nerves / control | sensitivity (all) | sensitivity (headline) "
        "| seed pattern | FP nerves in lesion cases |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for group, s in summary.items():
        lines.append(
            f"| {group} | {s['cases']} | {s['controls']} | {s['fp_nerves_per_control']} | {s['sensitivity_all']} "
            f"| {s['sensitivity_headline']} | {s['seed_pattern_sensitivity']} | {s['fp_nerves_in_lesion_cases']} |"
        )
    lines += ["", "| case | group | sequence | noise SD | truth | called | FP | missed |", "| --- " * 8 + "|"]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['group']} | {r['sequence']} | {r['noise_sd']} | {', '.join(r['truth']) or '—'} "
            f"| {', '.join(r['called']) or '—'} | {', '.join(r['false_positive']) or '—'} "
            f"| {', '.join(r['missed']) or '—'} |"
        )
    (args.out / "detector_heldout.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
