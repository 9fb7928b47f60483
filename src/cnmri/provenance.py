"""Method texts of findings.json, made from the constants they describe.

A text such as "75th percentile of ..." is written from :data:`~cnmri.measure.features.ENHANCEMENT_PERCENTILE`,
so changing the constant changes what the findings say the value was computed from.
"""

from __future__ import annotations

from cnmri.atlas import Atlas
from cnmri.measure.features import ENHANCEMENT_PERCENTILE, MAD_TO_SD
from cnmri.templates.lookup import TEMPLATE_NAME

__all__ = ["TEMPLATE_NAME", "enhancement_method", "noise_method", "ordinal", "reference_tissue_text"]


def ordinal(number: float) -> str:
    """``75`` -> ``"75th"``, ``1`` -> ``"1st"`` (for method texts made from constants)."""
    n = int(number)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{number:g}{suffix}"


def noise_method(mode: str) -> str:
    """findings ``image_noise.method``, from the constant :func:`study_noise_sd` uses."""
    if mode == "pre_post":
        return f"{MAD_TO_SD:g} × MAD of the normalised (post − pre) over the reference tissue"
    return f"{MAD_TO_SD:g} × MAD of neighbouring-voxel differences of normalised post / √2 over the reference tissue"


def enhancement_method(mode: str) -> str:
    """findings ``computed_from.enhancement``, from the percentile :func:`measure_segment` takes."""
    percentile = ordinal(ENHANCEMENT_PERCENTILE)
    if mode == "pre_post":
        return f"{percentile} percentile of reference-normalised (post − pre) in the core of the segment ROI"
    return f"{percentile} percentile of reference-normalised post − 1 in the core of the segment ROI (post-only)"


def reference_tissue_text(atlas: Atlas) -> str:
    """findings ``computed_from.reference_tissue``, from the atlas' reference regions (sides merged)."""
    names: list[str] = []
    for region in atlas.reference_regions:
        name = region.name.removesuffix("_left").removesuffix("_right").replace("_", " ")
        if name not in names:
            names.append(name)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{listed} (atlas reference regions)"
