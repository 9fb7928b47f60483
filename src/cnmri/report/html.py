"""The self-contained ``report.html``: findings tables, key images and the overview mosaic.

The page is one file: the stylesheet (``templates/report.css``) inlined, images as base64 PNG, no scripts
and no external links (collapsing uses ``<details>``). This module turns the findings dictionary and the
images into plain values (text, numbers already formatted, PNG bytes); the markup is in the Jinja2
template ``templates/report.html``, which escapes every value (see :mod:`cnmri.report.templating`).
Inputs are shown by file name only (never the folder, which often carries a patient's name) or, for
DICOM, by series number and description.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from markupsafe import Markup
from numpy.typing import NDArray

from cnmri.report import figures
from cnmri.report.templating import render, stylesheet
from cnmri.volume import Volume

NERVES: tuple[str, ...] = tuple(f"CN{n}" for n in range(2, 13))
NERVE_NAMES: dict[str, str] = {
    "CN2": "optic",
    "CN3": "oculomotor",
    "CN4": "trochlear",
    "CN5": "trigeminal",
    "CN6": "abducens",
    "CN7": "facial",
    "CN8": "vestibulocochlear",
    "CN9": "glossopharyngeal",
    "CN10": "vagus",
    "CN11": "accessory",
    "CN12": "hypoglossal",
}
SIDES: tuple[str, ...] = ("right", "left")  # right first, as on a radiological image
PATTERN_TEXT: dict[str, str] = {
    "normal": "Normal: no cranial nerve segment meets the criteria for abnormality",
    "single_nerve": "Single nerve",
    "multiple_nerves": "Multiple nerves",
}
MODE_TEXT: dict[str, str] = {
    "pre_post": "pre- and post-contrast T1 (enhancement = post − pre after normalisation)",
    "post_only": "POST-CONTRAST ONLY — no pre-contrast image: enhancement is post-contrast signal "
    "relative to reference tissue and to the other side; intrinsic T1 brightness cannot be excluded",
}
REGISTRATION_OK = ("ok", "pass", "passed")
KEY_FOV_MM = 60.0
MAX_FULL_QUALITY_FIGURES = 6  # beyond this many abnormal nerve sides, key images use a 256-colour palette
TEMPLATE = "report.html"


@dataclass(frozen=True)
class ReportImages:
    """The subject-space images the report draws from (all on the post-contrast grid)."""

    post: Volume
    pre: Volume | None
    enhancement: Volume | None
    labels: Volume
    label_keys: dict[int, str]
    centerlines_mm: dict[str, NDArray[np.float64]]


# ------------------------------------------------------------------ what the template receives
# Plain text and numbers only; the template adds the markup and escapes every field.


@dataclass(frozen=True)
class InputItem:
    role: str
    shown: str


@dataclass(frozen=True)
class RegistrationItem:
    key: str
    shown: str
    bad: bool


@dataclass(frozen=True)
class SummaryCell:
    """One side of one nerve in the summary table; ``state`` is "abnormal", "normal" or "missing"."""

    state: str
    anchor: str = ""
    score: str = "—"
    segments: str = ""
    missing_text: str = ""


@dataclass(frozen=True)
class SummaryRow:
    nerve: str
    label: str
    cells: tuple[SummaryCell, ...]


@dataclass(frozen=True)
class SegmentRow:
    side: str
    name: str
    physiologic: bool
    abnormal: bool
    enhancement: str
    ratio: str
    thickness: str
    asymmetry: str
    z: str
    z_thickness: str
    reasons: tuple[str, ...]
    computed_from: str


@dataclass(frozen=True)
class NerveDetail:
    nerve: str
    label: str
    count_text: str
    abnormal_sides: str
    rows: tuple[SegmentRow, ...]


@dataclass(frozen=True)
class KeyImage:
    """The key-image block of one abnormal nerve side (``png`` None: no figure could be drawn)."""

    anchor: str
    target: str
    title: str
    segment: str | None
    caption: str = ""
    others: str = ""
    centre: str = ""
    png: bytes | None = None
    alt: str = ""


@dataclass(frozen=True)
class Swatch:
    rgb: str
    label: str


@dataclass(frozen=True)
class LegendEntry:
    label: str
    swatches: tuple[Swatch, ...]


@dataclass(frozen=True)
class Mosaic:
    png: bytes
    note: str
    legend: tuple[LegendEntry, ...]


# ----------------------------------------------------------------------------------------- helpers


def _num(value: object, digits: int = 2, unit: str = "") -> str:
    if value is None or isinstance(value, bool):
        return "—"
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    return f"{x:.{digits}f}{unit}".replace("-", "−")


def _nerve_order(nerve: str) -> int:
    digits = nerve[2:]
    return int(digits) if digits.isdigit() else 99


def _file_name(path: object) -> str:
    """The last component of a path, whichever the OS that wrote it."""
    text = str(path)
    name = PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name
    return name or PurePath(text).name


def segment_label(segment: object) -> str:
    """Display form of a segment name: ``"jugular_foramen"`` → ``"jugular foramen"``."""
    return str(segment).replace("_", " ")


def _nerve_label(nerve: str) -> str:
    name = NERVE_NAMES.get(nerve)
    return f"{nerve} {name}" if name else nerve


def _anchor(nerve: str, side: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in f"{nerve}-{side}")
    return f"images-{safe}"


def _as_bool(value: object) -> bool:
    return value is True


# ------------------------------------------------------------------------------------------ header


def _input_shown(raw: object) -> str:
    if isinstance(raw, Mapping):
        if raw.get("file"):
            return _file_name(raw["file"])
        if raw.get("sha256"):  # a NIfTI input named by its content, not its file name (io/study.py)
            return f"file SHA-256 {str(raw['sha256'])[:12]}…"
        if raw.get("series_number") is not None or raw.get("series_description"):
            number = f"series {raw.get('series_number')}" if raw.get("series_number") is not None else ""
            description = f"“{raw.get('series_description')}”" if raw.get("series_description") else ""
            return " ".join(p for p in (number, description) if p)
        return "(given)"
    if isinstance(raw, str) and raw:
        return _file_name(raw)
    return "(none)"


def _inputs(inputs: Mapping[str, Any]) -> list[InputItem]:
    roles = sorted(inputs, key=lambda r: (r not in ("pre", "post"), r != "pre", r))
    return [InputItem(str(role), _input_shown(inputs[role])) for role in roles]


def _registration(reg: object) -> list[RegistrationItem] | None:
    if not isinstance(reg, Mapping) or not reg:
        return None
    items = []
    for key, value in reg.items():
        if isinstance(value, Mapping | list | tuple):
            continue
        shown = _num(value, 3) if isinstance(value, float) else str(value)
        bad = key == "status" and str(value).lower() not in REGISTRATION_OK
        items.append(RegistrationItem(str(key), shown, bad))
    return items


# ----------------------------------------------------------------------------------------- pattern


def pattern_text(pattern: Mapping[str, Any] | None) -> str:
    """One line such as ``"Multiple nerves: CN7 bilateral, CN9 bilateral"`` (plain text)."""
    pattern = pattern or {}
    kind = str(pattern.get("kind", "normal"))
    sides: dict[str, set[str]] = {}
    for item in pattern.get("nerves") or []:
        nerve, _, side = str(item).partition("-")
        sides.setdefault(nerve, set()).add(side)
    words = []
    for nerve in sorted(sides, key=_nerve_order):
        s = sides[nerve]
        where = "bilateral" if {"left", "right"} <= s else "/".join(sorted(x for x in s if x)) or "side?"
        words.append(f"{_nerve_label(nerve)} {where}")
    head = PATTERN_TEXT.get(kind, kind.replace("_", " ").capitalize())
    return f"{head}: {', '.join(words)}" if words else head


# ------------------------------------------------------------------------------------------ tables


def _index_nerves(findings: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for item in findings.get("nerves") or []:
        if isinstance(item, Mapping):
            out[(str(item.get("nerve")), str(item.get("side")))] = item
    return out


def _segments_of(findings: Mapping[str, Any], nerve: str, side: str | None = None) -> list[Mapping[str, Any]]:
    return [
        s
        for s in findings.get("segments") or []
        if isinstance(s, Mapping) and str(s.get("nerve")) == nerve and (side is None or str(s.get("side")) == side)
    ]


def _summary_cell(findings: Mapping[str, Any], item: Mapping[str, Any] | None, nerve: str, side: str) -> SummaryCell:
    if item is None:
        assessed = bool(_segments_of(findings, nerve, side))
        return SummaryCell("missing", missing_text="not summarised" if assessed else "not assessed")
    abnormal = _as_bool(item.get("abnormal"))
    return SummaryCell(
        "abnormal" if abnormal else "normal",
        anchor=_anchor(nerve, side),
        score=_num(item.get("score")),
        segments=", ".join(segment_label(s) for s in item.get("abnormal_segments") or []),
    )


def _summary_rows(findings: Mapping[str, Any]) -> list[SummaryRow]:
    nerves = _index_nerves(findings)
    extra = sorted({n for n, _ in nerves} - set(NERVES), key=_nerve_order)
    return [
        SummaryRow(
            nerve,
            _nerve_label(nerve),
            tuple(_summary_cell(findings, nerves.get((nerve, side)), nerve, side) for side in SIDES),
        )
        for nerve in (*NERVES, *extra)
    ]


def _computed_from(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return ""
    parts = []
    for key, v in value.items():
        if isinstance(v, list | tuple):
            shown = ", ".join(str(x) for x in v)
        elif isinstance(v, float):
            shown = f"{v:.3g}"
        else:
            shown = str(v)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def _reasons(reasons: object) -> tuple[str, ...]:
    return tuple(str(r) for r in reasons) if isinstance(reasons, list | tuple) else ()


def _segment_rows(segments: list[Mapping[str, Any]]) -> tuple[SegmentRow, ...]:
    side_order = {side: i for i, side in enumerate(SIDES)}
    names: list[str] = []
    for seg in segments:
        if str(seg.get("segment")) not in names:
            names.append(str(seg.get("segment")))
    # Segment by segment (brainstem outwards, as listed), right then left, so the sides sit together.
    ordered = sorted(
        segments, key=lambda s: (names.index(str(s.get("segment"))), side_order.get(str(s.get("side")), 9))
    )
    return tuple(
        SegmentRow(
            side=str(seg.get("side", "?")),
            name=segment_label(seg.get("segment", "?")),
            physiologic=_as_bool(seg.get("physiologic_enhancement")),
            abnormal=_as_bool(seg.get("abnormal")),
            enhancement=_num(seg.get("enhancement")),
            ratio=_num(seg.get("enhancement_ratio")),
            thickness=_num(seg.get("thickness_mm"), 1),
            asymmetry=_num(seg.get("asymmetry")),
            z=_num(seg.get("z"), 1),
            z_thickness=_num(seg.get("z_thickness"), 1),
            reasons=_reasons(seg.get("reasons")),
            computed_from=_computed_from(seg.get("computed_from")),
        )
        for seg in ordered
    )


def _nerve_details(findings: Mapping[str, Any]) -> list[NerveDetail]:
    nerves = _index_nerves(findings)
    present = {str(s.get("nerve")) for s in findings.get("segments") or [] if isinstance(s, Mapping)}
    details = []
    for nerve in sorted(set(NERVES) | present, key=_nerve_order):
        segments = _segments_of(findings, nerve)
        abnormal_sides = [
            side
            for side in SIDES
            if _as_bool((nerves.get((nerve, side)) or {}).get("abnormal"))
            or any(_as_bool(s.get("abnormal")) for s in _segments_of(findings, nerve, side))
        ]
        details.append(
            NerveDetail(
                nerve=nerve,
                label=_nerve_label(nerve),
                count_text=f"{len(segments)} segment measurements" if segments else "no segments measured",
                abnormal_sides=", ".join(abnormal_sides),
                rows=_segment_rows(segments),
            )
        )
    return details


# ------------------------------------------------------------------------------------------ images


def _segment_score(seg: Mapping[str, Any]) -> tuple[float, float, float, float]:
    def f(v: object) -> float:
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return -math.inf
        return x if math.isfinite(x) else -math.inf

    return (
        0.0 if _as_bool(seg.get("physiologic_enhancement")) else 1.0,
        max(f(seg.get("z")), f(seg.get("z_thickness"))),
        f(seg.get("enhancement")),
        f(seg.get("thickness_mm")),
    )


def most_abnormal_segment(findings: Mapping[str, Any], nerve: str, side: str) -> Mapping[str, Any] | None:
    """The segment to centre the key images on: abnormal, non-physiologic first, then highest z."""
    segs = _segments_of(findings, nerve, side)
    abnormal = [s for s in segs if _as_bool(s.get("abnormal"))] or segs
    if not abnormal:
        return None
    return max(abnormal, key=_segment_score)


def _centre_of(images: ReportImages, key: str, values: frozenset[int]) -> tuple[float, float, float] | None:
    centre = _centreline_middle(images.centerlines_mm.get(key))
    if values:
        ijk = np.argwhere(np.isin(np.asarray(images.labels.data), sorted(values)))
        if len(ijk):
            world = images.labels.voxel_to_world(ijk.astype(np.float64))
            # The labelled voxel nearest the middle of the centreline (or the label's centroid), so that
            # all three planes cut the outlined segment.
            target = world.mean(axis=0) if centre is None else np.asarray(centre)
            c = world[int(np.argmin(np.linalg.norm(world - target, axis=1)))]
            return (float(c[0]), float(c[1]), float(c[2]))
    return centre


def _centreline_middle(line: NDArray[np.float64] | None) -> tuple[float, float, float] | None:
    """The point halfway along a polyline (world mm), or None."""
    if line is not None and len(np.asarray(line)) > 0:
        pts = np.asarray(line, dtype=np.float64).reshape(-1, 3)
        if len(pts) == 1:
            c = pts[0]
        else:
            seg_len = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            cum = np.concatenate([[0.0], np.cumsum(seg_len)])
            half = cum[-1] / 2.0
            i = int(np.clip(np.searchsorted(cum, half) - 1, 0, len(seg_len) - 1))
            t = (half - cum[i]) / seg_len[i] if seg_len[i] > 0 else 0.0
            c = pts[i] + t * (pts[i + 1] - pts[i])
        return (float(c[0]), float(c[1]), float(c[2]))
    return None


def enhancement_scale(images: ReportImages) -> float:
    """Upper end of the enhancement colour scale, shared by all key images (normalised units)."""
    if images.enhancement is None:
        return 1.0
    enh = np.asarray(images.enhancement.data, dtype=np.float64)
    inside = enh[np.asarray(images.labels.data) > 0] if images.labels.shape == images.enhancement.shape else enh
    inside = inside[np.isfinite(inside)]
    if inside.size == 0:
        return 1.0
    return float(max(1.0, np.percentile(inside, 99.5)))


def _abnormal_targets(findings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every abnormal nerve side (flagged in ``nerves`` or with an abnormal segment), in display order."""
    nerves = _index_nerves(findings)
    return sorted(
        {(n, s) for (n, s), item in nerves.items() if _as_bool(item.get("abnormal"))}
        | {
            (str(seg.get("nerve")), str(seg.get("side")))
            for seg in findings.get("segments") or []
            if isinstance(seg, Mapping) and _as_bool(seg.get("abnormal"))
        },
        key=lambda ns: (_nerve_order(ns[0]), SIDES.index(ns[1]) if ns[1] in SIDES else 9),
    )


