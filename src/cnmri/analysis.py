"""``Analysis``: what :func:`cnmri.pipeline.analyze` returns and the writers (report/) read.

It lives in its own module so the writers import it without importing the pipeline (no cycle).
Segments and nerves are typed, frozen values (:mod:`cnmri.assess.findings`); ``record`` holds every
other findings.json field. ``findings`` is the whole findings.json document, made fresh from both on
each access: change ``record`` (or the typed values), never the returned dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnmri.assess.findings import NerveFinding, SegmentFinding
from cnmri.settings import Settings
from cnmri.volume import Volume

__all__ = ["Analysis"]


@dataclass
class Analysis:
    """Everything the writers need: findings plus subject-space images for the report.

    ``Analysis(findings, post, pre, enhancement, labels, label_keys, centerlines_mm)`` still works: a
    ``segments``/``nerves`` list in ``findings`` is turned into typed values.
    """

    #: findings.json without ``segments`` and ``nerves``
    record: dict[str, Any]
    post: Volume
    pre: Volume | None
    enhancement: Volume | None
    labels: Volume
    label_keys: dict[int, str]
    centerlines_mm: dict[str, np.ndarray]
    clinical_html: str | None = None
    comparison_html: str | None = None
    segments: tuple[SegmentFinding, ...] = ()
    nerves: tuple[NerveFinding, ...] = ()
    #: the settings the analysis ran with (written as settings.json beside the outputs)
    settings: Settings | None = field(default=None)

    def __post_init__(self) -> None:
        self.record = dict(self.record)
        if "segments" in self.record:
            self.segments = tuple(SegmentFinding.from_record(s) for s in self.record.pop("segments"))
        if "nerves" in self.record:
            self.nerves = tuple(NerveFinding.from_record(n) for n in self.record.pop("nerves"))

    @property
    def findings(self) -> dict[str, Any]:
        """The findings.json document (CONTRACTS.md §2); a new dict on each access."""
        return {
            **self.record,
            "segments": [s.to_json() for s in self.segments],
            "nerves": [n.to_json() for n in self.nerves],
        }

    @property
    def abnormal_nerves(self) -> list[str]:
        """``["CN7-left", ...]``: the nerve sides judged abnormal."""
        return [n.key for n in self.nerves if n.abnormal]

    def add_warnings(self, warnings: Iterable[str]) -> None:
        self.record.setdefault("warnings", []).extend(warnings)
