"""Imaging rules: abnormal segment, abnormal nerve, pattern.

No validated threshold exists for leukemic cranial-nerve infiltration (knowledge base §3), so the
rules are z-scores against the model of normal (measure/normative.py, schema 2: a scale that carries
real variation, floors and the study's own noise) plus absolute floors, and they differ by
compartment, because normal enhancement differs by compartment. Sources next to each rule:

* **Non-physiologic compartments** (every cisternal segment, CN2, CN8, the canalicular CN7 on spin
  echo): the nerve itself never enhances normally — cisternal/CPA facial enhancement 0/186 (Gebarski,
  Radiology 1992;183:391), canalicular/labyrinthine 0/300 at 1.0 T (Kinoshita, Clin Radiol
  2001;56:926), CN3 cisternal 0/50 (Mark, AJNR 1992;13:1463), any CN8 enhancement pathological
  (Martin-Duverneuil, Neuroradiology 1997), the CN5 root should not enhance (Saremi, AJR
  2005;185:1487). Rule: abnormal when enhancement z ≥ 3 *and* ≥ 0.15 reference units, or thickness
  z ≥ 3 with ≥ 1 mm over the reference.
* **Physiologic compartments** (cavernous sinus: CN3 cavernous, V1; Meckel's cave; V2/V3 plexus;
  Dorello's canal; jugular foramen; hypoglossal canal; labyrinthine–geniculate–tympanic–mastoid
  facial nerve): a perineural venous plexus, dura or ganglion enhances normally (Saremi 2005; Williams,
  AJNR 2003;24:1317: plexus around V2 91 %, V3 97 %; hypoglossal canal plexus 100 %, AJNR
  PMC8337779; jugular bulb and petrosal sinus, Linn, AJNR 2009;30:34; facial geniculate 76–97 %,
  tympanic 37–100 %, mastoid 67–100 %, labyrinthine 78 % on SE and 84–92 % on VIBE, Gebarski 1992,
  Martin-Duverneuil 1997, Hong 2010, Nawaz 2025). **Enhancement intensity alone never makes them
  abnormal.** What radiologists use instead (Martin-Duverneuil 1997: thickening, extension from the
  canal; knowledge base §2.1 "weight thickening and CPA/IAC extension, not mere presence"):
  - thickening against the reference (z ≥ 3 and ≥ 1 mm over it) *and* against the other side
    (≥ 0.7 mm thicker, Meckel's cave ≥ 1.3 mm, when the other side is measured);
  - a mass: ≥ 2.5 mm over the reference (z ≥ 5), even when both sides are enlarged;
  - continuity: enhancement z ≥ 2 next to an abnormal cisternal or canalicular segment of the same
    nerve and side (along the nerve's segment order), see :func:`apply_continuity`.
* **Sequence** (``sequence``: 3d-gre, 3d-tse, 2d-se or unknown): on 3D gradient echo the canalicular
  CN7 enhances in 60–80 % of normal nerves (Nawaz, AJNR 2025;46:1268, fat-saturated VIBE; Hong, Br J
  Radiol 2010;83:118: 15 % mild on 3D SPGR), so it is judged as a physiologic compartment there. On
  spin echo, and when the sequence is unknown, it is judged as non-physiologic (Gebarski, Kinoshita).
  CN8 stays non-physiologic on every sequence (Martin-Duverneuil).
* Asymmetry (Acta Otolaryngol 2008;128:1259) is reported but not required: bilateral disease breaks
  contralateral normalisation (knowledge base §3 pitfall), as in the motivating case.
* Nerve: abnormal when any of its segments on that side is abnormal. Score = logistic(max z − 3):
  0.5 at the segment threshold, → 1 as evidence grows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NON_PHYSIOLOGIC_Z = 3.0
MIN_ENHANCEMENT_UNITS = 0.15
THICKNESS_Z = 3.0
MIN_THICKENING_MM = 1.0
#: Physiologic compartments: thicker than the other side by at least this much (when it is measured).
MIN_SIDE_THICKENING_MM = 0.7
#: Compartments whose normal size differs between the sides more than that margin allows. Meckel's cave:
#: its normal morphology is diverse and left–right asymmetric (101 patients, T2 and CISS; J Comput Assist
#: Tomogr 2021, doi:10.1097/RCT.0000000000001185); its coronal transverse diameter in 75 healthy controls
#: was 3.89 ± 0.62 mm right and 4.09 ± 0.68 mm left (AJNR 2020, doi:10.3174/ajnr.A6682). The margin is two
#: between-person SDs (2 × 0.65 mm): the two sides of one person differ by less than two people do unless
#: the sides are uncorrelated, and no source gives the within-person difference itself.
SIDE_THICKENING_MM_BY_SEGMENT: dict[str, float] = {"meckel_cave": 1.3}
#: Physiologic compartments: a mass, abnormal even when both sides are enlarged.
MASS_THICKNESS_Z = 5.0
MIN_MASS_MM = 2.5
#: Physiologic compartments: own enhancement needed to continue an abnormal neighbour's finding.
CONTINUITY_Z = 2.0
ASYMMETRY_FLOOR = 0.1
#: Bumped whenever what the rules see changes, so `cnmri compare` can warn across versions.
#: 1: 90th-percentile enhancement. 2: upper-quartile enhancement, 1 mm spill-over adjacency margin.
#: 3: normative schema 2 (inflated, floored, noise-aware scale); compartment rules (intensity alone never
#: abnormal where enhancement is physiologic; thickening, mass, continuity); sequence-aware CN7.
#: 4: spill-over also judged by the far half of the ROI; physiologic thickening needs a measured other side;
#: enhancement along less than half the course where a vessel touches the nerve is not called (needs_review).
#: 5: Meckel's cave must be 1.3 mm (not 0.7 mm) thicker than the other side (SIDE_THICKENING_MM_BY_SEGMENT).
#: 6: the cisternal CN5 thickness scale is at least its published spread of normal, 0.56 mm
#: (cnmri.measure.normative.THICKNESS_SCALE_FLOOR_MM_BY_SEGMENT).
RULES_VERSION = "6"

SEQUENCES = ("3d-gre", "3d-tse", "2d-se", "unknown")
RULE_NON_PHYSIOLOGIC = "non_physiologic"
RULE_PHYSIOLOGIC = "physiologic"

#: Compartment of each atlas segment name (the anatomical space the segment runs through).
COMPARTMENT_OF_SEGMENT = {
    "cisternal": "cistern",
    "prechiasmatic": "cistern",
    "intracanalicular": "optic_canal",
    "canalicular": "internal_auditory_canal",
    "cavernous": "cavernous_sinus",
    "V1": "cavernous_sinus",
    "meckel_cave": "meckel_cave",
    "V2": "trigeminal_foramina_plexus",
    "V3": "trigeminal_foramina_plexus",
    "dorello": "dorello_canal",
    "labyrinthine": "facial_canal",
    "geniculate": "facial_canal",
    "tympanic": "facial_canal",
    "mastoid": "facial_canal",
    "jugular_foramen": "jugular_foramen",
    "hypoglossal_canal": "hypoglossal_canal",
}
#: Segments judged as physiologic only on some sequences: (nerve, segment) → sequences.
#: Nawaz, AJNR 2025;46:1268: canalicular CN7 enhances in 80 % (1.5 T) / 60 % (3 T) on fat-sat VIBE.
SEQUENCE_PHYSIOLOGIC = {("CN7", "canalicular"): frozenset({"3d-gre"})}


def compartment_of(segment: str) -> str:
    return COMPARTMENT_OF_SEGMENT.get(segment, segment)


def judged_as_physiologic(nerve: str, segment: str, atlas_physiologic: bool, sequence: str) -> bool:
    """Whether a segment is judged by the physiologic rule set on this sequence."""
    if atlas_physiologic:
        return True
    return sequence in SEQUENCE_PHYSIOLOGIC.get((nerve, segment), frozenset())


def sequence_from_dicom(record: Mapping[str, Any] | None) -> str:
    """3d-gre / 3d-tse / 2d-se from a DICOM input record's ScanningSequence and MRAcquisitionType."""
    if not record:
        return "unknown"
    scanning = {str(v).upper() for v in record.get("scanning_sequence") or ()}
    acquisition = str(record.get("mr_acquisition_type") or "").upper()
    if acquisition == "3D" and "GR" in scanning:
        return "3d-gre"
    if acquisition == "3D" and "SE" in scanning:
        return "3d-tse"
    if acquisition == "2D" and "SE" in scanning:
        return "2d-se"
    return "unknown"


