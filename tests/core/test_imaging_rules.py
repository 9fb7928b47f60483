from __future__ import annotations

from typing import Any

import pytest

from cnmri.assess.imaging import (
    CONTINUITY_Z,
    RULE_NON_PHYSIOLOGIC,
    RULE_PHYSIOLOGIC,
    SPILLOVER_RATIO,
    apply_continuity,
    asymmetry_index,
    attribute_adjacent_findings,
    attribute_shared_segments,
    classify_pattern,
    judge_segment,
    judged_as_physiologic,
    sequence_from_dicom,
    side_thickening_margin_mm,
    summarize_nerves,
)


def test_cisternal_enhancement_is_abnormal_at_z3_with_an_absolute_floor() -> None:
    assert judge_segment(False, 0.3, 3.1, 0.0, 1.2, 1.1).abnormal
    assert not judge_segment(False, 0.3, 2.9, 0.0, 1.2, 1.1).abnormal
    assert not judge_segment(False, 0.1, 8.0, 0.0, 1.2, 1.1).abnormal, "tiny enhancement is not enough"


def test_physiologic_intensity_alone_never_makes_a_segment_abnormal() -> None:
    # cavernous sinus / jugular bulb enhancing like veins: any z, any intensity, normal calibre
    for z in (4.5, 8.0, 30.0):
        verdict = judge_segment(True, 2.0, z, 0.5, 2.5, 2.4, 2.4)
        assert not verdict.abnormal and verdict.rule == RULE_PHYSIOLOGIC
        assert verdict.evidence_z < 3.0, "a normal physiologic compartment must not push the nerve score over 0.5"
        assert any("intensity alone" in r for r in verdict.reasons), "never ignored: the reason is reported"
    # the same numbers in a cisternal segment are abnormal
    assert judge_segment(False, 2.0, 8.0, 0.5, 2.5, 2.4).abnormal


def test_physiologic_thickening_must_exceed_the_reference_and_the_other_side() -> None:
    # 3.6 mm against a 2.4 mm reference (z 3.5) and a 2.4 mm other side: abnormal
    assert judge_segment(True, 0.8, 1.0, 3.5, 3.6, 2.4, 2.4).abnormal
    # the other side is as thick: bilateral enlargement short of a mass is not called here
    assert not judge_segment(True, 0.8, 1.0, 3.5, 3.6, 2.4, 3.4).abnormal
    # other side not measurable: no side comparison, so thickening short of a mass is not called ...
    unpaired = judge_segment(True, 0.8, 1.0, 3.5, 3.6, 2.4, None)
    assert not unpaired.abnormal and any("could not be measured" in r for r in unpaired.reasons)
    # ... and a mass is (z ≥ 5 and ≥ 2.5 mm over the reference)
    assert judge_segment(True, 0.8, 1.0, 5.5, 5.2, 2.4, None).abnormal
    # a mass is abnormal even when both sides are enlarged
    assert judge_segment(True, 0.8, 1.0, 6.0, 5.2, 2.4, 5.0).abnormal
    # thicker than the other side but within the reference: not abnormal
    assert not judge_segment(True, 0.8, 1.0, 1.5, 2.9, 2.4, 2.0).abnormal
    # as thick but enhancing less than the compartment normally does (fat, blood products): not called
    unenhancing = judge_segment(True, 0.09, -0.6, 4.8, 3.7, 2.0, 1.9)
    assert not unenhancing.abnormal and any("thickens and enhances" in r for r in unenhancing.reasons)
    assert not judge_segment(True, 0.09, -0.6, 6.0, 5.2, 2.4, 2.4).abnormal, "nor a 'mass' that does not enhance"


def test_meckels_cave_needs_a_larger_side_difference_than_other_compartments() -> None:
    # Meckel's cave is asymmetric in normal people (two between-person SDs of its diameter, 1.3 mm):
    # model C's control caves of 5.8 mm against 4.7-5.0 mm on the other side are not called there.
    meckel = side_thickening_margin_mm("meckel_cave")
    assert meckel == pytest.approx(1.3) and side_thickening_margin_mm("V2") == pytest.approx(0.7)
    args = (True, 0.8, 1.0, 3.5, 5.8, 3.9, 4.8)
    assert judge_segment(*args).abnormal, "1.0 mm over the other side meets the general 0.7 mm margin"
    normal = judge_segment(*args, side_margin_mm=meckel)
    assert not normal.abnormal and any("1.3 mm than the other side" in r for r in normal.reasons)
    assert judge_segment(True, 0.8, 1.0, 3.5, 6.2, 3.9, 4.8, side_margin_mm=meckel).abnormal, "1.4 mm is called"
    # a mass needs no side comparison, in Meckel's cave as elsewhere
    assert judge_segment(True, 0.8, 1.0, 6.0, 6.8, 3.9, 6.0, side_margin_mm=meckel).abnormal


