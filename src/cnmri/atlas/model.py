"""Atlas data model and loader.

The atlas is a versioned JSON file owned by the project (``atlas/data/nerve_atlas_v1.json``). Each
segment is a centerline polyline in template world coordinates (RAS mm), ordered from the brainstem
outwards, with a radius per point, whether the segment may enhance normally, neighbouring structures
that enhance normally, and the anatomical landmarks used to place it. Reference regions (e.g. pons)
are spheres of tissue that does not enhance, used for intensity normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri.errors import InputError

NERVES: tuple[str, ...] = tuple(f"CN{n}" for n in range(2, 13))
ATLAS_FILE = "nerve_atlas_v1.json"


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"

    @property
    def other(self) -> Side:
        return Side.RIGHT if self is Side.LEFT else Side.LEFT


@dataclass(frozen=True)
class Segment:
    nerve: str
    side: Side
    segment: str
    points_mm: NDArray[np.float64]  # (N, 3) RAS mm, brainstem outwards
    radius_mm: NDArray[np.float64]  # (N,)
    physiologic_enhancement: bool
    source: str
    landmarks: tuple[str, ...] = ()
    neighbours: tuple[str, ...] = ()
    shared_with: tuple[str, ...] = ()  # e.g. CN9/CN10/CN11 at the jugular foramen

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``CN7-left-canalicular``."""
        return f"{self.nerve}-{self.side.value}-{self.segment}"

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(np.diff(self.points_mm, axis=0), axis=1).sum())

    def to_export(self) -> dict[str, Any]:
        return {
            "nerve": self.nerve,
            "side": self.side.value,
            "segment": self.segment,
            "points_mm": np.round(self.points_mm, 2).tolist(),
            "radius_mm": np.round(self.radius_mm, 2).tolist(),
            "physiologic_enhancement": self.physiologic_enhancement,
            "source": self.source,
            "landmarks": list(self.landmarks),
            "neighbours": list(self.neighbours),
            "shared_with": list(self.shared_with),
        }


@dataclass(frozen=True)
class ReferenceRegion:
    """A sphere of normally non-enhancing tissue used to normalise intensities."""

    name: str
    center_mm: NDArray[np.float64]
    radius_mm: float
    tissue: str


@dataclass(frozen=True)
class Atlas:
    version: str
    space: str
    segments: tuple[Segment, ...]
    reference_regions: tuple[ReferenceRegion, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)
    #: Named template points (RAS mm) whose subject position each analysis reports for registration QC.
    qc_landmarks: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def segment(self, nerve: str, side: Side | str, name: str) -> Segment:
        side = Side(side)
        for seg in self.segments:
            if seg.nerve == nerve and seg.side is side and seg.segment == name:
                return seg
        raise KeyError(f"{nerve}-{side.value}-{name}")

    def nerve_segments(self, nerve: str) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.nerve == nerve)

    def segment_names(self, nerve: str) -> tuple[str, ...]:
        names: list[str] = []
        for seg in self.nerve_segments(nerve):
            if seg.segment not in names:
                names.append(seg.segment)
        return tuple(names)

    def to_export(self) -> dict[str, Any]:
        """CONTRACTS.md §3 form (with additive fields)."""
        return {
            "schema_version": "1",
            "atlas_version": self.version,
            "space": self.space,
            "segments": [s.to_export() for s in self.segments],
            "reference_regions": [
                {
                    "name": r.name,
                    "center_mm": np.round(r.center_mm, 2).tolist(),
                    "radius_mm": r.radius_mm,
                    "tissue": r.tissue,
                }
                for r in self.reference_regions
            ],
        }


def _parse_segment(raw: dict[str, Any], where: str) -> Segment:
    try:
        points = np.asarray(raw["points_mm"], dtype=np.float64)
        radius = np.asarray(raw["radius_mm"], dtype=np.float64)
        if radius.ndim == 0:
            radius = np.full(len(points), float(radius))
        seg = Segment(
            nerve=str(raw["nerve"]),
            side=Side(raw["side"]),
            segment=str(raw["segment"]),
            points_mm=points,
            radius_mm=radius,
            physiologic_enhancement=bool(raw["physiologic_enhancement"]),
            source=str(raw.get("source", "")),
            landmarks=tuple(raw.get("landmarks", ())),
            neighbours=tuple(raw.get("neighbours", ())),
            shared_with=tuple(raw.get("shared_with", ())),
        )
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(f"atlas {where}: malformed segment ({err})") from None
    if seg.nerve not in NERVES:
        raise InputError(f"atlas {where}: unknown nerve {seg.nerve!r}; allowed {', '.join(NERVES)}")
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 2:
        raise InputError(f"atlas {where} {seg.key}: points_mm must be a list of at least two [x, y, z]")
    if radius.shape != (len(points),) or (radius <= 0).any():
        raise InputError(f"atlas {where} {seg.key}: radius_mm must be positive, one per point")
    return seg


def _parse_qc_landmarks(raw: Any, where: str) -> dict[str, NDArray[np.float64]]:
    """``qc_landmarks``: a mapping of name -> [x, y, z] (finite RAS mm); absent means none."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"atlas {where}: qc_landmarks must map each landmark name to [x, y, z]")
    out: dict[str, NDArray[np.float64]] = {}
    for name, point in raw.items():
        try:
            value = np.asarray(point, dtype=np.float64)
        except (TypeError, ValueError):
            value = np.empty(0)
        if value.shape != (3,) or not np.isfinite(value).all():
            raise InputError(f"atlas {where}: qc_landmarks.{name} must be three finite numbers [x, y, z] in mm")
        out[str(name)] = value
    return out


def parse_atlas(payload: dict[str, Any], where: str = "<memory>") -> Atlas:
    segments = tuple(_parse_segment(raw, where) for raw in payload.get("segments", []))
    if not segments:
        raise InputError(f"atlas {where} has no segments")
    keys = [s.key for s in segments]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InputError(f"atlas {where} repeats segments: {', '.join(duplicates)}")
    refs = tuple(
        ReferenceRegion(
            name=str(r["name"]),
            center_mm=np.asarray(r["center_mm"], dtype=np.float64),
            radius_mm=float(r["radius_mm"]),
            tissue=str(r.get("tissue", "")),
        )
        for r in payload.get("reference_regions", [])
    )
    return Atlas(
        version=str(payload.get("atlas_version", payload.get("version", "1"))),
        space=str(payload.get("space", "MNIColin27")),
        segments=segments,
        reference_regions=refs,
        notes=dict(payload.get("notes", {})),
        qc_landmarks=_parse_qc_landmarks(payload.get("qc_landmarks"), where),
    )


def load_atlas(path: Path | str | None = None) -> Atlas:
    """Load the shipped atlas, or a user's file of the same format."""
    from cnmri.io.documents import read_json_document

    payload, where = read_json_document(path, resources.files("cnmri.atlas").joinpath("data", ATLAS_FILE), "atlas")
    return parse_atlas(payload, where)
