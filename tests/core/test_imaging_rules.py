from __future__ import annotations

from typing import Any

import pytest

from cnmri.assess.imaging import (
    PHYSIOLOGIC_INTENSE_Z,
    SPILLOVER_RATIO,
    asymmetry_index,
    attribute_adjacent_findings,
    attribute_shared_segments,
    classify_pattern,
    judge_segment,
    summarize_nerves,
)


def test_cisternal_enhancement_is_abnormal_at_z3_with_an_absolute_floor() -> None:
    assert judge_segment(False, 0.3, 3.1, 0.0, 1.2, 1.1).abnormal
    assert not judge_segment(False, 0.3, 2.9, 0.0, 1.2, 1.1).abnormal
    assert not judge_segment(False, 0.1, 8.0, 0.0, 1.2, 1.1).abnormal, "tiny enhancement is not enough"


def test_physiologic_segments_need_intensity_and_thickening_or_intense_enhancement() -> None:
    assert not judge_segment(True, 0.8, 4.5, 0.5, 1.5, 1.4).abnormal
    assert judge_segment(True, 0.8, 4.5, 2.5, 2.5, 1.4).abnormal
    assert judge_segment(True, 1.5, PHYSIOLOGIC_INTENSE_Z + 0.1, 0.0, 1.5, 1.4).abnormal
    # never ignored: a reason is given even when within normal
    assert judge_segment(True, 0.5, 2.5, 0.0, 1.5, 1.4).reasons


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
        "_evidence_z": 5.0 if abnormal else 0.0,
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
