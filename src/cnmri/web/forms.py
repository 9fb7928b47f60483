"""The clinical form: the CONTRACTS.md §4 case fields as HTML inputs, and the submitted form back to a case.

The form is declared once (:data:`CLINICAL_FORM`) and both the template and the parser read it, so the two
cannot drift apart. Empty inputs stay missing (never guessed); the case model
(:func:`cnmri.assess.clinical.case_from_dict`) then checks ranges and vocabularies and names any bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnmri.errors import InputError


@dataclass(frozen=True)
class FormField:
    section: str  # "patient", "csf", "csf.pcr", ...
    name: str
    label: str
    kind: str  # "number" | "choice" | "flag" | "nerves" | "medications"
    choices: tuple[str, ...] = ()
    unit: str = ""

    @property
    def input_name(self) -> str:
        return f"{self.section}.{self.name}"


_FLAG = ("", "yes", "no")
_PCR = ("", "positive", "negative", "not_done")

CLINICAL_FORM: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    (
        "Patient and disease",
        (
            FormField("patient", "age_years", "Age", "number", unit="years"),
            FormField("patient", "sex", "Sex", "choice", ("", "female", "male", "other")),
            FormField("disease", "type", "Disease", "choice", ("", "B-ALL", "T-ALL", "AML", "lymphoma", "other")),
            FormField(
                "disease",
                "phase",
                "Phase",
                "choice",
                ("", "diagnosis", "induction", "consolidation", "maintenance", "relapse", "post-transplant"),
            ),
        ),
    ),
    (
        "Blood",
        (
            FormField("blood", "wbc_per_ul", "WBC", "number", unit="/µL"),
            FormField("blood", "rbc_per_ul", "RBC", "number", unit="/µL"),
            FormField("blood", "blasts", "Blasts", "flag", _FLAG),
            FormField("blood", "anc_per_ul", "ANC", "number", unit="/µL"),
            FormField("blood", "platelets_per_ul", "Platelets", "number", unit="/µL"),
        ),
    ),
    (
        "CSF",
        (
            FormField("csf", "wbc_per_ul", "WBC", "number", unit="/µL"),
            FormField("csf", "rbc_per_ul", "RBC", "number", unit="/µL"),
            FormField("csf", "blasts", "Blasts on cytospin", "flag", _FLAG),
            FormField("csf", "flow_cytometry", "Flow cytometry", "choice", ("", "positive", "negative", "not_done")),
            FormField("csf", "protein_mg_dl", "Protein", "number", unit="mg/dL"),
            FormField("csf", "glucose_mg_dl", "Glucose", "number", unit="mg/dL"),
            FormField("csf.pcr", "VZV", "PCR VZV", "choice", _PCR),
            FormField("csf.pcr", "HSV", "PCR HSV", "choice", _PCR),
            FormField("csf.pcr", "CMV", "PCR CMV", "choice", _PCR),
            FormField("csf.pcr", "EBV", "PCR EBV", "choice", _PCR),
        ),
    ),
    (
        "Examination",
        (
            FormField(
                "exam", "cranial_nerve_palsies", "Cranial nerve palsies", "nerves", unit="e.g. CN7-left, CN6-right"
            ),
            FormField("exam", "onset_days", "Onset", "number", unit="days"),
            *(
                FormField("exam", name, name.replace("_", " ").capitalize(), "flag", _FLAG)
                for name in (
                    "pain",
                    "otalgia",
                    "vesicles",
                    "limb_weakness",
                    "areflexia",
                    "ptosis",
                    "hoarseness",
                    "fever",
                    "papilledema",
                    "sinus_symptoms",
                )
            ),
        ),
    ),
    (
        "Medications",
        (
            FormField(
                "medications", "list", "Medications", "medications", unit="one per line: name, days since last dose"
            ),
        ),
    ),
    (
        "Other imaging",
        tuple(
            FormField("imaging", name, name.replace("_", " ").capitalize(), "flag", _FLAG)
            for name in (
                "leptomeningeal_enhancement",
                "intracranial_mass",
                "sinus_disease",
                "cavernous_sinus_involvement",
                "white_matter_lesions",
            )
        ),
    ),
)

ALL_FIELDS: tuple[FormField, ...] = tuple(f for _, fields in CLINICAL_FORM for f in fields)


def _number(text: str, field: FormField) -> float:
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        raise InputError(f"{field.input_name}: expected a number, got {text!r}") from None


def _medications(text: str, field: FormField) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, days = line.partition(",")
        item: dict[str, Any] = {"name": name.strip()}
        if days.strip():
            item["days_since_last_dose"] = _number(days, field)
        out.append(item)
    return out


def case_dict_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Submitted form values (input name → text) to a case mapping for ``case_from_dict``."""
    case: dict[str, Any] = {}
    for field in ALL_FIELDS:
        text = str(form.get(field.input_name, "")).strip()
        if not text:
            continue
        value: Any
        if field.kind == "number":
            value = _number(text, field)
        elif field.kind == "flag":
            if text not in ("yes", "no"):
                raise InputError(f"{field.input_name}: expected yes, no or empty, got {text!r}")
            value = text == "yes"
        elif field.kind == "choice":
            if text not in field.choices:
                raise InputError(
                    f"{field.input_name}: {text!r} is not one of {', '.join(c for c in field.choices if c)}"
                )
            value = text
        elif field.kind == "nerves":
            value = [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]
        else:
            case["medications"] = _medications(text, field)
            continue
        target = case
        for part in field.section.split("."):
            target = target.setdefault(part, {})
        target[field.name] = value
    return case


__all__ = ["ALL_FIELDS", "CLINICAL_FORM", "FormField", "case_dict_from_form"]