@dataclass(frozen=True)
class SegmentVerdict:
    abnormal: bool
    reasons: tuple[str, ...]
    evidence_z: float
    rule: str = RULE_NON_PHYSIOLOGIC


def asymmetry_index(this: float | None, other: float | None) -> float | None:
    """Signed (this − other) / mean(|this|, |other|), denominator floored at 0.1 reference units.

    Positive when this side is higher. The unsigned form |L−R|/mean(L,R) is the asymmetry index of
    the knowledge base §3; the sign is kept so the report can say which side is brighter.
    """
    if this is None or other is None:
        return None
    denom = max((abs(this) + abs(other)) / 2.0, ASYMMETRY_FLOOR)
    return float((this - other) / denom)


def side_thickening_margin_mm(segment: str) -> float:
    """How much thicker than the other side a physiologic segment must be (see SIDE_THICKENING_MM_BY_SEGMENT)."""
    return SIDE_THICKENING_MM_BY_SEGMENT.get(segment, MIN_SIDE_THICKENING_MM)


def judge_segment(
    physiologic: bool,
    enhancement: float | None,
    z: float | None,
    z_thickness: float | None,
    thickness_mm: float | None,
    thickness_ref_mm: float | None,
    other_thickness_mm: float | None = None,
    side_margin_mm: float = MIN_SIDE_THICKENING_MM,
) -> SegmentVerdict:
    """One segment by its compartment's rule set (module doc); continuity is applied afterwards.

    ``side_margin_mm``: physiologic compartments only, see :func:`side_thickening_margin_mm`.
    """
    reasons: list[str] = []
    if z is None:
        reasons.append("no normative reference for this segment: enhancement not judged by z")
    if physiologic:
        return _judge_physiologic(
            enhancement, z, z_thickness, thickness_mm, thickness_ref_mm, other_thickness_mm, side_margin_mm, reasons
        )
    zt = z_thickness if z_thickness is not None else 0.0
    ze = z if z is not None else 0.0
    thick = _thickened(z_thickness, thickness_mm, thickness_ref_mm, THICKNESS_Z, MIN_THICKENING_MM)
    enh = enhancement is not None and z is not None and ze >= NON_PHYSIOLOGIC_Z and enhancement >= MIN_ENHANCEMENT_UNITS
    if enh:
        reasons.append(
            f"enhancement where none is normal (z {ze:.1f} ≥ {NON_PHYSIOLOGIC_Z:g}, "
            f"{enhancement:.2f} ≥ {MIN_ENHANCEMENT_UNITS:g} reference units)"
        )
    if thick:
        reasons.append(f"thickened: {thickness_mm:.1f} mm vs reference {thickness_ref_mm:.1f} mm (z {zt:.1f})")
    evidence = max(ze, zt if thick else 0.0)
    return SegmentVerdict(bool(enh or thick), tuple(reasons), float(evidence), RULE_NON_PHYSIOLOGIC)


