"""Participant level of the BIDS App: every session analysed once, in parallel on Dask.

Each session is one task (:func:`run_job`), executed in a Dask worker process. The coordinating
process decides what to run (finished sessions are skipped unless ``force``), records every state
change in the results database, draws the progress bar and writes each participant's summary page.
A session's derivatives are assembled in a staging folder inside the output dataset and renamed into
place when complete, so a killed run leaves either a finished session or nothing, and the next run
starts where the last one stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import logging
import os
import resource
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnmri import __version__
from cnmri.cohort.bids import SessionInputs, index_sessions
from cnmri.cohort.store import DONE, FAILED, PENDING, RUNNING, SKIPPED, ResultsStore, default_url
from cnmri.errors import CnmriError, InputError

_log = logging.getLogger(__name__)

#: Staging area for sessions being assembled, inside the output dataset (same filesystem as the result).
WORK_DIR = ".cnmri-work"
LOCK_FILE = ".cnmri-bids.lock"

#: Derivative file names per session, from the names ``write_outputs`` uses (``<prefix>`` = sub-X[_ses-Y]).
DERIVATIVE_NAMES = {
    "findings.json": "{prefix}_findings.json",
    "segments.tsv": "{prefix}_desc-cn_measurements.tsv",
    "nerves_dseg.nii.gz": "{prefix}_space-orig_seg-cn_dseg.nii.gz",
    "nerves_dseg.tsv": "{prefix}_space-orig_seg-cn_dseg.tsv",
    "report.html": "{prefix}_desc-cn_report.html",
    "settings.json": "{prefix}_desc-cn_settings.json",
}


@dataclass(frozen=True)
class JobSettings:
    """What every session's analysis uses; written to the database with each row."""

    threads: int = 1
    template: str | None = None
    normative: str | None = None
    atlas: str | None = None
    bias_correct: bool = True
    deformable: bool = True
    report: bool = True


@dataclass(frozen=True)
class Job:
    inputs: SessionInputs
    bids_dir: str
    out_dir: str
    settings: JobSettings
    force: bool = False


@dataclass
class ParticipantSummary:
    """What a participant-level run did (also the exit status: failures make it 3)."""

    done: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 0


def final_dir(out_dir: Path, inputs: SessionInputs) -> Path:
    return Path(out_dir) / inputs.anat_dir


def findings_path(out_dir: Path, inputs: SessionInputs) -> Path:
    return final_dir(out_dir, inputs) / f"{inputs.job_id}_findings.json"


def is_finished(out_dir: Path, inputs: SessionInputs) -> bool:
    """A session is finished when its findings are in place (they are renamed in last, with the folder)."""
    return findings_path(out_dir, inputs).is_file()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _stage(out_dir: Path, inputs: SessionInputs) -> Path:
    staging = Path(out_dir) / WORK_DIR / f"{inputs.job_id}.partial-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir(parents=True)
    return staging


