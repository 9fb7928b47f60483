"""``cnmri clinical CASE.yaml``: CNS status and differential from clinical data alone (no images)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FRAMEWORK_CHOICES = ("COG", "NCCN", "BFM", "StJude")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "clinical",
        help="CNS status and differential diagnosis from clinical data alone",
        description="Read a clinical case (YAML or JSON, CONTRACTS.md §4) and report the CNS status under "
        "COG (default), NCCN, AIEOP-BFM and St Jude, and a ranked differential with the evidence for and "
        "against each entity. Decision support, not a diagnosis.",
    )
    parser.add_argument("case", type=Path, metavar="CASE.yaml", help="clinical case file (YAML or JSON)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text for reading (default) or JSON")
    parser.add_argument(
        "--framework",
        choices=FRAMEWORK_CHOICES,
        default="COG",
        help="primary CNS-status framework; the others are listed beside it (default COG)",
    )
    parser.add_argument(
        "--sb-boundary",
        choices=("gt", "ge"),
        default=None,
        help="Steinherz/Bleyer test: gt = CSF ratio greater than 2x the blood ratio, ge = at least 2x "
        "(default: each framework's own wording, COG gt, NCCN ge)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnmri.assess.clinical import evaluate_case, load_case, render_clinical_text

    case = load_case(args.case)
    result = evaluate_case(case, framework=args.framework, sb_boundary=args.sb_boundary)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_clinical_text(result))
    return 0