def _thickened(
    z_thickness: float | None, thickness_mm: float | None, ref_mm: float | None, min_z: float, min_mm: float
) -> bool:
    return (
        z_thickness is not None
        and thickness_mm is not None
        and ref_mm is not None
        and z_thickness >= min_z
        and thickness_mm - ref_mm >= min_mm
    )


def _judge_physiologic(
    enhancement: float | None,
    z: float | None,
    z_thickness: float | None,
    thickness_mm: float | None,
    thickness_ref_mm: float | None,
    other_thickness_mm: float | None,
    side_margin_mm: float,
    reasons: list[str],
) -> SegmentVerdict:
    """Normally enhancing compartment: thickening vs reference and other side, or a mass. Never intensity."""
    zt = z_thickness if z_thickness is not None else 0.0
    ze = z if z is not None else 0.0
    over_reference = _thickened(z_thickness, thickness_mm, thickness_ref_mm, THICKNESS_Z, MIN_THICKENING_MM)
    # Thickening in a compartment that enhances normally is judged against the other side (the plexus and
    # dura vary between people far more than between the two sides of one person; asymmetry is what the
    # facial-nerve series weigh, Gebarski 1992, Martin-Duverneuil 1997, knowledge base §2.1). When the
    # other side cannot be measured there is no such comparison: only a mass is called.
    over_other = (
        other_thickness_mm is not None
        and thickness_mm is not None
        and thickness_mm - other_thickness_mm >= side_margin_mm
    )
    # Infiltration thickens *and* enhances (knowledge base §5). A structure as thick but enhancing less than
    # this compartment normally does is something bright before contrast too (fat at the stylomastoid
    # foramen, blood products) or a measurement of the wrong structure; it is reported, not called.
    enhancing = z is None or z >= 0.0
    mass = enhancing and _thickened(z_thickness, thickness_mm, thickness_ref_mm, MASS_THICKNESS_Z, MIN_MASS_MM)
    thick = enhancing and over_reference and over_other
    if mass:
        reasons.append(
            f"mass: {thickness_mm:.1f} mm vs reference {thickness_ref_mm:.1f} mm (z {zt:.1f} ≥ {MASS_THICKNESS_Z:g})"
        )
    elif thick:
        other = "" if other_thickness_mm is None else f", other side {other_thickness_mm:.1f} mm"
        reasons.append(
            f"thickened in a normally enhancing compartment: {thickness_mm:.1f} mm vs reference "
            f"{thickness_ref_mm:.1f} mm (z {zt:.1f}){other}"
        )
    elif over_reference and not enhancing:
        reasons.append(
            f"thicker than the reference (z {zt:.1f}) but enhancing less than this compartment normally does "
            f"(z {ze:.1f} < 0): not called; infiltration thickens and enhances"
        )
    elif over_reference and other_thickness_mm is None:
        reasons.append(
            f"thicker than the reference (z {zt:.1f}) but the other side could not be measured: in a normally "
            f"enhancing compartment only a mass (z ≥ {MASS_THICKNESS_Z:g}, ≥ {MIN_MASS_MM:g} mm over the "
            "reference) is called without a side comparison"
        )
    elif over_reference:
        reasons.append(
            f"thicker than the reference (z {zt:.1f}) but not by {side_margin_mm:g} mm than the other side "
            f"({other_thickness_mm:.1f} mm): not called in a normally enhancing compartment"
        )
    if ze >= CONTINUITY_Z and not (mass or thick):
        reasons.append(
            f"enhancement z {ze:.1f}: this compartment enhances normally, so intensity alone is not abnormal"
        )
    abnormal = mass or thick
    evidence = zt if abnormal else min(max(ze, zt), NON_PHYSIOLOGIC_Z - 0.5)
    return SegmentVerdict(bool(abnormal), tuple(reasons), float(max(evidence, 0.0)), RULE_PHYSIOLOGIC)


