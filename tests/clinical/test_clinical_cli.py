"""`cnmri clinical`: output formats, options and exit codes through cnmri.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnmri import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "motivating_case.yaml"


@pytest.fixture(autouse=True)
def _only_this_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exercise this command alone, independent of the other subcommands' import state.
    monkeypatch.setattr(cli, "COMMANDS", ("clinical",))


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["clinical", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    # On therapy the relapse question leads; the diagnostic CNS status follows.
    assert out.startswith("CNS relapse (on therapy): met")
    assert "CNS status by the diagnostic definitions (Children's Oncology Group): CNS3 (CNS3c)" in out
    assert out.index("CNS relapse") < out.index("CNS status") < out.index("Next steps") < out.index("Differential")
    assert "Leukemic infiltration" in out


def test_json_output_is_contract_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["clinical", str(EXAMPLE), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    status = result["cns_status"]
    for key in ("framework", "category", "subcategory", "traumatic_tap", "rationale", "missing", "sources"):
        assert key in status
    assert {o["framework"] for o in status["other_frameworks"]} == {"NCCN", "BFM", "StJude"}
    first = result["differential"][0]
    assert first["diagnosis"] == "leukemic_infiltration"
    for key in ("label", "score", "for", "against", "next_steps", "sources"):
        assert key in first


def test_framework_and_boundary_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "tap.json"
    case.write_text(
        json.dumps(
            {
                "csf": {"wbc_per_ul": 50, "rbc_per_ul": 10000, "blasts": True},
                "blood": {"wbc_per_ul": 10000, "rbc_per_ul": 4000000, "blasts": True},
                "exam": {"cranial_nerve_palsies": []},
            }
        )
    )
    assert cli.main(["clinical", str(case), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cns_status"]["subcategory"] == "CNS2c"
    assert cli.main(["clinical", str(case), "--format", "json", "--sb-boundary", "ge"]) == 0
    assert json.loads(capsys.readouterr().out)["cns_status"]["subcategory"] == "CNS3b"
    assert cli.main(["clinical", str(case), "--format", "json", "--framework", "NCCN"]) == 0
    assert json.loads(capsys.readouterr().out)["cns_status"]["category"] == "CNS3"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("csf: {wbc_per_ul: -3}\n", "csf.wbc_per_ul"),
        ("csf: {wbc_per_ul: five}\n", "csf.wbc_per_ul"),
        ("csf: {wbc_per_ul: 1.0e9}\n", "csf.wbc_per_ul"),
        ("exam: {cranial_nerve_palsies: [CN7-lft]}\n", "exam.cranial_nerve_palsies[0]"),
        ("csf: {wbc: 3}\n", "csf.wbc"),
        ("csf: [\n", "not valid YAML"),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(text)
    assert cli.main(["clinical", str(case)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["clinical", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
