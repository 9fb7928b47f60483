"""Sequence identification, contrast tokens in several languages, and the choice of series."""

from __future__ import annotations

import pytest
from dicom_study_builder import StudyWriter

from cnmri.io.dicom.classify import Contrast, Kind, classify_all, contrast_from_text, select_series
from cnmri.io.dicom.discover import discover


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t1_mprage_sag_p2_iso_post", Contrast.POST),
        ("Sag 3D BRAVO +C", Contrast.POST),
        ("AX T1 C+", Contrast.POST),
        ("AX T1 C-", Contrast.PRE),
        ("T1W_3D_TFE con contraste", Contrast.POST),
        ("T1W_3D_TFE sin contraste", Contrast.PRE),
        ("T1 3D sin gadolinio", Contrast.PRE),
        ("t1_mprage nativ", Contrast.PRE),
        ("t1_mprage_KM", Contrast.POST),
        ("T1 mit KM", Contrast.POST),
        ("T1 ohne KM", Contrast.PRE),
        ("T1 3D apres injection", Contrast.POST),
        ("T1 3D sans injection", Contrast.PRE),
        ("T1 3D après gado", Contrast.POST),
        ("T1 SE con mdc", Contrast.POST),
        ("T1 senza mdc", Contrast.PRE),
        ("T1 com contraste", Contrast.POST),
        ("T1 met contrast", Contrast.POST),
        ("T1 pre-contrast", Contrast.PRE),
        ("T1 precontrast", Contrast.PRE),
        ("T1 non contrast", Contrast.PRE),
        ("T1 w/o contrast", Contrast.PRE),
        ("T1 w/ contrast", Contrast.POST),
        ("T1+Gd", Contrast.POST),
        ("T1_GD", Contrast.POST),
        ("t1 dotarem", Contrast.POST),
        ("T1 造影", Contrast.POST),
        ("T1 単純", Contrast.PRE),
        ("T1 增强", Contrast.POST),
        ("T1 平扫", Contrast.PRE),
        ("t1_mprage_sag", Contrast.UNKNOWN),
        ("CE-T1", Contrast.POST),
        ("T1 pre and post", Contrast.UNKNOWN),
        ("precession", Contrast.UNKNOWN),  # no token inside words
        ("postural", Contrast.UNKNOWN),
    ],
)
def test_contrast_tokens(text: str, expected: Contrast) -> None:
    assert contrast_from_text(text)[0] is expected


def _by_number(writer: StudyWriter) -> dict[int | None, tuple[Kind, Contrast, bool, float, tuple[str, ...]]]:
    rows = classify_all(discover(writer.root))
    return {s.number: (c.kind, c.contrast, c.is_3d, c.confidence, c.reasons) for s, c in rows}


def test_siemens_series_are_identified(siemens: StudyWriter) -> None:
    got = _by_number(siemens)
    assert got[1][0] is Kind.LOCALIZER
    assert got[3][0] is Kind.DWI
    assert got[5][:3] == (Kind.T1, Contrast.PRE, True)
    assert any("before the first contrast-marked series 7" in r for r in got[5][4])  # order rule
    assert got[6][0] is Kind.CISTERNOGRAPHY
    assert got[7][:3] == (Kind.T1, Contrast.POST, True)
    assert any("Gadovist" in r for r in got[7][4])
    assert got[8][:2] == (Kind.DERIVED, Contrast.POST)
    assert got[9][:2] == (Kind.FLAIR, Contrast.POST)
    assert all(0.0 < v[3] <= 1.0 for v in got.values())


def test_ge_series_are_identified(ge: StudyWriter) -> None:
    got = _by_number(ge)
    assert got[1][0] is Kind.LOCALIZER and any("LOCALIZER" in r for r in got[1][4])
    assert got[4][0] is Kind.DWI
    assert got[5][:2] == (Kind.T1, Contrast.PRE)
    assert got[6][0] is Kind.CISTERNOGRAPHY
    assert got[9][:2] == (Kind.T1, Contrast.POST)


def test_philips_spanish_series_are_identified(philips: StudyWriter) -> None:
    got = _by_number(philips)
    assert got[101][0] is Kind.LOCALIZER
    assert got[301][:2] == (Kind.T1, Contrast.PRE)
    assert got[401][0] is Kind.CISTERNOGRAPHY
    assert got[701][:2] == (Kind.T1, Contrast.POST)


@pytest.mark.parametrize("fixture", ["siemens", "ge", "philips"])
def test_best_pair_is_chosen(fixture: str, request: pytest.FixtureRequest) -> None:
    writer: StudyWriter = request.getfixturevalue(fixture)
    selection = select_series(classify_all(discover(writer.root)))
    expected = {"siemens": (7, 5, 6), "ge": (9, 5, 6), "philips": (701, 301, 401)}[fixture]
    assert selection.post.series.number == expected[0]
    assert selection.pre is not None and selection.pre.series.number == expected[1]
    assert selection.ciss is not None and selection.ciss.series.number == expected[2]
    assert "same sequence and geometry" in selection.pre.why
