"""Clinical reasoning: CNS status by the published criteria and a differential with its evidence.

Typical use::

    case = load_case("case.yaml")
    result = evaluate_case(case)                     # {"cns_status": {...}, "differential": [...], ...}
    print(render_clinical_text(result))

The HTML section of report.html is made in report/: ``cnmri.report.clinical_html.render_clinical_html``.

``evaluate_case`` returns the CONTRACTS.md §4 objects (``cns_status``, on therapy ``cns_relapse``,
``differential`` with tiers, ``differential_version``) plus ``next_steps`` (safety first, each cited),
``warnings`` (e.g. medications not considered) and ``notice`` (the decision-support statement).
"""

from __future__ import annotations

from typing import Any

from cnmri.assess.clinical.cns_status import (
    FRAMEWORKS,
    RULES,
    Boundary,
    Framework,
    assess_cns_status,
    steinherz_bleyer,
)
from cnmri.assess.clinical.differential import (
    DIAGNOSES,
    DIFFERENTIAL_VERSION,
    LEUKEMIC_DIAGNOSES,
    make_facts,
    rank_differential,
    unconsidered_medications,
)
from cnmri.assess.clinical.model import ClinicalCase, case_from_dict, load_case, validate_nerve_sides
from cnmri.assess.clinical.next_steps import safety_next_steps
from cnmri.assess.clinical.relapse import assess_cns_relapse
from cnmri.assess.clinical.render import NOTICE, render_clinical_text

#: A steroid or intrathecal dose this recent makes a negative cytospin less reassuring.
STEROID_IT_WARNING_DAYS = 7


def evaluate_case(
    case: ClinicalCase,
    nerve_findings_override: list[str] | None = None,
    *,
    framework: Framework = "COG",
    sb_boundary: Boundary | None = None,
) -> dict[str, Any]:
    """CNS status and ranked differential for ``case``.

    ``nerve_findings_override`` (e.g. the abnormal nerves found on the images, ``["CN7-left", ...]``)
    replaces ``case.imaging.nerve_findings``; ``None`` keeps the case's own. ``framework`` chooses the
    primary CNS-status framework (the others are listed beside it) and ``sb_boundary`` the
    Steinherz/Bleyer comparison (``"gt"`` or ``"ge"``; ``None``: each framework's own wording).
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    if sb_boundary not in (None, "gt", "ge"):
        raise ValueError(f"sb_boundary must be 'gt' or 'ge', got {sb_boundary!r}")
    findings = (
        validate_nerve_sides(nerve_findings_override, "nerve_findings_override")
        if nerve_findings_override is not None
        else None
    )
    differential = rank_differential(case, nerve_findings=findings)
    top = differential[0]
    leading = (top["diagnosis"], top["label"], top["diagnosis"] in LEUKEMIC_DIAGNOSES)
    facts = make_facts(case, findings)
    recent = [
        days
        for days in (facts.drug_days("steroid"), facts.drug_days("intrathecal"))
        if days is not None and days <= STEROID_IT_WARNING_DAYS
    ]
    status = assess_cns_status(
        case,
        framework=framework,
        sb_boundary=sb_boundary,
        nerve_findings=findings,
        leading=leading,
        steroid_or_it_days=min(recent) if recent else None,
    )
    relapse = assess_cns_relapse(case, leading) if status["context"] == "on_therapy" else None
    warnings = unconsidered_medications(case)
    if status["context"] is None:
        warnings.append("disease.phase not given: diagnosis or on therapy (CNS relapse) cannot be told apart; give it")
    if findings is not None and case.imaging.nerve_findings is not None:
        warnings.append("imaging.nerve_findings in the case was replaced by the nerve findings from the images")
    result: dict[str, Any] = {"cns_status": status}
    if relapse is not None:
        result["cns_relapse"] = relapse
    result.update(
        differential=differential,
        differential_version=DIFFERENTIAL_VERSION,
        next_steps=safety_next_steps(facts, differential, relapse),
        warnings=warnings,
        notice=NOTICE,
    )
    return result


def __getattr__(name: str) -> Any:
    """``render_clinical_html`` under its former address, for existing callers (imported on first use).

    The markup is made in report/ (:mod:`cnmri.report.clinical_html`); assess/ imports nothing of it, so
    importing this package never loads the templates.
    """
    if name == "render_clinical_html":
        from importlib import import_module

        return import_module("cnmri.report.clinical_html").render_clinical_html
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIAGNOSES",
    "DIFFERENTIAL_VERSION",
    "FRAMEWORKS",
    "NOTICE",
    "RULES",
    "ClinicalCase",
    "case_from_dict",
    "evaluate_case",
    "load_case",
    "render_clinical_html",
    "render_clinical_text",
    "steinherz_bleyer",
]
