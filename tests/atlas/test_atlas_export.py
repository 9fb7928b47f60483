"""``cnmri atlas export`` prints the atlas in the CONTRACTS.md §3 form."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from cnmri import cli
from cnmri.atlas.model import load_atlas
from cnmri.commands import atlas as atlas_command


@pytest.fixture()
def atlas_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real ``cnmri.cli.main`` with only this command registered (others are built elsewhere)."""
    monkeypatch.setattr(cli, "COMMANDS", ("atlas",))


def test_export_json_follows_the_contract(atlas_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["atlas", "export"]) == 0
    out = capsys.readouterr().out
    payload = json.loads(out)
    assert payload["schema_version"] == "1"
    assert payload["space"] == "MNIColin27"
    shipped = load_atlas()
    assert len(payload["segments"]) == len(shipped.segments) == 56
    for seg in payload["segments"]:
        required = ("nerve", "side", "segment", "points_mm", "radius_mm", "physiologic_enhancement", "source")
        assert set(required) <= set(seg)
        assert seg["side"] in ("left", "right")
        assert isinstance(seg["physiologic_enhancement"], bool)
        assert all(len(p) == 3 and all(isinstance(v, float) for v in p) for p in seg["points_mm"])
        assert len(seg["radius_mm"]) == len(seg["points_mm"])
        assert seg["source"]
    first = payload["segments"][0]
    reference = shipped.segment(first["nerve"], first["side"], first["segment"])
    assert first["points_mm"][0] == pytest.approx(reference.points_mm[0].tolist(), abs=0.01)


def test_export_tsv_has_one_row_per_point(atlas_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["atlas", "export", "--format", "tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == list(atlas_command.TSV_COLUMNS)
    assert len(lines) - 1 == sum(len(s.points_mm) for s in load_atlas().segments)
    cells = lines[1].split("\t")
    assert cells[0].startswith("CN") and cells[1] in ("left", "right") and cells[-1] in ("true", "false")


def test_export_of_a_user_atlas_file(atlas_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    segment = {
        "nerve": "CN7",
        "side": "left",
        "segment": "cisternal",
        "points_mm": [[-17, -29, -41], [-30, -24, -41]],
        "radius_mm": 2.0,
        "physiologic_enhancement": False,
        "source": "unit test",
    }
    payload = {"atlas_version": "test", "space": "MNIColin27", "segments": [segment]}
    path = tmp_path / "atlas.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert cli.main(["atlas", "export", "--atlas", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["atlas_version"] == "test" and out["segments"][0]["radius_mm"] == [2.0, 2.0]


def test_bad_atlas_file_is_exit_code_2(atlas_only: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert cli.main(["atlas", "export", "--atlas", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "nope.json" in captured.err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert cli.main(["atlas", "export", "--atlas", str(broken)]) == 2


def test_atlas_without_an_action_prints_help_and_fails(atlas_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["atlas"]) == 2
    assert "export" in capsys.readouterr().err


def test_export_through_the_full_cli(capsys: pytest.CaptureFixture[str]) -> None:
    for name in cli.COMMANDS:
        try:
            importlib.import_module(f"cnmri.commands.{name}")
        except ModuleNotFoundError:
            pytest.skip(f"command module cnmri.commands.{name} is not written yet")
    assert cli.main(["atlas", "export"]) == 0
    assert json.loads(capsys.readouterr().out)["schema_version"] == "1"
