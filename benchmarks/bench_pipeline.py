"""Speed and memory of one whole-head 1 mm pre+post analysis, end to end (issue: ≤60 s, ≤4 GB).

Each case is analysed by a separate ``cnmri analyze`` process (as a user runs it, report included);
wall time and peak RSS of that process are measured from outside, stage times come from the
``timings_s`` it records. Results go to ``benchmarks/results/pipeline_speed.json`` and ``.md``.

    python benchmarks/bench_pipeline.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from cnmri.phantom.generator import LesionSpec, PhantomSpec, Realism, demo_spec, generate_case, write_case

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def cases() -> dict[str, PhantomSpec]:
    return {
        "demo_1mm_colin27": demo_spec(),
        "lesion_realistic_1mm": PhantomSpec(
            lesions=(LesionSpec("CN7", "left", contrast=0.6, thickness_mm=2.5),),
            realism=Realism(
                pose=True, deformation=True, bias_field=True, snr=30.0, motion=True, voxel_size_mm=(1.0, 1.0, 1.0)
            ),
        ),
    }


def run_one(name: str, spec: PhantomSpec, seed: int, work: Path) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    case_dir = work / name
    write_case(generate_case(spec, seed=seed), case_dir)
    out = work / f"{name}_out"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnmri.cli",
            "-q",
            "analyze",
            "--pre",
            str(case_dir / "pre.nii.gz"),
            "--post",
            str(case_dir / "post.nii.gz"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{name}: cnmri analyze failed ({proc.returncode}): {proc.stderr[-2000:]}")
    findings = json.loads((out / "findings.json").read_text())
    return {
        "case": name,
        "seed": seed,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(max(peak_kb, before) / 1024, 0),
        "stages_s": findings["timings_s"],
        "registration_s": findings["registration"].get("timings_s", {}),
        "skull_base_ncc": findings["registration"].get("skull_base_ncc"),
        "abnormal_nerves": findings["pattern"]["nerves"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in cases().items():
            for r in range(args.repeats):
                row = run_one(name, spec, seed=7 + r, work=Path(tmp) / f"r{r}")
                rows.append(row)
                print(json.dumps(row), flush=True)
    payload = {
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "targets": {"wall_s": 60, "peak_rss_mb": 4096},
        "note": "peak RSS is the largest of the analysed child processes so far (RUSAGE_CHILDREN)",
        "runs": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline_speed.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# Pipeline speed and memory",
        "",
        f"{payload['date']}, {payload['machine']['platform']}, "
        f"{payload['machine']['cpus']} CPUs. Targets: ≤60 s wall, ≤4 GB peak RSS.",
        "",
        "| case | wall s | peak RSS MB | load | N4 | co-reg | template reg | atlas | measure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        st = row["stages_s"]
        assert isinstance(st, dict)
        lines.append(
            f"| {row['case']} | {row['wall_s']} | {row['peak_rss_mb']:.0f} | {st.get('load')} | "
            f"{st.get('bias_correction')} | {st.get('coregistration', '')} | "
            f"{st.get('template_registration')} | {st.get('atlas_warp')} | {st.get('measurement')} |"
        )
    (RESULTS / "pipeline_speed.md").write_text("\n".join(lines) + "\n")
    print(RESULTS / "pipeline_speed.json")


if __name__ == "__main__":
    main()
