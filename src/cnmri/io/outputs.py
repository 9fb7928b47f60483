"""Output folders people can trust: never lose data, never leave patient data behind.

Every command that writes goes through :func:`output_folder` (or :func:`output_file` for a single
file). The rules, documented in docs/safety.md:

* an existing non-empty output is refused unless ``--force``; with ``--force`` only a folder that
  carries the marker file :data:`MARKER` (written by every cnmri output) is replaced;
* never an output that is, holds or lies inside one of the run's inputs, even with ``--force``;
* one writer per output: a lock file ``.OUT.lock`` beside the output; a second run exits 2 at once;
* the run writes into ``.OUT.partial-<pid>-*`` beside the final folder (same filesystem, so the final
  rename cannot fail with EXDEV); temporary work (DICOM conversion, registration scratch) lives inside
  it; SIGTERM/SIGHUP/SIGINT and errors remove it; partial folders of dead processes are removed by the
  next run into the same output; a failed final rename is exit 3.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from cnmri.errors import InputError, ProcessingError

#: Marker file inside every output folder cnmri writes; ``--force`` replaces only folders holding it.
MARKER = ".cnmri-output"
#: Folder inside the partial output for temporary work; removed before the final rename.
WORK_DIR = ".work"

_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)-")


class Terminated(BaseException):
    """Raised by the signal handlers so that every ``with`` block (and its clean-up) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` (SIGINT already raises KeyboardInterrupt).

    Only the main thread may install handlers; elsewhere this does nothing.
    """
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, _raise_terminated)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check_writable_parent(out_dir: Path) -> None:
    """Fail early, naming the folder, when ``out_dir`` cannot be created or written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a folder; choose another -o")
    parent = out_dir.resolve().parent
    if not parent.exists():
        raise InputError(f"the folder {parent} that should hold output {out_dir.name} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to {parent} (permission denied); choose another -o")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_not_an_input(target: Path, inputs: Iterable[Path | None]) -> None:
    """Refuse an output that is an input, holds one, or lies inside an input folder (even with --force)."""
    for given in inputs:
        if given is None:
            continue
        source = _real(Path(given))
        if _is_within(source, target):
            raise InputError(
                f"output {target} is or holds the input {given}; cnmri never replaces its own input, "
                "even with --force; choose another -o"
            )
        if source.is_dir() and _is_within(target, source):
            raise InputError(
                f"output {target} lies inside the input folder {given}; write it elsewhere (choose another -o)"
            )


def _marker_payload(command: str) -> dict[str, Any]:
    from cnmri import __version__

    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"tool": "cnmri", "version": __version__, "command": command, "created": when}


def is_cnmri_output(folder: Path) -> bool:
    """True when ``folder`` carries the marker of a previous cnmri output."""
    try:
        payload = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("tool") == "cnmri"


def _refuse_existing(target: Path, force: bool, is_ours: Callable[[Path], bool], what: str) -> None:
    if not target.exists():
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    if not force:
        raise InputError(
            f"output {target} already exists and is not empty; pass --force to replace a previous cnmri "
            f"{what}, or choose another -o"
        )
    if not is_ours(target):
        raise InputError(
            f"output {target} exists and is not a cnmri {what} (no {MARKER} marker); cnmri will not replace "
            "it even with --force; choose another -o"
        )


@contextmanager
def _output_lock(target: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock file ``.NAME.lock`` beside ``target``; a second writer exits 2."""
    lock_path = target.with_name(f".{target.name}.lock")
    busy = InputError(
        f"another cnmri run is writing to {target} (lock {lock_path.name}); wait for it or choose another -o"
    )
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise busy from None
            raise
        # The file may have been unlinked by the previous holder between our open and flock.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise busy
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove ``.NAME.partial-<pid>-*`` / ``.NAME.old-<pid>-*`` left by processes that no longer run."""
    removed: list[Path] = []
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _PARTIAL.match(entry.name)
        if match is None or match["name"] != target.name or _pid_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@dataclass(frozen=True)
class OutputFolder:
    """A claimed output: write into ``path``; it becomes ``target`` when the ``with`` block succeeds."""

    target: Path
    path: Path

    def work_dir(self, name: str) -> Path:
        """A folder for temporary work inside the partial output; removed before the final rename."""
        folder = self.path / WORK_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@contextmanager
def _temporary_files_in(folder: Path) -> Iterator[None]:
    """Route ``tempfile`` (registration scratch, dcm2niix) into ``folder`` for the duration of the run."""
    folder.mkdir(parents=True, exist_ok=True)
    previous_module, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = previous_module
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env


def _replace(partial: Path, target: Path) -> None:
    """Rename ``partial`` onto ``target`` (moving an old ``target`` aside first); exit 3 on failure."""
    backup: Path | None = None
    try:
        if target.exists() or target.is_symlink():
            backup = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
            target.rename(backup)
        partial.rename(target)
    except OSError as err:
        if backup is not None and not target.exists():
            backup.rename(target)
        raise ProcessingError(
            f"could not move the finished output into {target} ({err.strerror or err}); the previous content "
            "is unchanged; check the folder's permissions and free space, then run again"
        ) from None
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink(missing_ok=True)


@contextmanager
def output_folder(
    out: Path,
    *,
    command: str,
    force: bool = False,
    inputs: Iterable[Path | None] = (),
    in_place: bool = False,
) -> Iterator[OutputFolder]:
    """Claim ``out`` for ``command`` (rules in the module docstring) and yield where to write.

    ``in_place`` (``cnmri bench``, whose generated cases are reused by the next run with ``--force``)
    writes straight into the final folder under the same refusal rules and lock.
    """
    out = Path(out)
    check_writable_parent(out)
    target = _real(out)  # an -o symlink: write beside its real target, on its filesystem
    check_not_an_input(target, inputs)
    with cleanup_on_signals(), _output_lock(target):
        _refuse_existing(target, force, is_cnmri_output, "output")
        remove_stale_partials(target)
        if in_place:
            target.mkdir(exist_ok=True)
            _write_marker(target, command)
            try:
                with _temporary_files_in(target / WORK_DIR):
                    yield OutputFolder(target, target)
            finally:
                shutil.rmtree(target / WORK_DIR, ignore_errors=True)
            return
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
        try:
            _write_marker(partial, command)
            with _temporary_files_in(partial / WORK_DIR):
                yield OutputFolder(target, partial)
            shutil.rmtree(partial / WORK_DIR, ignore_errors=True)
            _replace(partial, target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)


def _write_marker(folder: Path, command: str) -> None:
    (folder / MARKER).write_text(json.dumps(_marker_payload(command), sort_keys=True) + "\n", encoding="utf-8")


@contextmanager
def output_file(
    out: Path,
    *,
    command: str,
    is_ours: Callable[[Path], bool],
    force: bool = False,
    inputs: Iterable[Path | None] = (),
) -> Iterator[Path]:
    """Claim a single output file: the same refusal and lock rules; yields a partial path to write."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"output {out} is a folder; give a file name for -o")
    check_writable_parent(out.parent / "x")
    target = _real(out)
    check_not_an_input(target, inputs)
    with cleanup_on_signals(), _output_lock(target):
        if target.exists():
            _refuse_existing(target, force, is_ours, "file of this kind")
        remove_stale_partials(target)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent)
        os.close(fd)
        partial = Path(name)
        try:
            yield partial
            _replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)


@contextmanager
def atomic_output_dir(
    out_dir: Path, overwrite: bool = False, *, command: str = "cnmri", inputs: Iterable[Path | None] = ()
) -> Iterator[Path]:
    """Compatibility wrapper of :func:`output_folder` yielding the folder to write into."""
    with output_folder(out_dir, command=command, force=overwrite, inputs=inputs) as folder:
        yield folder.path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary sibling and ``os.replace``."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    """Deterministic, diffable JSON (sorted keys, 2-space indent, trailing newline)."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")
