"""Identify the sequence of every series and choose the series each cnmri role uses.

The words, sequence-name patterns, ImageType values and weights are data
(``cnmri/data/dicom_vocabulary_v1.yaml``, loaded by :mod:`cnmri.io.dicom.vocabulary`); this module is
the engine that weighs them together with the acquisition parameters.

Every decision carries its reasons. Evidence, strongest first:

- the contrast/bolus attributes (0018,0010…) and, in enhanced MR, ContrastBolusAgentAdministered;
- tokens in SeriesDescription and ProtocolName, in several vendors' spellings and several languages,
  with the negative phrases ("pre", "native", "sin contraste", "ohne KM", "C-") removed before the
  positive ones are looked for;
- ImageType (DERIVED/SECONDARY, MPR, MIP, SUB, LOCALIZER, ADC…), ScanningSequence, SequenceVariant,
  SequenceName, MRAcquisitionType and the timing parameters (TR, TE, TI, flip angle);
- acquisition order: a series acquired before the first contrast-marked series cannot be post-contrast,
  and one acquired after it cannot be pre-contrast.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cnmri.errors import InputError
from cnmri.io.dicom.discover import Discovery, SeriesInfo, Stack, image_component
from cnmri.io.dicom.vocabulary import Signal, load_vocabulary


class Kind(StrEnum):
    T1 = "T1"
    CISTERNOGRAPHY = "cisternography"
    FLAIR = "FLAIR"
    T2 = "T2"
    DWI = "DWI"
    FIELD_MAP = "field map"
    PERFUSION = "perfusion"
    SWI = "SWI"
    MRA = "MRA"
    BOLD = "BOLD"
    EPI = "EPI"
    LOCALIZER = "localizer"
    DERIVED = "derived"
    OTHER = "other"
    NOT_MR = "not MR"


class Contrast(StrEnum):
    PRE = "pre"
    POST = "post"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    contrast: Contrast
    is_3d: bool
    confidence: float
    reasons: tuple[str, ...]
    detail: str = ""  # e.g. "CISS", "MPR", "MIP"

    @property
    def label(self) -> str:
        if self.kind is Kind.NOT_MR:
            return f"not MR ({self.detail})" if self.detail else "not MR"
        parts = [self.kind.value]
        if self.detail and self.kind in (Kind.CISTERNOGRAPHY, Kind.DERIVED, Kind.FIELD_MAP, Kind.PERFUSION):
            parts.append(f"({self.detail})")
        if self.kind in (Kind.T1, Kind.CISTERNOGRAPHY, Kind.FLAIR, Kind.T2):
            parts.insert(1, "3D" if self.is_3d else "2D")
        if self.contrast is Contrast.POST:
            parts.append("post")
        elif self.contrast is Contrast.PRE:
            parts.append("pre")
        elif self.contrast is Contrast.UNKNOWN and self.kind in (Kind.T1, Kind.FLAIR):
            parts.append("(contrast unknown)")
        return " ".join(parts)


# ------------------------------------------------------------------------------------------ tokens

#: The words, sequence names, ImageType values and weights (cnmri/data/dicom_vocabulary_v1.yaml).
VOCABULARY = load_vocabulary()
VOCABULARY_VERSION = VOCABULARY.version


def _signal(kind: Kind, name: str) -> Signal:
    """The data file's signal ``name`` for ``kind`` (keyed by the kind's lower-case member name)."""
    return VOCABULARY.signal(kind.name.lower(), name)


def _t1_variant(text: str, seqname: str, image_type: set[str]) -> str:
    """The vendor's T1 sequence: ImageType first, then the description, then the sequence name."""
    variants = VOCABULARY.t1_variants
    for variant in variants:
        if variant.values & image_type:
            return variant.name
    for variant in variants:
        if variant.pattern is not None and not variant.on_sequence_name and variant.pattern.search(text):
            return variant.name
    for variant in variants:
        if variant.pattern is not None and variant.on_sequence_name and variant.pattern.search(seqname):
            return variant.name
    return ""


