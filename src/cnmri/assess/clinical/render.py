"""Terminal text and HTML fragment for a clinical evaluation (the dict from ``evaluate_case``)."""

from __future__ import annotations

from html import escape
from typing import Any

NOTICE = (
    "Decision support, not a diagnosis: CNS status follows the published definitions as encoded here, and "
    "the differential scores are hand-set ranking points (0–1, capped at 0.95), not probabilities."
)


def _category(status: dict[str, Any]) -> str:
    text = str(status.get("category"))
    if status.get("subcategory"):
        text += f" ({status['subcategory']})"
    return text


def _tap(status: dict[str, Any]) -> str:
    value = status.get("traumatic_tap")
    return "not known (CSF RBC missing)" if value is None else ("yes" if value else "no")


def render_clinical_text(result: dict[str, Any], top: int = 5) -> str:
    """A readable summary for the terminal; the first ``top`` entities of the differential in full."""
    status = result["cns_status"]
    lines = [f"CNS status ({status.get('label', status['framework'])}): {_category(status)}"]
    lines.append(f"  traumatic tap: {_tap(status)}")
    for line in status.get("rationale", []):
        lines.append(f"  - {line.strip()}")
    if status.get("missing"):
        lines.append("  missing (obtain to decide):")
        lines.extend(f"    * {item}" for item in status["missing"])
    others = status.get("other_frameworks", [])
    if others:
        lines.append("  other frameworks: " + "; ".join(f"{o['label']} {_category(o)}" for o in others))
    lines.append("  sources:")
    lines.extend(f"    [{i}] {source}" for i, source in enumerate(status.get("sources", []), 1))
    lines.append("")
    lines.append("Differential (ranked by points; score 0-1 is not a probability):")
    for rank, item in enumerate(result["differential"], 1):
        head = f"{rank:>2}. {item['label']}  score {item['score']:.2f}  ({item['points']:+.1f} points)"
        lines.append(head)
        if rank > top:
            continue
        for label, key in (
            ("for", "for"),
            ("against", "against"),
            ("next", "next_steps"),
            ("missing", "missing"),
        ):
            for entry in item.get(key, []):
                lines.append(f"      {label}: {entry}")
    if result.get("warnings"):
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  - {warning}" for warning in result["warnings"])
    lines.append("")
    lines.append(NOTICE)
    return "\n".join(lines) + "\n"


def _list(items: list[str], css: str = "") -> str:
    if not items:
        return ""
    klass = f' class="{css}"' if css else ""
    return f"<ul{klass}>" + "".join(f"<li>{escape(str(item))}</li>" for item in items) + "</ul>"


def render_clinical_html(result: dict[str, Any]) -> str:
    """An HTML fragment (a ``<section>``), every value escaped, for embedding in report.html."""
    status = result["cns_status"]
    parts = ['<section class="cnmri-clinical">', "<h2>Clinical assessment</h2>"]
    parts.append(f'<p class="cnmri-notice"><strong>{escape(NOTICE)}</strong></p>')
    parts.append("<h3>CNS status</h3>")
    label = escape(str(status.get("label", status["framework"])))
    parts.append(
        f"<p><strong>{label}: {escape(_category(status))}</strong>"
        f" &middot; traumatic tap: {escape(_tap(status))}</p>"
    )
    parts.append(_list([line.strip() for line in status.get("rationale", [])]))
    if status.get("missing"):
        parts.append("<p>Missing (obtain to decide):</p>" + _list(status["missing"], "cnmri-missing"))
    others = status.get("other_frameworks", [])
    if others:
        rows = "".join(
            f"<tr><td>{escape(str(o['label']))}</td><td>{escape(_category(o))}</td>"
            f"<td>{escape('; '.join(o.get('missing', [])))}</td></tr>"
            for o in others
        )
        parts.append(
            "<table><thead><tr><th>Framework</th><th>Category</th><th>Missing</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    parts.append("<details><summary>Sources</summary>" + _list(status.get("sources", [])) + "</details>")
    parts.append("<h3>Differential diagnosis</h3>")
    parts.append("<ol>")
    for item in result["differential"]:
        parts.append(
            f"<li><strong>{escape(str(item['label']))}</strong> score {item['score']:.2f}"
            f" ({item['points']:+.1f} points)"
        )
        for title, key in (
            ("For", "for"),
            ("Against", "against"),
            ("Next steps", "next_steps"),
            ("Missing", "missing"),
        ):
            if item.get(key):
                parts.append(f"<div>{title}:</div>" + _list(item[key]))
        parts.append(
            "<details><summary>Sources</summary>" + _list(item.get("sources", [])) + "</details></li>"
        )
    parts.append("</ol>")
    if result.get("warnings"):
        parts.append("<h3>Warnings</h3>" + _list(result["warnings"], "cnmri-warnings"))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


__all__ = ["NOTICE", "render_clinical_html", "render_clinical_text"]
