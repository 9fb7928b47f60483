"""``cnmri pacs pull|push``: move a study from a DICOMweb PACS, and cnmri's results back into it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnmri.errors import InputError

if TYPE_CHECKING:
    from cnmri.io.pacs import Pacs

_log = logging.getLogger("cnmri")


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """Options every PACS command shares (CONTRACTS §6); each has an environment variable as well."""
    p.add_argument("--url", required=True, help="DICOMweb base URL, e.g. http://localhost:8042/dicom-web")
    p.add_argument("--user", help="basic authentication user (or CNMRI_PACS_USER)")
    p.add_argument("--password", help="basic authentication password (or CNMRI_PACS_PASSWORD; safer than here)")
    p.add_argument("--token", help="bearer token (or CNMRI_PACS_TOKEN; safer than here)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")
    p.add_argument("--retries", type=int, default=4, help="retries with exponential back-off (default 4)")


def connect(args: argparse.Namespace) -> Pacs:
    from cnmri.io.pacs import Pacs, PacsConfig

    config = PacsConfig.from_options(args.url, args.user, args.password, args.token, args.timeout, args.retries)
    return Pacs(config)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pacs",
        help="pull a study from / push results to a DICOMweb PACS",
        description="Move DICOM between a PACS and cnmri over DICOMweb (QIDO-RS, WADO-RS, STOW-RS). See docs/pacs.md.",
    )
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION")
    pull = sub.add_parser("pull", help="download one study's instances into a folder")
    pull.add_argument("--study", required=True, help="StudyInstanceUID")
    pull.add_argument("-o", "--out", type=Path, required=True, help="folder to write the study into (must not exist)")
    pull.add_argument(
        "--force",
        action="store_true",
        help="replace OUT if it holds a previous 'cnmri pacs pull' (never anything else)",
    )
    add_connection_options(pull)
    push = sub.add_parser("push", help="store OUT/dicom/ (SR, SEG, KO, SCs) of an analysis in the PACS")
    push.add_argument("out", type=Path, help="output folder of 'cnmri analyze STUDY_DIR'")
    add_connection_options(push)
    p.set_defaults(func=run, pacs_parser=p)


def run(args: argparse.Namespace) -> int:
    from cnmri.io.pacs import pull_study, push_outputs

    if args.pacs_command is None:
        args.pacs_parser.print_help(sys.stderr)
        return 2
    if args.pacs_command == "pull":
        from cnmri.io.outputs import output_folder

        # The same rules as every writing command (docs/safety.md): a non-empty OUT is refused, a study is
        # never mixed into another folder's files, and a failed pull leaves nothing half-written.
        with output_folder(args.out, command="pacs pull", force=args.force) as folder:
            count = pull_study(connect(args), args.study, folder.path)
        _log.info("pulled %d instance(s)", count)
        print(args.out)
        return 0
    if not args.out.is_dir():
        raise InputError(f"{args.out} is not a folder: give the output folder of 'cnmri analyze STUDY_DIR'")
    count = push_outputs(connect(args), args.out)
    _log.info("stored %d object(s)", count)
    print(count)
    return 0
