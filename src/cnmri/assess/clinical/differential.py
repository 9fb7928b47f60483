"""Differential diagnosis of cranial neuropathy in a patient with leukemia or lymphoma.

The entities, their features, weights and sources live in a versioned data file
(``cnmri/data/differential_v2.yaml``); this module is the small engine that reads it, checks it, and
applies it to a case. A feature is a test on the case, a number of points, a sentence shown to the
reader and the source it rests on. Positive points are evidence *for* the entity, negative points
evidence *against* it.

Scoring (transparent, hand-set, not fitted to data)::

    points(entity) = base(entity) + sum(points of every feature that is present)
    tier(entity)   = leading | possible | unlikely     (thresholds on points, in the data file)
    score(entity)  = min(cap, exp(points) / sum over entities of exp(points))

Points are on a natural-log odds scale in spirit (1 point ≈ a likelihood ratio of e ≈ 2.7), set by hand
from the strength of each discriminator in the cited sources; they are not estimated from data. Entities
are ranked by points. The tier is the result to read; the score is kept for compatibility and is each
entity's share of the support among the listed entities (they sum to about 1), capped (0.8 in version 2)
because the list is not exhaustive and the weights are hand-set. A feature whose data is missing does
not count; the fields that would inform an entity are listed under ``missing``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cnmri.assess.clinical.model import ClinicalCase
from cnmri.errors import CnmriError

DATA_FILE = "differential_v2.yaml"
SCORE_FLOOR = 0.01

#: Canonical medication name -> accepted spellings (lower case, spaces and hyphens as underscores).
MEDICATION_ALIASES: dict[str, tuple[str, ...]] = {
    "vincristine": ("vincristine", "vcr", "oncovin", "vincristine_sulfate"),
    "nelarabine": ("nelarabine", "arranon", "ara_g", "atriance"),
    "intrathecal_methotrexate": (
        "intrathecal_methotrexate",
        "it_methotrexate",
        "it_mtx",
        "triple_intrathecal",
        "triple_intrathecal_therapy",
        "itt",
    ),
    "intrathecal_cytarabine": ("intrathecal_cytarabine", "it_cytarabine", "it_ara_c"),
    "methotrexate": ("methotrexate", "mtx", "high_dose_methotrexate", "hd_mtx", "hdmtx"),
    "cytarabine": ("cytarabine", "ara_c", "cytosine_arabinoside", "high_dose_cytarabine"),
    "cranial_radiotherapy": (
        "cranial_radiotherapy",
        "cranial_radiation",
        "cranial_irradiation",
        "radiotherapy",
        "radiation",
    ),
    "posaconazole": ("posaconazole", "noxafil"),
    "voriconazole": ("voriconazole", "vfend"),
    "itraconazole": ("itraconazole", "sporanox"),
    "isavuconazole": ("isavuconazole", "isavuconazonium", "cresemba"),
    "fluconazole": ("fluconazole", "diflucan"),
    "asparaginase": (
        "asparaginase",
        "l_asparaginase",
        "pegaspargase",
        "peg_asparaginase",
        "oncaspar",
        "calaspargase",
        "erwinase",
        "crisantaspase",
        "rylaze",
    ),
    "dexamethasone": ("dexamethasone", "dex"),
    "prednisone": ("prednisone", "prednisolone"),
    "methylprednisolone": ("methylprednisolone",),
    "hydrocortisone": ("hydrocortisone", "intrathecal_hydrocortisone"),
}
_ALIAS_TO_NAME = {alias: name for name, aliases in MEDICATION_ALIASES.items() for alias in aliases}

#: Groups a feature may name instead of one drug.
MEDICATION_GROUPS: dict[str, tuple[str, ...]] = {
    # Strong CYP3A4 inhibitors that raise vincristine exposure (vincristine label; Moriyama 2012).
    "strong_azole": ("posaconazole", "voriconazole", "itraconazole"),
    "mould_azole": ("posaconazole", "voriconazole", "itraconazole", "isavuconazole"),
    "azole": ("posaconazole", "voriconazole", "itraconazole", "isavuconazole", "fluconazole"),
    "any_methotrexate": ("methotrexate", "intrathecal_methotrexate"),
    "steroid": ("dexamethasone", "prednisone", "methylprednisolone", "hydrocortisone"),
    "intrathecal": ("intrathecal_methotrexate", "intrathecal_cytarabine"),
}
#: Recognised, but no feature of the differential depends on it (reported as not considered).
NOT_LINKED = frozenset({"cytarabine"})


def canonical_medication(name: str) -> str | None:
    """The canonical name of a medication the differential knows, or ``None``."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return _ALIAS_TO_NAME.get(key)