def test_cisternal_rule_set_is_named() -> None:
    assert judge_segment(False, 0.3, 3.1, 0.0, 1.2, 1.1).rule == RULE_NON_PHYSIOLOGIC


def test_canalicular_facial_enhancement_is_physiologic_on_3d_gradient_echo_only() -> None:
    assert judged_as_physiologic("CN7", "canalicular", False, "3d-gre")
    for sequence in ("2d-se", "3d-tse", "unknown"):
        assert not judged_as_physiologic("CN7", "canalicular", False, sequence)
    assert not judged_as_physiologic("CN8", "canalicular", False, "3d-gre"), "any CN8 enhancement is abnormal"
    assert judged_as_physiologic("CN7", "mastoid", True, "2d-se")


def test_sequence_is_read_from_dicom_headers() -> None:
    assert sequence_from_dicom({"scanning_sequence": ["GR", "IR"], "mr_acquisition_type": "3D"}) == "3d-gre"
    assert sequence_from_dicom({"scanning_sequence": ["SE"], "mr_acquisition_type": "3D"}) == "3d-tse"
    assert sequence_from_dicom({"scanning_sequence": ["SE"], "mr_acquisition_type": "2D"}) == "2d-se"
    assert sequence_from_dicom({"scanning_sequence": ["EP"], "mr_acquisition_type": "2D"}) == "unknown"
    assert sequence_from_dicom(None) == "unknown"


def chain(canalicular_abnormal: bool, z_labyrinthine: float, z_geniculate: float) -> list[dict[str, Any]]:
    def one(segment: str, abnormal: bool, rule: str, z: float) -> dict[str, Any]:
        return {
            "nerve": "CN7",
            "side": "left",
            "segment": segment,
            "key": f"CN7-left-{segment}",
            "abnormal": abnormal,
            "rule": rule,
            "z": z,
            "reasons": [],
            "evidence_z": 5.0 if abnormal else 1.0,
        }

    return [
        one("cisternal", False, RULE_NON_PHYSIOLOGIC, 1.0),
        one("canalicular", canalicular_abnormal, RULE_NON_PHYSIOLOGIC, 5.0 if canalicular_abnormal else 0.5),
        one("labyrinthine", False, RULE_PHYSIOLOGIC, z_labyrinthine),
        one("geniculate", False, RULE_PHYSIOLOGIC, z_geniculate),
        one("tympanic", False, RULE_PHYSIOLOGIC, 0.5),
    ]


ORDER = {"CN7": ("cisternal", "canalicular", "labyrinthine", "geniculate", "tympanic")}


def test_continuity_with_an_abnormal_canalicular_segment_spreads_along_the_nerve() -> None:
    segments = chain(True, CONTINUITY_Z + 0.5, CONTINUITY_Z + 1.0)
    apply_continuity(segments, ORDER)
    assert [s["abnormal"] for s in segments] == [False, True, True, True, False]
    assert "continuous with the abnormal canalicular" in segments[2]["reasons"][0]
    assert "continuous with the abnormal labyrinthine" in segments[3]["reasons"][0]


def test_continuity_needs_raised_enhancement_and_an_abnormal_neighbour() -> None:
    weak = chain(True, CONTINUITY_Z - 0.5, CONTINUITY_Z + 1.0)
    apply_continuity(weak, ORDER)
    assert [s["abnormal"] for s in weak] == [False, True, False, False, False]
    alone = chain(False, 9.0, 9.0)
    apply_continuity(alone, ORDER)
    assert not any(s["abnormal"] for s in alone), "a bright normal compartment alone is not continuity"


def test_thickening_alone_counts_only_beyond_one_millimetre_over_reference() -> None:
    assert judge_segment(False, 0.0, 0.0, 3.5, 3.0, 1.5).abnormal
    assert not judge_segment(False, 0.0, 0.0, 3.5, 2.2, 1.5).abnormal


