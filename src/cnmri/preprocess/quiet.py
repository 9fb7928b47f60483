"""Silence native libraries that print to the process's stdout (greedy does).

CONTRACTS.md §1: stdout carries only what the user asked for. The C++ output is captured at the file
descriptor level and forwarded to the debug log.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_log = logging.getLogger("cnmri.native")


def _flush_stdout() -> None:
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None and not stream.closed:
            stream.flush()


def import_greedy() -> Any:
    """Import picsl_greedy bound to the process's own stdout.

    picsl_greedy keeps the ``sys.stdout`` object it sees at import time and writes to it on every
    call. If that object is a temporary stream (a test's capture, a notebook cell) that is later closed,
    every later registration aborts the process. Importing it against ``sys.__stdout__`` (file
    descriptor 1, which :func:`native_output_to_log` redirects) avoids that.
    """
    if "picsl_greedy" in sys.modules:
        return sys.modules["picsl_greedy"]
    previous = sys.stdout
    sys.stdout = sys.__stdout__ if sys.__stdout__ is not None else open(os.devnull, "w")  # noqa: SIM115
    try:
        import picsl_greedy
    finally:
        sys.stdout = previous
    return picsl_greedy


@contextmanager
def native_output_to_log() -> Iterator[None]:
    """Send whatever native code writes to file descriptor 1 to the debug log instead."""
    _flush_stdout()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            _flush_stdout()
            os.dup2(saved, 1)
            os.close(saved)
            if _log.isEnabledFor(logging.DEBUG):
                sink.seek(0)
                tail = sink.read()[-4000:].decode("utf-8", "replace")
                _log.debug("native output (tail):\n%s", tail)
