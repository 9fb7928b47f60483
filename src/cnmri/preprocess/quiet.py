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

_log = logging.getLogger("cnmri.native")


@contextmanager
def native_output_to_log() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            if _log.isEnabledFor(logging.DEBUG):
                sink.seek(0)
                tail = sink.read()[-4000:].decode("utf-8", "replace")
                _log.debug("native output (tail):\n%s", tail)