def _key_images(findings: Mapping[str, Any], images: ReportImages) -> list[KeyImage]:
    targets = _abnormal_targets(findings)
    if not targets:
        return []
    by_key: dict[str, set[int]] = {}
    for value, key in images.label_keys.items():
        by_key.setdefault(key, set()).add(int(value))
    vmax = enhancement_scale(images)
    quantize = len(targets) > MAX_FULL_QUALITY_FIGURES  # keeps the file under ~5 MB with many nerves
    blocks = []
    for nerve, side in targets:
        title = f"{_nerve_label(nerve)}, {side}"
        seg = most_abnormal_segment(findings, nerve, side)
        if seg is None:
            blocks.append(KeyImage(_anchor(nerve, side), f"{nerve}-{side}", title, None))
            continue
        key = f"{nerve}-{side}-{seg.get('segment')}"
        seg_name = segment_label(seg.get("segment"))
        focus = frozenset(by_key.get(key, set()))
        context = frozenset(
            v for k, vals in by_key.items() if k.startswith(f"{nerve}-{side}-") and k != key for v in vals
        )
        centre = _centre_of(images, key, focus)
        png = None
        if centre is not None:
            req = figures.KeyImageRequest(
                title=f"{_nerve_label(nerve)} ({side}) — centred on the {seg_name} segment",
                center_mm=centre,
                focus_labels=focus,
                context_labels=context,
                fov_mm=KEY_FOV_MM,
            )
            png = figures.key_image_png(
                req, images.post, images.labels, images.enhancement, images.pre, vmax, quantize=quantize
            )
        x, y, z = centre if centre is not None else (math.nan,) * 3
        blocks.append(
            KeyImage(
                anchor=_anchor(nerve, side),
                target=f"{nerve}-{side}",
                title=title,
                segment=seg_name,
                caption=(
                    f"enhancement {_num(seg.get('enhancement'))}, ratio {_num(seg.get('enhancement_ratio'))}, "
                    f"thickness {_num(seg.get('thickness_mm'), 1, ' mm')}, "
                    f"asymmetry {_num(seg.get('asymmetry'))}, z {_num(seg.get('z'), 1)}"
                ),
                others=", ".join(
                    segment_label(s.get("segment"))
                    for s in _segments_of(findings, nerve, side)
                    if _as_bool(s.get("abnormal")) and s is not seg
                ),
                centre=f"{_num(x, 0)}, {_num(y, 0)}, {_num(z, 0)}",
                png=png,
                alt=f"Key images of {title}: axial, coronal and sagittal",
            )
        )
    return blocks


