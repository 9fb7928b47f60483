"""``cnmri phantom``: make a synthetic pre/post-contrast case with known cranial-nerve lesions."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from cnmri.errors import InputError

_log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "phantom",
        help="make a synthetic case: real head + known nerve lesions + normal enhancement",
        description="Write pre.nii.gz, post.nii.gz and truth.json: the real Colin27 head (or --base) as the "
        "pre-contrast T1, normal physiologic enhancement, and thickening/enhancement of the chosen nerves. "
        "Without --lesions the case is a control. Deterministic for a seed.",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--force", action="store_true", help="replace OUT if it holds a previous cnmri output (never an input)"
    )
    parser.add_argument("--lesions", default="", help="comma-separated NERVE-SIDE, e.g. CN7-left,CN9-right")
    parser.add_argument(
        "--segments",
        default="",
        help="comma-separated segment names to restrict the lesions to (default: all)",
    )
    parser.add_argument("--contrast", type=float, default=0.6, help="lesion enhancement, fraction of WM signal")
    parser.add_argument("--thickness-mm", type=float, default=2.5, help="lesion diameter in mm")
    parser.add_argument("--nodular", action="store_true", help="nodular rather than smooth thickening")
    parser.add_argument("--leptomeningeal", action="store_true", help="add posterior-fossa leptomeningeal coating")
    parser.add_argument("--snr", type=float, default=None, help="Rician noise: WM signal / noise sigma")
    parser.add_argument(
        "--realism",
        choices=("none", "standard"),
        default="none",
        help="scanner realism (pose, warp, noise, ...)",
    )
    parser.add_argument(
        "--model",
        choices=("A", "B", "C"),
        default="A",
        help="model of normal enhancement and vessels (A original; B, C independent validation models)",
    )
    parser.add_argument(
        "--series-scaling",
        action="store_true",
        help="give pre and post their own global intensity gain and offset, as separate scanner series",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--base", type=Path, default=None, help="a T1 in MNI space to use instead of Colin27")
    parser.set_defaults(func=run)


def parse_lesions(text: str, segments: str, contrast: float, thickness_mm: float, nodular: bool) -> tuple[Any, ...]:
    """``CN7-left,CN9-right`` → LesionSpec tuple; names are checked later against the atlas."""
    from cnmri.atlas.model import NERVES
    from cnmri.phantom.generator import LesionSpec

    segs = tuple(s.strip() for s in segments.split(",") if s.strip()) or None
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        nerve, _, side = item.partition("-")
        nerve = nerve.upper()
        if nerve not in NERVES or side.lower() not in ("left", "right"):
            raise InputError(
                f"--lesions: {item!r} is not NERVE-SIDE; nerves {', '.join(NERVES)}; sides left, right (e.g. CN7-left)"
            )
        out.append(LesionSpec(nerve, side.lower(), segs, contrast, thickness_mm, nodular))
    if segs and not out:
        raise InputError("--segments needs --lesions")
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from cnmri.io.outputs import output_folder
    from cnmri.phantom.generator import PhantomSpec, Realism, generate_case, write_case_files

    lesions = parse_lesions(args.lesions, args.segments, args.contrast, args.thickness_mm, args.nodular)
    realism = Realism.standard(snr=args.snr) if args.realism == "standard" else Realism(snr=args.snr)
    if args.series_scaling:
        realism = replace(realism, series_scaling=True)
    spec = PhantomSpec(
        lesions=lesions, leptomeningeal=args.leptomeningeal, realism=realism, physiology_model=args.model
    )
    base = None
    if args.base is not None:
        from cnmri.io.nifti import load_volume

        base = load_volume(args.base, role="base")
    with output_folder(args.out, command="phantom", force=args.force, inputs=(args.base,)) as folder:
        _log.info(
            "generating phantom (seed %d, %d lesion(s), realism %s, physiology model %s)",
            args.seed,
            len(lesions),
            args.realism,
            args.model,
        )
        case = generate_case(spec, seed=args.seed, base=base)
        write_case_files(case, folder.path)
    print(args.out)
    return 0
