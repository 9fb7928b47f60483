"""Terminal text and HTML fragment for a clinical evaluation (the dict from ``evaluate_case``).

Order of both: on therapy the CNS relapse assessment first (that is the question then), then the CNS
status by the diagnostic definitions, the safety-first next steps, and the differential by tier.
"""

from __future__ import annotations

from html import escape
from typing import Any

NOTICE = (
    "Decision support, not a diagnosis: CNS status and relapse follow the published definitions as encoded "
    "here; the differential tiers come from hand-set points, and the scores are shares of that support "
    "(capped), not probabilities."
)
PRIORITY_LABELS = {
    "urgent": "Urgent",
    "before_lumbar_puncture": "Before the lumbar puncture",
    "recommended": "Recommended",
}


def _category(status: dict[str, Any]) -> str:
    text = str(status.get("category"))
    if status.get("subcategory"):
        text += f" ({status['subcategory']})"
    if status.get("alternative_cause"):
        label = "CNS3c" if status.get("framework") == "COG" else "CNS3"
        text += f" ({label} only if {status['alternative_cause']} is excluded)"
    return text


def _tap(status: dict[str, Any]) -> str:
    value = status.get("traumatic_tap")
    return "not known (CSF RBC missing)" if value is None else ("yes" if value else "no")


def _relapse_head(relapse: dict[str, Any]) -> str:
    text = str(relapse["status"]).replace("_", " ")
    if relapse.get("type"):
        text += f", {str(relapse['type']).replace('_', ' ')}"
    return text


def _relapse_text(relapse: dict[str, Any]) -> list[str]:
    lines = [f"CNS relapse (on therapy): {_relapse_head(relapse)}"]
    lines.extend(f"  - {line}" for line in relapse.get("rationale", []))
    if relapse.get("missing"):
        lines.append("  missing (obtain to decide):")
        lines.extend(f"    * {item}" for item in relapse["missing"])
    lines.append("  sources:")
    lines.extend(f"    [{i}] {source}" for i, source in enumerate(relapse.get("sources", []), 1))
    return lines


def _status_text(status: dict[str, Any], on_therapy: bool) -> list[str]:
    head = "CNS status by the diagnostic definitions" if on_therapy else "CNS status"
    lines = [f"{head} ({status.get('label', status['framework'])}): {_category(status)}"]
    lines.append(f"  traumatic tap: {_tap(status)}")
    for line in status.get("rationale", []):
        lines.append(f"  - {line.strip()}")
    if status.get("missing"):
        lines.append("  missing (obtain to decide):")
        lines.extend(f"    * {item}" for item in status["missing"])
    for warning in status.get("warnings", []):
        lines.append(f"  ! {warning}")
    others = status.get("other_frameworks", [])
    if others:
        lines.append("  other frameworks: " + "; ".join(f"{o['label']} {_category(o)}" for o in others))
    lines.append("  sources:")
    lines.extend(f"    [{i}] {source}" for i, source in enumerate(status.get("sources", []), 1))
    return lines


def _steps_text(steps: list[dict[str, Any]]) -> list[str]:
    if not steps:
        return []
    lines = ["Next steps (safety first):"]
    for step in steps:
        lines.append(f"  [{PRIORITY_LABELS.get(step['priority'], step['priority'])}] {step['step']}")
        lines.append(f"      why: {step['reason']}")
        lines.append(f"      source: {step['source']}")
    return lines


def render_clinical_text(result: dict[str, Any], top: int = 5) -> str:
    """A readable summary for the terminal; the first ``top`` entities of the differential in full."""
    status = result["cns_status"]
    relapse = result.get("cns_relapse")
    lines: list[str] = []
    if relapse is not None:
        lines += [*_relapse_text(relapse), ""]
    lines += _status_text(status, relapse is not None)
    lines.append("")
    steps = _steps_text(result.get("next_steps", []))
    if steps:
        lines += [*steps, ""]
    version = result.get("differential_version")
    lines.append(
        "Differential (ranked by points; tier leading/possible/unlikely"
        + (f"; data version {version}" if version else "")
        + "):"
    )
    for rank, item in enumerate(result["differential"], 1):
        tier = item.get("tier", "")
        head = f"{rank:>2}. [{tier}] {item['label']}  ({item['points']:+.1f} points, share {item['score']:.2f})"
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


