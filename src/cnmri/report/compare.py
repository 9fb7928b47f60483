"""Follow-up comparison of two analyses of the same patient (two ``findings.json``, CONTRACTS.md §2).

Segments are matched by ``(nerve, side, segment)``. For each matched segment the change in enhancement
and thickness is computed and a response category assigned:

- ``new``: normal at baseline, abnormal at follow-up.
- ``resolved``: abnormal at baseline, normal at follow-up.
- abnormal at both: ``progressed`` if enhancement rose or thickness grew beyond the thresholds below,
  otherwise ``improved`` if either fell beyond them, otherwise ``stable``.
- normal at both: ``stable``.
- ``not_compared``: the segment is in only one study, or an abnormal flag is missing.

Thresholds (project choices, not validated; see docs/clinical.md):

- enhancement changes when ``|Δ| ≥ 25 %`` of the baseline value **and** ``|Δ| ≥ 0.1`` (in the units of
  findings.json), so that small values near zero do not swing the relative change;
- thickness changes when ``|Δ| ≥ 0.5 mm`` (about half a voxel of a 1 mm acquisition).

The ``abnormal`` flags come from each analysis' own detector; the categories therefore inherit its
thresholds. Unknown fields in findings.json are ignored.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from cnmri.errors import InputError
from cnmri.report.templating import render, stylesheet

COMPARISON_SCHEMA_VERSION = "1"
ENHANCEMENT_RELATIVE_CHANGE = 0.25
ENHANCEMENT_MIN_ABSOLUTE_CHANGE = 0.1
THICKNESS_CHANGE_MM = 0.5
CATEGORIES: tuple[str, ...] = ("new", "progressed", "stable", "improved", "resolved", "not_compared")
_COLORS = {
    "new": "#b2182b",
    "progressed": "#ef8a62",
    "stable": "#999999",
    "improved": "#67a9cf",
    "resolved": "#2166ac",
    "not_compared": "#dddddd",
}
TSV_COLUMNS: tuple[str, ...] = (
    "nerve",
    "side",
    "segment",
    "category",
    "baseline_abnormal",
    "followup_abnormal",
    "baseline_enhancement",
    "followup_enhancement",
    "enhancement_change",
    "enhancement_change_relative",
    "baseline_thickness_mm",
    "followup_thickness_mm",
    "thickness_change_mm",
    "reason",
)


def _number_or_none(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number or null, got {value!r}")
    return float(value)


def _segments(findings: Any, label: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Validated segments of one findings.json keyed by (nerve, side, segment)."""
    if not isinstance(findings, dict):
        raise InputError(f"{label}: findings.json must hold an object, got {type(findings).__name__}")
    raw = findings.get("segments")
    if not isinstance(raw, list):
        raise InputError(f"{label}: segments: missing or not a list (CONTRACTS.md §2)")
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for index, seg in enumerate(raw):
        where = f"{label}: segments[{index}]"
        if not isinstance(seg, dict):
            raise InputError(f"{where}: expected an object, got {type(seg).__name__}")
        for field in ("nerve", "side", "segment"):
            if not isinstance(seg.get(field), str) or not seg[field]:
                raise InputError(f"{where}.{field}: missing or not text")
        if seg["side"] not in ("left", "right"):
            raise InputError(f"{where}.side: {seg['side']!r} is not allowed; use 'left' or 'right'")
        abnormal = seg.get("abnormal")
        if abnormal is not None and not isinstance(abnormal, bool):
            raise InputError(f"{where}.abnormal: expected true, false or null, got {abnormal!r}")
        key = (seg["nerve"], seg["side"], seg["segment"])
        if key in out:
            raise InputError(f"{where}: {'-'.join(key)} appears twice")
        out[key] = {
            "abnormal": abnormal,
            "enhancement": _number_or_none(seg.get("enhancement"), f"{where}.enhancement"),
            "thickness_mm": _number_or_none(seg.get("thickness_mm"), f"{where}.thickness_mm"),
        }
    return out


