"""Re-score the detector without re-registering: a workbench for measurement and rule changes.

Registration dominates a case's time (~40 s of ~50 s), and measurement and assessment changes do not
touch it. This script runs :func:`cnmri.pipeline.prepare_subject` once per case (load, N4,
co-registration, template registration, atlas warp, normalisation), keeps the result on disk, and then
re-runs only :func:`cnmri.pipeline.assess_segments` with the detector as it is now:

    # once: prepare the normative controls (seeds of benchmarks/build_normative.py) and a bench folder
    python benchmarks/detector_workbench.py prepare --bench /tmp/bench_std --controls 10
    # after every detector change: rebuild the normative reference from the prepared controls,
    # then score the bench cases against it
    python benchmarks/detector_workbench.py score --bench /tmp/bench_std --controls 10 -o /tmp/wb

The numbers it prints are for development only; published results come from ``cnmri bench`` and
``benchmarks/build_normative.py``, which run everything end to end.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

from cnmri.atlas import Atlas, load_atlas
from cnmri.errors import CnmriError
from cnmri.measure.normative import Normative, build_normative
from cnmri.phantom.evaluate import aggregate, score_case
from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, write_case
from cnmri.pipeline import AnalyzeOptions, PreparedSubject, Stopwatch, assess_study, prepare_subject

SNR_OF_CONTROL = (20.0, 30.0, 40.0, None)  # as benchmarks/build_normative.py


def _prepared_path(cache: Path, name: str, mode: str) -> Path:
    return cache / f"{name}.{mode}.pkl"


def _prepare(pre: Path | None, post: Path, target: Path) -> None:
    if target.exists():
        return
    atlas = load_atlas()
    try:
        prepared = prepare_subject(pre, post, atlas, AnalyzeOptions(), Stopwatch(), [])
    except CnmriError as err:
        print(f"failed {target.name}: {err}", flush=True)
        return
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(prepared, handle, protocol=5)
    tmp.replace(target)
    print(f"prepared {target.name}", flush=True)


def prepare(bench: Path | None, controls: int, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    from cnmri.templates import load_template

    base = load_template()
    control_dirs = []
    for i in range(controls):
        seed = 1000 + i
        folder = cache / f"control-{seed}"
        if not (folder / "truth.json").exists():
            case = generate_case(PhantomSpec(realism=Realism.standard(snr=SNR_OF_CONTROL[i % 4])), seed=seed, base=base)
            write_case(case, folder)
        control_dirs.append(folder)
        _prepare(folder / "pre.nii.gz", folder / "post.nii.gz", _prepared_path(cache, folder.name, "pre_post"))
    if bench is not None:
        for folder in sorted((bench / "cases").iterdir()):
            _prepare(folder / "pre.nii.gz", folder / "post.nii.gz", _prepared_path(cache, folder.name, "pre_post"))
    for folder in control_dirs:
        _prepare(None, folder / "post.nii.gz", _prepared_path(cache, folder.name, "post_only"))


def _load(path: Path) -> PreparedSubject:
    with path.open("rb") as handle:
        prepared: PreparedSubject = pickle.load(handle)
    return prepared


def _findings(prepared: PreparedSubject, atlas: Atlas, normative: Normative) -> dict[str, Any]:
    segments, nerves, pattern = assess_study(prepared, atlas, normative)
    return {
        "mode": prepared.mode,
        "segments": segments,
        "nerves": nerves,
        "pattern": pattern,
        "registration": prepared.registration,
        "image_noise": {"sd": getattr(prepared, "noise_sd", None)},
        "timings_s": {},
    }


def score(bench: Path | None, controls: int, cache: Path, out: Path) -> None:
    atlas = load_atlas()
    empty = Normative("none", {}, "none")
    control_findings = []
    for i in range(controls):
        for mode in ("pre_post", "post_only"):
            path = _prepared_path(cache, f"control-{1000 + i}", mode)
            if path.exists():
                control_findings.append(_findings(_load(path), atlas, empty))
    payload = build_normative(control_findings, "workbench controls")
    out.mkdir(parents=True, exist_ok=True)
    (out / "normative.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    normative = Normative(payload["built_from"], payload["stats"], str(out / "normative.json"))
    if bench is None:
        return
    scores = []
    for folder in sorted((bench / "cases").iterdir()):
        path = _prepared_path(cache, folder.name, "pre_post")
        if not path.exists():
            continue
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        findings = _findings(_load(path), atlas, normative)
        (out / f"{folder.name}.json").write_text(json.dumps(findings["segments"], indent=1) + "\n")
        case = score_case(truth, findings, folder.name, 0.0)
        scores.append(case)
        if case.fp or case.fn:
            missed = sorted(set(case.true_nerves) - set(case.called_nerves))
            extra = sorted(set(case.called_nerves) - set(case.true_nerves))
            print(f"{folder.name}: false positive {extra} missed {missed}")
    metrics = aggregate(scores)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    for name in ("headline", "all_cases"):
        block = metrics.get(name, {})
        print(name, json.dumps({k: v for k, v in block.items() if not isinstance(v, dict | list)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("prepare", "score"))
    parser.add_argument("--bench", type=Path, help="a cnmri bench output folder (its cases/ are used)")
    parser.add_argument("--controls", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cnmri-workbench")
    parser.add_argument("-o", "--out", type=Path, default=Path(tempfile.gettempdir()) / "cnmri-workbench-out")
    args = parser.parse_args()
    if args.action == "prepare":
        prepare(args.bench, args.controls, args.cache)
    else:
        score(args.bench, args.controls, args.cache, args.out)


if __name__ == "__main__":
    main()
