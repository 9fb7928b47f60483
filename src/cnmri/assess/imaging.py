"""Imaging rules: abnormal segment, abnormal nerve, pattern.

No validated threshold exists for leukemic cranial-nerve infiltration (knowledge base §3), so the
rules are z-scores against the normative reference plus absolute floors, with stronger criteria for
segments that enhance normally. Sources next to each rule:

* Non-physiologic segments (every cisternal segment, CN7 canalicular, CN8, CN2, CN4): enhancement is
  never normal there — cisternal/CPA facial enhancement 0/186 (Gebarski, Radiology 1992;183:391),
  CN3 cisternal 0/50 (Mark, AJNR 1992;13:1463), any CN8 enhancement pathological
  (Martin-Duverneuil, Neuroradiology 1997). Rule: abnormal when enhancement z ≥ 3 *and* enhancement
  ≥ 0.15 reference units, or when thickness z ≥ 3 and thickness exceeds the reference mean by ≥ 1 mm.
* Physiologic segments (CN7 labyrinthine/geniculate/tympanic/mastoid, Meckel's cave and V2/V3 plexus,
  Dorello's canal, cavernous CN3, hypoglossal canal, jugular foramen): enhancement alone is expected
  (Gebarski 1992; Hong, Br J Radiol 2010;83:118; Williams, AJNR 2003;24:1317; Linn, AJNR 2009;30:34),
  so they are judged by intensity *and* thickening, as Martin-Duverneuil proposed (intense enhancement,
  thickening): abnormal when enhancement z ≥ 4 and thickness z ≥ 2, or enhancement z ≥ 6 (intense).
  They are never ignored: their values are reported and they count towards the nerve.
* Asymmetry (Acta Otolaryngol 2008;128:1259) is reported but not required: bilateral disease breaks
  contralateral normalisation (knowledge base §3 pitfall), as in the motivating case.
* Nerve: abnormal when any of its segments on that side is abnormal. Score = logistic(max z − 3):
  0.5 at the segment threshold, → 1 as evidence grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

NON_PHYSIOLOGIC_Z = 3.0
MIN_ENHANCEMENT_UNITS = 0.15
THICKNESS_Z = 3.0
MIN_THICKENING_MM = 1.0
PHYSIOLOGIC_Z = 4.0
PHYSIOLOGIC_THICKNESS_Z = 2.0
PHYSIOLOGIC_INTENSE_Z = 6.0
ASYMMETRY_FLOOR = 0.1
#: Bumped whenever what the rules see changes, so `cnmri compare` can warn across versions.
#: 1: 90th-percentile enhancement. 2: upper-quartile enhancement, 1 mm spill-over adjacency margin.
RULES_VERSION = "2"


@dataclass(frozen=True)
class SegmentVerdict:
    abnormal: bool
    reasons: tuple[str, ...]
    evidence_z: float


def asymmetry_index(this: float | None, other: float | None) -> float | None:
    """Signed (this − other) / mean(|this|, |other|), denominator floored at 0.1 reference units.

    Positive when this side is higher. The unsigned form |L−R|/mean(L,R) is the asymmetry index of
    the knowledge base §3; the sign is kept so the report can say which side is brighter.
    """
    if this is None or other is None:
        return None
    denom = max((abs(this) + abs(other)) / 2.0, ASYMMETRY_FLOOR)
    return float((this - other) / denom)


def judge_segment(
    physiologic: bool,
    enhancement: float | None,
    z: float | None,
    z_thickness: float | None,
    thickness_mm: float | None,
    thickness_ref_mm: float | None,
) -> SegmentVerdict:
    reasons: list[str] = []
    zt = z_thickness if z_thickness is not None else 0.0
    ze = z if z is not None else 0.0
    if z is None:
        reasons.append("no normative reference for this segment: enhancement not judged by z")
    thick = (
        z_thickness is not None
        and thickness_mm is not None
        and thickness_ref_mm is not None
        and z_thickness >= THICKNESS_Z
        and thickness_mm - thickness_ref_mm >= MIN_THICKENING_MM
    )
    if physiologic:
        intense = ze >= PHYSIOLOGIC_INTENSE_Z
        with_thickening = ze >= PHYSIOLOGIC_Z and zt >= PHYSIOLOGIC_THICKNESS_Z
        abnormal = intense or with_thickening
        if intense:
            reasons.append(
                f"intense enhancement beyond normal for a normally enhancing segment (z {ze:.1f} ≥ "
                f"{PHYSIOLOGIC_INTENSE_Z:g})"
            )
        elif with_thickening:
            reasons.append(
                f"enhancement z {ze:.1f} ≥ {PHYSIOLOGIC_Z:g} with thickening z {zt:.1f} ≥ "
                f"{PHYSIOLOGIC_THICKNESS_Z:g} in a normally enhancing segment"
            )
        elif ze >= 2.0:
            reasons.append(f"enhancement z {ze:.1f} within what this normally enhancing segment may show")
        evidence = max(ze - (PHYSIOLOGIC_Z - NON_PHYSIOLOGIC_Z), 0.0)
    else:
        enh = enhancement is not None and ze >= NON_PHYSIOLOGIC_Z and enhancement >= MIN_ENHANCEMENT_UNITS
        abnormal = enh or thick
        if enh:
            reasons.append(
                f"enhancement where none is normal (z {ze:.1f} ≥ {NON_PHYSIOLOGIC_Z:g}, "
                f"{enhancement:.2f} ≥ {MIN_ENHANCEMENT_UNITS:g} reference units)"
            )
        if thick:
            reasons.append(f"thickened: {thickness_mm:.1f} mm vs reference {thickness_ref_mm:.1f} mm (z {zt:.1f})")
        evidence = max(ze, zt if thick else 0.0)
    return SegmentVerdict(bool(abnormal), tuple(reasons), float(evidence))


def nerve_score(max_evidence_z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-(max_evidence_z - NON_PHYSIOLOGIC_Z))))


def summarize_nerves(segments: list[dict[str, Any]], nerves: tuple[str, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for nerve in nerves:
        for side in ("right", "left"):
            own = [s for s in segments if s["nerve"] == nerve and s["side"] == side]
            if not own:
                continue
            abnormal_segments = [s["segment"] for s in own if s["abnormal"]]
            evidence = max((float(s.get("_evidence_z", 0.0)) for s in own), default=0.0)
            measured = [s for s in own if s.get("enhancement") is not None]
            out.append(
                {
                    "nerve": nerve,
                    "side": side,
                    "abnormal": bool(abnormal_segments),
                    "score": round(nerve_score(evidence), 3),
                    "abnormal_segments": abnormal_segments,
                    "segments_measured": len(measured),
                    "segments_total": len(own),
                }
            )
    return out


def classify_pattern(nerves: list[dict[str, Any]]) -> dict[str, Any]:
    abnormal = [f"{n['nerve']}-{n['side']}" for n in nerves if n["abnormal"]]
    distinct = {a.split("-")[0] for a in abnormal}
    if not abnormal:
        kind = "normal"
    elif len(abnormal) == 1:
        kind = "single_nerve"
    else:
        kind = "multiple_nerves"
    bilateral = sorted(n for n in distinct if f"{n}-left" in abnormal and f"{n}-right" in abnormal)
    return {"kind": kind, "nerves": abnormal, "bilateral": bilateral}


#: A segment whose enhancement is below this fraction of an abnormal adjacent nerve's is taken as
#: partial-volume spill-over from it. Adjacent = centrelines closer than the sum of their ROI radii plus a margin,
#: e.g. CN7 and CN8 in the cerebellopontine angle and internal auditory canal, CN9 and CN10 at the
#: medulla: at 1 mm voxels these bundles cannot be separated (nerves of ~1 mm, knowledge base §2.3).
SPILLOVER_RATIO = 0.75
#: Tubes within this distance of touching count as adjacent for spill-over: a thickened nerve (lesions
#: of 2–3.5 mm against ~1 mm nerves) reaches ~1 mm beyond its own ROI, and the CN7/CN8 centrelines in the
#: internal auditory canal sit right at r1 + r2 apart (3.1 mm), on one side or the other after warping.
SPILLOVER_MARGIN_MM = 1.0


def attribute_adjacent_findings(segments: list[dict[str, Any]], adjacent: dict[str, list[str]]) -> None:
    """Withdraw abnormal calls explained by an adjacent, more strongly enhancing nerve (in place).

    ``adjacent`` maps a segment key to the keys of other nerves' segments on the same side whose ROIs
    touch it. Segments listed in ``shared_with`` (the jugular foramen) are handled by
    :func:`attribute_shared_segments`.
    """
    by_key = {s["key"]: s for s in segments}
    withdrawn: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for seg in segments:
        if not seg["abnormal"] or seg.get("shared_with") or seg.get("enhancement") is None:
            continue
        for other_key in adjacent.get(seg["key"], []):
            other = by_key.get(other_key)
            if other is None or not other["abnormal"] or other.get("enhancement") is None:
                continue
            if seg["enhancement"] < SPILLOVER_RATIO * other["enhancement"]:
                withdrawn.append((seg, other))
                break
    for seg, other in withdrawn:
        seg["abnormal"] = False
        seg["_evidence_z"] = min(float(seg.get("_evidence_z", 0.0)), NON_PHYSIOLOGIC_Z - 0.5)
        seg["reasons"].append(
            f"enhancement ({seg['enhancement']:.2f}) is less than {SPILLOVER_RATIO:.0%} of the adjacent "
            f"{other['nerve']} {other['segment']} ({other['enhancement']:.2f}): attributed to {other['nerve']} "
            "(the nerves cannot be separated at this resolution; review the images)"
        )
        seg["attributed_to"] = other["key"]


def attribute_shared_segments(segments: list[dict[str, Any]]) -> None:
    """Jugular-foramen segments are shared by CN9, CN10 and CN11 (in place).

    An abnormal shared segment stays abnormal for the nerves of the group that are abnormal elsewhere on
    that side; when none is, it stays abnormal for all of them (imaging cannot tell which) and says so.
    """
    for seg in segments:
        if not seg["abnormal"] or not seg.get("shared_with"):
            continue
        group = [seg["nerve"], *seg["shared_with"]]
        elsewhere = sorted(
            {
                s["nerve"]
                for s in segments
                if s["nerve"] in group and s["side"] == seg["side"] and s["abnormal"] and not s.get("shared_with")
            }
        )
        if not elsewhere:
            seg["reasons"].append(
                f"shared with {', '.join(seg['shared_with'])} at the jugular foramen; "
                "imaging cannot tell which of these nerves is involved"
            )
        elif seg["nerve"] not in elsewhere:
            seg["abnormal"] = False
            seg["_evidence_z"] = min(float(seg.get("_evidence_z", 0.0)), NON_PHYSIOLOGIC_Z - 0.5)
            seg["reasons"].append(
                f"jugular foramen finding attributed to {', '.join(elsewhere)}, abnormal along "
                "its own course; the segment is shared"
            )
            seg["attributed_to"] = f"{elsewhere[0]}-{seg['side']}-{seg['segment']}"