def _atlas_version(findings: dict[str, Any]) -> str | None:
    atlas = findings.get("atlas")
    if isinstance(atlas, dict):
        for key in ("version", "atlas_version"):
            if atlas.get(key) is not None:
                return str(atlas[key])
    if findings.get("atlas_version") is not None:
        return str(findings["atlas_version"])
    return None


def _describe(findings: dict[str, Any]) -> dict[str, Any]:
    software = findings.get("software")
    return {
        "schema_version": None if findings.get("schema_version") is None else str(findings["schema_version"]),
        "atlas_version": _atlas_version(findings),
        "mode": findings.get("mode"),
        "rules_version": None if findings.get("rules_version") is None else str(findings["rules_version"]),
        "software_version": software.get("version") if isinstance(software, dict) else None,
    }


def _at_least(value: float, threshold: float) -> bool:
    """``value >= threshold``, forgiving binary rounding (0.3 - 0.2 counts as 0.1)."""
    return value >= threshold - 1e-9


def _enhancement_direction(base: float | None, follow: float | None) -> tuple[int, float | None, float | None]:
    """(-1 fell, 0 no change, +1 rose), the absolute and the relative change."""
    if base is None or follow is None:
        return 0, None, None
    delta = follow - base
    relative = delta / abs(base) if base != 0 else None
    big_relative = relative is None or _at_least(abs(relative), ENHANCEMENT_RELATIVE_CHANGE)
    if _at_least(abs(delta), ENHANCEMENT_MIN_ABSOLUTE_CHANGE) and big_relative:
        return (1 if delta > 0 else -1), delta, relative
    return 0, delta, relative


def _thickness_direction(base: float | None, follow: float | None) -> tuple[int, float | None]:
    if base is None or follow is None:
        return 0, None
    delta = follow - base
    if _at_least(abs(delta), THICKNESS_CHANGE_MM):
        return (1 if delta > 0 else -1), delta
    return 0, delta


def _categorise(base: dict[str, Any] | None, follow: dict[str, Any] | None) -> tuple[str, str, dict[str, float | None]]:
    changes: dict[str, float | None] = {
        "enhancement_change": None,
        "enhancement_change_relative": None,
        "thickness_change_mm": None,
    }
    if base is None or follow is None:
        where = "baseline" if base is None else "follow-up"
        return "not_compared", f"segment not measured at {where}", changes
    enh_dir, enh_delta, enh_rel = _enhancement_direction(base["enhancement"], follow["enhancement"])
    thick_dir, thick_delta = _thickness_direction(base["thickness_mm"], follow["thickness_mm"])
    changes = {
        "enhancement_change": None if enh_delta is None else round(enh_delta, 4),
        "enhancement_change_relative": None if enh_rel is None else round(enh_rel, 4),
        "thickness_change_mm": None if thick_delta is None else round(thick_delta, 3),
    }
    b_ab, f_ab = base["abnormal"], follow["abnormal"]
    if b_ab is None or f_ab is None:
        return "not_compared", "abnormal flag missing in one study", changes
    if not b_ab and f_ab:
        return "new", "normal at baseline, abnormal at follow-up", changes
    if b_ab and not f_ab:
        return "resolved", "abnormal at baseline, normal at follow-up", changes
    if not b_ab:
        return "stable", "normal at both", changes
    worse = [name for name, d in (("enhancement", enh_dir), ("thickness", thick_dir)) if d > 0]
    better = [name for name, d in (("enhancement", enh_dir), ("thickness", thick_dir)) if d < 0]
    if worse:
        return "progressed", f"abnormal at both; {' and '.join(worse)} increased beyond threshold", changes
    if better:
        return "improved", f"abnormal at both; {' and '.join(better)} decreased beyond threshold", changes
    return "stable", "abnormal at both; changes within thresholds", changes


def _overall(counts: dict[str, int], baseline_abnormal: int) -> str:
    if counts["new"] or counts["progressed"]:
        return "progressed"
    if baseline_abnormal and counts["resolved"] == baseline_abnormal:
        return "resolved"
    if counts["improved"] or counts["resolved"]:
        return "improved"
    return "stable"


