"""The settings of one analysis: frozen, built by the front end, written next to the outputs.

``Settings`` says *how* a study is analysed; *what* is analysed (the images, the clinical case, the
baseline) is the :class:`~cnmri.io.study.Study`. ``settings.json`` (:meth:`Settings.to_json`) records
every setting so a result can be reproduced; it holds no absolute path and nothing about the patient:
a configured file (template, atlas, normative reference) is named by its file name and content hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cnmri import __version__
from cnmri.preprocess.registration import MIN_SKULL_BASE_NCC
from cnmri.volume import Volume

__all__ = ["SETTINGS_SCHEMA_VERSION", "Settings", "file_digest"]

SETTINGS_SCHEMA_VERSION = "1"

#: Fields that are not settings of the method but carriers the pipeline needs (see their comments);
#: settings.json leaves them out.
_NOT_RECORDED = frozenset({"template_volume", "ciss"})


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (names the content without naming the file)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Settings:
    """How one study is analysed (``AnalyzeOptions`` is the earlier name, kept as an alias)."""

    #: a Colin27 T1 to use instead of the TemplateFlow cache or the Debian copy
    template: Path | None = None
    #: the template already in memory (the demo loads it to build its case); a cache, not a setting
    template_volume: Volume | None = field(default=None, compare=False, repr=False)
    atlas: Path | None = None
    normative: Path | None = None
    #: post-contrast T1 sequence family (assess/imaging.py SEQUENCES); "unknown" reads it from DICOM
    t1_sequence: str = "unknown"
    allow_download: bool = False
    bias_correct: bool = True
    deformable: bool = True
    threads: int = 2
    min_ncc: float = MIN_SKULL_BASE_NCC
    #: render report.html and the viewer images
    report: bool = True
    #: refine cisternal courses in the subject's image (measure/course.py); off = registered atlas course
    refine_course: bool = True
    #: leave vessels that cross a cisternal/canalicular ROI out of its measurement (measure/vessels.py)
    exclude_vessels: bool = True
    #: CISS/FIESTA image: an input of the study (``Study.ciss``); :func:`cnmri.pipeline.analyze` sets it here
    #: because ``prepare_subject`` reads it from the settings
    ciss: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """What settings.json holds: every setting, configured files by name and SHA-256 only."""
        out: dict[str, Any] = {"schema_version": SETTINGS_SCHEMA_VERSION, "software_version": __version__}
        for f in fields(self):
            if f.name in _NOT_RECORDED:
                continue
            value = getattr(self, f.name)
            out[f.name] = _configured_file(value) if isinstance(value, Path) else value
        if self.template_volume is not None and self.template is None:
            # "configured" | "templateflow" | "debian" (templates/lookup.py): where it came from, no path
            out["template"] = {"in_memory": True, "origin": str(self.template_volume.meta.get("template_origin", ""))}
        return out


def _configured_file(path: Path) -> dict[str, Any]:
    """A configured file named without its folder (which may name a person or a site)."""
    record: dict[str, Any] = {"name": path.name}
    if path.is_file():
        record["sha256"] = file_digest(path)
    return record
