"""Spill-over from a thickened, enhancing nerve into the ROI of the nerve beside it (CN7 beside CN8)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from tests.core.synthetic_tubes import grid, line, tube_fraction

from cnmri.assess.imaging import RULE_NON_PHYSIOLOGIC, attribute_adjacent_findings
from cnmri.measure.features import far_side_enhancement, measure_segment
from cnmri.measure.roi import SubjectSegment, rasterize_with_distance
from cnmri.volume import Volume

#: centrelines 3 mm apart, ROIs of 1.5 mm radius: the CN7/CN8 bundle in the cerebellopontine angle
CN7_LINE = line((-1.5, -12.0, 0.0), (-1.5, 12.0, 0.0))
CN8_LINE = line((1.5, -12.0, 0.0), (1.5, 12.0, 0.0))


def _segment(key: str, label: int, points: np.ndarray) -> SubjectSegment:
    return SubjectSegment(key, label, points, np.full(len(points), 1.5))


def _study(cn7_lesion: bool, cn8_lesion: bool) -> tuple[Volume, Volume, list[SubjectSegment]]:
    """Pre = 0 everywhere; post = lesions of 2.8 mm diameter enhancing 0.8, blurred by a 1 mm PSF.

    The real CN7 lies 1.2 mm closer to CN8 than its registered centreline (registration error of about a
    voxel), so its lesion reaches into CN8's core, as it does in the phantoms."""
    image = grid(30.0, (0.5, 0.5, 0.5))
    post = np.zeros(image.shape, dtype=np.float32)
    true_cn7 = CN7_LINE + np.array([1.2, 0.0, 0.0])
    for lesioned, centreline in ((cn7_lesion, true_cn7), (cn8_lesion, CN8_LINE)):
        if lesioned:
            post = np.maximum(post, 0.8 * tube_fraction(image, centreline, 1.4))
    sigma_vox = (1.0 / 2.355) / 0.5
    post = ndimage.gaussian_filter(post, sigma_vox).astype(np.float32)
    segments = [_segment("CN7-left-cisternal", 1, CN7_LINE), _segment("CN8-left-cisternal", 2, CN8_LINE)]
    return image.with_data(post), image.with_data(np.zeros_like(post)), segments


def test_far_half_of_a_normal_nerve_beside_a_lesion_does_not_enhance() -> None:
    post, pre, (cn7, cn8) = _study(cn7_lesion=True, cn8_lesion=False)
    labels, distance = rasterize_with_distance(post, [cn7, cn8])
    whole = measure_segment(cn8, labels, distance, post, pre).enhancement
    far, voxels = far_side_enhancement(cn8, cn7, labels, post, pre)
    assert whole is not None and far is not None and voxels > 20
    assert whole >= 0.15, "the spill-over alone would pass the cisternal enhancement floor"
    assert far < 0.15 and far < 0.5 * whole


def test_far_half_of_an_infiltrated_nerve_beside_another_enhances() -> None:
    post, pre, (cn7, cn8) = _study(cn7_lesion=True, cn8_lesion=True)
    labels, _ = rasterize_with_distance(post, [cn7, cn8])
    far, _ = far_side_enhancement(cn8, cn7, labels, post, pre)
    assert far is not None and far >= 0.5


def _record(nerve: str, enhancement: float) -> dict[str, Any]:
    return {
        "nerve": nerve,
        "side": "left",
        "segment": "cisternal",
        "key": f"{nerve}-left-cisternal",
        "abnormal": True,
        "enhancement": enhancement,
        "rule": RULE_NON_PHYSIOLOGIC,
        "shared_with": [],
        "reasons": [],
        "computed_from": {"z_location": 0.03, "z_scale": 0.08},
        "evidence_z": 7.0,
    }


def test_a_call_whose_far_half_is_normal_goes_to_the_neighbour() -> None:
    cn7, cn8 = _record("CN7", 0.70), _record("CN8", 0.58)  # 83 %: the ratio rule alone keeps CN8
    adjacent = {cn7["key"]: [cn8["key"]], cn8["key"]: [cn7["key"]]}
    far = {(cn8["key"], cn7["key"]): 0.12, (cn7["key"], cn8["key"]): 0.66}
    attribute_adjacent_findings([cn7, cn8], adjacent, far)
    assert cn7["abnormal"] and not cn8["abnormal"]
    assert cn8["attributed_to"] == cn7["key"] and "facing away" in cn8["reasons"][-1]


def test_both_nerves_stay_abnormal_when_both_far_halves_enhance() -> None:
    cn7, cn8 = _record("CN7", 0.70), _record("CN8", 0.58)
    adjacent = {cn7["key"]: [cn8["key"]], cn8["key"]: [cn7["key"]]}
    far = {(cn8["key"], cn7["key"]): 0.55, (cn7["key"], cn8["key"]): 0.66}
    attribute_adjacent_findings([cn7, cn8], adjacent, far)
    assert cn7["abnormal"] and cn8["abnormal"]


