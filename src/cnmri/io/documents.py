"""Read a JSON data document that ships with the package or that the user points to."""

from __future__ import annotations

import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cnmri.errors import InputError


def read_json_document(path: Path | str | None, shipped: Traversable, what: str) -> tuple[dict[str, Any], str]:
    """Return (payload, where) from ``path`` or, when None, from the ``shipped`` resource.

    ``what`` names the document in messages ("atlas", "normative reference"). Missing files and
    invalid JSON are :class:`InputError` naming the file.
    """
    if path is None:
        text = shipped.read_text(encoding="utf-8")
        where = f"(shipped) {shipped.name}"
    else:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{what} file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{what} {where} is not valid JSON ({err})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{what} {where} must hold a JSON object")
    return payload, where
