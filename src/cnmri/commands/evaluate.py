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
    parser.add_argument(
        "--force", action="store_true", help="replace OUT if it holds a previous cnmri output (never an input)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import check_not_an_input, check_writable_parent, output_folder
    from cnmri.phantom.bench import run_labelled, write_report
    from cnmri.phantom.evaluate import discover_cases

    check_writable_parent(args.out)
    check_not_an_input(args.out.resolve(), (args.cases,))
    cases = discover_cases(args.cases)
    with output_folder(args.out, command="evaluate", force=args.force, inputs=(args.cases,)) as folder:
        scores, failures = run_labelled(cases, folder.path)
        write_report(scores, failures, folder.path, title=f"cnmri evaluate {args.cases.name}")
    print(args.out / "metrics.md")
    return 0 if not failures else 3
