"""``cnmri normative build``: a normative reference from a site's own control studies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnmri.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "normative",
        help="build the normative reference (z-scores) from control studies",
        description="Pool the findings.json of control studies (folders written by 'cnmri analyze') into a "
        "normative reference JSON; pass it to 'cnmri analyze --normative FILE'.",
    )
    sub = p.add_subparsers(dest="normative_command", metavar="ACTION")
    b = sub.add_parser("build", help="build from analysed control folders")
    b.add_argument("controls", nargs="+", type=Path, help="output folders of 'cnmri analyze' on control studies")
    b.add_argument("-o", "--out", type=Path, required=True, help="normative JSON to write")
    b.add_argument("--description", default="site control studies", help="what the controls are")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import write_json_atomic
    from cnmri.measure.normative import build_normative

    findings = []
    for folder in args.controls:
        path = folder / "findings.json" if folder.is_dir() else folder
        if not path.exists():
            raise InputError(f"control {folder}: no findings.json (run 'cnmri analyze' on it first)")
        try:
            findings.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as err:
            raise InputError(f"control {path} is not valid JSON ({err})") from None
    payload = build_normative(findings, f"{args.description} ({len(findings)} studies)")
    write_json_atomic(args.out, payload)
    print(args.out)
    return 0
