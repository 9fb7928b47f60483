"""The clinical case: what is known about the patient, the CSF, the examination and the treatment.

The model follows CONTRACTS.md §4 field for field. Every field is optional and a value that is not
given stays ``None`` (or is absent from a list); nothing is guessed. Units are in the field names
(``wbc_per_ul`` is cells per microlitre, ``protein_mg_dl`` is mg/dL). Values outside a plausible range,
words where numbers belong, unknown fields and misspelled nerve names are refused with a message that
names the field path (``csf.wbc_per_ul: ...``) and, for closed vocabularies, the allowed values.

Plausible ranges are deliberately wide: they catch unit mistakes (a blood RBC of ``4.5`` given in
10⁶/µL, a CSF WBC of 10⁹/µL) and typing errors, not unusual patients.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cnmri.errors import InputError
from cnmri.io.limits import MAX_CLINICAL_FILE_BYTES, shorten

NERVE_NAMES: tuple[str, ...] = tuple(f"CN{n}" for n in range(2, 13))
SIDES: tuple[str, ...] = ("left", "right")
#: Every allowed value of a nerve-and-side item, e.g. ``CN7-left``.
NERVE_SIDES: tuple[str, ...] = tuple(f"{nerve}-{side}" for nerve in NERVE_NAMES for side in SIDES)

_NUMBER_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _number(value: Any) -> Any:
    """Accept numbers and numeric text (PyYAML reads ``1e9`` as text); refuse words and booleans."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, str):
        if _NUMBER_TEXT.match(value):
            return float(value)
        raise ValueError(f"expected a number, got the text {value!r}")
    raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")


def _flag(value: Any) -> Any:
    """Booleans only: true/false (YAML also reads yes/no). Text such as 'maybe' is refused."""
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false (or leave it out if unknown), got {value!r}")


def _flag_or_list(value: Any) -> Any:
    """true/false, or a list (of nerves, checked item by item afterwards)."""
    if value is None or isinstance(value, bool | list):
        return value
    raise ValueError(f"expected true, false or a list of nerves such as ['CN5-left'], got {value!r}")