def apply_continuity(segments: list[dict[str, Any]], order: Mapping[str, tuple[str, ...]]) -> None:
    """A physiologic segment next to an abnormal non-physiologic one of the same nerve and side (in place).

    ``order`` maps a nerve to its segment names from the brainstem outwards. A segment judged by the
    physiologic rule set becomes abnormal when its own enhancement is raised (z ≥ ``CONTINUITY_Z``)
    and the neighbouring segment along the nerve is abnormal and cisternal/canalicular, or is itself
    abnormal by this continuity (disease spreading along the nerve from the cistern or the canal,
    Martin-Duverneuil 1997: "enhancement outside the canal", extension along the nerve).
    """
    by_key = {(s["nerve"], s["side"], s["segment"]): s for s in segments}
    changed = True
    while changed:
        changed = False
        for seg in segments:
            if seg["abnormal"] or seg.get("rule") != RULE_PHYSIOLOGIC or (seg.get("z") or 0.0) < CONTINUITY_Z:
                continue
            names = order.get(seg["nerve"], ())
            if seg["segment"] not in names:
                continue
            i = names.index(seg["segment"])
            for j in (i - 1, i + 1):
                if not 0 <= j < len(names):
                    continue
                neighbour = by_key.get((seg["nerve"], seg["side"], names[j]))
                if neighbour is None or not neighbour["abnormal"]:
                    continue
                if neighbour.get("rule") == RULE_PHYSIOLOGIC and not neighbour.get("abnormal_by_continuity"):
                    continue
                seg["abnormal"] = True
                seg["abnormal_by_continuity"] = True
                seg["evidence_z"] = max(float(seg.get("evidence_z", 0.0)), NON_PHYSIOLOGIC_Z)
                seg["reasons"].append(
                    f"continuous with the abnormal {neighbour['segment']} segment of {seg['nerve']} on this side, "
                    f"with raised enhancement (z {seg['z']:.1f} ≥ {CONTINUITY_Z:g})"
                )
                changed = True
                break


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
            evidence = max((float(s.get("evidence_z", 0.0)) for s in own), default=0.0)
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


