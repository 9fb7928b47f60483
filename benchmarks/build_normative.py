"""Build the shipped normative reference from control phantoms.

Each control is the real Colin27 head with physiologic enhancement only (no lesion), put through the
phantom generator's scanner realism (pose, smooth deformation, head scale, voxel size, bias field,
Rician noise, pre→post motion, partial field of view) with its own seed, then analysed by the same
``run_analysis`` users run, in pre/post and in post-only mode. The pooled per-segment statistics are
written to ``src/cnmri/data/normative_v2.json`` (schema 2: the location is the controls' median; the
scale is their robust SD inflated for small n and floored per compartment, see measure/normative.py);
timings and per-control results to ``benchmarks/results/normative_build.json``.

    python benchmarks/build_normative.py --controls 12
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from cnmri.measure.normative import build_normative
from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, write_case
from cnmri.pipeline import AnalyzeOptions, run_analysis
from cnmri.templates import load_template

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--controls", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "cnmri" / "data" / "normative_v2.json")
    args = parser.parse_args()
    base = load_template()
    findings_pre_post = []
    findings_post_only = []
    records = []
    scratch = Path(tempfile.mkdtemp(prefix="cnmri-normative-"))
    no_normative = scratch / "empty_normative.json"
    no_normative.write_text(json.dumps({"built_from": "none", "stats": {}}))
    for i in range(args.controls):
        seed = args.first_seed + i
        snr = (20.0, 30.0, 40.0, None)[i % 4]
        spec = PhantomSpec(realism=Realism.standard(snr=snr))
        case = generate_case(spec, seed=seed, base=base)
        with tempfile.TemporaryDirectory() as tmp:
            write_case(case, Path(tmp))
            options = AnalyzeOptions(normative=no_normative)
            t0 = time.perf_counter()
            pre_post = run_analysis(Path(tmp) / "pre.nii.gz", Path(tmp) / "post.nii.gz", options).findings
            t1 = time.perf_counter()
            post_only = run_analysis(None, Path(tmp) / "post.nii.gz", options).findings
            t2 = time.perf_counter()
        findings_pre_post.append(pre_post)
        findings_post_only.append(post_only)
        records.append(
            {
                "seed": seed,
                "snr": snr,
                "seconds_pre_post": round(t1 - t0, 1),
                "seconds_post_only": round(t2 - t1, 1),
                "skull_base_ncc": pre_post["registration"]["skull_base_ncc"],
            }
        )
        print(json.dumps(records[-1]), flush=True)
    no_normative.unlink()
    payload = build_normative(
        findings_pre_post + findings_post_only,
        f"control phantoms: {args.controls} realistic variants of the Colin27 head with physiologic enhancement "
        f"only (seeds {args.first_seed}–{args.first_seed + args.controls - 1}; benchmarks/build_normative.py)",
    )
    payload["created"] = date.today().isoformat()
    args.out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    results = ROOT / "benchmarks" / "results" / "normative_build.json"
    results.write_text(
        json.dumps({"date": date.today().isoformat(), "machine": platform.platform(), "controls": records}, indent=2)
        + "\n"
    )
    print(args.out)


if __name__ == "__main__":
    main()
