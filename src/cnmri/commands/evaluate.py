"""``cnmri evaluate``: score cnmri on a folder of labelled studies (a site's own, or phantoms)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score the detector on labelled studies (BIDS-like layout, see docs/phantom.md)",
        description="Analyse every labelled study under --cases and write the same metrics as cnmri bench: "
        "sub-<id>[/ses-<id>]/anat/*_T1w.nii.gz (pre) and *_ce-<agent>_T1w.nii.gz (post) with "
        'sub-<id>[_ses-<id>]_labels.json {"abnormal_nerves": ["CN7-left", ...]}; or phantom folders.',
    )
    parser.add_argument("--cases", required=True, type=Path, help="folder of labelled studies")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import check_writable_parent
    from cnmri.phantom.bench import run_labelled, write_report
    from cnmri.phantom.evaluate import discover_cases

    cases = discover_cases(args.cases)
    check_writable_parent(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    scores, failures = run_labelled(cases, args.out)
    write_report(scores, failures, args.out, title=f"cnmri evaluate {args.cases}")
    print(args.out / "metrics.md")
    return 0 if not failures else 3
