"""``cnmri watch``: poll a DICOMweb PACS, analyse each new stable study once, push the results back."""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from cnmri.commands.pacs import add_connection_options, connect
from cnmri.errors import CnmriError, InputError

_log = logging.getLogger("cnmri")
STUDY_UID, INSTANCES = "0020000D", "00201208"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "watch",
        help="analyse each new study of a DICOMweb PACS once and push the results",
        description="Poll the PACS (QIDO-RS) for studies; when a study's instance count has not changed for "
        "--stable-seconds, pull it, run 'cnmri analyze' on it and store OUT/dicom/ back into the same study. "
        "State lives in WORK/watch.sqlite: a restart neither repeats finished studies nor misses any. "
        "See docs/pacs.md.",
    )
    add_connection_options(p)
    p.add_argument("--work", type=Path, required=True, help="folder for the state database and each study's files")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for cron and tests)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between passes (default 60)")
    p.add_argument(
        "--stable-seconds",
        type=float,
        default=120.0,
        help="a study is complete when its instance count is unchanged this long (default 120)",
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="QIDO-RS study filter, repeatable, e.g. StudyDate=20260101- or ModalitiesInStudy=MR",
    )
    p.add_argument("--max-attempts", type=int, default=3, help="give a failing study up after this many attempts")
    p.add_argument("--keep-input", action="store_true", help="keep each pulled study under WORK (default: delete)")
    p.add_argument(
        "--analyze-option",
        action="append",
        default=[],
        metavar="OPT",
        help="passed to 'cnmri analyze' (repeatable), e.g. --analyze-option=--deidentify",
    )
    p.set_defaults(func=run)


def _filters(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--filter {item!r} must look like KEY=VALUE (e.g. StudyDate=20260101-)")
        out[key] = value
    return out


def _study_folder(work: Path, study_uid: str) -> Path:
    from cnmri.report.dicom_common import hashed_uid

    # The folder name never shows the study UID (it may identify the visit).
    return work / "studies" / hashed_uid(study_uid).removeprefix("2.25.")[:20]


def process_study(pacs: Any, study_uid: str, folder: Path, analyze_options: list[str], keep_input: bool) -> None:
    """Pull one study, analyse it as ``cnmri analyze`` would (DICOM adapter, ``analyze``), push the results."""
    from cnmri.commands.analyze import analyze_to_folder, parse_analyze_args
    from cnmri.errors import ProcessingError
    from cnmri.io.pacs import pull_study, push_outputs

    input_dir, out_dir = folder / "input", folder / "out"
    args = parse_analyze_args([str(input_dir), "-o", str(out_dir), *analyze_options])
    shutil.rmtree(input_dir, ignore_errors=True)  # a partial pull of a killed run is pulled again whole
    pull_study(pacs, study_uid, input_dir)
    try:
        analyze_to_folder(args)
    except MemoryError:
        raise ProcessingError("out of memory while analysing the study") from None
    push_outputs(pacs, out_dir)
    if not keep_input:
        shutil.rmtree(input_dir, ignore_errors=True)


def watch_pass(args: argparse.Namespace, pacs: Any, state: Any) -> dict[str, int]:
    """One poll: record counts, process each stable study that is not done; returns counts per outcome."""
    counts = {"seen": 0, "processed": 0, "failed": 0, "waiting": 0}
    now = time.time()
    for study in pacs.search_studies(_filters(args.filter)):
        from cnmri.io.pacs import study_attribute

        uid = study_attribute(study, STUDY_UID)
        if not uid:
            continue
        counts["seen"] += 1
        row = state.observe(uid, int(study_attribute(study, INSTANCES) or 0), now)
        if row.state == "done" or (row.state == "failed" and row.attempts >= args.max_attempts):
            continue
        if row.state != "processing" and now - row.changed_at < args.stable_seconds:
            counts["waiting"] += 1
            continue
        folder = _study_folder(args.work, uid)
        state.set_state(uid, "processing", folder=str(folder))
        _log.info("study %s: processing (attempt %d)", folder.name, row.attempts + 1)
        try:
            process_study(pacs, uid, folder, args.analyze_option, args.keep_input)
        except CnmriError as err:
            state.set_state(uid, "failed", message=str(err))
            counts["failed"] += 1
            _log.warning("study %s failed: %s", folder.name, err)
            continue
        state.set_state(uid, "done", message=None)
        counts["processed"] += 1
    return counts


def run(args: argparse.Namespace) -> int:
    from cnmri.io.watch_state import WatchState

    if args.interval <= 0 or args.stable_seconds < 0 or args.max_attempts < 1:
        raise InputError("--interval must be > 0, --stable-seconds >= 0 and --max-attempts >= 1")
    from cnmri.commands.analyze import parse_analyze_args

    parse_analyze_args([str(args.work), "-o", str(args.work / "out"), *args.analyze_option])  # bad options: exit 2 now
    args.work.mkdir(parents=True, exist_ok=True)
    pacs = connect(args)
    state = WatchState(args.work / "watch.sqlite")
    try:
        while True:
            counts = watch_pass(args, pacs, state)
            _log.info(
                "pass: %d studies, %d processed, %d failed, %d waiting to be stable",
                counts["seen"],
                counts["processed"],
                counts["failed"],
                counts["waiting"],
            )
            if args.once:
                print(f"processed {counts['processed']} failed {counts['failed']} waiting {counts['waiting']}")
                return 3 if counts["failed"] else 0
            time.sleep(args.interval)
    finally:
        state.close()
