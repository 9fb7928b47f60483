"""Registration schedules: time against accuracy, on phantoms whose true geometry is known (issue 9, speed).

The whole-head NMI stages (pre→post co-registration, rigid and affine to the template) and the
skull-base deformable stage dominate the end-to-end time. This benchmark runs the same greedy
calls the pipeline runs (``cnmri.preprocess.registration``) under several iteration schedules and
measures, per case and schedule:

* co-registration error: distance between where the rigid transform puts each skull-base landmark
  of the pre-contrast image in the post-contrast image and where the phantom's known pre→post motion
  puts it (mm);
* template registration error (TRE): distance between the landmark mapped from template to subject by
  the registration and by the phantom's known template→subject map (mm);
* stage times (s).

Cases: phantoms on the real Colin27 head with full scanner realism (pose, deformation, head scale,
voxel size 0.6–1.2 mm incl. anisotropic, bias, Rician noise, pre→post motion, partial field of view),
models A, B and C, seeds 3000+ (used by no calibration or validation set). The second real head
(``../shared/data/real/seg3d_t1.nii.gz``) has no known geometry, so for it the table gives the
distance of each schedule's landmarks from those of the first schedule (the full grid, as before).

    PYTHONPATH=src python benchmarks/bench_registration.py
    # writes benchmarks/results/registration_schedule.md and .json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.atlas import load_atlas
from cnmri.io.nifti import load_volume
from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, skull_base_landmarks
from cnmri.phantom.realism import SubjectMap
from cnmri.preprocess import registration as reg
from cnmri.templates import load_template
from cnmri.volume import Volume

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HEAD = ROOT.parent / "shared" / "data" / "real" / "seg3d_t1.nii.gz"

#: per schedule: linear-stage voxel size (mm, None = full grid) and greedy ``-n`` of co-registration,
#: rigid, affine and deformable.
Schedule = tuple[float | None, str, str, str, str]
SCHEDULES: dict[str, Schedule] = {
    "full grid 100x50x0 (before)": (None, "100x50x0", "100x50x0", "100x50x0", "100x50x10"),
    "2 mm copies 100x50": (2.0, "100x50", "100x50", "100x50", "100x50x10"),
    "2 mm copies 100x20": (2.0, "100x20", "100x20", "100x20", "100x50x10"),
    "2 mm copies 50x20": (2.0, "50x20", "50x20", "50x20", "100x50x10"),
    "2 mm copies 100x20, deformable 100x50x5": (2.0, "100x20", "100x20", "100x20", "100x50x5"),
    "2 mm copies 100x20, deformable 100x30x10": (2.0, "100x20", "100x20", "100x20", "100x30x10"),
}

#: the schedule the package ships (the constants of cnmri.preprocess.registration)
DEFAULT = "2 mm copies 100x50"

CASES: tuple[tuple[str, int, float], ...] = (("A", 3001, 25.0), ("B", 3002, 20.0), ("C", 3003, 30.0), ("A", 3004, 15.0))


def _set_schedule(schedule: Schedule) -> None:
    (
        reg.LINEAR_VOXEL_MM,
        reg.COREGISTRATION_ITERATIONS,
        reg.RIGID_ITERATIONS,
        reg.AFFINE_ITERATIONS,
        reg.DEFORMABLE_ITERATIONS,
    ) = schedule


def _inside(volume: Volume, points_mm: np.ndarray, margin_vox: float = 3.0) -> np.ndarray:
    ijk = volume.world_to_voxel(points_mm)
    return np.all((ijk >= margin_vox) & (ijk <= np.asarray(volume.shape) - 1 - margin_vox), axis=1)


def _coregistration_error(
    pre: Volume, post: Volume, truth: SubjectMap, landmarks: np.ndarray
) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    _, matrix = reg.rigid_coregistration(pre, post, 2)  # greedy RAS: fixed (pre) world → moving (post) world
    seconds = time.perf_counter() - t0
    p_pre = truth.template_to_subject(landmarks)
    p_post = truth.template_to_subject(landmarks, post=True)
    estimated = p_pre @ matrix[:3, :3].T + matrix[:3, 3]
    error = np.linalg.norm(estimated - p_post, axis=1)
    return seconds, {"mean_mm": float(error.mean()), "max_mm": float(error.max())}


def _template_points(subject: Volume, template: Volume, landmarks: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    registration = reg.register_to_template(subject, template, 2)
    mapped = reg.map_template_points(registration, landmarks)
    timings = {k: round(v, 2) for k, v in registration.timings_s.items()}
    return mapped, {**timings, "skull_base_ncc": float(registration.quality["skull_base_ncc"])}


def phantom_case(model: str, seed: int, snr: float) -> tuple[Volume, Volume, SubjectMap]:
    realism = Realism.for_model(model, snr)
    case = generate_case(PhantomSpec(realism=realism, physiology_model=model), seed=seed)
    return case.pre, case.post, SubjectMap.from_truth(case.truth["subject_map"])


def run(schedules: dict[str, Schedule], with_head: bool) -> dict[str, Any]:
    atlas = load_atlas()
    template = load_template()
    names = sorted(skull_base_landmarks(atlas))
    all_landmarks = np.array([skull_base_landmarks(atlas)[n] for n in names])
    rows: list[dict[str, Any]] = []
    for model, seed, snr in CASES:
        pre, post, truth = phantom_case(model, seed, snr)
        subject_points = truth.template_to_subject(all_landmarks)
        keep = _inside(pre, subject_points) & _inside(post, truth.template_to_subject(all_landmarks, post=True))
        landmarks = all_landmarks[keep]
        case_id = f"{model}-{seed}-snr{snr:g}"
        print(
            f"{case_id}: {pre.shape} voxels {np.round(pre.zooms_mm, 2).tolist()}, {int(keep.sum())} landmarks",
            flush=True,
        )
        for name, schedule in schedules.items():
            _set_schedule(schedule)
            coreg_s, coreg = _coregistration_error(pre, post, truth, landmarks)
            t0 = time.perf_counter()
            mapped, info = _template_points(pre, template, landmarks)
            template_s = time.perf_counter() - t0
            tre = np.linalg.norm(mapped - truth.template_to_subject(landmarks), axis=1)
            row = {
                "case": case_id,
                "schedule": name,
                "linear_voxel_mm": schedule[0],
                "iterations": list(schedule[1:]),
                "coregistration_s": round(coreg_s, 2),
                "coregistration_error_mm": {k: round(v, 3) for k, v in coreg.items()},
                "template_registration_s": round(template_s, 2),
                "template_stage_s": info,
                "tre_mm": {"mean": round(float(tre.mean()), 3), "max": round(float(tre.max()), 3)},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if with_head and HEAD.exists():
        head = load_volume(HEAD, "head")
        keep = np.ones(len(all_landmarks), dtype=bool)
        reference: np.ndarray | None = None
        for name, schedule in schedules.items():
            _set_schedule(schedule)
            t0 = time.perf_counter()
            mapped, info = _template_points(head, template, all_landmarks)
            template_s = time.perf_counter() - t0
            if reference is None:
                reference = mapped
                keep = _inside(head, mapped)
            shift = np.linalg.norm(mapped[keep] - reference[keep], axis=1)
            row = {
                "case": "second real head",
                "schedule": name,
                "linear_voxel_mm": schedule[0],
                "iterations": list(schedule[1:]),
                "template_registration_s": round(template_s, 2),
                "template_stage_s": info,
                "shift_from_first_mm": {"mean": round(float(shift.mean()), 3), "max": round(float(shift.max()), 3)},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    _set_schedule(SCHEDULES[DEFAULT])
    return {
        "date": date.today().isoformat(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "landmarks": names,
        "rows": rows,
    }


def _summary(rows: list[dict[str, Any]], schedule: str) -> dict[str, float]:
    mine = [r for r in rows if r["schedule"] == schedule and "tre_mm" in r]
    head = [r for r in rows if r["schedule"] == schedule and "shift_from_first_mm" in r]
    out = {
        "coreg_s": float(np.mean([r["coregistration_s"] for r in mine])),
        "coreg_mean": float(np.mean([r["coregistration_error_mm"]["mean_mm"] for r in mine])),
        "coreg_max": float(np.max([r["coregistration_error_mm"]["max_mm"] for r in mine])),
        "template_s": float(np.mean([r["template_registration_s"] for r in mine])),
        "tre_mean": float(np.mean([r["tre_mm"]["mean"] for r in mine])),
        "tre_max": float(np.max([r["tre_mm"]["max"] for r in mine])),
    }
    if head:
        out["head_shift_mean"] = head[0]["shift_from_first_mm"]["mean"]
        out["head_shift_max"] = head[0]["shift_from_first_mm"]["max"]
    return out


def _pair(a: float, b: float) -> str:
    return f"{a:.2f} / {b:.2f}"


def write_markdown(result: dict[str, Any], path: Path) -> None:
    rows = result["rows"]
    lines = [
        "# Registration schedules: time against accuracy",
        "",
        f"{result['date']}, {result['platform']}, {result['cpus']} CPUs. Produced by "
        "`benchmarks/bench_registration.py` (see its docstring). Iterations are greedy's `-n` per pyramid "
        "level, coarsest first, for co-registration, rigid, affine and deformable. Errors are over the skull-base "
        f"landmarks ({len(result['landmarks'])} named points, those inside each image).",
        "",
        "| schedule | linear-stage voxel | iterations | co-reg s | co-reg error mean / max mm | template reg s "
        "| TRE mean / max mm | "
        "second head: shift from the first schedule, mean / max mm |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(r["schedule"] for r in rows):
        s = _summary(rows, name)
        first = next(r for r in rows if r["schedule"] == name)
        iterations, voxel = first["iterations"], first["linear_voxel_mm"]
        head = _pair(s["head_shift_mean"], s["head_shift_max"]) if "head_shift_mean" in s else "—"
        lines.append(
            f"| {name} | {f'{voxel:g} mm' if voxel else 'full grid'} | {' · '.join(iterations)} | "
            f"{s['coreg_s']:.1f} | {_pair(s['coreg_mean'], s['coreg_max'])} | "
            f"{s['template_s']:.1f} | {_pair(s['tre_mean'], s['tre_max'])} | {head} |"
        )
    lines += [
        "",
        "## Per case",
        "",
        "| case | schedule | co-reg s | co-reg error mean / max mm | template reg s (linear, deformable) "
        "| TRE or head shift mean / max mm |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        err = r.get("tre_mm") or r.get("shift_from_first_mm")
        coreg = r.get("coregistration_error_mm")
        stage = r["template_stage_s"]
        lines.append(
            f"| {r['case']} | {r['schedule']} | {r.get('coregistration_s', '—')} | "
            f"{_pair(coreg['mean_mm'], coreg['max_mm']) if coreg else '—'} | "
            f"{r['template_registration_s']} ({stage.get('linear', 0):.1f}, {stage.get('deformable', 0):.1f}) | "
            f"{_pair(err['mean'], err['max'])} |"
        )
    lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", nargs="*", default=list(SCHEDULES), help="names from SCHEDULES")
    parser.add_argument("--no-head", action="store_true", help="skip the second real head")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run({name: SCHEDULES[name] for name in args.schedules}, not args.no_head)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "registration_schedule.json").write_text(json.dumps(result, indent=1))
    write_markdown(result, args.results / "registration_schedule.md")


if __name__ == "__main__":
    main()