def _perfusion_detail(token: str) -> str:
    token = token.replace(" ", "")
    if token in ("dsc", "ep2dperf"):
        return "DSC"
    if token == "dce":
        return "DCE"
    if "asl" in token or token == "m0":
        return "ASL"
    return ""


def normalize_text(text: str) -> str:
    """Lower-case, accents removed, underscores and runs of spaces made single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s_]+", " ", stripped.lower()).strip()


def contrast_from_text(text: str) -> tuple[Contrast, list[str]]:
    """Contrast state said by a description: negative phrases first, then positive tokens in what is left."""
    norm = normalize_text(text)
    negatives: list[str] = []
    remaining = norm
    for pattern in VOCABULARY.negative_contrast:  # phrases that say "no contrast"
        for match in pattern.finditer(remaining):
            negatives.append(match.group(0).strip())
        remaining = pattern.sub(" ", remaining)
    positives = [m.group(0).strip() for pattern in VOCABULARY.positive_contrast for m in pattern.finditer(remaining)]
    if negatives and not positives:
        return Contrast.PRE, negatives
    if positives and not negatives:
        return Contrast.POST, positives
    if positives and negatives:
        return Contrast.UNKNOWN, [*negatives, *positives]
    return Contrast.UNKNOWN, []


# --------------------------------------------------------------------------------------- one series


def _is_3d(stack: Stack) -> bool:
    h = stack.first
    if h.mr_acquisition_type == "3D":
        return True
    if h.mr_acquisition_type == "2D":
        return False
    voxel = stack.voxel_size()
    return bool(voxel and stack.n_images >= 40 and max(voxel) <= 1.6 and (h.slice_thickness or 9) <= 1.6)


@dataclass
class _Evidence:
    scores: dict[Kind, float] = field(default_factory=dict)
    items: list[tuple[Kind, float, str]] = field(default_factory=list)

    def add(self, kind: Kind, weight: float, reason: str) -> None:
        self.scores[kind] = self.scores.get(kind, 0.0) + weight
        self.items.append((kind, weight, reason))

    def reasons_for(self, kind: Kind) -> list[str]:
        """Reasons for ``kind`` strongest first, then the evidence for other kinds."""
        ranked = sorted(self.items, key=lambda item: (item[0] is not kind, -item[1]))
        return [reason if k is kind else f"(also {k.value}: {reason})" for k, _, reason in ranked]


def _weight(kind: Kind, name: str) -> float:
    return _signal(kind, name).weight


def _description_evidence(ev: _Evidence, kind: Kind, text: str) -> re.Match[str] | None:
    """Points for ``kind`` when its description tokens occur in ``text``; the match, if any."""
    signal = _signal(kind, "description")
    if m := signal.search(text):
        ev.add(kind, signal.weight, f"description token '{m.group(0)}'")
    return m


def _image_type_evidence(ev: _Evidence, kind: Kind, image_type: Sequence[str]) -> bool:
    signal = _signal(kind, "image_type")
    if signal.values & set(image_type):
        ev.add(kind, signal.weight, f"ImageType {'/'.join(image_type)}")
        return True
    return False


def _sequence_name_evidence(
    ev: _Evidence, kind: Kind, sequence_name: str, why: str = "", name: str = "sequence_name"
) -> bool:
    signal = _signal(kind, name)
    if signal.search(sequence_name.lower()):
        ev.add(kind, signal.weight, f"SequenceName {sequence_name}{why}")
        return True
    return False


def classify_series(series: SeriesInfo) -> Classification:
    """Classify one series from its headers alone (the study-level order rule comes later)."""
    stack = series.main_stack if series.is_image else None
    h = series.header  # an image's parameters (an enhanced file's functional groups included)
    if h.modality and h.modality != "MR":
        return Classification(
            Kind.NOT_MR,
            Contrast.NOT_APPLICABLE,
            False,
            0.99,
            (f"Modality is {h.modality}",),
            detail=h.modality,
        )
    if stack is None or not h.rows or not h.columns:
        what = "raw data" if h.sop_class_uid == "1.2.840.10008.5.1.4.1.1.66" else "no Rows/Columns"
        return Classification(
            Kind.NOT_MR,
            Contrast.NOT_APPLICABLE,
            False,
            0.99,
            (f"no image ({what}): raw data, a report or another non-image object",),
            "non-image",
        )
    text = normalize_text(f"{h.series_description} | {h.protocol_name}")
    seqname = h.sequence_name.lower()
    image_type = set(h.image_type)
    ev = _Evidence()
    is_3d = _is_3d(stack)
    te, tr, ti, flip = h.echo_time, h.repetition_time, h.inversion_time, h.flip_angle
    scanning, variant = set(h.scanning_sequence), set(h.sequence_variant)

    # localizer
    if hit := sorted(_signal(Kind.LOCALIZER, "image_type").values & image_type):
        ev.add(Kind.LOCALIZER, _weight(Kind.LOCALIZER, "image_type"), f"ImageType says {hit[0]}")
    _description_evidence(ev, Kind.LOCALIZER, text)
    if (
        len(series.stacks) >= 2
        and max(s.n_images for s in series.stacks) <= 12
        and len({s.label for s in series.stacks}) == len(series.stacks)
        and all("geometry" in s.label for s in series.stacks)
    ):
        ev.add(
            Kind.LOCALIZER,
            _weight(Kind.LOCALIZER, "small_stacks"),
            f"{len(series.stacks)} small stacks in different orientations",
        )

    # derived
    derived_type = image_type & _signal(Kind.DERIVED, "image_type").values
    specific = image_type & _signal(Kind.DERIVED, "image_type_specific").values
    detail = ""
    if derived_type and specific:
        detail = sorted(specific)[0]
        ev.add(Kind.DERIVED, _weight(Kind.DERIVED, "image_type_specific"), f"ImageType {'/'.join(h.image_type)}")
    elif derived_type and not image_type & _signal(Kind.DWI, "image_type").values:
        ev.add(Kind.DERIVED, _weight(Kind.DERIVED, "image_type"), f"ImageType {'/'.join(h.image_type)}")
    if m := _description_evidence(ev, Kind.DERIVED, text):
        detail = detail or m.group(0).upper()
    if _signal(Kind.DERIVED, "subtraction").search(text) or "SUB" in image_type:
        detail = "subtraction"
    elif _signal(Kind.DERIVED, "mip").search(text) or "MIP" in image_type:
        detail = "MIP"

    # field maps, perfusion, susceptibility, angiography, BOLD (sequences that are never the T1 we want)
    field_map = False
    if _description_evidence(ev, Kind.FIELD_MAP, text):
        field_map = True
    if _sequence_name_evidence(ev, Kind.FIELD_MAP, h.sequence_name, " (field mapping)"):
        field_map = True
    if _image_type_evidence(ev, Kind.FIELD_MAP, h.image_type):
        field_map = True
    if field_map:
        component = image_component(h.image_type) or "magnitude/B0"
        detail = (
            component
            if len(series.stacks) == 1
            else "/".join(dict.fromkeys(image_component(st.first.image_type) or st.label for st in series.stacks))
        )
    if m := _description_evidence(ev, Kind.PERFUSION, text):
        detail = detail or _perfusion_detail(m.group(0))
    _image_type_evidence(ev, Kind.PERFUSION, h.image_type)
    _sequence_name_evidence(ev, Kind.PERFUSION, h.sequence_name)
    _description_evidence(ev, Kind.SWI, text)
    _image_type_evidence(ev, Kind.SWI, h.image_type)
    _description_evidence(ev, Kind.MRA, text)
    _sequence_name_evidence(ev, Kind.MRA, h.sequence_name, " (time of flight)")
    _description_evidence(ev, Kind.BOLD, text)
    _image_type_evidence(ev, Kind.BOLD, h.image_type)

    # diffusion
    if (h.b_value is not None and h.b_value > 0) or any(
        s.first.b_value is not None and s.first.b_value > 0 for s in series.stacks
    ):
        ev.add(Kind.DWI, _weight(Kind.DWI, "b_value"), "b-value > 0")
    _image_type_evidence(ev, Kind.DWI, h.image_type)
    dwi_token = _signal(Kind.DWI, "description")
    if (m := dwi_token.search(text)) and not (field_map and m.group(0).replace(" ", "") == "b0"):
        ev.add(Kind.DWI, dwi_token.weight, f"description token '{m.group(0)}'")
    _sequence_name_evidence(ev, Kind.DWI, h.sequence_name)

    # FLAIR
    _description_evidence(ev, Kind.FLAIR, text)
    if "IR" in scanning and ti is not None and ti >= 1400 and (te is None or te >= 50):
        ev.add(
            Kind.FLAIR,
            _weight(Kind.FLAIR, "inversion_timing"),
            f"inversion recovery with TI {ti:.0f} ms, TE {te or 0:.0f} ms",
        )
    _sequence_name_evidence(ev, Kind.FLAIR, h.sequence_name)

    # heavily T2-weighted 3D cisternography
    for token in VOCABULARY.token_lists["cisternography"]:
        if m := token.search(text):
            if any(_signal(Kind[other.upper()], "description").search(text) for other in token.not_with):
                continue  # SPACE-FLAIR / CUBE T1 are not cisternography
            ev.add(Kind.CISTERNOGRAPHY, token.weight, f"description token '{m.group(0)}'")
            detail = detail or token.detail
            break
    if _sequence_name_evidence(ev, Kind.CISTERNOGRAPHY, h.sequence_name, " (Siemens CISS)", "sequence_name_ciss"):
        detail = detail or _signal(Kind.CISTERNOGRAPHY, "sequence_name_ciss").detail
    elif _sequence_name_evidence(ev, Kind.CISTERNOGRAPHY, h.sequence_name, " (balanced SSFP)", "sequence_name_bssfp"):
        detail = detail or _signal(Kind.CISTERNOGRAPHY, "sequence_name_bssfp").detail
    balanced = (
        "GR" in scanning
        and (variant & {"SS", "TRSS"})
        and tr is not None
        and tr < 12
        and (flip is not None and flip >= 30)
    )
    if balanced and is_3d:
        ev.add(
            Kind.CISTERNOGRAPHY,
            _weight(Kind.CISTERNOGRAPHY, "balanced_3d"),
            f"3D balanced steady state (GR {'/'.join(sorted(variant))}, TR {tr:.1f} ms, flip {flip:.0f}°)",
        )
        detail = detail or _signal(Kind.CISTERNOGRAPHY, "balanced_3d").detail
    t2_physics = te is not None and tr is not None and te >= 80 and tr >= 800 and "IR" not in scanning
    if is_3d and t2_physics and ("spc" in seqname or "space" in text or "cube" in text or "vista" in text):
        ev.add(
            Kind.CISTERNOGRAPHY,
            _weight(Kind.CISTERNOGRAPHY, "t2_tse_3d"),
            f"3D turbo spin echo, T2-weighted (TE {te:.0f} ms)",
        )
        detail = detail or _signal(Kind.CISTERNOGRAPHY, "t2_tse_3d").detail

    # T1 and T2 weighting
    _description_evidence(ev, Kind.T1, text)
    t1_variant = _t1_variant(text, seqname, image_type)
    if t1_variant:
        ev.add(Kind.T1, _weight(Kind.T1, "variant"), f"T1 variant {t1_variant}")
    if "IR" in scanning and ti is not None and 300 <= ti < 1400 and te is not None and te < 10:
        ev.add(
            Kind.T1,
            _weight(Kind.T1, "inversion_prepared"),
            f"inversion-prepared gradient echo (TI {ti:.0f} ms, TE {te:.1f} ms): MPRAGE-like",
        )
    elif te is not None and tr is not None and te < 30 and tr < 1000 and not balanced and "IR" not in scanning:
        if "GR" in scanning and tr < 50 and (flip is None or flip <= 30):
            ev.add(
                Kind.T1,
                _weight(Kind.T1, "spoiled_gradient_echo"),
                f"spoiled gradient echo (TR {tr:.1f} ms, TE {te:.1f} ms, flip {flip or 0:.0f}°)",
            )
        elif "EP" not in scanning:
            ev.add(Kind.T1, _weight(Kind.T1, "short_tr_te"), f"short TR {tr:.0f} ms and TE {te:.0f} ms")
    _sequence_name_evidence(ev, Kind.T1, h.sequence_name)
    _description_evidence(ev, Kind.T2, text)
    if t2_physics and "EP" not in scanning:
        ev.add(Kind.T2, _weight(Kind.T2, "long_tr_te"), f"long TR {tr:.0f} ms and TE {te:.0f} ms")

    if not ev.scores and "EP" in scanning:
        ev.add(
            Kind.EPI,
            _weight(Kind.EPI, "echo_planar"),
            "echo-planar (ScanningSequence EP) without diffusion, perfusion or BOLD evidence",
        )
    if not ev.scores:
        return Classification(
            Kind.OTHER,
            Contrast.UNKNOWN,
            is_3d,
            0.3,
            ("no description token, ImageType or timing that identifies the sequence",),
        )
    ranked = sorted(ev.scores.items(), key=lambda kv: -kv[1])
    kind, best = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    # a derived image of a T1 stays derived; a diffusion map marked DERIVED stays DWI
    scoring = VOCABULARY.scoring
    if Kind.DERIVED in ev.scores and ev.scores[Kind.DERIVED] >= scoring.derived_wins_at and kind is not Kind.LOCALIZER:
        kind, best = Kind.DERIVED, max(best, ev.scores[Kind.DERIVED])
        second = max(v for k, v in ev.scores.items() if k is not Kind.DERIVED) if len(ev.scores) > 1 else 0.0
    kind_confidence = min(scoring.max_confidence, best / (best + scoring.rival_factor * second + scoring.offset))
    kind_reasons = ev.reasons_for(kind)
    contrast, contrast_confidence, contrast_reasons = _contrast(series)
    reasons = kind_reasons[:2] + contrast_reasons + kind_reasons[2:]
    if kind not in (Kind.T1, Kind.FLAIR, Kind.DERIVED) and contrast is Contrast.UNKNOWN:
        contrast_confidence = 1.0
    confidence = kind_confidence * (contrast_confidence if kind in (Kind.T1, Kind.FLAIR) else 1.0)
    reasons.append(
        f"{'3D' if is_3d else '2D'} acquisition"
        + (f" (MRAcquisitionType {h.mr_acquisition_type})" if h.mr_acquisition_type else " (from slice geometry)")
    )
    if kind is Kind.T1:
        detail = t1_variant
    elif kind not in (Kind.DERIVED, Kind.CISTERNOGRAPHY, Kind.FIELD_MAP, Kind.PERFUSION):
        detail = ""
    return Classification(kind, contrast, is_3d, round(confidence, 2), tuple(reasons), detail)


def _contrast(series: SeriesInfo) -> tuple[Contrast, float, list[str]]:
    h = series.header
    agent = h.contrast_agent.strip()
    tag_says: Contrast | None = None
    reasons: list[str] = []
    if agent and normalize_text(agent) not in VOCABULARY.negative_agent_values:
        tag_says = Contrast.POST
        reasons.append(f"ContrastBolusAgent is '{agent}'")
    elif agent:
        tag_says = Contrast.PRE
        reasons.append(f"ContrastBolusAgent is '{agent}' (none given)")
    elif set(h.contrast_fields) - {"ContrastBolusAgent"}:
        tag_says = Contrast.POST
        reasons.append(f"contrast attributes present: {', '.join(h.contrast_fields)}")
    text_says, tokens = contrast_from_text(f"{h.series_description} | {h.protocol_name}")
    if tokens:
        reasons.append(f"contrast tokens in the description: {', '.join(repr(t) for t in tokens)}")
    sure = VOCABULARY.contrast_confidence
    if tag_says is Contrast.POST and text_says is Contrast.PRE:
        reasons.append("the contrast attributes and the description disagree")
        return Contrast.POST, sure.tags_post_text_pre, reasons
    if tag_says is not None and text_says in (tag_says, Contrast.UNKNOWN):
        if tag_says is not Contrast.POST:
            return tag_says, sure.tags_pre, reasons
        return (
            tag_says,
            sure.tags_post_text_post if text_says is tag_says else sure.tags_post_text_silent,
            reasons,
        )
    if tag_says is Contrast.PRE and text_says is Contrast.POST:
        return Contrast.POST, sure.tags_pre_text_post, reasons
    if text_says is not Contrast.UNKNOWN:
        return text_says, sure.text_only, reasons
    if tokens:
        reasons.append("the description holds both pre- and post-contrast words")
    return Contrast.UNKNOWN, sure.unknown, reasons


def _apply_order(rows: list[tuple[SeriesInfo, Classification]]) -> list[Classification]:
    """Acquisition order: nothing before the first contrast-marked series is post, nothing after it is pre."""
    marked = [
        (s.time_key, s)
        for s, c in rows
        if c.contrast is Contrast.POST and c.kind not in (Kind.DERIVED, Kind.NOT_MR) and c.confidence >= 0.5
    ]
    if not marked:
        return [c for _, c in rows]
    first_key, first = min(marked, key=lambda kv: kv[0])
    out = []
    for series, c in rows:
        if c.kind not in (Kind.T1, Kind.FLAIR, Kind.DERIVED) or series.study_uid != first.study_uid:
            out.append(c)
            continue
        before = series.time_key < first_key
        ref = f"series {first.number} ('{first.description}')"
        if c.contrast is Contrast.UNKNOWN:
            contrast = Contrast.PRE if before else Contrast.POST
            reason = f"acquired {'before' if before else 'after'} the first contrast-marked {ref}"
            out.append(
                replace(
                    c,
                    contrast=contrast,
                    confidence=round(min(c.confidence * 1.4, 0.75), 2),
                    reasons=(*c.reasons[:2], reason, *c.reasons[2:]),
                )
            )
        elif c.contrast is Contrast.POST and before and series is not first:
            out.append(c)
        elif c.contrast is Contrast.PRE and not before:
            reason = f"labelled pre-contrast but acquired after the first contrast-marked {ref}"
            out.append(
                replace(
                    c,
                    confidence=round(c.confidence * 0.5, 2),
                    reasons=(*c.reasons[:2], reason, *c.reasons[2:]),
                )
            )
        else:
            out.append(c)
    return out


def classify_all(discovery: Discovery) -> list[tuple[SeriesInfo, Classification]]:
    """Classify every series, then apply the acquisition-order rule within each study."""
    rows = [(s, classify_series(s)) for s in discovery.series]
    return list(zip([s for s, _ in rows], _apply_order(rows), strict=True))


# ------------------------------------------------------------------------------------------ choice


@dataclass(frozen=True)
class Choice:
    series: SeriesInfo
    classification: Classification
    why: str


@dataclass(frozen=True)
class Selection:
    post: Choice
    pre: Choice | None
    ciss: Choice | None
    flair_post: Choice | None
    warnings: tuple[str, ...] = ()


def describe(series: SeriesInfo, c: Classification | None = None) -> str:
    number = "?" if series.number is None else series.number
    text = f"series {number} '{series.description or '(no description)'}'"
    return f"{text} ({c.label}, confidence {c.confidence:.2f})" if c is not None else text


def _quality(series: SeriesInfo, c: Classification) -> float:
    voxel = series.main_stack.voxel_size() or (9.0, 9.0, 9.0)
    coarse = max(voxel)
    score = 3.0 if c.is_3d else 0.0
    score += 1.5 if coarse <= 1.2 else (0.75 if coarse <= 2.05 else 0.0)
    if c.detail in ("MP2RAGE INV1", "MP2RAGE INV2"):
        score -= 2.0  # an inversion image of MP2RAGE; its UNI image is the T1-weighted one
    return score + c.confidence


def _same_family(a: SeriesInfo, b: SeriesInfo) -> tuple[bool, str]:
    """Same geometry family: 3D-ness, orientation within 10°, voxel size within 15 %, same sequence name."""
    ha, hb = a.header, b.header
    if ha.mr_acquisition_type != hb.mr_acquisition_type:
        return False, "different acquisition type"
    na, nb = a.main_stack.normal, b.main_stack.normal
    if na and nb and abs(sum(x * y for x, y in zip(na, nb, strict=True))) < math.cos(math.radians(10)):
        return False, "different slice orientation"
    va, vb = a.main_stack.voxel_size(), b.main_stack.voxel_size()
    if va and vb and any(abs(x - y) > 0.15 * max(x, y) for x, y in zip(va, vb, strict=True)):
        return False, "different voxel size"
    if ha.sequence_name and hb.sequence_name and ha.sequence_name != hb.sequence_name:
        return False, "different sequence"
    return True, "same sequence and geometry"


def _find_number(
    rows: Sequence[tuple[SeriesInfo, Classification]], number: int, option: str
) -> tuple[SeriesInfo, Classification]:
    matches = [(s, c) for s, c in rows if s.number == number]
    if len(matches) > 1:  # raw data sharing the image series' number (Philips *_Raw) is not a candidate
        matches = [(s, c) for s, c in matches if s.is_image] or matches
    if not matches:
        numbers = ", ".join(str(s.number) for s, _ in rows)
        raise InputError(f"{option} {number}: there is no series {number} in this study (series found: {numbers})")
    if len(matches) > 1:
        found = "; ".join(describe(s, c) for s, c in matches)
        raise InputError(
            f"{option} {number}: several series share the number {number} ({found}); "
            "point STUDY_DIR at the folder of one of them"
        )
    return matches[0]


def _listing(rows: Sequence[tuple[SeriesInfo, Classification]]) -> str:
    return "; ".join(describe(s, c) for s, c in rows) or "no image series"


@dataclass(frozen=True)
class _Pair:
    score: float
    post: SeriesInfo
    post_class: Classification
    pre: SeriesInfo | None = None
    pre_class: Classification | None = None
    pre_why: str = ""
    pre_rival: str = ""  # an equally good pre, when there is one


def _best_pre(
    usable: Sequence[tuple[SeriesInfo, Classification]],
    post: SeriesInfo,
    post_class: Classification,
    quality: float,
) -> _Pair:
    """The post paired with the best pre-contrast T1 acquired before it (same family scores higher)."""
    options = []
    for series, c in usable:
        if series is post or c.kind is not Kind.T1 or c.contrast is Contrast.POST:
            continue
        if series.time_key > post.time_key or (c.contrast is Contrast.UNKNOWN and series.time_key == post.time_key):
            continue
        family, why = _same_family(series, post)
        options.append((_quality(series, c) + (3.0 if family else 0.0), series, c, why))
    if not options:
        return _Pair(quality, post, post_class)
    options.sort(key=lambda t: -t[0])
    score, series, c, why = options[0]
    rival = describe(options[1][1], options[1][2]) if len(options) > 1 and options[1][0] == score else ""
    return _Pair(quality + score, post, post_class, series, c, why, rival)


def select_series(
    rows: Sequence[tuple[SeriesInfo, Classification]],
    pre_series: int | None = None,
    post_series: int | None = None,
) -> Selection:
    """Choose post (required), pre, cisternography and post-contrast FLAIR series, with the reasons.

    Raises :class:`InputError` naming what was found and which option to pass when no post-contrast T1
    qualifies or when two candidates are equally good.
    """
    warnings: list[str] = []
    usable = [(s, c) for s, c in rows if c.kind not in (Kind.NOT_MR, Kind.LOCALIZER)]
    if not usable:
        raise InputError(f"no MR image series to analyse; found: {_listing(rows)}")
    if post_series is not None:
        s, c = _find_number(rows, post_series, "--post-series")
        if not (c.kind is Kind.T1 and c.contrast is Contrast.POST):
            warnings.append(f"{describe(s, c)} is used as the post-contrast T1 because --post-series was given")
        candidates = [(s, c, 0.0)]
    else:
        candidates = sorted(
            ((s, c, _quality(s, c)) for s, c in usable if c.kind is Kind.T1 and c.contrast is Contrast.POST),
            key=lambda t: -t[2],
        )
        if not candidates:
            raise InputError(
                f"no post-contrast T1 series found; found: {_listing(rows)}. "
                "Pass --post-series N (and --pre-series M) to say which series to use"
            )
    if pre_series is not None:
        qs, qc = _find_number(rows, pre_series, "--pre-series")
        pairs = [_Pair(q, s, c, qs, qc, f"--pre-series {pre_series} was given") for s, c, q in candidates]
    else:
        pairs = [_best_pre(usable, s, c, q) for s, c, q in candidates]
    pairs.sort(key=lambda p: -p.score)
    top = pairs[0]
    if len(pairs) > 1 and pairs[1].score == top.score:
        raise InputError(
            "two post-contrast T1 series are equally good candidates: "
            f"{describe(top.post, top.post_class)} and {describe(pairs[1].post, pairs[1].post_class)}; "
            "pass --post-series N to choose one"
        )
    if post_series is not None:
        why = f"--post-series {post_series} was given"
    else:
        rivals = len(candidates) - 1
        dims = "3D" if top.post_class.is_3d else "2D"
        why = (
            f"best post-contrast T1 ({dims}, voxel {_voxel_text(top.post)}, "
            f"confidence {top.post_class.confidence:.2f})"
            + (f"; preferred over {rivals} other post-contrast T1 series" if rivals else "")
        )
    post = Choice(top.post, top.post_class, why)
    pre: Choice | None = None
    if top.pre is not None and top.pre_class is not None:
        if top.pre_rival:
            raise InputError(
                "two pre-contrast T1 series are equally good matches for "
                f"{describe(top.post, top.post_class)}: "
                f"{describe(top.pre, top.pre_class)} and {top.pre_rival}; pass --pre-series N to choose one"
            )
        qc = top.pre_class
        if pre_series is not None:
            pre = Choice(top.pre, qc, top.pre_why)
            if not (qc.kind is Kind.T1 and qc.contrast is not Contrast.POST):
                warnings.append(
                    f"{describe(top.pre, qc)} is used as the pre-contrast T1 because --pre-series was given"
                )
        else:
            pre = Choice(top.pre, qc, f"pre-contrast T1 acquired before the post; {top.pre_why}")
            if "same sequence" not in top.pre_why:
                warnings.append(
                    f"the pre-contrast T1 {describe(top.pre, qc)} differs from the post ({top.pre_why}); "
                    "enhancement is measured after resampling"
                )
    else:
        warnings.append(
            "no pre-contrast T1 series found: post-only mode (enhancement relative to reference "
            "tissue and the other side)"
        )
    ciss = _best_optional(
        usable, lambda c: c.kind is Kind.CISTERNOGRAPHY, "heavily T2-weighted 3D (cisternography)", warnings
    )
    flair = _best_optional(
        usable,
        lambda c: c.kind is Kind.FLAIR and c.contrast is Contrast.POST,
        "post-contrast FLAIR",
        warnings,
    )
    return Selection(post, pre, ciss, flair, tuple(warnings))


def _voxel_text(series: SeriesInfo) -> str:
    voxel = series.main_stack.voxel_size()
    return "x".join(f"{v:.2g}" for v in voxel) + " mm" if voxel else "unknown"


def _best_optional(
    usable: Sequence[tuple[SeriesInfo, Classification]],
    accept: Callable[[Classification], bool],
    what: str,
    warnings: list[str],
) -> Choice | None:
    candidates = sorted(
        ((s, c, _quality(s, c)) for s, c in usable if accept(c)),
        key=lambda t: (t[2], t[0].time_key),
        reverse=True,
    )
    if not candidates:
        return None
    s, c, q = candidates[0]
    if len(candidates) > 1 and abs(candidates[1][2] - q) < 1e-6:
        warnings.append(f"{len(candidates)} equally good {what} series; used the last acquired, {describe(s)}")
    return Choice(
        s,
        c,
        f"best {what} series ({'3D' if c.is_3d else '2D'}, voxel {_voxel_text(s)}, confidence {c.confidence:.2f})",
    )


__all__ = [
    "Choice",
    "Classification",
    "Contrast",
    "Kind",
    "Selection",
    "classify_all",
    "classify_series",
    "contrast_from_text",
    "describe",
    "normalize_text",
    "select_series",
]