def _rename_to_bids(staging: Path, inputs: SessionInputs) -> None:
    for written, pattern in DERIVATIVE_NAMES.items():
        source = staging / written
        if source.exists():
            source.rename(staging / pattern.format(prefix=inputs.job_id))


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished staging folder onto the session's anat folder (replacing an older result)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_job(job: Job) -> dict[str, Any]:
    """Analyse one session and put its derivatives in place. Runs in a Dask worker; never raises.

    Returns a record for the results database: ``status`` done or failed, with the pattern, the
    abnormal nerves, the time taken and the worker's peak memory.
    """
    from cnmri.io.study import nifti_study
    from cnmri.pipeline import analyze
    from cnmri.report.writers import write_outputs
    from cnmri.settings import Settings

    inputs, settings = job.inputs, job.settings
    out_dir = Path(job.out_dir)
    start = time.perf_counter()
    record: dict[str, Any] = {"job_id": inputs.job_id, "worker": socket.gethostname()}
    staging: Path | None = None
    try:
        if inputs.post is None:
            raise InputError(inputs.skip_reason or "no post-contrast T1")
        analysis_settings = Settings(
            template=Path(settings.template) if settings.template else None,
            atlas=Path(settings.atlas) if settings.atlas else None,
            normative=Path(settings.normative) if settings.normative else None,
            bias_correct=settings.bias_correct,
            deformable=settings.deformable,
            threads=settings.threads,
            report=settings.report,
        )
        warnings: tuple[str, ...] = ()
        if inputs.flair_post is not None:
            warnings = (f"{inputs.flair_post.name} was found but is not yet used for measurement",)
        study = nifti_study(inputs.post, inputs.pre, ciss=inputs.ciss, warnings=warnings)
        analysis = analyze(study, analysis_settings)
        analysis.record["bids"] = {
            "participant_id": f"sub-{inputs.participant}",
            "session_id": f"ses-{inputs.session}" if inputs.session else None,
            "sources": [
                f"bids:raw:{Path(os.path.relpath(p, job.bids_dir)).as_posix()}"
                for p in (inputs.pre, inputs.post)
                if p is not None
            ],
        }
        staging = _stage(out_dir, inputs)
        write_outputs(analysis, staging, report=settings.report)
        _rename_to_bids(staging, inputs)
        _move_into_place(staging, final_dir(out_dir, inputs))
        staging = None
        pattern = analysis.record["pattern"]
        record.update(status=DONE, pattern=pattern["kind"], abnormal_nerves=list(pattern["nerves"]))
    except CnmriError as err:
        # name the file relative to the dataset: the raw dataset's location stays out of the database
        record.update(
            status=FAILED,
            reason=str(err)
            .replace(str(Path(job.bids_dir).resolve()) + os.sep, "")
            .replace(job.bids_dir.rstrip(os.sep) + os.sep, ""),
        )
    except MemoryError:
        record.update(status=FAILED, reason="out of memory: give each worker more memory (fewer --workers)")
    except Exception as err:  # one session's bug must not stop the cohort; the reason is recorded
        _log.exception("session %s failed", inputs.job_id)
        record.update(status=FAILED, reason=f"unexpected {type(err).__name__}: {err}")
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    record.update(seconds=round(time.perf_counter() - start, 1), peak_rss_mb=_peak_rss_mb())
    return record


# ---------------------------------------------------------------------------------------------- dataset


def dataset_description(bids_dir: Path, out_dir: Path) -> dict[str, Any]:
    """BIDS derivative description: DatasetType derivative, GeneratedBy cnmri, the raw dataset as source."""
    try:
        link = os.path.relpath(Path(bids_dir).resolve(), Path(out_dir).resolve())
    except ValueError:  # another drive: no relative link
        link = None
    description: dict[str, Any] = {
        "Name": "cnmri cranial nerve measurements",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "cnmri",
                "Version": __version__,
                "Description": "per-segment cranial nerve enhancement and thickness (decision support)",
            }
        ],
        "SourceDatasets": [{"URL": "bids:raw:"}],
    }
    if link is not None:
        description["DatasetLinks"] = {"raw": link}
    return description


def _write_description(bids_dir: Path, out_dir: Path) -> None:
    from cnmri.io.outputs import write_json_atomic

    write_json_atomic(Path(out_dir) / "dataset_description.json", dataset_description(bids_dir, out_dir))


@contextlib.contextmanager
def dataset_lock(out_dir: Path) -> Iterator[None]:
    """One participant-level run per output dataset at a time (exit 2 for the second)."""
    path = Path(out_dir) / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"another 'cnmri bids' run is writing {out_dir}; wait for it to finish or use another OUT_DIR"
            ) from None
        yield
    finally:
        handle.close()


def _clean_staging(out_dir: Path) -> None:
    """Staging folders of earlier, killed runs hold nothing worth keeping (the lock says none is live)."""
    work = Path(out_dir) / WORK_DIR
    if work.exists():
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- cluster


