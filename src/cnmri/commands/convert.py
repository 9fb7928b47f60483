"""``cnmri convert STUDY_DIR --series N [--volume K] -o OUT.nii.gz``: one faithful DICOM → NIfTI conversion."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert one series (one volume) of a DICOM study to NIfTI with a JSON sidecar",
        description="Convert one volume of one series of a DICOM study folder to NIfTI (.nii.gz) and write "
        "a BIDS-style JSON sidecar next to it (the dcm2niix fields that apply, without identifiers). A series "
        "holding several volumes (magnitude/phase, echoes, b-values, time points) needs --volume; "
        "`cnmri inspect --format json` lists them.",
    )
    parser.add_argument("study_dir", metavar="STUDY_DIR", help="folder holding the study's DICOM files")
    parser.add_argument("--series", type=int, required=True, metavar="N", help="series number to convert")
    parser.add_argument(
        "--volume", type=int, default=None, metavar="K", help="volume K (1-based) of a series with several"
    )
    parser.add_argument(
        "--study", default=None, metavar="UID", help="StudyInstanceUID (or number) when the folder holds several"
    )
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.nii.gz", help="output NIfTI")
    parser.add_argument(
        "--backend",
        choices=("auto", "pydicom", "dcm2niix"),
        default="auto",
        help="auto: cnmri's pydicom assembly, dcm2niix when no decoder is installed (default)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite OUT and its sidecar if they exist")
    parser.set_defaults(func=run)


def sidecar_path(out: Path) -> Path:
    name = out.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return out.with_name(name[: -len(suffix)] + ".json")
    return out.with_name(name + ".json")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from cnmri.errors import InputError
    from cnmri.io.dicom import convert_series

    out: Path = args.out
    if not out.name.endswith((".nii.gz", ".nii")):
        raise InputError(f"-o {out}: the output must end in .nii.gz or .nii")
    sidecar = sidecar_path(out)
    existing = [p for p in (out, sidecar) if p.exists()]
    if existing and not args.force:
        raise InputError(f"{existing[0]} exists; pass --force to overwrite it or choose another -o")
    result = convert_series(
        args.study_dir, args.series, out, volume=args.volume, study=args.study, backend=args.backend
    )
    _write_json(sidecar, result.sidecar)
    for note in result.converted.warnings:
        print(f"cnmri: warning: {note}", file=sys.stderr)
    print(str(result.converted.path))
    return 0
