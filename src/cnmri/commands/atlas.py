"""``cnmri atlas export``: print the nerve atlas (CONTRACTS.md §3) on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FORMATS = ("json", "tsv")
TSV_COLUMNS = (
    "nerve",
    "side",
    "segment",
    "point",
    "x_mm",
    "y_mm",
    "z_mm",
    "radius_mm",
    "physiologic_enhancement",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "atlas",
        help="show the cranial nerve atlas",
        description="The cranial nerve atlas: per nerve, side and segment, a centerline in template "
        "millimetres (MNIColin27, RAS: +x = subject right) with a radius per point.",
    )
    actions = parser.add_subparsers(dest="atlas_action", metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="print the atlas (JSON by default) on stdout",
        description="Print the atlas on stdout. JSON follows CONTRACTS.md §3 (schema_version 1); TSV has "
        "one row per centerline point.",
    )
    export.add_argument("--format", choices=FORMATS, default="json", help="output format (default json)")
    export.add_argument(
        "--atlas",
        type=Path,
        default=None,
        metavar="FILE",
        help="an atlas JSON file of the same format (default: the shipped atlas v1)",
    )
    parser.set_defaults(func=func, _atlas_parser=parser)


def export_tsv(payload: dict[str, Any]) -> str:
    lines = ["\t".join(TSV_COLUMNS)]
    for seg in payload["segments"]:
        flag = "true" if seg["physiologic_enhancement"] else "false"
        for index, (point, radius) in enumerate(zip(seg["points_mm"], seg["radius_mm"], strict=True)):
            cells = [
                seg["nerve"],
                seg["side"],
                seg["segment"],
                str(index),
                *(f"{v:.2f}" for v in point),
                f"{radius:.2f}",
                flag,
            ]
            lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def func(args: argparse.Namespace) -> int:
    if getattr(args, "atlas_action", None) != "export":
        args._atlas_parser.print_help(sys.stderr)
        return 2
    from cnmri.atlas.model import load_atlas

    atlas = load_atlas(args.atlas)
    payload = atlas.to_export()
    if args.format == "tsv":
        sys.stdout.write(export_tsv(payload))
    else:
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
    return 0