def _relapse_html(relapse: dict[str, Any]) -> list[str]:
    parts = ["<h3>CNS relapse (on therapy)</h3>"]
    parts.append(f'<p class="cnmri-relapse"><strong>CNS relapse: {escape(_relapse_head(relapse))}</strong></p>')
    parts.append(_list(relapse.get("rationale", [])))
    if relapse.get("missing"):
        parts.append("<p>Missing (obtain to decide):</p>" + _list(relapse["missing"], "cnmri-missing"))
    parts.append("<details><summary>Sources</summary>" + _list(relapse.get("sources", [])) + "</details>")
    return parts


def _status_html(status: dict[str, Any], on_therapy: bool) -> list[str]:
    head = "CNS status by the diagnostic definitions" if on_therapy else "CNS status"
    parts = [f"<h3>{head}</h3>"]
    label = escape(str(status.get("label", status["framework"])))
    parts.append(
        f"<p><strong>{label}: {escape(_category(status))}</strong> &middot; traumatic tap: {escape(_tap(status))}</p>"
    )
    parts.append(_list([line.strip() for line in status.get("rationale", [])]))
    if status.get("missing"):
        parts.append("<p>Missing (obtain to decide):</p>" + _list(status["missing"], "cnmri-missing"))
    if status.get("warnings"):
        parts.append(_list(status["warnings"], "cnmri-warnings"))
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
    return parts


def _steps_html(steps: list[dict[str, Any]]) -> list[str]:
    if not steps:
        return []
    items = "".join(
        f"<li><strong>{escape(PRIORITY_LABELS.get(step['priority'], step['priority']))}:</strong> "
        f"{escape(step['step'])}<br><small>Why: {escape(step['reason'])}. Source: {escape(step['source'])}"
        "</small></li>"
        for step in steps
    )
    return ["<h3>Next steps (safety first)</h3>", f'<ol class="cnmri-next-steps">{items}</ol>']


def render_clinical_html(result: dict[str, Any]) -> str:
    """An HTML fragment (a ``<section>``), every value escaped, for embedding in report.html."""
    status = result["cns_status"]
    relapse = result.get("cns_relapse")
    parts = ['<section class="cnmri-clinical">', "<h2>Clinical assessment</h2>"]
    parts.append(f'<p class="cnmri-notice"><strong>{escape(NOTICE)}</strong></p>')
    if relapse is not None:
        parts += _relapse_html(relapse)
    parts += _status_html(status, relapse is not None)
    parts += _steps_html(result.get("next_steps", []))
    version = result.get("differential_version")
    parts.append(
        "<h3>Differential diagnosis</h3>"
        + (f'<p class="caption">Differential data version {escape(str(version))}.</p>' if version else "")
    )
    parts.append("<ol>")
    for item in result["differential"]:
        tier = escape(str(item.get("tier", "")))
        parts.append(
            f'<li><span class="tier tier-{tier}">{tier}</span> <strong>{escape(str(item["label"]))}</strong>'
            f" ({item['points']:+.1f} points, share {item['score']:.2f})"
        )
        for title, key in (
            ("For", "for"),
            ("Against", "against"),
            ("Next steps", "next_steps"),
            ("Missing", "missing"),
        ):
            if item.get(key):
                parts.append(f"<div>{title}:</div>" + _list(item[key]))
        parts.append("<details><summary>Sources</summary>" + _list(item.get("sources", [])) + "</details></li>")
    parts.append("</ol>")
    if result.get("warnings"):
        parts.append("<h3>Warnings</h3>" + _list(result["warnings"], "cnmri-warnings"))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


__all__ = ["NOTICE", "render_clinical_html", "render_clinical_text"]
