"""The self-contained ``report.html``: findings tables, key images and the overview mosaic.

The page is one file: inline CSS, images as base64 PNG, no scripts and no external links (collapsing
uses ``<details>``). Every piece of text that comes from the findings or the inputs is escaped. Inputs
are shown by file name only (never the folder, which often carries a patient's name) or, for DICOM, by
series number and description.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cnmri.report import figures
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
KEY_FOV_MM = 60.0
MAX_FULL_QUALITY_FIGURES = 6  # beyond this many abnormal nerve sides, key images use a 256-colour palette


@dataclass(frozen=True)
class ReportImages:
    """The subject-space images the report draws from (all on the post-contrast grid)."""

    post: Volume
    pre: Volume | None
    enhancement: Volume | None
    labels: Volume
    label_keys: dict[int, str]
    centerlines_mm: dict[str, NDArray[np.float64]]


# ----------------------------------------------------------------------------------------- helpers


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: object, digits: int = 2, unit: str = "") -> str:
    if value is None or isinstance(value, bool):
        return "—"
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _e(value)
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


def _img(png: bytes, alt: str, css_class: str = "figure") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _anchor(nerve: str, side: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in f"{nerve}-{side}")
    return f"images-{safe}"


def _as_bool(value: object) -> bool:
    return value is True


# ------------------------------------------------------------------------------------------ header

CSS = """
:root { --ink:#1c2430; --muted:#5b6573; --line:#d5dae1; --abn:#b3261e; --abn-bg:#fde8e6; --ok:#1e6b3a;
        --phys:#7a5a00; --phys-bg:#fff4d6; --warn-bg:#fff7e0; --warn-line:#e0a800; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0;
       background: #f4f6f8; font-size: 14px; line-height: 1.4; }
main { max-width: 1180px; margin: 0 auto; padding: 18px 24px 40px; background: white; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 26px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); font-size: 13px; }
.meta b { color: var(--ink); font-weight: 600; }
.disclaimer { margin: 12px 0; padding: 10px 14px; border: 2px solid var(--abn); border-radius: 6px;
              background: var(--abn-bg); font-weight: 700; color: var(--abn); }
.disclaimer span { display: block; font-weight: 400; color: var(--ink); font-size: 13px; }
.warnings { margin: 10px 0; padding: 8px 14px; border-left: 5px solid var(--warn-line);
            background: var(--warn-bg); }
