"""``cnmri bench``: the seeded phantom accuracy benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a seeded phantom suite through the detector and score it",
        description="Generate a seeded suite of phantom cases (controls and lesions, a contrast and "
        "noise sweep), analyse each, and write metrics.json, metrics.md and plots. Cases already "
        "generated in OUT/cases are reused.",
    )
    parser.add_argument("--suite", default="standard", help="standard (about 40 cases) or ci (3 small cases)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--force",
        action="store_true",
        help="continue into OUT if it holds a previous cnmri bench output (its generated cases are reused)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import output_folder
    from cnmri.phantom.bench import run_suite, suite_cases

    suite_cases(args.suite)  # validates the name before any work
    # In place, not renamed at the end: a long suite stopped half-way is resumed with --force.
    with output_folder(args.out, command="bench", force=args.force, in_place=True) as folder:
        metrics = run_suite(args.suite, folder.path)
    print(args.out / "metrics.md")
    return 0 if not metrics["failures"] else 3
