"""Build the shipped normative reference from control phantoms of every model of normal.

Each control is the real Colin27 head with physiologic enhancement only (no lesion), drawn from one of
the independently parameterised physiology models (``cnmri.phantom.models``: A, B, C, taken in turn),
put through the generator's scanner realism (pose, smooth deformation, head scale, voxel size 0.6–1.2 mm
and anisotropic, bias field, Rician noise, pre→post motion, partial field of view, per-series intensity
scaling for B and C) with its own seed, then prepared by the same ``prepare_subject`` users run, in
pre/post and in post-only mode. Prepared subjects are cached in ``--work`` (the slow part: N4,
co-registration, template registration); the reference is then measured with ``assess_study``, so a
change to measurement or rules rebuilds it in a minute without registering again.

The pooled per-segment statistics are written to ``src/cnmri/data/normative_v2.json`` (schema 2: the
location is the controls' median, the scale their robust SD inflated for small n and floored per
compartment, see measure/normative.py); per-control timings and results to
``benchmarks/results/normative_build.json``.

    python benchmarks/build_normative.py --controls 12 --work /tmp/cnmri-normative

Its seeds (1000 + i) never overlap the validation cases of benchmarks/validate_detector.py (7000+,
19000+). The shipped reference has therefore seen models A, B and C but never the second real head;
held-out numbers per model come from validate_detector.py's leave-one-model-out calibrations.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.atlas import Atlas, load_atlas
from cnmri.measure.normative import Normative, build_normative
from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, write_case

ROOT = Path(__file__).resolve().parents[1]
MODES = ("pre_post", "post_only")


def control_spec(index: int, models: tuple[str, ...], rng: np.random.Generator) -> tuple[PhantomSpec, dict[str, Any]]:
    """The i-th control: models in turn, SNR 15–50, voxel 0.6–1.2 mm (half of them anisotropic)."""
    model = models[index % len(models)]
    snr = float(rng.integers(15, 51))
    inplane = round(float(rng.uniform(0.6, 1.1)), 2)
    through = inplane if rng.random() < 0.5 else round(float(rng.uniform(inplane, 1.2)), 2)
    realism = Realism.for_model(model, snr)
    realism = replace(realism, random_voxel_size=False, voxel_size_mm=(inplane, inplane, through))
    spec = PhantomSpec(realism=realism, physiology_model=model)
    return spec, {"model": model, "snr": snr, "voxel_mm": [inplane, inplane, through]}


def prepared_path(work: Path, seed: int, mode: str) -> Path:
    return work / "prepared" / f"control-{seed}.{mode}.pkl"


def prepare_control(seed: int, spec: PhantomSpec, work: Path, atlas: Atlas, base: Any) -> dict[str, float]:
    """Generate one control and cache its prepared subject in both modes; returns seconds per step."""
    from cnmri.pipeline import AnalyzeOptions, Stopwatch, prepare_subject

    seconds: dict[str, float] = {}
    folder = work / "cases" / f"control-{seed}"
    if not (folder / "post.nii.gz").exists():
        t0 = time.perf_counter()
        folder.parent.mkdir(parents=True, exist_ok=True)
        write_case(generate_case(spec, seed=seed, base=base, atlas=atlas), folder)
        seconds["generate"] = round(time.perf_counter() - t0, 1)
    for mode in MODES:
        target = prepared_path(work, seed, mode)
        if target.exists():
            continue
        t0 = time.perf_counter()
        pre = folder / "pre.nii.gz" if mode == "pre_post" else None
        prepared = prepare_subject(pre, folder / "post.nii.gz", atlas, AnalyzeOptions(report=False), Stopwatch(), [])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(prepared, handle, protocol=5)
        tmp.replace(target)
        seconds[f"prepare_{mode}"] = round(time.perf_counter() - t0, 1)
    return seconds


def control_findings(path: Path, atlas: Atlas) -> dict[str, Any]:
    """What ``run_analysis`` would record for the normative build, measured without a reference."""
    from cnmri.pipeline import assess_study

    with path.open("rb") as handle:
        prepared = pickle.load(handle)
    segments, nerves, _ = assess_study(prepared, atlas, Normative("none", {}, "none"))
    return {
        "mode": prepared.mode,
        "segments": segments,
        "nerves": nerves,
        "image_noise": {"sd": prepared.noise_sd},
        "registration": prepared.registration,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--controls", type=int, default=12)
    parser.add_argument("--models", default="A,B,C", help="physiology models taken in turn (default A,B,C)")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cnmri-normative"), help="cache of prepared controls")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "cnmri" / "data" / "normative_v2.json")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "normative_build.json")
    args = parser.parse_args()
    from cnmri.templates import load_template

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    atlas = load_atlas()
    base = load_template()
    rng = np.random.default_rng([4242, args.first_seed])
    records = []
    findings: list[dict[str, Any]] = []
    for i in range(args.controls):
        seed = args.first_seed + i
        spec, described = control_spec(i, models, rng)
        seconds = prepare_control(seed, spec, args.work, atlas, base)
        timing = args.work / "prepared" / f"control-{seed}.seconds.json"
        if seconds:
            timing.write_text(json.dumps(seconds))
        elif timing.exists():
            seconds = json.loads(timing.read_text())  # prepared by an earlier run: keep its timings
        per_mode = {mode: control_findings(prepared_path(args.work, seed, mode), atlas) for mode in MODES}
        findings += per_mode.values()
        records.append(
            {
                "seed": seed,
                **described,
                "seconds": seconds,
                "skull_base_ncc": per_mode["pre_post"]["registration"].get("skull_base_ncc"),
                "noise_sd": {mode: f["image_noise"]["sd"] for mode, f in per_mode.items()},
            }
        )
        print(json.dumps(records[-1]), flush=True)
    last = args.first_seed + args.controls - 1
    payload = build_normative(
        findings,
        f"control phantoms: {args.controls} variants of the Colin27 head with physiologic enhancement only, "
        f"physiology models {'/'.join(models)} in turn (seeds {args.first_seed}–{last}; "
        "benchmarks/build_normative.py)",
    )
    payload["created"] = date.today().isoformat()
    args.out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    args.results.write_text(
        json.dumps(
            {"date": date.today().isoformat(), "machine": platform.platform(), "models": models, "controls": records},
            indent=2,
        )
        + "\n"
    )
    print(args.out)


if __name__ == "__main__":
    main()
