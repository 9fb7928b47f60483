"""Normative reference: per segment (sides pooled) mean and SD of enhancement and thickness.

The shipped default (``cnmri/data/normative_v1.json``) is built from control phantoms — the real
Colin27 head with physiologic enhancement only, under varied pose, deformation, noise and bias (see
docs/method.md §4) — and says so in its ``built_from`` field. It is not a population of real patients;
sites should rebuild it from their own control studies with ``cnmri normative build``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cnmri.errors import InputError

NORMATIVE_FILE = "normative_v1.json"
#: SD floors keep z finite when controls agree too well (phantoms share one anatomy).
MIN_SD = {"enhancement": 0.04, "thickness_mm": 0.25}
FEATURES = ("enhancement", "thickness_mm")


@dataclass(frozen=True)
class Normative:
    built_from: str
    stats: dict[str, dict[str, dict[str, dict[str, float]]]]  # mode → "CN7-canalicular" → feature → stats
    source: str

    def z(self, mode: str, nerve_segment: str, feature: str, value: float | None) -> float | None:
        if value is None:
            return None
        entry = self.stats.get(mode, {}).get(nerve_segment, {}).get(feature)
        if not entry or entry.get("n", 0) < 2:
            return None
        sd = max(float(entry["sd"]), MIN_SD[feature])
        return float((value - float(entry["mean"])) / sd)

    def reference(self, mode: str, nerve_segment: str, feature: str) -> dict[str, float] | None:
        return self.stats.get(mode, {}).get(nerve_segment, {}).get(feature)


def load_normative(path: Path | str | None = None) -> Normative:
    """The shipped normative reference, or a user's (from ``cnmri normative build``)."""
    from cnmri.io.documents import read_json_document

    shipped = resources.files("cnmri").joinpath("data", NORMATIVE_FILE)
    if path is None and not shipped.is_file():
        return Normative("none (no normative reference shipped)", {}, "none")
    payload, where = read_json_document(path, shipped, "normative reference")
    try:
        return Normative(str(payload["built_from"]), dict(payload["stats"]), where)
    except (KeyError, TypeError) as err:
        raise InputError(f"normative reference {where} is malformed (missing {err})") from None


def build_normative(findings_list: Iterable[dict[str, Any]], built_from: str) -> dict[str, Any]:
    """Pool control studies' ``findings.json`` into a normative reference payload."""
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    n_studies = 0
    for findings in findings_list:
        n_studies += 1
        mode = str(findings.get("mode", "pre_post"))
        for seg in findings.get("segments", []):
            key = f"{seg['nerve']}-{seg['segment']}"
            for feature in FEATURES:
                value = seg.get(feature)
                if value is not None:
                    values.setdefault(mode, {}).setdefault(key, {}).setdefault(feature, []).append(float(value))
    if n_studies < 2:
        raise InputError("a normative reference needs at least two control studies")
    stats: dict[str, Any] = {}
    for mode, per_key in values.items():
        for key, per_feature in per_key.items():
            for feature, vals in per_feature.items():
                arr = np.asarray(vals)
                stats.setdefault(mode, {}).setdefault(key, {})[feature] = {
                    "mean": round(float(arr.mean()), 4),
                    "sd": round(float(arr.std(ddof=1)) if arr.size > 1 else 0.0, 4),
                    "p95": round(float(np.percentile(arr, 95)), 4),
                    "n": int(arr.size),
                }
    return {"schema_version": "1", "built_from": built_from, "n_studies": n_studies, "stats": stats}