def compare_findings(base: dict[str, Any], follow: dict[str, Any]) -> dict[str, Any]:
    """Compare two findings.json objects (already parsed); pure, no file access.

    Raises :class:`InputError` naming the study and field when either is not a usable findings.json.
    Returns the ``comparison.json`` object.
    """
    base_segments = _segments(base, "baseline")
    follow_segments = _segments(follow, "follow-up")
    base_info, follow_info = _describe(base), _describe(follow)
    warnings: list[str] = []
    for field, what in (
        ("schema_version", "findings schema versions"),
        ("atlas_version", "atlas versions"),
        ("rules_version", "measurement and rules versions"),
        ("mode", "analysis modes"),
    ):
        if base_info[field] != follow_info[field]:
            warnings.append(
                f"{what} differ (baseline {base_info[field]!r}, follow-up {follow_info[field]!r}); "
                "segment measurements may not be comparable"
            )
    keys = list(base_segments) + [key for key in follow_segments if key not in base_segments]
    rows: list[dict[str, Any]] = []
    for key in keys:
        b, f = base_segments.get(key), follow_segments.get(key)
        category, reason, changes = _categorise(b, f)
        rows.append(
            {
                "nerve": key[0],
                "side": key[1],
                "segment": key[2],
                "category": category,
                "reason": reason,
                "baseline_abnormal": None if b is None else b["abnormal"],
                "followup_abnormal": None if f is None else f["abnormal"],
                "baseline_enhancement": None if b is None else b["enhancement"],
                "followup_enhancement": None if f is None else f["enhancement"],
                "baseline_thickness_mm": None if b is None else b["thickness_mm"],
                "followup_thickness_mm": None if f is None else f["thickness_mm"],
                **changes,
            }
        )
    unmatched = [row for row in rows if row["category"] == "not_compared"]
    if unmatched:
        warnings.append(f"{len(unmatched)} segment(s) could not be compared (see category not_compared)")
    counts = {category: sum(row["category"] == category for row in rows) for category in CATEGORIES}
    baseline_abnormal = sum(1 for seg in base_segments.values() if seg["abnormal"])
    return {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "baseline": base_info,
        "followup": follow_info,
        "thresholds": {
            "enhancement_relative_change": ENHANCEMENT_RELATIVE_CHANGE,
            "enhancement_min_absolute_change": ENHANCEMENT_MIN_ABSOLUTE_CHANGE,
            "thickness_change_mm": THICKNESS_CHANGE_MM,
        },
        "segments": rows,
        "summary": {
            "counts": counts,
            "overall": _overall(counts, baseline_abnormal),
            "baseline_abnormal_segments": baseline_abnormal,
            "followup_abnormal_segments": sum(1 for seg in follow_segments.values() if seg["abnormal"]),
        },
        "warnings": warnings,
    }


def read_findings(path: str | Path) -> dict[str, Any]:
    """Read ``findings.json`` from an analysis output folder (or the file itself)."""
    path = Path(path)
    file = path / "findings.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{file}: no findings.json here; give an analysis output folder (cnmri analyze -o)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{file}: not a readable JSON file: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: findings.json must hold an object, got {type(data).__name__}")
    return data


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def comparison_tsv(result: dict[str, Any]) -> str:
    """One row per segment, columns :data:`TSV_COLUMNS`, empty cells for missing values."""
    lines = ["\t".join(TSV_COLUMNS)]
    lines.extend("\t".join(_cell(row.get(col)) for col in TSV_COLUMNS) for row in result["segments"])
    return "\n".join(lines) + "\n"


def _plot_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        row
        for row in result["segments"]
        if row["category"] != "stable" or row["baseline_abnormal"] or row["followup_abnormal"]
    ]
    return rows or list(result["segments"])


