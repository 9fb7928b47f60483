"""Terminal text for a clinical evaluation (the dict from ``evaluate_case``).

The HTML section of report.html is made in :mod:`cnmri.report.clinical_html` from the same dict and
the wording helpers here (assess/ computes and words; report/ makes markup). Order of both: on therapy
the CNS relapse assessment first (that is the question then), then the CNS status by the diagnostic
definitions, the safety-first next steps, and the differential by tier.
"""

from __future__ import annotations

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


def category_text(status: dict[str, Any]) -> str:
    """The category with its subcategory and, when one applies, the cause to exclude first."""
    text = str(status.get("category"))
    if status.get("subcategory"):
        text += f" ({status['subcategory']})"
    if status.get("alternative_cause"):
        label = "CNS3c" if status.get("framework") == "COG" else "CNS3"
        text += f" ({label} only if {status['alternative_cause']} is excluded)"
    return text


def traumatic_tap_text(status: dict[str, Any]) -> str:
    """Whether the tap was traumatic, in words (unknown when the CSF red cell count is missing)."""
    value = status.get("traumatic_tap")
    return "not known (CSF RBC missing)" if value is None else ("yes" if value else "no")


def relapse_heading(relapse: dict[str, Any]) -> str:
    """The relapse status and its type in words (underscores shown as spaces)."""
    text = str(relapse["status"]).replace("_", " ")
    if relapse.get("type"):
        text += f", {str(relapse['type']).replace('_', ' ')}"
    return text


def _relapse_text(relapse: dict[str, Any]) -> list[str]:
    lines = [f"CNS relapse (on therapy): {relapse_heading(relapse)}"]
    lines.extend(f"  - {line}" for line in relapse.get("rationale", []))
    if relapse.get("missing"):
        lines.append("  missing (obtain to decide):")
        lines.extend(f"    * {item}" for item in relapse["missing"])
    lines.append("  sources:")
    lines.extend(f"    [{i}] {source}" for i, source in enumerate(relapse.get("sources", []), 1))
    return lines


def _status_text(status: dict[str, Any], on_therapy: bool) -> list[str]:
    head = "CNS status by the diagnostic definitions" if on_therapy else "CNS status"
    lines = [f"{head} ({status.get('label', status['framework'])}): {category_text(status)}"]
    lines.append(f"  traumatic tap: {traumatic_tap_text(status)}")
    for line in status.get("rationale", []):
        lines.append(f"  - {line.strip()}")
    if status.get("missing"):
        lines.append("  missing (obtain to decide):")
        lines.extend(f"    * {item}" for item in status["missing"])
    for warning in status.get("warnings", []):
        lines.append(f"  ! {warning}")
    others = status.get("other_frameworks", [])
    if others:
        lines.append("  other frameworks: " + "; ".join(f"{o['label']} {category_text(o)}" for o in others))
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


__all__ = [
    "NOTICE",
    "PRIORITY_LABELS",
    "category_text",
    "relapse_heading",
    "render_clinical_text",
    "traumatic_tap_text",
]
