"""The tables in docs/ generated from the rule data files are up to date (python -m cnmri.docs_tables)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnmri.assess.clinical.cns_status import RULES
from cnmri.docs_tables import REGIONS, DocsTablesError, main, render_region, stale_regions, write_regions

ROOT = Path(__file__).resolve().parents[1]


def test_the_generated_docs_tables_match_the_data_files() -> None:
    stale = stale_regions(ROOT)
    assert not stale, f"regenerate with `python -m cnmri.docs_tables`: {stale}"


def _copy_docs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    return tmp_path


def test_an_edited_table_is_found_and_rewritten_without_touching_the_prose(tmp_path: Path) -> None:
    root = _copy_docs(tmp_path)
    doc = root / "docs" / "clinical.md"
    rule = RULES["cns2"]
    row = f"| `{rule.id}` | {rule.text} | {rule.source} | {rule.confidence} |"
    text = doc.read_text(encoding="utf-8")
    assert row in text
    edited = text.replace(row, row.replace("CNS2.", "CNS1.")).replace("## Usage", "## Using cnmri clinical")
    doc.write_text(edited, encoding="utf-8")
    assert stale_regions(root) == ["docs/clinical.md: cns-rules (from cns_rules_v1.yaml)"]
    assert main(["--check", "--root", str(root)]) == 1
    assert write_regions(root) == ["docs/clinical.md"]
    rewritten = doc.read_text(encoding="utf-8")
    assert row in rewritten and "## Using cnmri clinical" in rewritten  # the table restored, the prose kept
    assert main(["--check", "--root", str(root)]) == 0


def test_every_vocabulary_token_reaches_the_dicom_docs() -> None:
    dicom = (ROOT / "docs" / "dicom.md").read_text(encoding="utf-8")
    assert "| cisternography | `ciss` | 2.5 |" in dicom
    assert "| mra | `description` | 4 | description tokens `tof`" in dicom
    assert "| no contrast | tokens `(?:sin\\|sans\\|ohne" in dicom  # a | inside a cell is escaped


def test_a_missing_marker_is_a_clear_error() -> None:
    region = next(r for r in REGIONS if r.name == "cns-rules")
    with pytest.raises(DocsTablesError, match=r"docs/clinical\.md: expected one region .*cns-rules.*found 0"):
        render_region("# no markers here\n", region)


def test_every_rule_data_file_is_shipped_in_the_wheel() -> None:
    import fnmatch
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["cnmri"]
    for name in sorted({region.data_file for region in REGIONS}):
        assert (ROOT / "src" / "cnmri" / "data" / name).is_file(), name
        assert any(fnmatch.fnmatch(f"data/{name}", pattern) for pattern in globs), name