def default_memory_limit(workers: int) -> str:
    """Share 80 % of the machine's memory between the workers (at most 8 GB each: one analysis needs < 2)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    per_worker = min(int(total * 0.8 / max(workers, 1)), 8 * 1024**3)
    return f"{per_worker // 1024**2}MiB"


def registration_threads(workers: int) -> int:
    """Threads per analysis so that ``workers`` analyses do not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A LocalCluster of ``workers`` processes on loopback, or a client of an existing scheduler."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise InputError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({err})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=default_memory_limit(workers),
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# ---------------------------------------------------------------------------------------------- run


def run_participant_level(
    bids_dir: Path,
    out_dir: Path,
    participant_labels: Sequence[str] = (),
    session_labels: Sequence[str] = (),
    workers: int = 1,
    scheduler: str | None = None,
    db_url: str | None = None,
    force: bool = False,
    settings: JobSettings | None = None,
    progress: bool = True,
    submit: Callable[[Job], dict[str, Any]] | None = None,
) -> ParticipantSummary:
    """Analyse every selected session not yet finished; record everything in the results database."""
    bids_dir, out_dir = Path(bids_dir), Path(out_dir)
    sessions = index_sessions(bids_dir, participant_labels, session_labels)
    _check_out_dir(bids_dir, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ParticipantSummary(workers=workers)
    start = time.perf_counter()
    with dataset_lock(out_dir):
        _clean_staging(out_dir)
        _write_description(bids_dir, out_dir)
        store = ResultsStore(db_url or default_url(out_dir), dataset=str(out_dir.resolve()))
        settings = settings or JobSettings(threads=registration_threads(workers))
        todo: list[Job] = []
        for inputs in sessions:
            ids = (inputs.job_id, inputs.participant, inputs.session)
            if inputs.skip_reason:
                _log.warning("%s skipped: %s", inputs.job_id, inputs.skip_reason)
                store.record(*ids, SKIPPED, reason=inputs.skip_reason)
                summary.skipped[inputs.job_id] = inputs.skip_reason
            elif is_finished(out_dir, inputs) and not force:
                if store.status(inputs.job_id) != DONE:
                    store.record(*ids, DONE, output=str(inputs.anat_dir), reason=None)
                summary.already_done.append(inputs.job_id)
            else:
                store.record(*ids, PENDING, settings=asdict(settings), versions=_versions(), reason=None)
                todo.append(Job(inputs, str(bids_dir), str(out_dir), settings, force))
        if summary.already_done:
            _log.info(
                "%d session(s) already finished, skipped (--force to redo): %s",
                len(summary.already_done),
                ", ".join(summary.already_done[:8]) + (" ..." if len(summary.already_done) > 8 else ""),
            )
        if todo:
            _execute(todo, store, summary, workers, scheduler, progress, submit)
        for participant in sorted({s.participant for s in sessions}):
            write_participant_page(out_dir, participant, store)
        store.close()
    summary.seconds = round(time.perf_counter() - start, 1)
    return summary


def _check_out_dir(bids_dir: Path, out_dir: Path) -> None:
    raw, out = bids_dir.resolve(), out_dir.resolve()
    if out == raw:
        raise InputError(f"OUT_DIR {out_dir} is the raw dataset itself; use e.g. {bids_dir}/derivatives/cnmri")
    if out in raw.parents:
        raise InputError(f"OUT_DIR {out_dir} contains the raw dataset {bids_dir}; choose another folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"OUT_DIR {out_dir} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_cnmri_derivative(out):
        raise InputError(
            f"OUT_DIR {out_dir} is not empty and is not a cnmri derivative dataset (its dataset_description.json "
            "does not name cnmri in GeneratedBy); cnmri will not write into it: choose another OUT_DIR"
        )


def _is_cnmri_derivative(out: Path) -> bool:
    import json

    try:
        description = json.loads((out / "dataset_description.json").read_text(encoding="utf-8"))
        return any(g.get("Name") == "cnmri" for g in description.get("GeneratedBy", []))
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _versions() -> dict[str, str]:
    import platform

    import numpy
    import SimpleITK

    return {
        "cnmri": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "SimpleITK": SimpleITK.Version_VersionString(),
    }


def _execute(
    todo: list[Job],
    store: ResultsStore,
    summary: ParticipantSummary,
    workers: int,
    scheduler: str | None,
    progress: bool,
    submit: Callable[[Job], dict[str, Any]] | None,
) -> None:
    from tqdm import tqdm

    by_id = {job.inputs.job_id: job for job in todo}
    bar = tqdm(total=len(todo), desc="sessions", unit="session", disable=not progress, mininterval=1.0)
    failed = 0

    def finish(record: dict[str, Any]) -> None:
        nonlocal failed
        job = by_id[record["job_id"]]
        status = record.pop("status")
        fields = {k: v for k, v in record.items() if k != "job_id"}
        if status == DONE:
            fields["output"] = str(job.inputs.anat_dir)
            summary.done.append(job.inputs.job_id)
        else:
            failed += 1
            summary.failed[job.inputs.job_id] = str(record.get("reason"))
            _log.error("%s failed: %s", job.inputs.job_id, record.get("reason"))
        store.record(job.inputs.job_id, job.inputs.participant, job.inputs.session, status, **fields)
        bar.update(1)
        bar.set_postfix(failed=failed, running=len(todo) - bar.n, refresh=False)

    try:
        if submit is not None:  # in-process execution (tests, a single session)
            for job in todo:
                store.record(job.inputs.job_id, job.inputs.participant, job.inputs.session, RUNNING)
                finish(submit(job))
            return
        from distributed import as_completed

        with dask_client(workers, scheduler) as client:
            futures = client.map(run_job, todo, pure=False, key=[f"cnmri-{j.inputs.job_id}" for j in todo])
            for job in todo:
                store.record(job.inputs.job_id, job.inputs.participant, job.inputs.session, RUNNING)
            for future in as_completed(futures):
                try:
                    finish(future.result())
                except Exception as err:  # a worker died (killed, out of memory): record, go on
                    job_id = str(future.key).removeprefix("cnmri-")
                    finish({"job_id": job_id, "status": FAILED, "reason": f"worker lost: {type(err).__name__}"})
    finally:
        bar.close()


# ---------------------------------------------------------------------------------------------- pages


def write_participant_page(out_dir: Path, participant: str, store: ResultsStore) -> None:
    """``OUT_DIR/sub-X.html``: every session of the participant, its status, findings and report link."""
    from cnmri.io.outputs import write_text_atomic

    rows = [r for r in store.rows() if r["participant"] == participant]
    items = []
    for row in sorted(rows, key=lambda r: r["session"] or ""):
        label = html.escape(f"ses-{row['session']}" if row["session"] else "session")
        status = html.escape(row["status"])
        if row["status"] == DONE and row["output"]:
            report = f"{row['output']}/{row['job_id']}_desc-cn_report.html"
            nerves = ", ".join(row["abnormal_nerves"]) or "none"
            detail = (
                f"pattern <b>{html.escape(str(row['pattern'] or 'n/a'))}</b>; abnormal nerves: "
                f'{html.escape(nerves)} &middot; <a href="{html.escape(report)}">report</a>'
            )
        else:
            detail = html.escape(row["reason"] or "")
        items.append(f"<tr><td>{label}</td><td class='{status}'>{status}</td><td>{detail}</td></tr>")
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>sub-{html.escape(participant)} — cnmri</title><style>"
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:.4em .8em;text-align:left}.failed{color:#b00}"
        ".done{color:#070}.skipped{color:#666}</style></head><body>"
        f"<h1>sub-{html.escape(participant)}</h1><p>cnmri {html.escape(__version__)} — decision support, "
        "not a diagnosis. Each session's report has the key images and per-segment tables.</p>"
        "<table><tr><th>session</th><th>status</th><th>result</th></tr>" + "".join(items) + "</table></body></html>\n"
    )
    write_text_atomic(Path(out_dir) / f"sub-{participant}.html", page)
