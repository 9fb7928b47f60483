"""The DICOM series vocabulary: words, sequence names, ImageType values and weights, read from data.

``cnmri/data/dicom_vocabulary_v1.yaml`` holds every token, pattern and weight the classifier
(:mod:`cnmri.io.dicom.classify`) uses; this module checks it against its schema when loaded and
compiles it. The tests on the acquisition parameters (TR, TE, TI, flip angle) stay in code; their
weights and a sentence saying what they test are in the data file, and :data:`SIGNALS_USED` is the
list of every signal the classifier looks up, so a missing, misspelt or unused entry is refused at load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import Field, model_validator

from cnmri.ruledata import RuleDataError, StrictModel, load_rule_file, parse_rule_data

DATA_FILE = "dicom_vocabulary_v1.yaml"

#: Token boundaries: letters and digits continue a word; _ - / + and spaces do not.
BEFORE_TOKEN = r"(?<![a-z0-9])"
AFTER_TOKEN = r"(?![a-z0-9])"

Form = Literal["text", "values", "sequence_name", "rule"]

#: Every signal the classifier looks up: kind -> signal name -> (form, has points).
#: "text" is a ``tokens`` or ``regex`` entry searched in the description and protocol name.
SIGNALS_USED: dict[str, dict[str, tuple[Form, bool]]] = {
    "localizer": {"image_type": ("values", True), "description": ("text", True), "small_stacks": ("rule", True)},
    "derived": {
        "image_type_specific": ("values", True),
        "image_type": ("values", True),
        "description": ("text", True),
        "subtraction": ("text", False),
        "mip": ("text", False),
    },
    "field_map": {
        "description": ("text", True),
        "sequence_name": ("sequence_name", True),
        "image_type": ("values", True),
    },
    "perfusion": {
        "description": ("text", True),
        "image_type": ("values", True),
        "sequence_name": ("sequence_name", True),
    },
    "swi": {"description": ("text", True), "image_type": ("values", True)},
    "mra": {"description": ("text", True), "sequence_name": ("sequence_name", True)},
    "bold": {"description": ("text", True), "image_type": ("values", True)},
    "dwi": {
        "b_value": ("rule", True),
        "image_type": ("values", True),
        "description": ("text", True),
        "sequence_name": ("sequence_name", True),
    },
    "flair": {
        "description": ("text", True),
        "inversion_timing": ("rule", True),
        "sequence_name": ("sequence_name", True),
    },
    "cisternography": {
        "sequence_name_ciss": ("sequence_name", True),
        "sequence_name_bssfp": ("sequence_name", True),
        "balanced_3d": ("rule", True),
        "t2_tse_3d": ("rule", True),
    },
    "t1": {
        "description": ("text", True),
        "variant": ("rule", True),
        "inversion_prepared": ("rule", True),
        "spoiled_gradient_echo": ("rule", True),
        "short_tr_te": ("rule", True),
        "sequence_name": ("sequence_name", True),
    },
    "t2": {"description": ("text", True), "long_tr_te": ("rule", True)},
    "epi": {"echo_planar": ("rule", True)},
}
#: Kinds whose every further ``text`` entry is a description token tried in order (first match counts).
TOKEN_LIST_KINDS = frozenset({"cisternography"})


# --------------------------------------------------------------------------------------- the schema


class _Text(StrictModel):
    """``tokens`` (alternatives matched as whole tokens) or ``regex`` (used as written)."""

    tokens: list[str] | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _one_form(self) -> _Text:
        if (self.tokens is None) == (self.regex is None):
            raise ValueError("give exactly one of tokens or regex")
        return self


class _Signal(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weight: float | None = Field(default=None, ge=0)
    tokens: list[str] | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    values: list[str] | None = Field(default=None, min_length=1)
    sequence_name: str | None = Field(default=None, min_length=1)
    rule: str | None = Field(default=None, min_length=1)
    detail: str = ""
    not_with: list[str] = Field(default_factory=list)
    note: str = ""

    @property
    def form(self) -> Form:
        if self.tokens is not None or self.regex is not None:
            return "text"
        if self.values is not None:
            return "values"
        return "sequence_name" if self.sequence_name is not None else "rule"

    @model_validator(mode="after")
    def _one_form(self) -> _Signal:
        given = [self.tokens, self.regex, self.values, self.sequence_name, self.rule]
        if sum(item is not None for item in given) != 1:
            raise ValueError("give exactly one of tokens, regex, values, sequence_name or rule")
        return self


class _T1Variant(StrictModel):
    name: str = Field(min_length=1)
    tokens: list[str] | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    values: list[str] | None = Field(default=None, min_length=1)
    sequence_name: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> _T1Variant:
        if sum(item is not None for item in (self.tokens, self.regex, self.values, self.sequence_name)) != 1:
            raise ValueError("give exactly one of tokens, regex, values or sequence_name")
        return self


class ContrastConfidence(StrictModel):
    tags_post_text_post: float = Field(gt=0, le=1)
    tags_post_text_silent: float = Field(gt=0, le=1)
    tags_pre: float = Field(gt=0, le=1)
    tags_post_text_pre: float = Field(gt=0, le=1)
    tags_pre_text_post: float = Field(gt=0, le=1)
    text_only: float = Field(gt=0, le=1)
    unknown: float = Field(gt=0, le=1)


class _Contrast(StrictModel):
    agents: list[str] = Field(min_length=1)
    negative: list[_Text] = Field(min_length=1)
    positive: list[_Text] = Field(min_length=1)
    negative_agent_values: list[str]
    confidence: ContrastConfidence


class Scoring(StrictModel):
    derived_wins_at: float = Field(gt=0)
    rival_factor: float = Field(ge=0)
    offset: float = Field(gt=0)
    max_confidence: float = Field(gt=0, le=1)


class _DataFile(StrictModel):
    version: str = Field(min_length=1)
    contrast: _Contrast
    kinds: dict[str, list[_Signal]]
    t1_variants: list[_T1Variant] = Field(min_length=1)
    scoring: Scoring


# --------------------------------------------------------------------------------------- compiled


@dataclass(frozen=True)
class Signal:
    """One piece of evidence for a kind, compiled."""

    kind: str
    name: str
    weight: float  # 0 for a signal that only sets a detail
    pattern: re.Pattern[str] | None  # for text and sequence-name signals
    values: frozenset[str]  # for ImageType signals
    detail: str
    not_with: tuple[str, ...]

    def search(self, text: str) -> re.Match[str] | None:
        assert self.pattern is not None, f"{self.kind}.{self.name} is not a pattern"
        return self.pattern.search(text)


@dataclass(frozen=True)
class T1Variant:
    name: str
    pattern: re.Pattern[str] | None
    values: frozenset[str]
    on_sequence_name: bool


@dataclass(frozen=True)
class Vocabulary:
    version: str
    negative_contrast: tuple[re.Pattern[str], ...]
    positive_contrast: tuple[re.Pattern[str], ...]
    negative_agent_values: frozenset[str]
    contrast_confidence: ContrastConfidence
    signals: dict[str, dict[str, Signal]]
    token_lists: dict[str, tuple[Signal, ...]]
    t1_variants: tuple[T1Variant, ...]
    scoring: Scoring

    def signal(self, kind: str, name: str) -> Signal:
        return self.signals[kind][name]


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise RuleDataError(f"{DATA_FILE}: {where}: not a valid regular expression: {error}") from None


def _text_pattern(tokens: list[str] | None, regex: str | None, agents: str, where: str) -> re.Pattern[str]:
    if regex is not None:
        return _compile(regex, where)
    assert tokens is not None
    alternatives = "|".join(token.replace("{agents}", agents) for token in tokens)
    return _compile(f"{BEFORE_TOKEN}(?:{alternatives}){AFTER_TOKEN}", where)


def _compile_signal(kind: str, index: int, spec: _Signal, agents: str) -> Signal:
    where = f"kinds.{kind}[{index}] ({spec.name})"
    pattern: re.Pattern[str] | None = None
    if spec.form == "text":
        pattern = _text_pattern(spec.tokens, spec.regex, agents, where)
    elif spec.sequence_name is not None:
        pattern = _compile(spec.sequence_name, f"{where}.sequence_name")
    return Signal(
        kind=kind,
        name=spec.name,
        weight=spec.weight or 0.0,
        pattern=pattern,
        values=frozenset(spec.values or ()),
        detail=spec.detail,
        not_with=tuple(spec.not_with),
    )


def _check_kind(kind: str, specs: list[_Signal]) -> None:
    """Each signal the classifier uses is present once, in the right form, with points where it needs them."""
    where = f"{DATA_FILE}: kinds.{kind}"
    if kind not in SIGNALS_USED:
        raise RuleDataError(f"{where}: unknown kind; known: {', '.join(SIGNALS_USED)}")
    used = SIGNALS_USED[kind]
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise RuleDataError(f"{where}: signal {name!r} is given twice")
    for name, (form, weighted) in used.items():
        if name not in names:
            raise RuleDataError(f"{where}: signal {name!r} ({form}) is missing; the classifier uses it")
        spec = specs[names.index(name)]
        if spec.form != form:
            raise RuleDataError(f"{where}[{names.index(name)}] ({name}): must be a {form} signal")
        if weighted and spec.weight is None:
            raise RuleDataError(f"{where}[{names.index(name)}] ({name}): weight is missing")
    for index, spec in enumerate(specs):
        if spec.name in used:
            continue
        if kind not in TOKEN_LIST_KINDS or spec.form != "text":
            raise RuleDataError(f"{where}[{index}] ({spec.name}): not a signal the classifier uses")
        if spec.weight is None or not spec.detail:
            raise RuleDataError(f"{where}[{index}] ({spec.name}): a description token needs weight and detail")
        for other in spec.not_with:
            if other not in SIGNALS_USED or "description" not in SIGNALS_USED[other]:
                raise RuleDataError(f"{where}[{index}] ({spec.name}).not_with: {other!r} is not a kind with tokens")


def build_vocabulary(spec: _DataFile) -> Vocabulary:
    """Check the signals against what the classifier uses and compile every pattern."""
    missing = [kind for kind in SIGNALS_USED if kind not in spec.kinds]
    if missing:
        raise RuleDataError(f"{DATA_FILE}: kinds: {', '.join(missing)} missing; the classifier uses them")
    agents = "|".join(spec.contrast.agents)
    signals: dict[str, dict[str, Signal]] = {}
    token_lists: dict[str, tuple[Signal, ...]] = {}
    for kind, specs in spec.kinds.items():
        _check_kind(kind, specs)
        compiled = [_compile_signal(kind, index, item, agents) for index, item in enumerate(specs)]
        signals[kind] = {signal.name: signal for signal in compiled}
        token_lists[kind] = tuple(
            signal
            for signal, item in zip(compiled, specs, strict=True)
            if item.name not in SIGNALS_USED[kind] and item.form == "text"
        )
    variants = []
    for index, variant in enumerate(spec.t1_variants):
        where = f"t1_variants[{index}] ({variant.name})"
        pattern: re.Pattern[str] | None = None
        if variant.sequence_name is not None:
            pattern = _compile(variant.sequence_name, where)
        elif variant.values is None:
            pattern = _text_pattern(variant.tokens, variant.regex, agents, where)
        variants.append(
            T1Variant(variant.name, pattern, frozenset(variant.values or ()), variant.sequence_name is not None)
        )
    contrast = spec.contrast
    return Vocabulary(
        version=spec.version,
        negative_contrast=tuple(
            _text_pattern(item.tokens, item.regex, agents, f"contrast.negative[{index}]")
            for index, item in enumerate(contrast.negative)
        ),
        positive_contrast=tuple(
            _text_pattern(item.tokens, item.regex, agents, f"contrast.positive[{index}]")
            for index, item in enumerate(contrast.positive)
        ),
        negative_agent_values=frozenset(contrast.negative_agent_values),
        contrast_confidence=contrast.confidence,
        signals=signals,
        token_lists=token_lists,
        t1_variants=tuple(variants),
        scoring=spec.scoring,
    )


def parse_vocabulary(data: object) -> Vocabulary:
    """A vocabulary from parsed YAML (for tests of the schema); errors name the field."""
    return build_vocabulary(parse_rule_data(data, _DataFile, DATA_FILE))


def vocabulary_spec() -> _DataFile:
    """The shipped data file, checked but not compiled (for the docs tables)."""
    return load_rule_file(DATA_FILE, _DataFile)


@cache
def load_vocabulary() -> Vocabulary:
    """The shipped vocabulary (read once)."""
    return build_vocabulary(vocabulary_spec())


__all__ = [
    "AFTER_TOKEN",
    "BEFORE_TOKEN",
    "DATA_FILE",
    "SIGNALS_USED",
    "ContrastConfidence",
    "Scoring",
    "Signal",
    "T1Variant",
    "Vocabulary",
    "build_vocabulary",
    "load_vocabulary",
    "parse_vocabulary",
    "vocabulary_spec",
]