def _drug_names(name: str) -> tuple[str, ...]:
    return MEDICATION_GROUPS.get(name, (name,))


@dataclass(frozen=True)
class Facts:
    """What the differential looks at, derived once from the case."""

    case: ClinicalCase
    palsies: tuple[str, ...] | None
    findings: tuple[str, ...] | None
    involved: frozenset[str]  # nerve-side items from the examination and imaging
    medications: dict[str, float | None] | None  # canonical name -> fewest days since a dose

    @property
    def nerves(self) -> frozenset[str]:
        return frozenset(item.split("-")[0] for item in self.involved)

    @property
    def sides(self) -> frozenset[str]:
        return frozenset(item.split("-")[1] for item in self.involved)

    @property
    def bilateral(self) -> bool:
        return len(self.sides) == 2

    @property
    def unilateral(self) -> bool:
        return len(self.sides) == 1

    @property
    def multiple_nerves(self) -> bool:
        return len(self.nerves) >= 2

    def has(self, *nerves: str) -> bool:
        return bool(self.nerves & set(nerves))

    def both_sides(self, nerve: str) -> bool:
        return {f"{nerve}-left", f"{nerve}-right"} <= self.involved

    @property
    def mri_normal(self) -> bool:
        return self.findings is not None and not self.findings

    @property
    def mri_abnormal(self) -> bool:
        return bool(self.findings)

    def drug_days(self, *names: str) -> float | None:
        """Fewest days since a dose of any of ``names`` (or groups); ``math.inf`` if listed without days."""
        if not self.medications:
            return None
        wanted = [drug for name in names for drug in _drug_names(name)]
        days = [self.medications[n] for n in wanted if n in self.medications]
        if not days:
            return None
        known = [d for d in days if d is not None]
        return min(known) if known else math.inf

    def drug_given(self, *names: str) -> bool:
        return self.drug_days(*names) is not None

    def drug_absent(self, *names: str) -> bool:
        """The medication list was given and none of ``names`` is on it."""
        return self.medications is not None and not self.drug_given(*names)

    def drug_within(self, low: float, high: float, *names: str) -> bool:
        days = self.drug_days(*names)
        return days is not None and days != math.inf and low <= days <= high

    @property
    def csf_blasts(self) -> bool:
        return self.case.csf.blasts is True

    @property
    def csf_quiet(self) -> bool:
        """No blasts and fewer than 5 white cells per µL."""
        csf = self.case.csf
        return csf.blasts is False and csf.wbc_per_ul is not None and csf.wbc_per_ul < 5

    @property
    def pleocytosis_without_blasts(self) -> bool:
        csf = self.case.csf
        return csf.blasts is False and csf.wbc_per_ul is not None and csf.wbc_per_ul >= 5

    @property
    def albuminocytologic(self) -> bool:
        csf = self.case.csf
        return (
            csf.protein_mg_dl is not None
            and csf.protein_mg_dl > 45
            and csf.wbc_per_ul is not None
            and csf.wbc_per_ul < 10
        )

    @property
    def pet_avid(self) -> bool:
        return bool(self.case.imaging.pet_avid_nerves)

    @property
    def neutropenic(self) -> bool:
        anc = self.case.blood.anc_per_ul
        return anc is not None and anc < 500


def make_facts(case: ClinicalCase, nerve_findings: list[str] | None = None) -> Facts:
    findings = nerve_findings if nerve_findings is not None else case.imaging.nerve_findings
    palsies = case.exam.cranial_nerve_palsies
    involved = frozenset((palsies or []) + list(findings or []))
    meds: dict[str, float | None] | None = None
    if case.medications is not None:
        meds = {}
        for med in case.medications:
            name = canonical_medication(med.name)
            if name is None:
                continue
            previous = meds.get(name)
            days = med.days_since_last_dose
            if name not in meds or (days is not None and (previous is None or days < previous)):
                meds[name] = days
    return Facts(
        case=case,
        palsies=tuple(palsies) if palsies is not None else None,
        findings=tuple(findings) if findings is not None else None,
        involved=involved,
        medications=meds,
    )


def unconsidered_medications(case: ClinicalCase) -> list[str]:
    """One message per medication the differential does not use (allowed, but reported)."""
    messages: list[str] = []
    for index, med in enumerate(case.medications or []):
        name = canonical_medication(med.name)
        if name is None:
            messages.append(
                f"medications[{index}].name {med.name!r}: not a medication this differential knows; not "
                f"considered (known: {', '.join(MEDICATION_ALIASES)})"
            )
        elif name in NOT_LINKED:
            messages.append(
                f"medications[{index}].name {med.name!r}: recognised as {name}, but no entity of this "
                "differential depends on it; not considered"
            )
    return messages