def plot_comparison(result: dict[str, Any]) -> bytes:
    """PNG: change in enhancement and in thickness per segment, coloured by response category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = _plot_rows(result)[:60]
    labels = [f"{r['nerve']}-{r['side'][0].upper()} {r['segment']}" for r in rows]
    colors = [_COLORS[r["category"]] for r in rows]
    height = max(2.5, 0.28 * len(rows) + 1.2)
    fig, axes = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    try:
        positions = list(range(len(rows)))
        for ax, key, title, limit in (
            (axes[0], "enhancement_change", "Δ enhancement", ENHANCEMENT_MIN_ABSOLUTE_CHANGE),
            (axes[1], "thickness_change_mm", "Δ thickness (mm)", THICKNESS_CHANGE_MM),
        ):
            values = [row[key] if row[key] is not None else 0.0 for row in rows]
            ax.barh(positions, values, color=colors)
            ax.axvline(0, color="black", linewidth=0.8)
            for x in (-limit, limit):
                ax.axvline(x, color="grey", linewidth=0.6, linestyle="--")
            ax.set_title(title)
        axes[0].set_yticks(positions)
        axes[0].set_yticklabels(labels, fontsize=7)
        axes[0].invert_yaxis()
        present = [c for c in CATEGORIES if any(r["category"] == c for r in rows)]
        fig.legend(
            handles=[Patch(color=_COLORS[c], label=c) for c in present],
            loc="lower center",
            ncol=len(present) or 1,
            fontsize=8,
            frameon=False,
        )
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    return buffer.getvalue()


#: The stylesheet of the standalone comparison page (a package file, inlined).
COMPARISON_STYLESHEET = "comparison.css"


def comparison_context(result: dict[str, Any], png: bytes | None = None) -> dict[str, Any]:
    """What ``templates/comparison_section.html`` shows, as plain values (the template escapes them)."""
    summary = result["summary"]
    th = result["thresholds"]
    return {
        "css": stylesheet(COMPARISON_STYLESHEET),
        "overall": str(summary["overall"]),
        "baseline_abnormal": summary["baseline_abnormal_segments"],
        "followup_abnormal": summary["followup_abnormal_segments"],
        "counts": [(str(c), n) for c, n in summary["counts"].items() if n],
        "thresholds": (
            f"enhancement change ≥{th['enhancement_relative_change']:.0%} of baseline and "
            f"≥{th['enhancement_min_absolute_change']:g}; thickness change ≥{th['thickness_change_mm']:g} mm"
        ),
        "warnings": [str(w) for w in result["warnings"]],
        "png": png or None,
        "columns": TSV_COLUMNS,
        # Stable segments normal at both studies are left to comparison.tsv (they would fill the page).
        "rows": [
            (str(row["category"]), [_cell(row.get(col)) for col in TSV_COLUMNS])
            for row in result["segments"]
            if row["category"] != "stable" or row["baseline_abnormal"] or row["followup_abnormal"]
        ],
    }


def render_comparison_section(result: dict[str, Any], png: bytes | None = None) -> str:
    """An escaped HTML ``<section>`` (for report.html or the standalone comparison page)."""
    return render("comparison_section.html", **comparison_context(result, png)).strip()


def render_comparison_html(result: dict[str, Any], png: bytes | None = None) -> str:
    """A self-contained HTML page (stylesheet inlined, image as base64)."""
    return render("comparison.html", **comparison_context(result, png))


def write_comparison(
    result: dict[str, Any], out_dir: Path, overwrite: bool = False, inputs: tuple[Path, ...] = ()
) -> Path:
    """Write comparison.json, .tsv, .png and .html atomically into ``out_dir`` (rules in cnmri.io.outputs)."""
    from cnmri.io.outputs import atomic_output_dir, write_json_atomic, write_text_atomic

    png = plot_comparison(result)
    with atomic_output_dir(Path(out_dir), overwrite=overwrite, command="compare", inputs=inputs) as tmp:
        write_json_atomic(tmp / "comparison.json", result)
        write_text_atomic(tmp / "comparison.tsv", comparison_tsv(result))
        (tmp / "comparison.png").write_bytes(png)
        write_text_atomic(tmp / "comparison.html", render_comparison_html(result, png))
    return Path(out_dir)


__all__ = [
    "CATEGORIES",
    "ENHANCEMENT_MIN_ABSOLUTE_CHANGE",
    "ENHANCEMENT_RELATIVE_CHANGE",
    "THICKNESS_CHANGE_MM",
    "compare_findings",
    "comparison_context",
    "comparison_tsv",
    "plot_comparison",
    "read_findings",
    "render_comparison_html",
    "render_comparison_section",
    "write_comparison",
]
