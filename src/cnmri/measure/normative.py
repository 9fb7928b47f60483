"""The model of normal: per segment a location and a scale that carry real variation (schema 2).

Ten controls of one simulator agree far better than real people do (schema-1 SDs of 0.01–0.03
reference units), so a z-score against their plain mean and SD flags every image whose physiology
differs. Schema 2 keeps the empirical location but builds the scale from four parts
(docs/method.md §4):

1. **Empirical spread, robust and inflated for small n.** The larger of the SD and 1.4826 × MAD of
   the controls, times the one-sided 95 % upper confidence factor of an SD from n values,
   √((n − 1) / χ²₀.₀₅(n − 1)) (1.65 for n = 10): with few controls the true spread is likely larger
   than the sample's.
2. **A per-compartment prior scale (a floor).** Enhancement: 0.08 reference units where the nerve
   should not enhance (cisternal and canalicular segments; Gebarski 1992, Mark 1992: enhancement is
   never normal there, so the spread of normal is the spread of measurement), 0.25 where a venous
   plexus, dura or ganglion enhances normally (the normal range runs from no enhancement to venous
   blood: Williams, AJNR 2003;24:1317 — plexus around V2 91 %, V3 97 %; hypoglossal canal plexus
   100 %, PMC8337779; jugular bulb, Linn, AJNR 2009;30:34). Thickness: 0.35 mm everywhere (a third
   of a 1 mm voxel; the normal cisternal CN5 varies with SD 0.56 mm, Erbay, Radiology 2006;238:689,
   CN7 cross-section 0.79 ± 0.31 mm², i.e. ~0.2 mm in diameter).
3. **The study's own noise.** The 75th percentile of n voxels with noise SD σ has a standard error of
   ≈ 1.36 σ / √n (sample-quantile variance p(1 − p) / (n φ(Φ⁻¹(p))²)); voxels are counted as
   n / 2 independent ones (linear reslicing of the post image correlates neighbours). That standard
   error is added in quadrature to the scale. Noise also lifts an upper percentile: the location is
   raised by 0.674 × (σ_study − σ_controls) when the study is noisier than the controls' median.
4. **Heavier tails by construction**: the inflated, floored scale is what z divides by; a z of 3 then
   means well beyond what the controls and the floors allow, not 3 SDs of a tight simulation.

Schema-1 files (mean, sd, n per entry) still load: their mean is the location and their SD enters
the same scale model (inflation, floors, noise), so an old site file gains the same protection.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from cnmri.errors import CnmriError, InputError

NORMATIVE_FILE = "normative_v2.json"
SCHEMA_VERSION = "2"
FEATURES = ("enhancement", "thickness_mm")
#: Prior scale per feature for segments where the nerve itself should not enhance (see module doc, 2.).
SCALE_FLOOR = {"enhancement": 0.08, "thickness_mm": 0.35}
#: Prior scale per feature in compartments that enhance normally (venous plexus, dura, ganglion).
PHYSIOLOGIC_SCALE_FLOOR = {"enhancement": 0.25, "thickness_mm": 0.35}
#: Thickness floor (mm) of the segments whose calibre in healthy people has a published spread: that
#: spread, where it is wider than the general floor. Cisternal CN5 5 mm from the pons 2.62 ± 0.56 mm
#: (Erbay, Radiology 2006;238:689). Applied when a reference is used, so a reference file built before
#: (the shipped one, a site's) gets it too. Added after a model-C control's cisternal CN5 measured 4.5 mm
#: against a location of 3.2 mm and a simulator scale of 0.39 mm (z 3.4, called thickened) in the
#: medium validation set: 2.4 population SDs, within the normal range the literature reports.
THICKNESS_SCALE_FLOOR_MM_BY_SEGMENT = {"CN5-cisternal": 0.56}
#: Kept for callers of schema 1; the schema-2 floors above replace it.
MIN_SD = SCALE_FLOOR
#: Standard error of a sample 75th percentile, in units of σ / √n (normal data).
Q75_STANDARD_ERROR = math.sqrt(0.75 * 0.25) / float(sps.norm.pdf(sps.norm.ppf(0.75)))
#: Where the 75th percentile of N(0, σ²) lies, in σ.
Q75_OFFSET = float(sps.norm.ppf(0.75))
#: Voxels per independent noise sample (linear reslicing of the post image correlates neighbours).
VOXELS_PER_INDEPENDENT_SAMPLE = 2.0
#: One-sided confidence of the small-sample inflation of the empirical spread.
INFLATION_CONFIDENCE = 0.95


def small_sample_inflation(n: int) -> float:
    """√((n − 1)/χ²_{0.05}(n − 1)): the 95 % upper confidence factor of an SD estimated from n values."""
    if n < 2:
        return float("inf")
    dof = n - 1
    return float(math.sqrt(dof / float(sps.chi2.ppf(1.0 - INFLATION_CONFIDENCE, dof))))


def noise_standard_error(noise_sd: float | None, n_voxels: int | None) -> float:
    """Standard error that the study's noise puts on a 75th percentile of ``n_voxels`` voxels."""
    if noise_sd is None or not n_voxels or n_voxels <= 0 or not math.isfinite(noise_sd):
        return 0.0
    n_independent = max(n_voxels / VOXELS_PER_INDEPENDENT_SAMPLE, 1.0)
    return float(Q75_STANDARD_ERROR * noise_sd / math.sqrt(n_independent))


