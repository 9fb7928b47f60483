"""``cnmri bids``: the BIDS App (participant and group levels, CONTRACTS §8)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cnmri.errors import InputError

_log = logging.getLogger("cnmri")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bids",
        help="BIDS App: analyse every participant session (on Dask), then group tables and report",
        description="participant: analyse every session with a post-contrast T1 (*_ce-<agent>_T1w) and its "
        "pre-contrast T1w, in parallel on a local Dask cluster or an existing scheduler; finished sessions are "
        "skipped unless --force. group: cohort tables, the group report and, with --normative-out, a normative "
        "reference from the participants marked as controls in participants.tsv.",
    )
    p.add_argument("bids_dir", type=Path, help="the raw BIDS dataset")
    p.add_argument("output_dir", type=Path, help="the derivative dataset to write (e.g. BIDS_DIR/derivatives/cnmri)")
    p.add_argument("analysis_level", choices=("participant", "group"), help="which level to run")
    p.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        default=[],
        metavar="LABEL",
        help="participants to analyse (with or without 'sub-'); default all",
    )
    p.add_argument(
        "--session-label", "--session_label", nargs="+", default=[], metavar="LABEL", help="sessions (default all)"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="local Dask worker processes (default 1)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
    p.add_argument(
        "--db",
        help="results database URL (default sqlite:///OUTPUT_DIR/cnmri.db; postgresql+psycopg://user@host/db)",
    )
    p.add_argument("--force", action="store_true", help="re-analyse sessions that are already finished")
    p.add_argument("--threads", type=int, help="registration threads per session (default: cores / workers)")
    p.add_argument("--template", type=Path, help="MNIColin27 T1 to use (else TemplateFlow cache, else Debian)")
    p.add_argument("--normative", type=Path, help="normative reference JSON for the z-scores")
    p.add_argument("--no-report", action="store_true", help="participant: skip each session's report.html")
    p.add_argument("--normative-out", type=Path, help="group: write a normative reference built from the controls")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.analysis_level == "group":
        from cnmri.cohort.group import run_group_level

        group = run_group_level(args.bids_dir, args.output_dir, args.normative_out)
        print(
            f"group: {group.sessions} sessions of {group.participants} participants ({group.controls} control "
            "sessions)",
            file=sys.stderr,
        )
        for path in group.files:
            print(path)
        return 0
    from cnmri.cohort.runner import JobSettings, registration_threads, run_participant_level

    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: give at least 1")
    for option, path in (("--template", args.template), ("--normative", args.normative)):
        if path is not None and not path.is_file():
            raise InputError(f"{option} {path} does not exist")
    settings = JobSettings(
        threads=args.threads or registration_threads(args.workers),
        template=str(args.template.resolve()) if args.template else None,
        normative=str(args.normative.resolve()) if args.normative else None,
        report=not args.no_report,
    )
    summary = run_participant_level(
        args.bids_dir,
        args.output_dir,
        args.participant_label,
        args.session_label,
        workers=args.workers,
        scheduler=args.scheduler,
        db_url=args.db,
        force=args.force,
        settings=settings,
        progress=not args.no_progress,
    )
    print(
        f"participant: {len(summary.done)} analysed, {len(summary.already_done)} already finished, "
        f"{len(summary.skipped)} skipped, {len(summary.failed)} failed in {summary.seconds:.0f} s",
        file=sys.stderr,
    )
    for job_id, reason in sorted(summary.failed.items()):
        print(f"failed: {job_id}: {reason}", file=sys.stderr)
    print(args.output_dir)
    return 3 if summary.failed else 0