# --------------------------------------------------------------------------- tests a feature may use

#: Facts of the case a feature names by a single word.
FACT_TESTS: dict[str, Callable[[Facts], bool]] = {
    "bilateral": lambda f: f.bilateral,
    "unilateral": lambda f: f.unilateral,
    "multiple_nerves": lambda f: f.multiple_nerves,
    "single_nerve_one_side": lambda f: f.unilateral and not f.multiple_nerves,
    "only_cn7_one_side": lambda f: f.involved in ({"CN7-left"}, {"CN7-right"}),
    "cn7_not_involved": lambda f: bool(f.involved) and not f.has("CN7"),
    "cn7_cn8_same_side": lambda f: any({f"CN7-{s}", f"CN8-{s}"} <= f.involved for s in ("left", "right")),
    "mri_normal": lambda f: f.mri_normal,
    "mri_abnormal": lambda f: f.mri_abnormal,
    "csf_blasts": lambda f: f.csf_blasts,
    "csf_quiet": lambda f: f.csf_quiet,
    "pleocytosis_without_blasts": lambda f: f.pleocytosis_without_blasts,
    "albuminocytologic": lambda f: f.albuminocytologic,
    "pet_avid": lambda f: f.pet_avid,
    "pet_not_avid": lambda f: f.case.imaging.pet_avid_nerves in (False, []),
    "neutropenic": lambda f: f.neutropenic,
    "leukemia_or_lymphoma": lambda f: f.case.disease.type in ("B-ALL", "T-ALL", "AML", "lymphoma"),
    "csf_herpes_pcr_positive": lambda f: "positive" in (f.case.csf.pcr.VZV, f.case.csf.pcr.HSV),
}


def field_value(case: ClinicalCase, path: str) -> Any:
    """The value at a dotted field path of the case (``csf.pcr.VZV``); ``None`` when not given."""
    value: Any = case
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _is_field(path: str) -> bool:
    section_name, _, rest = path.partition(".")
    section = ClinicalCase.model_fields.get(section_name)
    if section is None or not rest:
        return False
    model: Any = section.annotation
    for part in rest.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
    return True


def _compare(op: Callable[[float, float], bool]) -> Callable[[list[Any]], Callable[[Facts], bool]]:
    def build(args: list[Any]) -> Callable[[Facts], bool]:
        path, limit = args
        if not _is_field(path) or not isinstance(limit, int | float):
            raise ValueError(f"expects [field path, number], got {args!r}")

        def test(f: Facts) -> bool:
            value = field_value(f.case, path)
            return value is not None and op(float(value), float(limit))

        return test

    return build


def _field_is(args: list[Any]) -> Callable[[Facts], bool]:
    path, expected = args
    if not _is_field(path):
        raise ValueError(f"unknown field {path!r}")
    return lambda f: field_value(f.case, path) == expected


def _field_in(args: list[Any]) -> Callable[[Facts], bool]:
    path, allowed = args
    if not _is_field(path) or not isinstance(allowed, list):
        raise ValueError(f"expects [field path, [values]], got {args!r}")
    return lambda f: field_value(f.case, path) in allowed


def _known_drug(name: Any) -> str:
    if name not in MEDICATION_ALIASES and name not in MEDICATION_GROUPS:
        raise ValueError(f"unknown medication or group {name!r}")
    return str(name)


def _drug_within(args: list[Any]) -> Callable[[Facts], bool]:
    name, low, high = args
    drug = _known_drug(name)
    return lambda f: f.drug_within(float(low), float(high), drug)


def _nerve_any(args: list[Any]) -> Callable[[Facts], bool]:
    nerves = tuple(str(n) for n in args)
    return lambda f: f.has(*nerves)


def _build_list(args: Any) -> list[Callable[[Facts], bool]]:
    if not isinstance(args, list) or not args:
        raise ValueError(f"expects a non-empty list of tests, got {args!r}")
    return [compile_test(item) for item in args]


def _all(args: Any) -> Callable[[Facts], bool]:
    tests = _build_list(args)
    return lambda f: all(t(f) for t in tests)


def _any(args: Any) -> Callable[[Facts], bool]:
    tests = _build_list(args)
    return lambda f: any(t(f) for t in tests)


def _not(args: Any) -> Callable[[Facts], bool]:
    test = compile_test(args)
    return lambda f: not test(f)


