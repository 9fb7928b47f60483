"""Local web app of ``cnmri serve``: study list, NiiVue viewer linked to the segment table, clinical form,
follow-up comparison, JSON API (CONTRACTS.md §7; docs/viewer.md).

FastAPI, uvicorn, Jinja2 and python-multipart are needed; :func:`create_app` is imported lazily so that
the rest of cnmri works without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(results_dir: Path, token: str) -> FastAPI:
    """Build the web app; see :func:`cnmri.web.app.create_app`."""
    from cnmri.web.app import create_app as _create

    return _create(results_dir, token)


__all__ = ["create_app"]
