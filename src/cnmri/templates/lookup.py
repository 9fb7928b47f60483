"""Locate the MNIColin27 whole-head T1 template.

Order (DESIGN.md §3): an explicitly configured path (argument or ``CNMRI_TEMPLATE``), then the
TemplateFlow cache (``TEMPLATEFLOW_HOME``; downloaded only when the caller allows it, e.g.
``CNMRI_ALLOW_DOWNLOAD=1``), then Debian's ``mricron-data`` copy. When none is found the error names
all three and how to get each.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cnmri.errors import TemplateNotFoundError
from cnmri.volume import Volume

TEMPLATE_NAME = "MNIColin27"
DEBIAN_COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateSource:
    path: Path
    origin: str  # "configured" | "templateflow" | "debian"


def _templateflow_home() -> Path:
    return Path(os.environ.get("TEMPLATEFLOW_HOME", Path.home() / ".cache" / "templateflow"))


def _templateflow_cached() -> Path | None:
    folder = _templateflow_home() / f"tpl-{TEMPLATE_NAME}"
    candidates = sorted(p for p in folder.glob(f"tpl-{TEMPLATE_NAME}*_T1w.nii.gz") if "_desc-" not in p.name)
    # Prefer the 1 mm file; skip git-annex placeholders that are not real images yet.
    candidates.sort(key=lambda p: (("res-1_" not in p.name), p.name))
    for path in candidates:
        if path.exists() and path.stat().st_size > 1024:
            return path
    return None


def _templateflow_download() -> Path | None:
    try:
        from templateflow import api as tflow
    except ImportError:
        _log.warning("TemplateFlow download allowed but the 'templateflow' package is not installed")
        return None
    try:
        result = tflow.get(TEMPLATE_NAME, suffix="T1w", desc=None, extension=".nii.gz")
    except Exception as err:  # network or index errors come in many types; report and fall through
        _log.warning("TemplateFlow download of %s failed: %s", TEMPLATE_NAME, err)
        return None
    paths = result if isinstance(result, list) else [result]
    for path in paths:
        if path and Path(path).exists():
            return Path(path)
    return None


def find_template(configured: Path | str | None = None, allow_download: bool | None = None) -> TemplateSource:
    """Return where the MNIColin27 T1 was found, or raise :class:`TemplateNotFoundError`."""
    configured = configured or os.environ.get("CNMRI_TEMPLATE") or None
    if configured:
        path = Path(configured)
        if not path.exists():
            raise TemplateNotFoundError(f"the configured template {path} does not exist (--template / CNMRI_TEMPLATE)")
        return TemplateSource(path, "configured")
    cached = _templateflow_cached()
    if cached is not None:
        return TemplateSource(cached, "templateflow")
    if allow_download is None:
        allow_download = os.environ.get("CNMRI_ALLOW_DOWNLOAD", "") in {"1", "true", "yes"}
    if allow_download:
        downloaded = _templateflow_download()
        if downloaded is not None:
            return TemplateSource(downloaded, "templateflow")
    if DEBIAN_COLIN27.exists():
        return TemplateSource(DEBIAN_COLIN27, "debian")
    raise TemplateNotFoundError(
        f"the {TEMPLATE_NAME} whole-head T1 template was not found. Looked in: "
        f"(1) a configured path (--template or CNMRI_TEMPLATE): none set; "
        f"(2) the TemplateFlow cache {_templateflow_home()}/tpl-{TEMPLATE_NAME}: absent"
        f"{'' if allow_download else ' (downloads not allowed; set CNMRI_ALLOW_DOWNLOAD=1 to allow)'}; "
        f"(3) Debian's {DEBIAN_COLIN27}: absent (install it with 'apt-get install mricron-data')"
    )


def load_template(configured: Path | str | None = None, allow_download: bool | None = None) -> Volume:
    """Load the template as a RAS-canonical :class:`Volume` whose ``source`` names its origin."""
    from cnmri.io.nifti import load_volume

    found = find_template(configured, allow_download)
    volume = load_volume(found.path, role="template")
    volume.meta["template_origin"] = found.origin
    return volume