def _nerve_side(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a nerve and side such as 'CN7-left', got {value!r}")
    text = value.strip()
    match = re.fullmatch(r"(?i)cn(\d{1,2})[-_ ](left|right)", text)
    if match:
        candidate = f"CN{int(match.group(1))}-{match.group(2).lower()}"
        if candidate in NERVE_SIDES:
            return candidate
    raise ValueError(
        f"{value!r} is not a cranial nerve and side; allowed: CN2..CN12 with -left or -right ({', '.join(NERVE_SIDES)})"
    )


def validate_nerve_sides(items: Any, field: str) -> list[str]:
    """Check and normalise a list of nerve-and-side items; :class:`InputError` names ``field[i]``."""
    if not isinstance(items, list | tuple):
        raise InputError(f"{field}: expected a list such as ['CN7-left'], got {items!r}")
    result = []
    for index, item in enumerate(items):
        try:
            result.append(_nerve_side(item))
        except ValueError as error:
            raise InputError(f"{field}[{index}]: {error}") from None
    return result


def _lower_text(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Number = Annotated[float, BeforeValidator(_number)]
Flag = Annotated[bool | None, BeforeValidator(_flag)]
NerveSide = Annotated[str, AfterValidator(_nerve_side)]
PcrResult = Annotated[Literal["positive", "negative", "not_done"] | None, BeforeValidator(_lower_text)]


def _range(low: float, high: float, unit: str) -> Any:
    """A plausible-range constraint; the message carries the range and unit."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not low <= value <= high:
            raise ValueError(f"{value:g} is outside the plausible range {low:g} to {high:g} {unit}")
        return value

    return AfterValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Patient(_Strict):
    age_years: Annotated[Number | None, _range(0, 120, "years")] = None
    sex: Annotated[Literal["female", "male", "other"] | None, BeforeValidator(_lower_text)] = None


class Disease(_Strict):
    type: Literal["B-ALL", "T-ALL", "AML", "lymphoma", "other"] | None = None
    phase: Annotated[
        Literal["diagnosis", "induction", "consolidation", "maintenance", "relapse", "post-transplant"] | None,
        BeforeValidator(_lower_text),
    ] = None


class Blood(_Strict):
    """Peripheral blood counts, per microlitre."""

    wbc_per_ul: Annotated[Number | None, _range(0, 2_000_000, "per µL")] = None
    # 10⁵ to 10⁷ per µL: a value such as 3.2 was given in 10⁶/µL and must be converted.
    rbc_per_ul: Annotated[Number | None, _range(100_000, 10_000_000, "per µL (give RBC per µL, e.g. 3200000)")] = None
    blasts: Flag = None
    anc_per_ul: Annotated[Number | None, _range(0, 1_000_000, "per µL")] = None
    platelets_per_ul: Annotated[Number | None, _range(0, 5_000_000, "per µL")] = None
    #: International normalised ratio of the prothrombin time (coagulation before a lumbar puncture).
    inr: Annotated[Number | None, _range(0.5, 20, "(INR, a ratio)")] = None

    @model_validator(mode="after")
    def _anc_within_wbc(self) -> Blood:
        if self.anc_per_ul is not None and self.wbc_per_ul is not None and self.anc_per_ul > self.wbc_per_ul:
            raise ValueError(
                f"anc_per_ul: {self.anc_per_ul:g} is larger than wbc_per_ul {self.wbc_per_ul:g}; "
                "neutrophils are part of the white cells"
            )
        return self


class Pcr(_Strict):
    VZV: PcrResult = None
    HSV: PcrResult = None
    CMV: PcrResult = None
    EBV: PcrResult = None


class Csf(_Strict):
    """Cerebrospinal fluid from the lumbar puncture, per microlitre."""

    wbc_per_ul: Annotated[Number | None, _range(0, 100_000, "per µL")] = None
    rbc_per_ul: Annotated[Number | None, _range(0, 10_000_000, "per µL")] = None
    #: Blasts on cytospin. ``None`` means not assessed; blasts with zero cells counted is allowed.
    blasts: Flag = None
    flow_cytometry: Annotated[Literal["positive", "negative", "not_done"] | None, BeforeValidator(_lower_text)] = None
    protein_mg_dl: Annotated[Number | None, _range(0, 5_000, "mg/dL")] = None
    glucose_mg_dl: Annotated[Number | None, _range(0, 1_000, "mg/dL")] = None
    pcr: Pcr = Field(default_factory=Pcr)


class Exam(_Strict):
    cranial_nerve_palsies: list[NerveSide] | None = None
    onset_days: Annotated[Number | None, _range(0, 3_650, "days")] = None
    pain: Flag = None
    otalgia: Flag = None
    vesicles: Flag = None
    limb_weakness: Flag = None
    areflexia: Flag = None
    ptosis: Flag = None
    hoarseness: Flag = None
    fever: Flag = None
    papilledema: Flag = None
    sinus_symptoms: Flag = None
    #: Retinal or optic nerve infiltration (COG counts eye involvement as CNS3c).
    eye_involvement: Flag = None
    #: Hypothalamic syndrome (hyperphagia, weight gain; COG counts it as CNS3c).
    hypothalamic_syndrome: Flag = None
    #: Peripheral (whole half of the face) or central (forehead spared) facial weakness.
    facial_weakness_pattern: Annotated[Literal["peripheral", "central"] | None, BeforeValidator(_lower_text)] = None


class Marrow(_Strict):
    """Bone marrow at the time of the neurological event (isolated vs combined relapse)."""

    mrd_percent: Annotated[Number | None, _range(0, 100, "%")] = None
    blasts_percent: Annotated[Number | None, _range(0, 100, "%")] = None


class Medication(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    days_since_last_dose: Annotated[Number | None, _range(0, 36_500, "days")] = None


class Imaging(_Strict):
    nerve_findings: list[NerveSide] | None = None
    leptomeningeal_enhancement: Flag = None
    intracranial_mass: Flag = None
    sinus_disease: Flag = None
    cavernous_sinus_involvement: Flag = None
    white_matter_lesions: Flag = None
    #: Either true/false or the list of FDG-avid nerves (``["CN5-left", ...]``).
    pet_avid_nerves: Annotated[bool | list[NerveSide] | None, BeforeValidator(_flag_or_list)] = None


class ClinicalCase(_Strict):
    patient: Patient = Field(default_factory=Patient)
    disease: Disease = Field(default_factory=Disease)
    blood: Blood = Field(default_factory=Blood)
    csf: Csf = Field(default_factory=Csf)
    exam: Exam = Field(default_factory=Exam)
    medications: list[Medication] | None = None
    imaging: Imaging = Field(default_factory=Imaging)
    marrow: Marrow = Field(default_factory=Marrow)

    @model_validator(mode="after")
    def _csf_not_bloodier_than_blood(self) -> ClinicalCase:
        csf_rbc, blood_rbc = self.csf.rbc_per_ul, self.blood.rbc_per_ul
        if csf_rbc is not None and blood_rbc is not None and csf_rbc > blood_rbc:
            raise ValueError(
                f"csf.rbc_per_ul: {csf_rbc:g} is larger than blood.rbc_per_ul {blood_rbc:g}; "
                "CSF cannot hold more red cells than blood (check units: both per µL)"
            )
        return self


#: Field path (without list indices) -> model, to list allowed fields for an unknown one.
_SECTIONS: dict[str, type[BaseModel]] = {
    "": ClinicalCase,
    "patient": Patient,
    "disease": Disease,
    "blood": Blood,
    "csf": Csf,
    "csf.pcr": Pcr,
    "exam": Exam,
    "medications": Medication,
    "imaging": Imaging,
    "marrow": Marrow,
}


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after[check()]", "list[constrained-str]", "bool"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def _echo(value: Any) -> str:
    return shorten(repr(value))


def _describe(error: Any) -> str:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and ("[" in part or "(" in part)))
    kind = error["type"]
    path = _field_path(loc)
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        model = _SECTIONS.get(parent)
        allowed = ", ".join(model.model_fields) if model else "see CONTRACTS.md §4"
        return f"{path}: unknown field; allowed here: {allowed}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("model_type", "dict_type"):
        message = f"expected a mapping of fields, got {_echo(error.get('input'))}"
    elif kind == "list_type":
        message = f"expected a list, got {_echo(error.get('input'))}"
    elif kind == "value_error" and re.match(r"^[A-Za-z_][\w.]*: ", message):
        # A check across fields names the field itself, relative to this section.
        return f"{path}.{message}" if path else message
    elif kind == "literal_error":
        message = f"{_echo(error.get('input'))} is not allowed; {message[0].lower()}{message[1:]}"
    return f"{path or '(top level)'}: {message}"


def case_from_dict(data: Any, source: str = "case") -> ClinicalCase:
    """Validate a parsed case (a mapping) and return it; :class:`InputError` names every bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of sections (patient, csf, ...), got {type(data).__name__}")
    try:
        return ClinicalCase.model_validate(data)
    except ValidationError as error:
        # Union types report every branch; keep one message per field path.
        seen: dict[str, str] = {}
        for item in error.errors():
            if item["type"] == "bool_type" and isinstance(item.get("input"), list):
                continue  # the list branch of "true, false or a list" reports the real problem
            line = shorten(_describe(item), 400)
            seen.setdefault(line.split(":", 1)[0], line)
        raise InputError(f"{source}: " + "; ".join(seen.values())) from None


def load_case(path: str | Path) -> ClinicalCase:
    """Read a clinical case from a YAML or JSON file (CONTRACTS.md §4).

    Raises :class:`InputError` (exit 2) naming the file and the field path of every bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"clinical case file {path} does not exist or is not a file")
    size = path.stat().st_size
    if size > MAX_CLINICAL_FILE_BYTES:
        raise InputError(
            f"clinical case file {path} is {size:,} bytes; a case is a few kilobytes (limit "
            f"{MAX_CLINICAL_FILE_BYTES:,}); give the case file, not a data export"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read clinical case file {path}: {shorten(str(error))}") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        # YAML is a superset of JSON; JSON files are read strictly.
        data = json.loads(text) if kind == "JSON" else yaml.load(text, Loader=_NoAliasSafeLoader)
        return case_from_dict(data, source=str(path))
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise InputError(f"{path}: not valid {kind}: {shorten(str(error), 300)}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a clinical case; check the file's structure") from None


class _NoAliasSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases: a 500-byte alias bomb would otherwise expand to gigabytes.

    A clinical case has no use for anchors and aliases (``&x`` / ``*x``).
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML aliases (*name) are not allowed in a clinical case; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


__all__ = [
    "NERVE_NAMES",
    "NERVE_SIDES",
    "Blood",
    "ClinicalCase",
    "Csf",
    "Disease",
    "Exam",
    "Imaging",
    "Marrow",
    "Medication",
    "Patient",
    "Pcr",
    "case_from_dict",
    "load_case",
    "validate_nerve_sides",
]