@dataclass(frozen=True)
class Reference:
    """One segment's model of normal for one feature, before the study's noise is added."""

    location: float
    scale: float
    n: int
    empirical_sd: float

    @property
    def mean(self) -> float:  # schema-1 name, kept for readers
        return self.location


@dataclass(frozen=True)
class Normative:
    built_from: str
    stats: dict[str, dict[str, dict[str, dict[str, float]]]]  # mode → "CN7-canalicular" → feature → entry
    source: str
    schema_version: str = SCHEMA_VERSION
    #: median noise SD of the controls per mode (reference units); None when unknown (schema 1)
    control_noise_sd: dict[str, float] = field(default_factory=dict)
    #: segment keys ("CN7-geniculate") whose compartment enhances normally: wider prior scale
    physiologic: frozenset[str] = frozenset()

    def model(self, mode: str, nerve_segment: str, feature: str, physiologic: bool | None = None) -> Reference | None:
        entry = self.stats.get(mode, {}).get(nerve_segment, {}).get(feature)
        if not entry or int(entry.get("n", 0)) < 2:
            return None
        n = int(entry["n"])
        if "location" in entry and "scale" in entry:
            location, scale = float(entry["location"]), float(entry["scale"])
            empirical = float(entry.get("sd", scale))
        else:  # schema 1: mean and SD of the controls; the schema-2 scale model applies
            location = float(entry["mean"])
            empirical = float(entry["sd"])
            is_physiologic = physiologic if physiologic is not None else nerve_segment in self.physiologic
            scale = model_scale(feature, empirical, n, is_physiologic)
        return Reference(location, max(scale, segment_scale_floor(feature, nerve_segment)), n, empirical)

    def z(
        self,
        mode: str,
        nerve_segment: str,
        feature: str,
        value: float | None,
        noise_sd: float | None = None,
        n_voxels: int | None = None,
        physiologic: bool | None = None,
    ) -> float | None:
        """(value − location) / scale, with the study's noise in the scale (enhancement only)."""
        detail = self.z_detail(mode, nerve_segment, feature, value, noise_sd, n_voxels, physiologic)
        return None if detail is None else detail[0]

    def z_detail(
        self,
        mode: str,
        nerve_segment: str,
        feature: str,
        value: float | None,
        noise_sd: float | None = None,
        n_voxels: int | None = None,
        physiologic: bool | None = None,
    ) -> tuple[float, float, float] | None:
        """(z, location used, scale used), or None when there is no reference or no value."""
        if value is None:
            return None
        ref = self.model(mode, nerve_segment, feature, physiologic)
        if ref is None:
            return None
        location, scale = ref.location, ref.scale
        if feature == "enhancement" and noise_sd is not None:
            control_noise = self.control_noise_sd.get(mode)
            if control_noise is not None and noise_sd > control_noise:
                location += Q75_OFFSET * (noise_sd - control_noise)
            scale = math.hypot(scale, noise_standard_error(noise_sd, n_voxels))
        return float((value - location) / scale), location, scale

    def reference(self, mode: str, nerve_segment: str, feature: str) -> dict[str, float] | None:
        ref = self.model(mode, nerve_segment, feature)
        if ref is None:
            return None
        return {"mean": ref.location, "location": ref.location, "scale": ref.scale, "n": ref.n}


def segment_scale_floor(feature: str, nerve_segment: str) -> float:
    """The published spread of normal for this segment and feature, or 0 where none is known."""
    if feature != "thickness_mm":
        return 0.0
    return THICKNESS_SCALE_FLOOR_MM_BY_SEGMENT.get(nerve_segment, 0.0)


def model_scale(feature: str, empirical_sd: float, n: int, physiologic: bool, nerve_segment: str = "") -> float:
    """The schema-2 scale: inflated empirical spread, never below the compartment's prior floor nor the
    segment's published spread of normal (:data:`THICKNESS_SCALE_FLOOR_MM_BY_SEGMENT`)."""
    floor = max(
        (PHYSIOLOGIC_SCALE_FLOOR if physiologic else SCALE_FLOOR)[feature], segment_scale_floor(feature, nerve_segment)
    )
    inflated = empirical_sd * small_sample_inflation(n) if n >= 2 else float("inf")
    return float(max(inflated, floor)) if math.isfinite(inflated) else float(floor)