def _mosaic(findings: Mapping[str, Any], images: ReportImages) -> Mosaic | None:
    if not images.label_keys:
        return None
    abnormal_keys = {
        f"{s.get('nerve')}-{s.get('side')}-{s.get('segment')}"
        for s in findings.get("segments") or []
        if isinstance(s, Mapping) and _as_bool(s.get("abnormal"))
    }
    png = figures.overview_mosaic_png(images.post, images.labels, images.label_keys, abnormal_keys)
    colours = figures.segment_colours(list(images.label_keys.values()))
    per_nerve: dict[str, dict[str, tuple[float, float, float]]] = {}
    for key, colour in colours.items():
        nerve, _side, segment = figures.split_key(key)
        per_nerve.setdefault(nerve, {}).setdefault(segment, colour)
    legend = tuple(
        LegendEntry(
            _nerve_label(nerve),
            tuple(
                Swatch(f"{int(c[0] * 255)},{int(c[1] * 255)},{int(c[2] * 255)}", segment_label(seg))
                for seg, c in per_nerve[nerve].items()
            ),
        )
        for nerve in sorted(per_nerve, key=_nerve_order)
    )
    return Mosaic(png, figures.CONVENTION_NOTE, legend)


# ------------------------------------------------------------------------------------------ public


def report_context(
    findings: Mapping[str, Any],
    images: ReportImages,
    clinical_html: str | None = None,
    comparison_html: str | None = None,
) -> dict[str, Any]:
    """Everything ``templates/report.html`` shows, as plain values (figures drawn here, as PNG bytes)."""
    software = findings.get("software") or {}
    mode = str(findings.get("mode", "unknown"))
    pattern = findings.get("pattern") or {}
    head, _, rest = pattern_text(pattern).partition(": ")
    return {
        "css": stylesheet(),
        "software_name": str(software.get("name", "cnmri")),
        "software_version": str(software.get("version", "")),
        "software_line": f"{software.get('name', 'cnmri')} {software.get('version', '?')}",
        "schema_version": str(findings.get("schema_version", "?")),
        "mode_text": MODE_TEXT.get(mode, mode),
        "mode_bad": mode == "post_only",
        "inputs": _inputs(findings.get("inputs") or {}),
        "warnings": [str(w) for w in findings.get("warnings") or []],
        "registration": _registration(findings.get("registration")),
        "pattern_abnormal": str(pattern.get("kind", "normal")) != "normal",
        "pattern_head": head,
        "pattern_rest": rest,
        "summary": _summary_rows(findings),
        "sides": SIDES,
        # Trusted fragments rendered by cnmri.report.clinical_html / cnmri.report.compare from the same
        # autoescaping templates; placed as they are.
        "clinical_html": Markup(clinical_html) if clinical_html else None,
        "comparison_html": Markup(comparison_html) if comparison_html else None,
        "key_images": _key_images(findings, images),
        "has_enhancement": images.enhancement is not None,
        "key_fov_mm": f"{KEY_FOV_MM:.0f}",
        "mosaic": _mosaic(findings, images),
        "nerve_details": _nerve_details(findings),
    }


def render_report_html(
    findings: Mapping[str, Any],
    images: ReportImages,
    clinical_html: str | None = None,
    comparison_html: str | None = None,
) -> str:
    """The whole report as one self-contained HTML string.

    ``findings`` is the CONTRACTS.md §2 dictionary. ``clinical_html`` is an already-rendered, trusted
    fragment (CNS status and differential, :func:`cnmri.report.clinical_html.render_clinical_html`)
    placed in its own section; ``comparison_html`` likewise the follow-up comparison section
    (``analyze --baseline``); everything else is escaped by the template.
    """
    return render(TEMPLATE, **report_context(findings, images, clinical_html, comparison_html))


__all__ = [
    "ReportImages",
    "enhancement_scale",
    "most_abnormal_segment",
    "pattern_text",
    "render_report_html",
    "report_context",
]