def attribute_adjacent_findings(
    segments: list[dict[str, Any]],
    adjacent: dict[str, list[str]],
    far_side: Mapping[tuple[str, str], float | None] | None = None,
) -> None:
    """Withdraw abnormal calls explained by an adjacent, abnormal nerve (in place).

    ``adjacent`` maps a segment key to the keys of other nerves' segments on the same side whose ROIs
    touch it. A segment's call is attributed to its neighbour when

    * its enhancement is below :data:`SPILLOVER_RATIO` of the neighbour's, or
    * (cisternal and canalicular segments) ``far_side[(key, neighbour key)]``, the enhancement of the half
      of its ROI facing away from the neighbour (:func:`cnmri.measure.features.far_side_enhancement`), no
      longer meets the non-physiologic rule: the enhancement comes from the neighbour's side only.

    Of two neighbours that would each be attributed to the other, the more enhancing one keeps its call.
    Segments listed in ``shared_with`` (the jugular foramen) are handled by :func:`attribute_shared_segments`.
    """
    by_key = {s["key"]: s for s in segments}
    candidates: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {}
    for seg in segments:
        if not seg["abnormal"] or seg.get("shared_with") or seg.get("enhancement") is None:
            continue
        for other_key in adjacent.get(seg["key"], []):
            other = by_key.get(other_key)
            if other is None or not other["abnormal"] or other.get("enhancement") is None:
                continue
            reason = _spillover_reason(seg, other, (far_side or {}).get((seg["key"], other_key)))
            if reason:
                candidates[seg["key"]] = (seg, other, reason)
                break
    for key, (seg, other, reason) in candidates.items():
        mutual = candidates.get(other["key"])
        if mutual is not None and mutual[1]["key"] == key and seg["enhancement"] >= other["enhancement"]:
            continue
        seg["abnormal"] = False
        seg["evidence_z"] = min(float(seg.get("evidence_z", 0.0)), NON_PHYSIOLOGIC_Z - 0.5)
        seg["reasons"].append(
            f"{reason}: attributed to {other['nerve']} (the nerves cannot be separated at this resolution; "
            "review the images)"
        )
        seg["attributed_to"] = other["key"]