PARAMETRIC_TESTS: dict[str, Callable[[Any], Callable[[Facts], bool]]] = {
    "field_is": _field_is,
    "field_in": _field_in,
    "field_at_least": _compare(lambda a, b: a >= b),
    "field_above": _compare(lambda a, b: a > b),
    "field_below": _compare(lambda a, b: a < b),
    "nerve_any": _nerve_any,
    "both_sides": lambda nerve: lambda f: f.both_sides(str(nerve)),
    "drug_within": _drug_within,
    "drug_given": lambda name: (lambda drug: lambda f: f.drug_given(drug))(_known_drug(name)),
    "drug_absent": lambda name: (lambda drug: lambda f: f.drug_absent(drug))(_known_drug(name)),
    "drug_timing_unknown": lambda name: (lambda drug: lambda f: f.drug_days(drug) == math.inf)(_known_drug(name)),
    "all": _all,
    "any": _any,
    "not": _not,
}


def compile_test(spec: Any) -> Callable[[Facts], bool]:
    """Turn a feature's ``when`` from the data file into a test; ``ValueError`` names what is wrong."""
    if isinstance(spec, str):
        if spec not in FACT_TESTS:
            raise ValueError(f"unknown test {spec!r}; known: {', '.join(FACT_TESTS)}")
        return FACT_TESTS[spec]
    if isinstance(spec, dict) and len(spec) == 1:
        ((name, args),) = spec.items()
        if name not in PARAMETRIC_TESTS:
            raise ValueError(f"unknown test {name!r}; known: {', '.join(PARAMETRIC_TESTS)}")
        try:
            return PARAMETRIC_TESTS[name](args)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: {error}") from None
    raise ValueError(f"a test is a name or a one-key mapping, got {spec!r}")


# --------------------------------------------------------------------------- the data file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _FeatureSpec(_Strict):
    text: str = Field(min_length=1)
    points: float
    source: str
    when: Any


class _EntitySpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    leukemic: bool = False
    base: float
    features: list[_FeatureSpec]
    next_steps: list[str] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    informative_fields: list[str] = Field(default_factory=list)


class _Tiers(_Strict):
    leading_min_points: float
    leading_margin_points: float = Field(ge=0)
    possible_min_points: float
    score_cap: float = Field(gt=0, le=1)


class _DataFile(_Strict):
    version: str = Field(min_length=1)
    tiers: _Tiers
    sources: dict[str, str]
    entities: list[_EntitySpec] = Field(min_length=1)


@dataclass(frozen=True)
class Feature:
    """Evidence for (points > 0) or against (points < 0) one entity."""

    text: str
    points: float
    source: str
    present: Callable[[Facts], bool]


@dataclass(frozen=True)
class Entity:
    id: str
    label: str
    base: float
    features: tuple[Feature, ...]
    next_steps: tuple[str, ...]
    sources: tuple[str, ...]
    informative_fields: tuple[str, ...]  # field paths whose absence weakens the assessment
    leukemic: bool = False


@dataclass(frozen=True)
class Differential:
    version: str
    tiers: _Tiers
    entities: tuple[Entity, ...]


class DifferentialDataError(CnmriError):
    """The shipped differential data file is malformed (a packaging or editing error)."""

    exit_code = 3


def parse_differential(data: Any, origin: str = DATA_FILE) -> Differential:
    """Check the parsed data file against its schema and compile every test; errors name the item."""
    try:
        spec = _DataFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DifferentialDataError(f"{origin}: {where}: {first['msg']}") from None
    seen: set[str] = set()
    entities = []
    for e_index, entity in enumerate(spec.entities):
        where = f"{origin}: entities[{e_index}] ({entity.id})"
        if entity.id in seen:
            raise DifferentialDataError(f"{where}: duplicate id")
        seen.add(entity.id)
        for name in entity.sources:
            if name not in spec.sources:
                raise DifferentialDataError(f"{where}: unknown source {name!r}")
        for path in entity.informative_fields:
            if path != "medications" and not _is_field(path):
                raise DifferentialDataError(f"{where}: informative field {path!r} is not a case field")
        features = []
        for f_index, feature in enumerate(entity.features):
            if feature.source not in spec.sources:
                raise DifferentialDataError(f"{where}.features[{f_index}]: unknown source {feature.source!r}")
            try:
                test = compile_test(feature.when)
            except ValueError as error:
                raise DifferentialDataError(f"{where}.features[{f_index}].when: {error}") from None
            features.append(Feature(feature.text, feature.points, spec.sources[feature.source], test))
        entities.append(
            Entity(
                id=entity.id,
                label=entity.label,
                base=entity.base,
                features=tuple(features),
                next_steps=tuple(entity.next_steps),
                sources=tuple(spec.sources[name] for name in entity.sources),
                informative_fields=tuple(entity.informative_fields),
                leukemic=entity.leukemic,
            )
        )
    return Differential(spec.version, spec.tiers, tuple(entities))


