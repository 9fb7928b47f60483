"""Reading the versioned rule data files shipped in ``cnmri/data`` (YAML, checked against a schema).

Each rule module (the DICOM vocabulary, the CNS status rules, the differential) describes its file with
a strict pydantic model and calls :func:`load_rule_file`. A broken file is a packaging or editing error,
not a user error: :class:`RuleDataError` (exit 3) names the file and the field and says what is wrong.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cnmri.errors import CnmriError

Model = TypeVar("Model", bound=BaseModel)


class RuleDataError(CnmriError):
    """A shipped rule data file is malformed (a packaging or editing error)."""

    exit_code = 3


class StrictModel(BaseModel):
    """Unknown keys are refused (a misspelt key would otherwise be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_data_text(name: str) -> str:
    """The text of ``cnmri/data/<name>`` as shipped in the package."""
    try:
        return resources.files("cnmri").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleDataError(f"{name}: missing from the installed package (cnmri/data)") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """``kinds.t1[2].weight`` from pydantic's error location."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_rule_data(data: Any, model: type[Model], origin: str) -> Model:
    """``data`` checked against ``model``; the first problem is reported with its field path."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise RuleDataError(f"{origin}: {field_path(tuple(first['loc']))}: {first['msg']}") from None


def load_rule_file(name: str, model: type[Model]) -> Model:
    """Read ``cnmri/data/<name>`` (safe YAML) and check it against ``model``."""
    try:
        data = yaml.safe_load(read_data_text(name))
    except yaml.YAMLError as error:
        raise RuleDataError(f"{name}: not valid YAML: {error}") from None
    return parse_rule_data(data, model, name)


__all__ = ["RuleDataError", "StrictModel", "field_path", "load_rule_file", "parse_rule_data", "read_data_text"]
