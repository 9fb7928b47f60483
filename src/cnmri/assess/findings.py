"""Typed, frozen findings: one :class:`SegmentFinding` per segment and side, one :class:`NerveFinding`
per nerve and side (CONTRACTS.md §2, ``src/cnmri/data/findings.schema.json``).

The imaging rules (:mod:`cnmri.assess.imaging`) still work on plain records while they judge segments;
the pipeline turns their result into these values at the boundary (:func:`cnmri.pipeline.analyze`) and
``to_json()`` gives back the record findings.json holds, byte for byte (the writer sorts keys). A record
field the typed value does not name (e.g. one a later rule adds) travels in ``extra`` unchanged, so
adding a findings field never needs a change here. Working keys of the rules (names starting with
``_``) are refused: they must never reach an output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["NerveFinding", "SegmentFinding", "freeze", "thaw"]


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON-like value: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a :func:`freeze` d value (plain dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _refuse_private(record: Mapping[str, Any], what: str) -> None:
    private = sorted(k for k in record if str(k).startswith("_"))
    if private:
        raise ValueError(f"{what} record carries working keys {private}: they must not reach findings.json")


def _missing(record: Mapping[str, Any], required: tuple[str, ...], what: str) -> None:
    absent = [k for k in required if k not in record]
    if absent:
        raise ValueError(f"{what} record lacks {absent} (findings.schema.json requires them)")


def _number(value: Any) -> float | None:
    # Numbers pass as they are (an int stays an int), so to_json() gives back the same bytes.
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return float(value)


def _score(value: Any) -> float:
    number = _number(value)
    if number is None:
        raise ValueError("nerve record has no score (findings.schema.json requires a number)")
    return number


@dataclass(frozen=True)
class SegmentFinding:
    """One segment on one side: the measurements, the verdict and what they were computed from."""

    nerve: str
    side: str
    segment: str
    abnormal: bool
    physiologic_enhancement: bool
    enhancement: float | None
    thickness_mm: float | None
    asymmetry: float | None
    z: float | None
    enhancement_mean: float | None = None
    enhancement_ratio: float | None = None
    z_thickness: float | None = None
    #: anatomical compartment and the rule set that judged the segment (omitted from JSON when unknown)
    compartment: str | None = None
    rule: str | None = None
    shared_with: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    computed_from: Mapping[str, Any] = field(default_factory=_empty)
    placement: Mapping[str, Any] | None = None
    #: every other findings field of the segment, as JSON holds it
    extra: Mapping[str, Any] = field(default_factory=_empty)

    #: the fields findings.schema.json requires of a segment
    REQUIRED = (
        "nerve",
        "side",
        "segment",
        "abnormal",
        "physiologic_enhancement",
        "enhancement",
        "thickness_mm",
        "asymmetry",
        "z",
        "reasons",
        "computed_from",
    )
    _OPTIONAL_NUMBERS = ("enhancement_mean", "enhancement_ratio", "z_thickness")

    @property
    def key(self) -> str:
        """``CN7-left-canalicular``: the segment's name in the atlas, the label table and the TSV."""
        return f"{self.nerve}-{self.side}-{self.segment}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SegmentFinding:
        """The typed value of one segment record as the imaging rules leave it."""
        _refuse_private(record, "segment")
        _missing(record, cls.REQUIRED, "segment")
        finding = cls(
            nerve=str(record["nerve"]),
            side=str(record["side"]),
            segment=str(record["segment"]),
            abnormal=bool(record["abnormal"]),
            physiologic_enhancement=bool(record["physiologic_enhancement"]),
            enhancement=_number(record["enhancement"]),
            thickness_mm=_number(record["thickness_mm"]),
            asymmetry=_number(record["asymmetry"]),
            z=_number(record["z"]),
            enhancement_mean=_number(record.get("enhancement_mean")),
            enhancement_ratio=_number(record.get("enhancement_ratio")),
            z_thickness=_number(record.get("z_thickness")),
            compartment=None if record.get("compartment") is None else str(record["compartment"]),
            rule=None if record.get("rule") is None else str(record["rule"]),
            shared_with=tuple(str(s) for s in record.get("shared_with", ())),
            reasons=tuple(str(r) for r in record["reasons"]),
            computed_from=freeze(record["computed_from"]),
            placement=None if record.get("placement") is None else freeze(record["placement"]),
            extra=freeze({k: v for k, v in record.items() if k not in _SEGMENT_NAMED}),
        )
        if "key" in record and record["key"] != finding.key:
            raise ValueError(f"segment record key {record['key']!r} does not match {finding.key!r}")
        return finding

    def to_json(self) -> dict[str, Any]:
        """The segment as findings.json holds it (CONTRACTS.md §2)."""
        out: dict[str, Any] = {
            "nerve": self.nerve,
            "side": self.side,
            "segment": self.segment,
            "key": self.key,
            "abnormal": self.abnormal,
            "physiologic_enhancement": self.physiologic_enhancement,
            "enhancement": self.enhancement,
            "thickness_mm": self.thickness_mm,
            "asymmetry": self.asymmetry,
            "z": self.z,
            "enhancement_mean": self.enhancement_mean,
            "enhancement_ratio": self.enhancement_ratio,
            "z_thickness": self.z_thickness,
            "shared_with": list(self.shared_with),
            "reasons": list(self.reasons),
            "computed_from": thaw(self.computed_from),
        }
        if self.compartment is not None:
            out["compartment"] = self.compartment
        if self.rule is not None:
            out["rule"] = self.rule
        if self.placement is not None:
            out["placement"] = thaw(self.placement)
        out.update(thaw(self.extra))
        return out


_SEGMENT_NAMED = frozenset(
    {*SegmentFinding.REQUIRED, *SegmentFinding._OPTIONAL_NUMBERS}
    | {"key", "compartment", "rule", "shared_with", "placement"}
)


@dataclass(frozen=True)
class NerveFinding:
    """One nerve on one side: abnormal when any of its segments is, with a score in [0, 1]."""

    nerve: str
    side: str
    abnormal: bool
    score: float
    abnormal_segments: tuple[str, ...] = ()
    #: every other findings field of the nerve (e.g. ``segments_measured``), as JSON holds it
    extra: Mapping[str, Any] = field(default_factory=_empty)

    REQUIRED = ("nerve", "side", "abnormal", "score", "abnormal_segments")

    @property
    def key(self) -> str:
        """``CN7-left``: the nerve side as ``pattern.nerves`` and clinical files name it."""
        return f"{self.nerve}-{self.side}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> NerveFinding:
        _refuse_private(record, "nerve")
        _missing(record, cls.REQUIRED, "nerve")
        return cls(
            nerve=str(record["nerve"]),
            side=str(record["side"]),
            abnormal=bool(record["abnormal"]),
            score=_score(record["score"]),
            abnormal_segments=tuple(str(s) for s in record["abnormal_segments"]),
            extra=freeze({k: v for k, v in record.items() if k not in cls.REQUIRED}),
        )

    def to_json(self) -> dict[str, Any]:
        """The nerve as findings.json holds it (CONTRACTS.md §2)."""
        return {
            "nerve": self.nerve,
            "side": self.side,
            "abnormal": self.abnormal,
            "score": self.score,
            "abnormal_segments": list(self.abnormal_segments),
            **thaw(self.extra),
        }