def test_of_two_mutual_spillovers_the_stronger_nerve_keeps_its_call() -> None:
    # a lesion between the two centrelines (e.g. registration off by a millimetre): both far halves dim
    cn7, cn8 = _record("CN7", 0.70), _record("CN8", 0.60)
    adjacent = {cn7["key"]: [cn8["key"]], cn8["key"]: [cn7["key"]]}
    far = {(cn8["key"], cn7["key"]): 0.05, (cn7["key"], cn8["key"]): 0.08}
    attribute_adjacent_findings([cn7, cn8], adjacent, far)
    assert cn7["abnormal"] and not cn8["abnormal"]


def test_nodularity_ratio_separates_a_nodule_from_a_smooth_thickened_nerve() -> None:
    from cnmri.measure.features import cross_section_profile, nodularity_ratio

    image = grid(30.0, (0.5, 0.5, 0.5))
    course = line((0.0, -10.0, 0.0), (0.0, 10.0, 0.0))
    smooth = tube_fraction(image, course, 1.2)
    nodule = np.maximum(smooth, tube_fraction(image, line((0.0, -1.5, 0.0), (0.0, 1.5, 0.0)), 2.6))
    segment = SubjectSegment("CN7-left-cisternal", 1, course, np.full(2, 3.5))
    ratios = {}
    for name, data in (("smooth", smooth), ("nodular", nodule)):
        diameters, _ = cross_section_profile(image.with_data(data.astype(np.float32)), segment)
        ratios[name] = nodularity_ratio(diameters)
    assert ratios["smooth"] is not None and ratios["smooth"] < 1.15
    assert ratios["nodular"] is not None and ratios["nodular"] > 1.6
    assert nodularity_ratio([2.0, 2.1, 2.0]) is None, "too few cross-sections to judge a shape"


def test_enhancement_along_a_stretch_touched_by_a_vessel_is_not_called_but_flagged() -> None:
    from cnmri.assess.imaging import withdraw_partial_enhancement_at_vessel_contact

    touched, lesion, thick = _record("CN12", 0.67), _record("CN9", 0.70), _record("CN10", 0.60)
    thick["z_thickness"] = 4.0  # thickened: the nerve itself is enlarged, a vessel does not explain it
    withdraw_partial_enhancement_at_vessel_contact(
        [touched, lesion, thick],
        {
            touched["key"]: 0.45,
            lesion["key"]: 0.95,
            thick["key"]: 0.30,
        },
    )
    assert not touched["abnormal"] and touched["needs_review"] and "neurovascular contact" in touched["reasons"][-1]
    assert lesion["abnormal"] and thick["abnormal"]


def test_the_enhancing_fraction_of_the_course_separates_a_vessel_stretch_from_a_lesion() -> None:
    from cnmri.measure.features import enhancement_profile, fraction_of_course_above

    image = grid(30.0, (0.5, 0.5, 0.5))
    course = line((0.0, -10.0, 0.0), (0.0, -5.0, 0.0), (0.0, 0.0, 0.0), (0.0, 5.0, 0.0), (0.0, 10.0, 0.0))
    segment = SubjectSegment("CN12-left-cisternal", 1, course, np.full(len(course), 1.5))
    lesion = 0.6 * tube_fraction(image, course, 1.4)
    # a vessel of 1.2 mm touching the distal quarter of the nerve (5–10 mm along a 20 mm course)
    vessel = 0.9 * tube_fraction(image, line((1.0, 5.0, 0.0), (1.0, 10.0, 0.0), (9.0, 14.0, 0.0)), 0.6)
    fractions = {}
    for name, data in (("lesion", lesion), ("vessel", vessel)):
        post = image.with_data(data.astype(np.float32))
        pre = image.with_data(np.zeros(image.shape, dtype=np.float32))
        labels, distance = rasterize_with_distance(post, [segment])
        fractions[name] = fraction_of_course_above(enhancement_profile(segment, labels, distance, post, pre), 0.15)
    assert fractions["lesion"] is not None and fractions["lesion"] > 0.9
    assert fractions["vessel"] is not None and fractions["vessel"] < 0.5


def test_a_weaker_neighbour_whose_far_half_enhances_is_involved_too() -> None:
    # both infiltrated: CN9 at 0.70 beside CN10 at 0.97 (72 %, below the ratio) but enhancing across its section
    cn9, cn10 = _record("CN9", 0.70), _record("CN10", 0.97)
    adjacent = {cn9["key"]: [cn10["key"]], cn10["key"]: [cn9["key"]]}
    attribute_adjacent_findings(
        [cn9, cn10], adjacent, {(cn9["key"], cn10["key"]): 0.62, (cn10["key"], cn9["key"]): 0.9}
    )
    assert cn9["abnormal"] and cn10["abnormal"]
    # without a far-half measurement the ratio still attributes it
    cn9, cn10 = _record("CN9", 0.70), _record("CN10", 0.97)
    attribute_adjacent_findings([cn9, cn10], adjacent)
    assert not cn9["abnormal"] and cn9["attributed_to"] == cn10["key"]
