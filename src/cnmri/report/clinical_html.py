"""The clinical section of report.html, from the result of :func:`cnmri.assess.clinical.evaluate_case`.

assess/ computes the CNS status, relapse, next steps and differential (and words them for the terminal
in :mod:`cnmri.assess.clinical.render`); this module only arranges that result for the template
``templates/clinical.html``, which escapes every value: clinical case files are untrusted input.
"""

from __future__ import annotations

from typing import Any

from cnmri.assess.clinical.render import (
    NOTICE,
    PRIORITY_LABELS,
    category_text,
    relapse_heading,
    traumatic_tap_text,
)
from cnmri.report.templating import render

TEMPLATE = "clinical.html"
#: The evidence lists of a differential entry, in the order shown: (title, key in the entry).
EVIDENCE = (("For", "for"), ("Against", "against"), ("Next steps", "next_steps"), ("Missing", "missing"))


def _relapse(relapse: dict[str, Any]) -> dict[str, Any]:
    return {
        "heading": relapse_heading(relapse),
        "rationale": list(relapse.get("rationale", [])),
        "missing": list(relapse.get("missing", [])),
        "sources": list(relapse.get("sources", [])),
    }


def _status(status: dict[str, Any], on_therapy: bool) -> dict[str, Any]:
    return {
        "heading": "CNS status by the diagnostic definitions" if on_therapy else "CNS status",
        "label": str(status.get("label", status["framework"])),
        "category": category_text(status),
        "tap": traumatic_tap_text(status),
        "rationale": [line.strip() for line in status.get("rationale", [])],
        "missing": list(status.get("missing", [])),
        "warnings": list(status.get("warnings", [])),
        "others": [
            {"label": str(o["label"]), "category": category_text(o), "missing": "; ".join(o.get("missing", []))}
            for o in status.get("other_frameworks", [])
        ],
        "sources": list(status.get("sources", [])),
    }


def _step(step: dict[str, Any]) -> dict[str, str]:
    return {
        "priority": str(PRIORITY_LABELS.get(step["priority"], step["priority"])),
        "step": str(step["step"]),
        "reason": str(step["reason"]),
        "source": str(step["source"]),
    }


def _differential_entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "tier": str(item.get("tier", "")),
        "label": str(item["label"]),
        "points": f"{item['points']:+.1f}",
        "share": f"{item['score']:.2f}",
        "evidence": [(title, list(item[key])) for title, key in EVIDENCE if item.get(key)],
        "sources": list(item.get("sources", [])),
    }


def clinical_context(result: dict[str, Any]) -> dict[str, Any]:
    """What ``templates/clinical.html`` shows, as plain values."""
    relapse = result.get("cns_relapse")
    return {
        "notice": NOTICE,
        "relapse": _relapse(relapse) if relapse is not None else None,
        "status": _status(result["cns_status"], relapse is not None),
        "steps": [_step(step) for step in result.get("next_steps", [])],
        "version": result.get("differential_version"),
        "differential": [_differential_entry(item) for item in result["differential"]],
        "warnings": list(result.get("warnings", [])),
    }


def render_clinical_html(result: dict[str, Any]) -> str:
    """An HTML fragment (a ``<section>``), every value escaped, for embedding in report.html."""
    return render(TEMPLATE, **clinical_context(result)).strip()


__all__ = ["clinical_context", "render_clinical_html"]
