"""``cnmri compare BASELINE_OUT FOLLOWUP_OUT -o CMP``: what changed between two analyses of one patient."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

_log = logging.getLogger("cnmri")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two analyses of the same patient (e.g. before and after treatment)",
        description="Match segments between two 'cnmri analyze' outputs and report per segment the change "
        "in enhancement and thickness and a response category (resolved, improved, stable, progressed, "
        "new). Writes comparison.json, comparison.tsv, comparison.png and comparison.html into CMP and "
        "prints the path of comparison.html.",
    )
    parser.add_argument("baseline", type=Path, metavar="BASELINE_OUT", help="earlier analysis folder")
    parser.add_argument("followup", type=Path, metavar="FOLLOWUP_OUT", help="later analysis folder")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="CMP", help="output folder")
    parser.add_argument(
        "--force", action="store_true", help="replace CMP if it holds a previous cnmri output (never an input)"
    )
    parser.add_argument(
        "--identify",
        action="store_true",
        help="record both input paths in comparison.json (default: each analysis by the SHA-256 of its "
        "findings.json, since a folder name often names the patient)",
    )
    parser.set_defaults(func=run)


def input_record(path: Path, identify: bool) -> dict[str, Any]:
    """How comparison.json names one compared analysis: its findings' content hash, the path only on request."""
    from cnmri.settings import file_digest

    findings = path / "findings.json" if path.is_dir() else path
    record: dict[str, Any] = {"findings_sha256": file_digest(findings)}
    if identify:
        record["path"] = str(path)
    return record


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import check_not_an_input, check_writable_parent
    from cnmri.report.compare import compare_findings, read_findings, write_comparison

    check_writable_parent(args.out)
    check_not_an_input(args.out.resolve(), (args.baseline, args.followup))
    base = read_findings(args.baseline)
    follow = read_findings(args.followup)
    result = compare_findings(base, follow)
    result["baseline"].update(input_record(args.baseline, args.identify))
    result["followup"].update(input_record(args.followup, args.identify))
    for warning in result["warnings"]:
        _log.warning("warning: %s", warning)
    out = write_comparison(result, args.out, overwrite=args.force, inputs=(args.baseline, args.followup))
    summary = result["summary"]
    _log.info("overall response: %s", summary["overall"])
    sys.stdout.write(f"{out / 'comparison.html'}\n")
    return 0