def _physiologic_keys() -> frozenset[str]:
    """Nerve-segment keys of the shipped atlas whose compartment enhances normally."""
    try:
        from cnmri.atlas import load_atlas

        atlas = load_atlas()
    except CnmriError:  # the atlas only widens floors; without it every floor is the tight one
        return frozenset()
    return frozenset(f"{s.nerve}-{s.segment}" for s in atlas.segments if s.physiologic_enhancement)


def normative_from_payload(payload: dict[str, Any], where: str) -> Normative:
    try:
        built_from = str(payload["built_from"])
        stats = dict(payload["stats"])
    except (KeyError, TypeError) as err:
        raise InputError(f"normative reference {where} is malformed (missing {err})") from None
    version = str(payload.get("schema_version", "1"))
    if version not in ("1", "2"):
        raise InputError(
            f"normative reference {where} has schema_version {version!r}; this cnmri reads 1 and 2 "
            "(rebuild it with 'cnmri normative build')"
        )
    noise = payload.get("control_noise_sd") or {}
    if not isinstance(noise, dict):
        raise InputError(f"normative reference {where}: control_noise_sd must be an object of mode → SD")
    return Normative(
        built_from,
        stats,
        where,
        version,
        {str(k): float(v) for k, v in noise.items() if v is not None},
        _physiologic_keys(),
    )


def load_normative(path: Path | str | None = None) -> Normative:
    """The shipped normative reference, or a user's (from ``cnmri normative build``), schema 1 or 2."""
    from cnmri.io.documents import read_json_document

    shipped = resources.files("cnmri").joinpath("data", NORMATIVE_FILE)
    if path is None and not shipped.is_file():
        return Normative("none (no normative reference shipped)", {}, "none")
    payload, where = read_json_document(path, shipped, "normative reference")
    if not isinstance(payload, dict):
        raise InputError(f"normative reference {where} is malformed (not a JSON object)")
    return normative_from_payload(payload, where)


def _robust_sd(values: np.ndarray) -> float:
    """The larger of the SD and 1.4826 × MAD: neither a single outlier nor a tight core hides spread."""
    if values.size < 2:
        return 0.0
    sd = float(values.std(ddof=1))
    mad = float(1.4826 * np.median(np.abs(values - np.median(values))))
    return max(sd, mad)


def build_normative(findings_list: Iterable[dict[str, Any]], built_from: str) -> dict[str, Any]:
    """Pool control studies' ``findings.json`` into a schema-2 normative reference payload.

    Location: the median of the controls (robust to one odd control). Scale: :func:`model_scale` of
    the robust SD with the compartment's floor (the segment's ``physiologic_enhancement`` flag in the
    findings). The controls' median noise SD per mode is stored so a noisier study can be compared
    fairly (module doc, 3.).
    """
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    physiologic: dict[str, bool] = {}
    noise: dict[str, list[float]] = {}
    n_studies = 0
    for findings in findings_list:
        n_studies += 1
        mode = str(findings.get("mode", "pre_post"))
        sd = (findings.get("image_noise") or {}).get("sd")
        if sd is not None:
            noise.setdefault(mode, []).append(float(sd))
        for seg in findings.get("segments", []):
            key = f"{seg['nerve']}-{seg['segment']}"
            physiologic[key] = physiologic.get(key, False) or bool(seg.get("physiologic_enhancement"))
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
                robust = _robust_sd(arr)
                stats.setdefault(mode, {}).setdefault(key, {})[feature] = {
                    "location": round(float(np.median(arr)), 4),
                    "scale": round(model_scale(feature, robust, int(arr.size), physiologic.get(key, False), key), 4),
                    "mean": round(float(arr.mean()), 4),
                    "sd": round(robust, 4),
                    "p95": round(float(np.percentile(arr, 95)), 4),
                    "n": int(arr.size),
                    "physiologic": physiologic.get(key, False),
                }
    return {
        "schema_version": SCHEMA_VERSION,
        "built_from": built_from,
        "n_studies": n_studies,
        "model": {
            "location": "median of the controls",
            "scale": "max(robust SD × small-sample 95% inflation, floor); study noise added at use",
            "scale_floor": SCALE_FLOOR,
            "physiologic_scale_floor": PHYSIOLOGIC_SCALE_FLOOR,
            "inflation_confidence": INFLATION_CONFIDENCE,
            "noise": "1.36 × σ_study / √(n_core / 2) in quadrature; location + 0.674 × (σ_study − σ_controls)",
        },
        "control_noise_sd": {mode: round(float(np.median(v)), 4) for mode, v in noise.items()},
        "stats": stats,
    }
