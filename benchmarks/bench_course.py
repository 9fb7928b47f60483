"""Course refinement and vessel handling, measured on phantoms whose true centrelines are known (issue 9).

    PYTHONPATH=src python benchmarks/bench_course.py -o /tmp/course-bench
    # writes benchmarks/results/course_refinement.md and .json (use --results to write elsewhere)

Cases (all on the real Colin27 head, built by ``cnmri.phantom``):

* ``demo``: the demo case (CN7 and CN9 both sides, no scanner realism);
* three cases of the standard suite (a control, two lesion cases with CN7/CN8 and CN5/CN7/CN9; full realism);
* ``displaced-*``: the nerve is not where the atlas puts it. The phantom is generated from a copy of
  the atlas whose cisternal segments bend up to 2 mm away from the shipped course in their middle
  (a half-sine bump, random direction perpendicular to the segment, end points unchanged), and nerves
  are drawn on those displaced courses; the analysis uses the shipped atlas. ``displaced-visible`` draws
  non-enhancing 2 mm nerves (contrast 0.05 × WM, visible on pre as tissue in CSF), the others enhancing
  lesions.

Per case the expensive part (load, N4, registrations, atlas warp, normalisation) runs once
(``prepare_subject`` with refinement off, cached in OUT/cache); then three variants are measured and
judged: ``atlas`` (registered atlas course, no vessel exclusion: the pipeline before issue 9),
``atlas+vessels`` and ``refined+vessels`` (the new default). Placement error = mean distance (mm) from
the measured centreline (sampled every 0.5 mm) to the true one: a lesion's drawn centreline, or, for
segments without a drawn nerve in non-displaced cases, the atlas carried through the phantom's true
deformation.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.atlas import Atlas, load_atlas
from cnmri.measure.course import densify, is_refined_segment
from cnmri.measure.normative import load_normative
from cnmri.measure.roi import distance_to_polyline
from cnmri.phantom.bench import suite_cases
from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, demo_spec, generate_case, write_case
from cnmri.phantom.realism import SubjectMap
from cnmri.pipeline import AnalyzeOptions, PreparedSubject, Stopwatch, assess_study, prepare_subject, refine_courses

RESULTS = Path(__file__).parent / "results"
STANDARD_PICK = (0, 13, 19)
DISPLACEMENT_MM = 2.0


def displaced_atlas(atlas: Atlas, seed: int, amplitude_mm: float = DISPLACEMENT_MM) -> Atlas:
    """The atlas with every cisternal segment bent by a half-sine bump of ``amplitude_mm`` (ends fixed)."""
    rng = np.random.default_rng(seed)
    segments = []
    for seg in atlas.segments:
        if not is_refined_segment(seg.key):
            segments.append(seg)
            continue
        points = seg.points_mm
        chord = points[-1] - points[0]
        chord /= np.linalg.norm(chord)
        direction = rng.normal(size=3)
        direction -= direction.dot(chord) * chord
        direction /= np.linalg.norm(direction)
        lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        bump = np.sin(np.pi * lengths / lengths[-1])[:, None] * amplitude_mm * direction[None, :]
        segments.append(replace(seg, points_mm=points + bump))
    return replace(atlas, segments=tuple(segments))


def _cisternal(nerves: list[tuple[str, str]], contrast: float, thickness: float) -> tuple[LesionSpec, ...]:
    return tuple(LesionSpec(n, s, ("cisternal",), contrast, thickness) for n, s in nerves)


def cases() -> list[tuple[str, PhantomSpec, int, bool]]:
    """(case id, spec, seed, displaced atlas?)."""
    out: list[tuple[str, PhantomSpec, int, bool]] = [("demo", demo_spec(), 0, False)]
    standard = suite_cases("standard")
    out += [(standard[i].case_id, standard[i].spec, standard[i].seed, False) for i in STANDARD_PICK]
    out += [
        (
            "displaced-lesions-snr30",
            PhantomSpec(
                _cisternal([("CN5", "left"), ("CN7", "right"), ("CN9", "left"), ("CN10", "right")], 0.6, 2.2),
                realism=Realism.standard(30.0),
            ),
            301,
            True,
        ),
        (
            "displaced-visible-snr20",
            PhantomSpec(
                _cisternal([("CN5", "left"), ("CN5", "right"), ("CN7", "left"), ("CN9", "right")], 0.05, 2.0),
                realism=Realism.standard(20.0),
            ),
            302,
            True,
        ),
        (
            "displaced-lesions-snr20",
            PhantomSpec(
                _cisternal([("CN7", "left"), ("CN7", "right"), ("CN3", "left"), ("CN12", "right")], 0.4, 2.5),
                realism=Realism.standard(20.0),
            ),
            303,
            True,
        ),
    ]
    return out


def _prepared(
    out: Path, case_id: str, spec: PhantomSpec, seed: int, displaced: bool
) -> tuple[PreparedSubject, dict[str, Any], float]:
    folder = out / "cases" / case_id
    cache = out / "cache" / f"{case_id}.pkl"
    atlas = load_atlas()
    if not (folder / "truth.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        generation_atlas = displaced_atlas(atlas, seed) if displaced else atlas
        write_case(generate_case(spec, seed, atlas=generation_atlas), folder)
    truth = json.loads((folder / "truth.json").read_text())
    if cache.exists():
        with cache.open("rb") as handle:
            payload = pickle.load(handle)
        return payload["prepared"], truth, payload["seconds"]
    started = time.perf_counter()
    prepared = prepare_subject(
        folder / "pre.nii.gz", folder / "post.nii.gz", atlas, AnalyzeOptions(refine_course=False), Stopwatch(), []
    )
    seconds = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as handle:
        pickle.dump({"prepared": prepared, "seconds": seconds}, handle, protocol=5)
    return prepared, truth, seconds


def true_centrelines(truth: dict[str, Any], atlas: Atlas, displaced: bool) -> dict[str, np.ndarray]:
    """Subject-space true centrelines of the cisternal segments that have one."""
    out: dict[str, np.ndarray] = {}
    for lesion in truth.get("lesions", []):
        for seg in lesion["segments"]:
            if is_refined_segment(seg["key"]):
                out[seg["key"]] = np.asarray(seg["subject_points_mm"], dtype=np.float64)
    if not displaced:
        mapping = SubjectMap.from_truth(truth["subject_map"])
        for seg in atlas.segments:
            if is_refined_segment(seg.key) and seg.key not in out:
                out[seg.key] = mapping.template_to_subject(seg.points_mm)
    return out


def placement_error_mm(points: np.ndarray, truth: np.ndarray) -> float:
    return float(distance_to_polyline(densify(points, 0.5), truth)[0].mean())


def _called(segments_nerves: list[dict[str, Any]]) -> set[str]:
    return {f"{n['nerve']}-{n['side']}" for n in segments_nerves if n.get("abnormal")}


def run_case(out: Path, case_id: str, spec: PhantomSpec, seed: int, displaced: bool) -> dict[str, Any]:
    atlas = load_atlas()
    normative = load_normative(None)
    prepared, truth, prepare_seconds = _prepared(out, case_id, spec, seed, displaced)
    started, cpu = time.perf_counter(), time.process_time()
    refined = refine_courses(prepared)
    refine_seconds, refine_cpu = time.perf_counter() - started, time.process_time() - cpu
    variants: dict[str, PreparedSubject] = {
        "atlas": replace(prepared, exclude_vessels=False),
        "atlas+vessels": replace(prepared, exclude_vessels=True),
        "refined+vessels": replace(refined, exclude_vessels=True),
    }
    true_nerves = set(truth.get("abnormal_nerves", []))
    result: dict[str, Any] = {"case": case_id, "true_nerves": sorted(true_nerves), "variants": {}}
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for name, variant in variants.items():
        started, cpu = time.perf_counter(), time.process_time()
        segments, nerves, _ = assess_study(variant, atlas, normative)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        called = _called(nerves)
        records[name] = {s["key"]: s for s in segments}
        result["variants"][name] = {
            "called": sorted(called),
            "tp": len(called & true_nerves),
            "fp": len(called - true_nerves),
            "fn": len(true_nerves - called),
            "assess_seconds": round(seconds, 2),
            "assess_cpu_seconds": round(cpu_seconds, 2),
        }
    truth_lines = true_centrelines(truth, atlas, displaced)
    atlas_lines = {s.key: s.points_mm for s in prepared.segments}
    refined_lines = {s.key: s.points_mm for s in refined.segments}
    placement = []
    for key, line in sorted(truth_lines.items()):
        p = refined.placement[key]
        placement.append(
            {
                "segment": key,
                "lesion": key in set(truth.get("abnormal_segments", [])),
                "atlas_error_mm": round(placement_error_mm(atlas_lines[key], line), 3),
                "refined_error_mm": round(placement_error_mm(refined_lines[key], line), 3),
                "method": p.method,
                "confidence": None if p.confidence is None else round(p.confidence, 3),
                "shift_mm": round(p.shift_mm, 2),
            }
        )
    result["placement"] = placement
    vessels = []
    for key, record in records["atlas+vessels"].items():
        excluded = record["computed_from"].get("vessel_excluded_voxels", 0)
        if excluded:
            before = records["atlas"][key]
            vessels.append(
                {
                    "segment": key,
                    "excluded_voxels": excluded,
                    "core_voxels_before": before["computed_from"]["roi_voxels"],
                    "enhancement_before": before["enhancement"],
                    "enhancement_after": record["enhancement"],
                    "mean_before": before["enhancement_mean"],
                    "mean_after": record["enhancement_mean"],
                    "lesion": key in set(truth.get("abnormal_segments", [])),
                }
            )
    result["vessels"] = vessels
    result["seconds"] = {
        "prepare": round(prepare_seconds, 1),
        "course_refinement": round(refine_seconds, 2),
        "course_refinement_cpu": round(refine_cpu, 2),
        "vessel_finding_cpu": round(
            result["variants"]["atlas+vessels"]["assess_cpu_seconds"]
            - result["variants"]["atlas"]["assess_cpu_seconds"],
            2,
        ),
        "vessel_finding": round(
            result["variants"]["atlas+vessels"]["assess_seconds"] - result["variants"]["atlas"]["assess_seconds"], 2
        ),
    }
    return result


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for group, pick in (
        ("all", lambda r: True),
        ("displaced", lambda r: r["case"].startswith("displaced")),
        ("not_displaced", lambda r: not r["case"].startswith("displaced")),
    ):
        rows = [p for r in results if pick(r) for p in r["placement"]]
        drawn = [p for p in rows if p["lesion"]]
        summary[group] = {
            "segments": len(rows),
            "atlas_error_mm": round(_mean([p["atlas_error_mm"] for p in rows]), 3),
            "refined_error_mm": round(_mean([p["refined_error_mm"] for p in rows]), 3),
            "drawn_segments": len(drawn),
            "drawn_atlas_error_mm": round(_mean([p["atlas_error_mm"] for p in drawn]), 3),
            "drawn_refined_error_mm": round(_mean([p["refined_error_mm"] for p in drawn]), 3),
            "refined_fraction": round(_mean([p["method"] == "refined" for p in rows]), 3),
            "worse_by_more_than_0_5_mm": sum(p["refined_error_mm"] - p["atlas_error_mm"] > 0.5 for p in rows),
        }
    summary["detection"] = {
        name: {k: int(sum(r["variants"][name][k] for r in results)) for k in ("tp", "fp", "fn")}
        for name in ("atlas", "atlas+vessels", "refined+vessels")
    }
    summary["seconds"] = {
        k: round(_mean([r["seconds"][k] for r in results]), 2)
        for k in ("prepare", "course_refinement", "course_refinement_cpu", "vessel_finding", "vessel_finding_cpu")
    }
    return summary


def markdown(results: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = [
        "# Course refinement and vessel handling (issue 9)",
        "",
        "Produced by `benchmarks/bench_course.py` (see its docstring for the cases and the method).",
        "",
        "## Placement error (mean distance of the measured centreline to the true one, mm)",
        "",
        "| cases | cisternal segments | atlas (registered) | refined | segments with a drawn nerve | atlas | "
        "refined | refinement accepted | worse by > 0.5 mm |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for group in ("all", "displaced", "not_displaced"):
        s = summary[group]
        lines.append(
            f"| {group} | {s['segments']} | {s['atlas_error_mm']} | {s['refined_error_mm']} | {s['drawn_segments']} | "
            f"{s['drawn_atlas_error_mm']} | {s['drawn_refined_error_mm']} | {s['refined_fraction']:.0%} | "
            f"{s['worse_by_more_than_0_5_mm']} |"
        )
    lines += [
        "",
        "## Detection (nerve-sides, shipped normative reference)",
        "",
        "| variant | TP | FP | FN |",
        "| --- | --- | --- | --- |",
    ]
    for name, counts in summary["detection"].items():
        lines.append(f"| {name} | {counts['tp']} | {counts['fp']} | {counts['fn']} |")
    lines += [
        "",
        "## Per case",
        "",
        "| case | true | atlas: called | refined+vessels: called | prepare s | refinement s | vessels s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {', '.join(r['true_nerves']) or '—'} | "
            f"{', '.join(r['variants']['atlas']['called']) or '—'} | "
            f"{', '.join(r['variants']['refined+vessels']['called']) or '—'} | {r['seconds']['prepare']} | "
            f"{r['seconds']['course_refinement']} | {r['seconds']['vessel_finding']} |"
        )
    lines += [
        "",
        "## Vessel exclusion (segments where voxels were excluded)",
        "",
        "| case | segment | lesion | excluded core voxels / ROI voxels | enhancement p75 before → after "
        "| mean before → after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for v in r["vessels"]:
            lines.append(
                f"| {r['case']} | {v['segment']} | {'yes' if v['lesion'] else 'no'} | {v['excluded_voxels']} / "
                f"{v['core_voxels_before']} | {v['enhancement_before']} → {v['enhancement_after']} | "
                f"{v['mean_before']} → {v['mean_after']} |"
            )
    lines += [
        "",
        "## Placement per segment (drawn nerves, and every refined segment)",
        "",
        "| case | segment | drawn | atlas error | refined error | method | confidence | shift |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for p in r["placement"]:
            if p["lesion"] or p["method"] == "refined":
                lines.append(
                    f"| {r['case']} | {p['segment']} | {'yes' if p['lesion'] else 'no'} | {p['atlas_error_mm']} | "
                    f"{p['refined_error_mm']} | {p['method']} | {p['confidence']} | {p['shift_mm']} |"
                )
    lines += [
        "",
        f"Mean seconds per case (wall, on 2 CPU cores shared with other jobs): prepare (load → normalisation) "
        f"{summary['seconds']['prepare']}, course refinement {summary['seconds']['course_refinement']}, vessel "
        f"finding {summary['seconds']['vessel_finding']}. CPU seconds of this process (less affected by the "
        f"shared machine): course refinement {summary['seconds']['course_refinement_cpu']}, vessel finding "
        f"{summary['seconds']['vessel_finding_cpu']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, required=True, help="work folder (cases, cache)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where course_refinement.md/.json go")
    parser.add_argument("--only", help="comma-separated case ids")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    results = []
    for case_id, spec, seed, displaced in cases():
        if wanted and case_id not in wanted:
            continue
        result = run_case(args.out, case_id, spec, seed, displaced)
        print(json.dumps({k: result[k] for k in ("case", "seconds")}), flush=True)
        results.append(result)
    summary = summarise(results)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "course_refinement.json").write_text(json.dumps({"summary": summary, "cases": results}, indent=1))
    (args.results / "course_refinement.md").write_text(markdown(results, summary))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
