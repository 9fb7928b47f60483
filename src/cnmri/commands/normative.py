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
    b.add_argument(
        "--force",
        action="store_true",
        help="replace NORM.json if it is a previous cnmri normative reference (never an input)",
    )
    b.add_argument("--description", default="site control studies", help="what the controls are")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def _is_normative_file(path: Path) -> bool:
    """A normative reference cnmri wrote (the keys build_normative writes); --force replaces only these."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and {"schema_version", "built_from", "stats"} <= payload.keys()


def run_build(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import check_not_an_input, check_writable_parent, output_file, write_json_atomic
    from cnmri.measure.normative import build_normative

    check_writable_parent(args.out.parent / "x")
    check_not_an_input(args.out.resolve(), args.controls)
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
    with output_file(
        args.out, command="normative build", is_ours=_is_normative_file, force=args.force, inputs=args.controls
    ) as partial:
        write_json_atomic(partial, payload)
    print(args.out)
    return 0