def test_missing_normative_never_yields_a_call() -> None:
    verdict = judge_segment(False, 2.0, None, None, 3.0, None)
    assert not verdict.abnormal
    assert any("no normative" in r for r in verdict.reasons)


def test_asymmetry_sign_and_floor() -> None:
    assert asymmetry_index(1.0, 0.5) == pytest.approx(0.5 / 0.75)
    assert asymmetry_index(0.5, 1.0) < 0
    assert asymmetry_index(0.01, 0.0) == pytest.approx(0.1)  # floored denominator
    assert asymmetry_index(None, 1.0) is None


def seg(
    nerve: str, side: str, segment: str, abnormal: bool, enhancement: float, shared: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "nerve": nerve,
        "side": side,
        "segment": segment,
        "key": f"{nerve}-{side}-{segment}",
        "abnormal": abnormal,
        "enhancement": enhancement,
        "shared_with": list(shared),
        "reasons": [],
        "evidence_z": 5.0 if abnormal else 0.0,
    }


def test_spillover_from_a_stronger_adjacent_nerve_is_withdrawn_with_a_reason() -> None:
    cn7 = seg("CN7", "left", "canalicular", True, 1.2)
    cn8 = seg("CN8", "left", "canalicular", True, 1.2 * SPILLOVER_RATIO - 0.05)
    attribute_adjacent_findings([cn7, cn8], {cn7["key"]: [cn8["key"]], cn8["key"]: [cn7["key"]]})
    assert cn7["abnormal"] and not cn8["abnormal"]
    assert cn8["attributed_to"] == cn7["key"] and "attributed to CN7" in cn8["reasons"][0]


def test_equally_enhancing_adjacent_nerves_both_stay_abnormal() -> None:
    cn7 = seg("CN7", "left", "canalicular", True, 1.2)
    cn8 = seg("CN8", "left", "canalicular", True, 1.1)
    attribute_adjacent_findings([cn7, cn8], {cn7["key"]: [cn8["key"]], cn8["key"]: [cn7["key"]]})
    assert cn7["abnormal"] and cn8["abnormal"]


def test_shared_jugular_foramen_goes_to_the_nerve_abnormal_elsewhere() -> None:
    segments = [
        seg("CN9", "right", "cisternal", True, 1.0),
        seg("CN9", "right", "jugular_foramen", True, 0.9, ("CN10", "CN11")),
        seg("CN10", "right", "cisternal", False, 0.1),
        seg("CN10", "right", "jugular_foramen", True, 0.9, ("CN9", "CN11")),
        seg("CN11", "right", "jugular_foramen", True, 0.9, ("CN9", "CN10")),
    ]
    attribute_shared_segments(segments)
    assert [s["abnormal"] for s in segments] == [True, True, False, False, False]
    alone = [
        seg("CN10", "left", "jugular_foramen", True, 0.9, ("CN9", "CN11")),
        seg("CN9", "left", "jugular_foramen", True, 0.9, ("CN10", "CN11")),
    ]
    attribute_shared_segments(alone)
    assert all(s["abnormal"] for s in alone)
    assert "cannot tell" in alone[0]["reasons"][0]


def test_nerve_summary_and_pattern() -> None:
    segments = [
        seg("CN7", "left", "cisternal", True, 1.0),
        seg("CN7", "right", "cisternal", True, 1.0),
        seg("CN9", "left", "cisternal", False, 0.0),
        seg("CN9", "right", "cisternal", False, 0.0),
    ]
    nerves = summarize_nerves(segments, ("CN7", "CN9"))
    assert [(n["nerve"], n["side"], n["abnormal"]) for n in nerves] == [
        ("CN7", "right", True),
        ("CN7", "left", True),
        ("CN9", "right", False),
        ("CN9", "left", False),
    ]
    assert nerves[0]["score"] > 0.8 and nerves[2]["score"] < 0.1
    pattern = classify_pattern(nerves)
    assert pattern["kind"] == "multiple_nerves" and pattern["bilateral"] == ["CN7"]
    assert classify_pattern(nerves[2:])["kind"] == "normal"
    assert classify_pattern(nerves[:1])["kind"] == "single_nerve"
