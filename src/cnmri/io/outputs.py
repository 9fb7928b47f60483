"""Atomic output: write into a hidden temporary folder beside the target, rename when complete.

A run that fails leaves no partial output folder behind, and an existing complete folder is only
replaced after the new one is fully written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cnmri.errors import InputError


def check_writable_parent(out_dir: Path) -> None:
    """Fail early, naming the folder, when ``out_dir`` cannot be created or written."""
    parent = out_dir.resolve().parent
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a folder; choose another -o")
    if not parent.exists():
        raise InputError(f"the folder {parent} that should hold output {out_dir.name} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to {parent} (permission denied); choose another -o")


@contextmanager
def atomic_output_dir(out_dir: Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir``, on failure it is removed."""
    out_dir = Path(out_dir)
    check_writable_parent(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(f"output folder {out_dir} is not empty; pass --force to replace it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.resolve().parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup: Path | None = None
    if out_dir.exists():
        backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(backup)
    tmp.rename(out_dir)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


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
