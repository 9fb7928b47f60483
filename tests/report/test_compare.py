"""Follow-up comparison from small hand-written findings.json files."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cnmri import cli
from cnmri.errors import InputError
from cnmri.report.compare import (
    compare_findings,
    comparison_tsv,
    read_findings,
    render_comparison_html,
    write_comparison,
)


def seg(nerve: str, side: str, segment: str, abnormal: bool | None, enh: Any, thick: Any, **extra: Any) -> dict:
    return {
        "nerve": nerve,
        "side": side,
        "segment": segment,
        "abnormal": abnormal,
        "enhancement": enh,
        "thickness_mm": thick,
        **extra,
    }


def findings(segments: list[dict], atlas: str = "1", schema: str = "1", mode: str = "pre_post") -> dict:
    return {
        "schema_version": schema,
        "software": {"name": "cnmri", "version": "0.1.0"},
        "mode": mode,
        "atlas": {"version": atlas},
        "segments": segments,
        "nerves": [],
        "unknown_block": {"ignored": True},
    }


BASE = findings(
    [
        seg("CN7", "left", "cisternal", True, 2.0, 2.0, z=4.1, physiologic_enhancement=False),
        seg("CN7", "left", "canalicular", True, 1.5, 1.5),
        seg("CN7", "right", "cisternal", True, 1.0, 1.4),
        seg("CN5", "left", "cisternal", False, 0.2, 2.5),
        seg("CN9", "left", "cisternal", True, 1.0, 1.2),
        seg("CN3", "left", "cisternal", False, 0.1, 2.2),
        seg("CN6", "left", "cisternal", False, 0.1, 1.3),
    ]
)
FOLLOW = findings(
    [
        seg("CN7", "left", "cisternal", True, 1.0, 1.6, extra_field="x"),  # enhancement -50%: improved
        seg("CN7", "left", "canalicular", True, 2.0, 2.0),  # +33%, +0.5 mm: progressed
        seg("CN7", "right", "cisternal", False, 0.3, 1.0),  # resolved
        seg("CN5", "left", "cisternal", True, 1.2, 3.2),  # new
        seg("CN9", "left", "cisternal", True, 1.05, 1.3),  # within thresholds: stable
        seg("CN6", "left", "cisternal", False, 0.1, 1.3),  # normal at both: stable
        # CN3-left is not in the follow-up: not compared
    ]
)


def _by_key(result: dict) -> dict[str, dict]:
    return {f"{r['nerve']}-{r['side']}-{r['segment']}": r for r in result["segments"]}


def test_categories() -> None:
    result = compare_findings(BASE, FOLLOW)
    rows = _by_key(result)
    assert rows["CN7-left-cisternal"]["category"] == "improved"
    assert rows["CN7-left-canalicular"]["category"] == "progressed"
    assert rows["CN7-right-cisternal"]["category"] == "resolved"
    assert rows["CN5-left-cisternal"]["category"] == "new"
    assert rows["CN9-left-cisternal"]["category"] == "stable"
    assert rows["CN6-left-cisternal"]["category"] == "stable"
    assert rows["CN3-left-cisternal"]["category"] == "not_compared"
    assert rows["CN7-left-cisternal"]["enhancement_change"] == pytest.approx(-1.0)
    assert rows["CN7-left-cisternal"]["enhancement_change_relative"] == pytest.approx(-0.5)
    assert rows["CN7-left-cisternal"]["thickness_change_mm"] == pytest.approx(-0.4)
    summary = result["summary"]
    assert summary["overall"] == "progressed"
    assert summary["counts"]["new"] == 1 and summary["counts"]["not_compared"] == 1
    assert summary["baseline_abnormal_segments"] == 4
    assert result["warnings"] and "could not be compared" in result["warnings"][-1]


@pytest.mark.parametrize(
    ("base", "follow", "category"),
    [
        ((1.0, 1.5), (1.25, 1.5), "progressed"),  # enhancement exactly +25%
        ((1.0, 1.5), (1.24, 1.5), "stable"),
        ((1.0, 1.5), (0.75, 1.5), "improved"),  # exactly -25%
        ((1.0, 1.5), (0.76, 1.5), "stable"),
        ((0.2, 1.5), (0.29, 1.5), "stable"),  # +45% but only 0.09: below the absolute floor
        ((0.2, 1.5), (0.30, 1.5), "progressed"),
        ((1.0, 1.5), (1.0, 2.0), "progressed"),  # thickness exactly +0.5 mm
        ((1.0, 1.5), (1.0, 1.99), "stable"),
        ((1.0, 1.5), (1.0, 1.0), "improved"),  # thickness -0.5 mm
        ((1.0, 2.0), (0.5, 2.6), "progressed"),  # enhancement fell, thickness grew: worse wins
        ((1.0, None), (1.0, 3.0), "stable"),  # missing thickness: not counted
    ],
)
def test_thresholds_among_abnormal_segments(base: tuple, follow: tuple, category: str) -> None:
    result = compare_findings(
        findings([seg("CN7", "left", "cisternal", True, *base)]),
        findings([seg("CN7", "left", "cisternal", True, *follow)]),
    )
    assert result["segments"][0]["category"] == category


def test_overall_resolved_and_stable() -> None:
    base = findings([seg("CN7", "left", "cisternal", True, 2.0, 2.0), seg("CN7", "right", "cisternal", False, 0, 1)])
    follow = findings([seg("CN7", "left", "cisternal", False, 0.1, 1.0), seg("CN7", "right", "cisternal", False, 0, 1)])
    assert compare_findings(base, follow)["summary"]["overall"] == "resolved"
    assert compare_findings(base, base)["summary"]["overall"] == "stable"
    assert compare_findings(base, base)["warnings"] == []


def test_version_and_mode_differences_warn() -> None:
    other = copy.deepcopy(FOLLOW)
    other["schema_version"] = "2"
    other["atlas"] = {"version": "2"}
    other["mode"] = "post_only"
    other["rules_version"] = "2"
    warnings = compare_findings(BASE, other)["warnings"]
    assert any("measurement and rules versions differ" in w for w in warnings)
    assert any("schema versions differ" in w for w in warnings)
    assert any("atlas versions differ" in w for w in warnings)
    assert any("modes differ" in w for w in warnings)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda f: f.pop("segments"), "segments: missing"),
        (lambda f: f.__setitem__("segments", {}), "segments: missing or not a list"),
        (lambda f: f["segments"][0].pop("nerve"), "segments[0].nerve"),
        (lambda f: f["segments"][1].__setitem__("side", "L"), "segments[1].side"),
        (lambda f: f["segments"][0].__setitem__("enhancement", "high"), "segments[0].enhancement"),
        (lambda f: f["segments"][0].__setitem__("thickness_mm", True), "segments[0].thickness_mm"),
        (lambda f: f["segments"][0].__setitem__("abnormal", "yes"), "segments[0].abnormal"),
        (lambda f: f["segments"].append(dict(f["segments"][0])), "appears twice"),
    ],
)
def test_invalid_findings_are_refused(mutate: Any, fragment: str) -> None:
    bad = copy.deepcopy(FOLLOW)
    mutate(bad)
    with pytest.raises(InputError) as error:
        compare_findings(BASE, bad)
    assert fragment in str(error.value)
    assert "follow-up" in str(error.value)


def test_tsv_has_one_row_per_segment() -> None:
    result = compare_findings(BASE, FOLLOW)
    lines = comparison_tsv(result).splitlines()
    assert lines[0].split("\t")[:4] == ["nerve", "side", "segment", "category"]
    assert len(lines) == 1 + len(result["segments"])
    assert all(len(line.split("\t")) == len(lines[0].split("\t")) for line in lines)


def test_written_outputs(tmp_path: Path) -> None:
    result = compare_findings(BASE, FOLLOW)
    out = write_comparison(result, tmp_path / "cmp")
    names = sorted(p.name for p in out.iterdir() if p.name != ".cnmri-output")
    assert names == ["comparison.html", "comparison.json", "comparison.png", "comparison.tsv"]
    assert json.loads((out / "comparison.json").read_text()) == result
    png = (out / "comparison.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    html = (out / "comparison.html").read_text()
    assert base64.b64encode(png).decode("ascii") in html
    assert "http://" not in html and "https://" not in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folders left


def test_html_escapes_names() -> None:
    base = findings([seg("CN7", "left", "<b>x</b>", True, 1.0, 1.0)])
    html = render_comparison_html(compare_findings(base, base))
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_read_findings_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no findings\.json"):
        read_findings(tmp_path)
    (tmp_path / "findings.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON"):
        read_findings(tmp_path)


class TestCommand:
    @pytest.fixture(autouse=True)
    def _only_compare(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cli, "COMMANDS", ("compare",))

    def _studies(self, tmp_path: Path) -> tuple[Path, Path]:
        base, follow = tmp_path / "base", tmp_path / "follow"
        for folder, data in ((base, BASE), (follow, FOLLOW)):
            folder.mkdir()
            (folder / "findings.json").write_text(json.dumps(data))
        return base, follow

    def test_success(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        base, follow = self._studies(tmp_path)
        assert cli.main(["compare", str(base), str(follow), "-o", str(tmp_path / "cmp")]) == 0
        assert capsys.readouterr().out.strip() == str(tmp_path / "cmp" / "comparison.html")
        saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
        # the folders are named by their findings' content, never by path (a folder name may name the patient)
        assert "path" not in saved["baseline"] and str(tmp_path) not in json.dumps(saved)
        expected = hashlib.sha256((base / "findings.json").read_bytes()).hexdigest()
        assert saved["baseline"]["findings_sha256"] == expected
        # a non-empty output folder is only replaced with --force
        assert cli.main(["compare", str(base), str(follow), "-o", str(tmp_path / "cmp")]) == 2
        assert cli.main(["compare", str(base), str(follow), "-o", str(tmp_path / "cmp"), "--force"]) == 0

    def test_identify_records_the_paths(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        base, follow = self._studies(tmp_path)
        assert cli.main(["compare", str(base), str(follow), "-o", str(tmp_path / "cmp"), "--identify"]) == 0
        saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
        assert saved["baseline"]["path"] == str(base) and saved["followup"]["path"] == str(follow)

    def test_missing_findings_exit_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        base, _ = self._studies(tmp_path)
        empty = tmp_path / "empty"
        empty.mkdir()
        assert cli.main(["compare", str(base), str(empty), "-o", str(tmp_path / "cmp")]) == 2
        err = capsys.readouterr().err
        assert "findings.json" in err and "Traceback" not in err
        assert not (tmp_path / "cmp").exists()

    def test_invalid_findings_exit_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        base, follow = self._studies(tmp_path)
        (follow / "findings.json").write_text(json.dumps({"segments": [{"nerve": "CN7"}]}))
        assert cli.main(["compare", str(base), str(follow), "-o", str(tmp_path / "cmp")]) == 2
        assert "segments[0].side" in capsys.readouterr().err