def _spillover_reason(seg: dict[str, Any], other: dict[str, Any], far: float | None) -> str | None:
    """Why ``seg``'s finding is partial volume of ``other``, or None when it stands on its own.

    Where the far half was measured (cisternal and canalicular segments) it decides alone: a nerve that
    enhances less than its neighbour but across its whole cross-section is involved too (in model B a
    CN9 at 0.70 beside a CN10 at 0.97, both infiltrated, was lost to the ratio). The ratio is the
    fallback where the far half cannot be measured."""
    if far is None or seg.get("rule") != RULE_NON_PHYSIOLOGIC:
        if seg["enhancement"] < SPILLOVER_RATIO * other["enhancement"]:
            return (
                f"enhancement ({seg['enhancement']:.2f}) is less than {SPILLOVER_RATIO:.0%} of the adjacent "
                f"{other['nerve']} {other['segment']} ({other['enhancement']:.2f})"
            )
        return None
    detail = seg.get("computed_from") or {}
    location, scale = detail.get("z_location"), detail.get("z_scale")
    z_far = (far - location) / scale if location is not None and scale else None
    if far >= MIN_ENHANCEMENT_UNITS and (z_far is None or z_far >= NON_PHYSIOLOGIC_Z):
        return None
    z_text = f", z {z_far:.1f}" if z_far is not None else ""
    return (
        f"the half of the ROI facing away from the adjacent {other['nerve']} {other['segment']} does not "
        f"enhance abnormally ({far:.2f} reference units{z_text}; whole ROI {seg['enhancement']:.2f})"
    )


#: A cisternal or canalicular call made on enhancement alone, raised along less than this fraction of the
#: segment's course while an enhancing vessel crosses its ROI, is taken as neurovascular contact. Contact
#: is common in healthy people: an AICA loop in the CPA on 47.6 % of asymptomatic sides (Cureus 2024,
#: PMC11214648), SCA at the trigeminal root (Maarbjerg, Brain 2015;138:311), PICA and the vertebral artery
#: around the CN9–CN12 rootlets (Rhoton, Neurosurgery 2000;47(3 Suppl):S29). Leukemic infiltration is
#: described as thickening and enhancement along the nerve (knowledge base §5). Raised along less than half
#: the course where a vessel touches it is the vessel's signature, not the nerve's.
VESSEL_CONTACT_MAX_FRACTION = 0.5


def withdraw_partial_enhancement_at_vessel_contact(
    segments: list[dict[str, Any]], course_fraction: Mapping[str, float | None]
) -> None:
    """Withdraw enhancement-only calls confined to a stretch of the course that a vessel touches (in place).

    ``course_fraction`` maps the keys of segments whose ROI an enhancing vessel crosses
    (:mod:`cnmri.measure.vessels`) to the length-weighted fraction of their course whose core enhancement
    reaches the segment's abnormal level (:func:`cnmri.measure.features.fraction_of_course_above`). A
    thickened segment keeps its call. The segment is flagged ``needs_review``: CISS/FIESTA or the images
    themselves separate a vessel from the nerve.
    """
    for seg in segments:
        fraction = course_fraction.get(seg["key"])
        if fraction is None or not seg["abnormal"] or seg.get("rule") != RULE_NON_PHYSIOLOGIC:
            continue
        if fraction >= VESSEL_CONTACT_MAX_FRACTION or (seg.get("z_thickness") or 0.0) >= THICKNESS_Z:
            continue
        seg["abnormal"] = False
        seg["needs_review"] = True
        seg["evidence_z"] = min(float(seg.get("evidence_z", 0.0)), NON_PHYSIOLOGIC_Z - 0.5)
        seg["reasons"].append(
            f"enhancement reaches the abnormal level along only {fraction:.0%} of the course, where an enhancing "
            "vessel crosses it, and the nerve is not thickened: taken as neurovascular contact, which is common "
            "in healthy people; review the images (CISS/FIESTA separates the nerve from the vessel)"
        )


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
            seg["evidence_z"] = min(float(seg.get("evidence_z", 0.0)), NON_PHYSIOLOGIC_Z - 0.5)
            seg["reasons"].append(
                f"jugular foramen finding attributed to {', '.join(elsewhere)}, abnormal along "
                "its own course; the segment is shared"
            )
            seg["attributed_to"] = f"{elsewhere[0]}-{seg['side']}-{seg['segment']}"
