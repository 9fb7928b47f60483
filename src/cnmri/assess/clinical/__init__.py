"""Clinical reasoning: CNS status by the published criteria and a differential with its evidence.

Typical use::

    case = load_case("case.yaml")
    result = evaluate_case(case)                     # {"cns_status": {...}, "differential": [...], ...}
    print(render_clinical_text(result))
    fragment = render_clinical_html(result)          # embedded in report.html

``evaluate_case`` returns the CONTRACTS.md §4 objects plus ``warnings`` (e.g. medications not
considered) and ``notice`` (the decision-support statement).
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
from cnmri.assess.clinical.differential import DIAGNOSES, rank_differential, unconsidered_medications
from cnmri.assess.clinical.model import ClinicalCase, case_from_dict, load_case, validate_nerve_sides
from cnmri.assess.clinical.render import NOTICE, render_clinical_html, render_clinical_text


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
    status = assess_cns_status(case, framework=framework, sb_boundary=sb_boundary, nerve_findings=findings)
    differential = rank_differential(case, nerve_findings=findings)
    top = differential[0]
    if case.exam.cranial_nerve_palsies and top["diagnosis"] != "leukemic_infiltration":
        status["rationale"].append(
            f"Caution: the differential ranks '{top['label']}' first; the palsy rule applies only to a palsy "
            "not explained by another cause."
        )
    warnings = unconsidered_medications(case)
    if findings is not None and case.imaging.nerve_findings is not None:
        warnings.append(
            "imaging.nerve_findings in the case was replaced by the nerve findings from the images"
        )
    return {"cns_status": status, "differential": differential, "warnings": warnings, "notice": NOTICE}


__all__ = [
    "DIAGNOSES",
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
