"""``cnmri inspect STUDY_DIR``: every series of a DICOM study, what it is, and which ones cnmri would use."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmri.io.dicom import StudyInventory


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list the series of a DICOM study folder with their classification",
        description="Walk a DICOM study folder (any depth, any file names), identify the sequence of every "
        "series and show which series `cnmri analyze STUDY_DIR` would use and why. Exits 2 when no "
        "post-contrast T1 can be chosen, with the option to pass.",
    )
    parser.add_argument("study_dir", metavar="STUDY_DIR", help="folder holding the study's DICOM files")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--post-series", type=int, default=None, metavar="N", help="use series N as post-contrast T1")
    parser.add_argument("--pre-series", type=int, default=None, metavar="N", help="use series N as pre-contrast T1")
    parser.add_argument(
        "--study", default=None, metavar="UID", help="list only this study (StudyInstanceUID or its number)"
    )
    parser.add_argument(
        "--all-reasons", action="store_true", help="show every reason in the table, not the first three"
    )
    parser.add_argument(
        "--identify",
        action="store_true",
        help="show descriptions as written, file and folder names (may show the patient's name)",
    )
    parser.add_argument(
        "--max-voxels",
        type=int,
        default=None,
        metavar="N",
        help="refuse images with more voxels than N (default 600^3 = 216,000,000; see docs/safety.md)",
    )
    parser.set_defaults(func=run)


def _voxel(row_voxel: tuple[float, float, float] | None) -> str:
    return "x".join(f"{v:g}" for v in row_voxel) if row_voxel else "-"


def format_table(inventory: StudyInventory, all_reasons: bool = False, identify: bool = False) -> str:
    """A fixed-width table for the terminal; the JSON form carries the same fields in full."""
    lines = [
        f"{inventory.root if identify else 'study folder'}: {inventory.files} file(s), "
        f"{inventory.dicom_images} DICOM image(s)"
        + (f", {inventory.non_dicom} non-DICOM skipped" if inventory.non_dicom else "")
        + (f", {len(inventory.unreadable)} unreadable" if inventory.unreadable else "")
        + (f", {inventory.duplicate_copies} duplicate copies" if inventory.duplicate_copies else "")
    ]
    for study in inventory.studies:
        field = f"{study['field_strength_t']:g} T" if study["field_strength_t"] else "? T"
        lines.append(
            f"study {study['index']}: {study['date'] or 'date ?'}  {study['description'] or ''}  "
            f"{study['manufacturer']} {study['model']} {field}".rstrip()
            + (f"  (--study {study['study_instance_uid']})" if len(inventory.studies) > 1 else "")
        )
    multi = len(inventory.studies) > 1
    header = (["st"] if multi else []) + [
        "series",
        "description",
        "images",
        "voxel mm",
        "classification",
        "conf",
        "role",
        "why",
    ]
    table: list[list[str]] = []
    for row in inventory.series:
        reasons = row.reasons if all_reasons else row.reasons[:3]
        cells = ([str(row.study)] if multi else []) + [
            "?" if row.number is None else str(row.number),
            row.description[:32] or "-",
            str(row.images) + (f"/{row.volumes}v" if row.volumes > 1 else ""),
            _voxel(row.voxel_mm),
            row.classification,
            f"{row.confidence:.2f}",
            row.role or "",
            "; ".join(reasons),
        ]
        table.append(cells)
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header) - 1)]
    indent = sum(widths) + 2 * len(widths)
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  why")
    for cells in table:
        prefix = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  "
        why = textwrap.wrap(cells[-1], width=max(40, 150 - indent)) or [""]
        lines.append(prefix + why[0])
        lines.extend(" " * indent + more for more in why[1:])
    chosen = ", ".join(f"{role} = series {n}" for role, n in inventory.selection.items() if n is not None)
    if inventory.selection_error:
        lines.append(f"selection: not possible: {inventory.selection_error}")
    else:
        lines.append(f"selection: {chosen}")
    lines.extend(f"warning: {w}" for w in inventory.warnings)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cnmri.errors import InputError
    from cnmri.io.dicom import inspect_study
    from cnmri.io.limits import voxel_limit

    with voxel_limit(args.max_voxels):
        inventory = inspect_study(
            args.study_dir,
            pre_series=args.pre_series,
            post_series=args.post_series,
            identify=args.identify,
            study=args.study,
        )
    if args.format == "json":
        record = inventory.to_dict()
        if not args.identify:
            record["root"] = "study folder"
        sys.stdout.write(json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_table(inventory, args.all_reasons, args.identify) + "\n")
    sys.stdout.flush()
    if inventory.selection_error:
        raise InputError(inventory.selection_error)
    return 0