@cache
def load_differential() -> Differential:
    """The shipped differential (read once)."""
    text = resources.files("cnmri").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DifferentialDataError(f"{DATA_FILE}: not valid YAML: {error}") from None
    return parse_differential(data)


DIFFERENTIAL = load_differential()
DIFFERENTIAL_VERSION = DIFFERENTIAL.version
ENTITIES: tuple[Entity, ...] = DIFFERENTIAL.entities
DIAGNOSES: tuple[str, ...] = tuple(entity.id for entity in ENTITIES)
#: The causes that make a palsy count toward CNS leukemia when they lead the differential.
LEUKEMIC_DIAGNOSES: frozenset[str] = frozenset(entity.id for entity in ENTITIES if entity.leukemic)


# --------------------------------------------------------------------------- applying it


def _signed(points: float) -> str:
    return f"{points:+.1f}"


def _missing_fields(entity: Entity, case: ClinicalCase, nerve_findings_given: bool) -> list[str]:
    missing = []
    for path in entity.informative_fields:
        if path == "imaging.nerve_findings" and nerve_findings_given:
            continue
        value = case.medications if path == "medications" else field_value(case, path)
        if value is None or value == "not_done":
            missing.append(path)
    return missing


def _assess(entity: Entity, facts: Facts, nerve_findings_given: bool) -> dict[str, Any]:
    points = entity.base
    evidence_for: list[str] = []
    against: list[str] = []
    sources = list(entity.sources)
    for feature in entity.features:
        if not feature.present(facts):
            continue
        points += feature.points
        line = f"{feature.text} ({_signed(feature.points)})"
        (evidence_for if feature.points > 0 else against).append(line)
        if feature.source not in sources:
            sources.append(feature.source)
    return {
        "diagnosis": entity.id,
        "label": entity.label,
        "points": round(points, 2),
        "base_points": entity.base,
        "for": evidence_for,
        "against": against,
        "next_steps": list(entity.next_steps),
        "missing": _missing_fields(entity, facts.case, nerve_findings_given),
        "sources": sources,
    }


def tier_of(points: float, top_points: float, tiers: _Tiers | None = None) -> str:
    """``leading``, ``possible`` or ``unlikely`` from an entity's points and the first entity's."""
    tiers = tiers or DIFFERENTIAL.tiers
    if points >= tiers.leading_min_points and points >= top_points - tiers.leading_margin_points:
        return "leading"
    return "possible" if points >= tiers.possible_min_points else "unlikely"


def scores_from_points(points: list[float], cap: float | None = None) -> list[float]:
    """Each entity's share of exp(points) over all entities, within [0.01, cap], 2 decimals."""
    cap = DIFFERENTIAL.tiers.score_cap if cap is None else cap
    if not points:
        return []
    top = max(points)
    weights = [math.exp(p - top) for p in points]  # shifted: no overflow
    total = sum(weights)
    return [round(min(cap, max(SCORE_FLOOR, w / total)), 2) for w in weights]


def rank_differential(case: ClinicalCase, nerve_findings: list[str] | None = None) -> list[dict[str, Any]]:
    """All entities, most supported first (ties keep the order of the data file).

    Each item is the CONTRACTS.md §4 differential object (with ``tier``) plus ``points``,
    ``base_points`` and ``missing`` (fields that would inform this entity but were not given).
    """
    facts = make_facts(case, nerve_findings)
    assessed = [_assess(entity, facts, nerve_findings is not None) for entity in ENTITIES]
    order = {entity.id: index for index, entity in enumerate(ENTITIES)}
    ranked = sorted(assessed, key=lambda item: (-item["points"], order[item["diagnosis"]]))
    top = ranked[0]["points"]
    for item, score in zip(ranked, scores_from_points([i["points"] for i in ranked]), strict=True):
        item["tier"] = tier_of(item["points"], top)
        item["score"] = score
    return ranked


__all__ = [
    "DIAGNOSES",
    "DIFFERENTIAL_VERSION",
    "ENTITIES",
    "FACT_TESTS",
    "LEUKEMIC_DIAGNOSES",
    "MEDICATION_ALIASES",
    "MEDICATION_GROUPS",
    "PARAMETRIC_TESTS",
    "DifferentialDataError",
    "Entity",
    "Facts",
    "Feature",
    "canonical_medication",
    "compile_test",
    "field_value",
    "load_differential",
    "make_facts",
    "parse_differential",
    "rank_differential",
    "scores_from_points",
    "tier_of",
    "unconsidered_medications",
]