.warnings ul { margin: 4px 0; padding-left: 20px; }
.nowarn { color: var(--muted); font-size: 13px; }
.pattern { font-size: 16px; margin: 10px 0; padding: 10px 14px; border-radius: 6px; background: #eef2f7; }
.pattern.abnormal { background: var(--abn-bg); }
.pattern b { font-size: 17px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.abnormal td, td.abnormal { background: var(--abn-bg); }
.status-abn { color: var(--abn); font-weight: 700; }
.status-ok { color: var(--ok); }
.status-na { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; font-weight: 600;
         background: var(--phys-bg); color: var(--phys); border: 1px solid #e9cf85; white-space: nowrap; }
.reasons { font-size: 12px; }
.reasons ul { margin: 0; padding-left: 16px; }
.from { font-size: 11px; color: var(--muted); }
details { margin: 4px 0; border: 1px solid var(--line); border-radius: 5px; padding: 2px 10px; }
details[open] { padding-bottom: 8px; }
summary { cursor: pointer; padding: 5px 0; font-weight: 600; }
summary .status-abn { margin-left: 8px; }
.keyimg { margin: 14px 0 22px; padding: 8px 12px; border: 1px solid var(--line); border-radius: 6px; }
.keyimg h3 { margin-top: 4px; color: var(--abn); }
img.figure { max-width: 100%; height: auto; display: block; margin: 6px auto; }
.caption { font-size: 12.5px; color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; margin: 6px 0; }
.legend .nerve { min-width: 250px; }
.swatch { display: inline-block; width: 11px; height: 11px; border: 1px solid #777; margin: 0 3px 0 6px;
          vertical-align: -1px; }
.kv { font-size: 13px; }
.kv span { margin-right: 16px; }
.bad { color: var(--abn); font-weight: 700; }
footer { margin-top: 30px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line);
         padding-top: 8px; }
@media print { body { background: white; } details { border: none; } }
"""


def _inputs_html(inputs: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for role in sorted(inputs, key=lambda r: (r not in ("pre", "post"), r != "pre", r)):
        raw = inputs[role]
        if isinstance(raw, Mapping):
            if raw.get("file"):
                shown = _file_name(raw["file"])
            elif raw.get("series_number") is not None or raw.get("series_description"):
                shown = " ".join(
                    p
                    for p in (
                        f"series {raw.get('series_number')}" if raw.get("series_number") is not None else "",
                        f"“{raw.get('series_description')}”" if raw.get("series_description") else "",
                    )
                    if p
                )
            else:
                shown = "(given)"
        elif isinstance(raw, str) and raw:
            shown = _file_name(raw)
        else:
            shown = "(none)"
        parts.append(f"<span><b>{_e(role)}</b>: {_e(shown)}</span>")
    return " &nbsp; ".join(parts) if parts else "<span>(not recorded)</span>"


def _header(findings: Mapping[str, Any]) -> str:
    software = findings.get("software") or {}
    mode = str(findings.get("mode", "unknown"))
    mode_text = {
        "pre_post": "pre- and post-contrast T1 (enhancement = post − pre after normalisation)",
        "post_only": "POST-CONTRAST ONLY — no pre-contrast image: enhancement is post-contrast signal "
        "relative to reference tissue and to the other side; intrinsic T1 brightness cannot be excluded",
    }.get(mode, mode)
    mode_cls = ' class="bad"' if mode == "post_only" else ""
    version = f"{software.get('name', 'cnmri')} {software.get('version', '?')}"
    return (
        "<header>"
        "<h1>Cranial nerve MRI analysis</h1>"
        f'<div class="meta"><b>Software</b>: {_e(version)} &nbsp; <b>Schema</b>: '
        f"{_e(findings.get('schema_version', '?'))}</div>"
        f'<div class="meta"><b>Mode</b>: <span{mode_cls}>{_e(mode_text)}</span></div>'
        f'<div class="meta"><b>Inputs</b>: {_inputs_html(findings.get("inputs") or {})}</div>'
        '<div class="disclaimer">Decision support — not a diagnosis.'
        "<span>Automated measurements of atlas-defined nerve segments warped to this study. Every finding "
        "must be confirmed on the source images by a radiologist and read with the clinical context.</span>"
        "</div>"
        f"{_warnings(findings.get('warnings') or [])}"
        f"{_registration(findings.get('registration'))}"
        "</header>"
    )


def _warnings(warnings: Iterable[object]) -> str:
    items = [str(w) for w in warnings]
    if not items:
        return '<div class="nowarn">No processing warnings.</div>'
    lis = "".join(f"<li>{_e(w)}</li>" for w in items)
    return f'<div class="warnings"><b>Warnings ({len(items)})</b><ul>{lis}</ul></div>'


def _registration(reg: object) -> str:
    if not isinstance(reg, Mapping) or not reg:
        return '<div class="meta"><b>Registration</b>: not reported</div>'
    spans = []
    for key, value in reg.items():
        if isinstance(value, float):
            shown = _num(value, 3)
        elif isinstance(value, Mapping | list | tuple):
            continue
        else:
            shown = _e(value)
        cls = ' class="bad"' if key == "status" and str(value).lower() not in ("ok", "pass", "passed") else ""
        spans.append(f"<span>{_e(key)}: <b{cls}>{shown}</b></span>")
    return f'<div class="meta kv"><b>Registration quality</b>: {"".join(spans)}</div>'


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


def _pattern(findings: Mapping[str, Any]) -> str:
    pattern = findings.get("pattern") or {}
    abnormal = str(pattern.get("kind", "normal")) != "normal"
    cls = "pattern abnormal" if abnormal else "pattern"
    text = pattern_text(pattern)
    head, _, rest = text.partition(": ")
    body = f"<b>{_e(head)}</b>" + (f": {_e(rest)}" if rest else "")
    return f'<div class="{cls}">Pattern — {body}</div>'


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
        if isinstance(s, Mapping)
        and str(s.get("nerve")) == nerve
        and (side is None or str(s.get("side")) == side)
    ]


def _summary_table(findings: Mapping[str, Any]) -> str:
    nerves = _index_nerves(findings)
    extra = sorted({n for n, _ in nerves} - set(NERVES), key=_nerve_order)
    head = (
        "<tr><th rowspan=2>Nerve</th>"
        + "".join(f"<th colspan=3>Patient's {side}</th>" for side in SIDES)
        + "</tr><tr>"
        + "<th>Status</th><th>Score</th><th>Abnormal segments</th>" * len(SIDES)
        + "</tr>"
    )
    rows = []
    for nerve in (*NERVES, *extra):
        cells = [f"<th>{_e(_nerve_label(nerve))}</th>"]
        for side in SIDES:
            item = nerves.get((nerve, side))
            if item is None:
                assessed = bool(_segments_of(findings, nerve, side))
                status = "not summarised" if assessed else "not assessed"
                cells.append(f'<td class="status-na">{status}</td><td class="num">—</td><td></td>')
                continue
            abnormal = _as_bool(item.get("abnormal"))
            segs = ", ".join(segment_label(s) for s in item.get("abnormal_segments") or [])
            cls = ' class="abnormal"' if abnormal else ""
            if abnormal:
                status = f'<a href="#{_anchor(nerve, side)}" class="status-abn">ABNORMAL</a>'
            else:
                status = '<span class="status-ok">normal</span>'
            num_cls = ' class="num abnormal"' if abnormal else ' class="num"'
            cells.append(
                f"<td{cls}>{status}</td><td{num_cls}>{_num(item.get('score'))}</td><td{cls}>{_e(segs)}</td>"
            )
        row_cls = ' class="nerve-row"'
        rows.append(f'<tr{row_cls} id="row-{_e(nerve)}" data-nerve="{_e(nerve)}">{"".join(cells)}</tr>')
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def _reasons(reasons: object) -> str:
    if not isinstance(reasons, list | tuple) or not reasons:
        return ""
    return "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"


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


def _segment_rows(segments: list[Mapping[str, Any]]) -> str:
    rows = []
    side_order = {side: i for i, side in enumerate(SIDES)}
    names: list[str] = []
    for seg in segments:
        if str(seg.get("segment")) not in names:
            names.append(str(seg.get("segment")))
    # Segment by segment (brainstem outwards, as listed), right then left, so the sides sit together.
    ordered = sorted(
        segments, key=lambda s: (names.index(str(s.get("segment"))), side_order.get(str(s.get("side")), 9))
    )
    for seg in ordered:
        abnormal = _as_bool(seg.get("abnormal"))
        phys = _as_bool(seg.get("physiologic_enhancement"))
        name = _e(segment_label(seg.get("segment", "?")))
        if phys:
            name += ' <span class="badge" title="may enhance normally">physiologic</span>'
        status = (
            '<span class="status-abn">ABNORMAL</span>'
            if abnormal
            else '<span class="status-ok">normal</span>'
        )
        rows.append(
            f'<tr class="{"abnormal" if abnormal else "normal"}">'
            f"<td>{_e(seg.get('side', '?'))}</td><td>{name}</td><td>{status}</td>"
            f'<td class="num">{_num(seg.get("enhancement"))}</td>'
            f'<td class="num">{_num(seg.get("enhancement_ratio"))}</td>'
            f'<td class="num">{_num(seg.get("thickness_mm"), 1)}</td>'
            f'<td class="num">{_num(seg.get("asymmetry"))}</td>'
            f'<td class="num">{_num(seg.get("z"), 1)}</td>'
            f'<td class="num">{_num(seg.get("z_thickness"), 1)}</td>'
            f'<td class="reasons">{_reasons(seg.get("reasons"))}</td>'
            f'<td class="from">{_e(_computed_from(seg.get("computed_from")))}</td>'
            "</tr>"
        )
    return "".join(rows)


SEGMENT_HEAD = (
    "<tr><th>Side</th><th>Segment</th><th>Status</th><th>Enhancement<br><small>norm. units</small></th>"
    "<th>Ratio<br><small>post/pre</small></th><th>Thickness<br><small>mm</small></th>"
    "<th>Asymmetry<br><small>L vs R</small></th><th>z<br><small>enh.</small></th>"
    "<th>z<br><small>thick.</small></th><th>Reasons</th><th>Computed from</th></tr>"
)


def _segment_tables(findings: Mapping[str, Any]) -> str:
    nerves = _index_nerves(findings)
    present = {str(s.get("nerve")) for s in findings.get("segments") or [] if isinstance(s, Mapping)}
    blocks = []
    for nerve in sorted(set(NERVES) | present, key=_nerve_order):
        segments = _segments_of(findings, nerve)
        abnormal_sides = [
            side
            for side in SIDES
            if _as_bool((nerves.get((nerve, side)) or {}).get("abnormal"))
            or any(_as_bool(s.get("abnormal")) for s in _segments_of(findings, nerve, side))
        ]
        flag = (
            f'<span class="status-abn">abnormal: {_e(", ".join(abnormal_sides))}</span>'
            if abnormal_sides
            else ""
        )
        opened = " open" if abnormal_sides else ""
        count = f"{len(segments)} segment measurements" if segments else "no segments measured"
        body = (
            f'<table class="segments">{SEGMENT_HEAD}{_segment_rows(segments)}</table>'
            if segments
            else '<p class="status-na">No segment of this nerve was measured.</p>'
        )
        blocks.append(
            f'<details class="nerve-detail" data-nerve="{_e(nerve)}"{opened}>'
            f'<summary>{_e(_nerve_label(nerve))} <span class="meta">({count})</span>{flag}</summary>'
            f"{body}</details>"
        )
    return "".join(blocks)


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
    inside = (
        enh[np.asarray(images.labels.data) > 0] if images.labels.shape == images.enhancement.shape else enh
    )
    inside = inside[np.isfinite(inside)]
    if inside.size == 0:
        return 1.0
    return float(max(1.0, np.percentile(inside, 99.5)))


def _key_images(findings: Mapping[str, Any], images: ReportImages) -> str:
    nerves = _index_nerves(findings)
    targets = sorted(
        {(n, s) for (n, s), item in nerves.items() if _as_bool(item.get("abnormal"))}
        | {
            (str(seg.get("nerve")), str(seg.get("side")))
            for seg in findings.get("segments") or []
            if isinstance(seg, Mapping) and _as_bool(seg.get("abnormal"))
        },
        key=lambda ns: (_nerve_order(ns[0]), SIDES.index(ns[1]) if ns[1] in SIDES else 9),
    )
    if not targets:
        return "<p>No abnormal nerve: no key images.</p>"
    by_key: dict[str, set[int]] = {}
    for value, key in images.label_keys.items():
        by_key.setdefault(key, set()).add(int(value))
    vmax = enhancement_scale(images)
    quantize = len(targets) > MAX_FULL_QUALITY_FIGURES  # keeps the file under ~5 MB with many nerves
    blocks = []
    for nerve, side in targets:
        seg = most_abnormal_segment(findings, nerve, side)
        title = f"{_nerve_label(nerve)}, {side}"
        anchor = _anchor(nerve, side)
        if seg is None:
            blocks.append(
                f'<section class="keyimg" id="{anchor}" data-nerve="{_e(nerve)}-{_e(side)}">'
                f"<h3>{_e(title)}</h3><p>No segment measurements.</p></section>"
            )
            continue
        key = f"{nerve}-{side}-{seg.get('segment')}"
        seg_name = segment_label(seg.get("segment"))
        focus = frozenset(by_key.get(key, set()))
        context = frozenset(
            v for k, vals in by_key.items() if k.startswith(f"{nerve}-{side}-") and k != key for v in vals
        )
        centre = _centre_of(images, key, focus)
        caption_vals = (
            f"enhancement {_num(seg.get('enhancement'))}, ratio {_num(seg.get('enhancement_ratio'))}, "
            f"thickness {_num(seg.get('thickness_mm'), 1, ' mm')}, asymmetry {_num(seg.get('asymmetry'))}, "
            f"z {_num(seg.get('z'), 1)}"
        )
        others = [
            segment_label(s.get("segment"))
            for s in _segments_of(findings, nerve, side)
            if _as_bool(s.get("abnormal")) and s is not seg
        ]
        if centre is None:
            figure = '<p class="status-na">This segment is not in the label map; no images.</p>'
        else:
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
            figure = _img(png, f"Key images of {title}: axial, coronal and sagittal")
        x, y, z = centre if centre is not None else (math.nan,) * 3
        blocks.append(
            f'<section class="keyimg" id="{anchor}" data-nerve="{_e(nerve)}-{_e(side)}">'
            f"<h3>{_e(title)} — {_e(segment_label(seg.get('segment')))} segment</h3>"
            f'<div class="caption">{_e(caption_vals)}.'
            + (f" Also abnormal: {_e(', '.join(others))}." if others else "")
            + f" Centre (RAS mm): {_num(x, 0)}, {_num(y, 0)}, {_num(z, 0)}; field of view "
            f"{KEY_FOV_MM:.0f} mm. Yellow: the segment in focus; blue: the other segments of this nerve"
            + (
                "; enhancement colour scale in normalised units (values below the grey tick are not "
                "coloured)."
                if images.enhancement is not None
                else ". Post-contrast only: no enhancement map."
            )
            + "</div>"
            f"{figure}</section>"
        )
    return "".join(blocks)


def _mosaic(findings: Mapping[str, Any], images: ReportImages) -> str:
    abnormal_keys = {
        f"{s.get('nerve')}-{s.get('side')}-{s.get('segment')}"
        for s in findings.get("segments") or []
        if isinstance(s, Mapping) and _as_bool(s.get("abnormal"))
    }
    if not images.label_keys:
        return "<p>No segments in the label map.</p>"
    png = figures.overview_mosaic_png(images.post, images.labels, images.label_keys, abnormal_keys)
    colours = figures.segment_colours(list(images.label_keys.values()))
    per_nerve: dict[str, dict[str, tuple[float, float, float]]] = {}
    for key, colour in colours.items():
        nerve, _side, segment = figures.split_key(key)
        per_nerve.setdefault(nerve, {}).setdefault(segment, colour)
    legend = []
    for nerve in sorted(per_nerve, key=_nerve_order):
        swatches = "".join(
            f'<span class="swatch" style="background:rgb({int(c[0] * 255)},{int(c[1] * 255)},'
            f'{int(c[2] * 255)})"></span>{_e(segment_label(seg))}'
            for seg, c in per_nerve[nerve].items()
        )
        legend.append(f'<div class="nerve"><b>{_e(_nerve_label(nerve))}</b>{swatches}</div>')
    return (
        _img(png, "Overview: axial slices through the skull base with every nerve segment", "figure mosaic")
        + '<div class="caption">Axial slices from caudal (first) to cranial (last), each with its level. '
        "Each nerve has its own hue; its successive segments alternate lighter and darker shades "
        "(both sides alike). Abnormal segments have a white edge. "
        + _e(figures.CONVENTION_NOTE)
        + "</div>"
        + f'<div class="legend">{"".join(legend)}</div>'
    )


# ------------------------------------------------------------------------------------------ public


def render_report_html(
    findings: Mapping[str, Any],
    images: ReportImages,
    clinical_html: str | None = None,
    comparison_html: str | None = None,
) -> str:
    """The whole report as one self-contained HTML string.

    ``findings`` is the CONTRACTS.md §2 dictionary. ``clinical_html`` is an already-rendered, trusted
    fragment (CNS status and differential) placed in its own section; ``comparison_html`` likewise the
follow-up comparison section (``analyze --baseline``); everything else is escaped here.
    """
    software = findings.get("software") or {}
    sections = [
        _header(findings),
        _pattern(findings),
        "<h2>Summary: all cranial nerves, both sides</h2>",
        '<p class="caption">Score: the nerve\'s abnormality score from the assessment (0–1). Click '
        "ABNORMAL to jump to the key images.</p>",
        _summary_table(findings),
    ]
    if clinical_html:
        sections.append(f'<section class="clinical"><h2>Clinical context</h2>{clinical_html}</section>')
    if comparison_html:
        # An already-escaped section from cnmri.report.compare (a follow-up reads as one report).
        sections.append(comparison_html)
    sections += [
        "<h2>Key images of abnormal nerves</h2>",
        _key_images(findings, images),
        "<h2>Overview: posterior fossa and skull base</h2>",
        _mosaic(findings, images),
        "<h2>All segment measurements</h2>",
        '<p class="caption">Enhancement: post − pre signal inside the segment, normalised to reference '
        "tissue (post-only mode: post signal relative to reference tissue). Ratio: post/pre signal. "
        "Thickness: diameter orthogonal to the centreline. Asymmetry: relative difference from the "
        "same segment on the other side. z: against the normative reference (enhancement, thickness). "
        '<span class="badge">physiologic</span> marks segments that may enhance normally; they are '
        "judged by stronger criteria. Nerves with an abnormal side are expanded.</p>",
        _segment_tables(findings),
        f"<footer>{_e(software.get('name', 'cnmri'))} {_e(software.get('version', ''))} — decision "
        "support, not a diagnosis. Images: subject space, radiological convention. This file is "
        "self-contained and makes no network requests.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Cranial nerve MRI analysis — decision support</title>"
        f"<style>{CSS}</style></head><body><main>" + "\n".join(sections) + "</main></body></html>\n"
    )


__all__ = ["ReportImages", "enhancement_scale", "most_abnormal_segment", "pattern_text", "render_report_html"]
