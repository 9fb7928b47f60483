from __future__ import annotations

from pathlib import Path

import pytest

from cnmri.errors import TemplateNotFoundError
from cnmri.templates import lookup


def test_configured_path_wins(tmp_path: Path, colin27_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "tf"))
    found = lookup.find_template(colin27_path)
    assert found.origin == "configured" and found.path == colin27_path


def test_templateflow_cache_is_used_before_debian(
    tmp_path: Path, colin27_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "tf" / "tpl-MNIColin27"
    folder.mkdir(parents=True)
    cached = folder / "tpl-MNIColin27_res-1_T1w.nii.gz"
    cached.write_bytes(colin27_path.read_bytes())
    (folder / "tpl-MNIColin27_res-1_desc-brain_mask.nii.gz").write_bytes(b"x" * 2000)
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "tf"))
    monkeypatch.delenv("CNMRI_TEMPLATE", raising=False)
    found = lookup.find_template()
    assert found.origin == "templateflow" and found.path == cached


def test_debian_copy_is_the_fallback_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CNMRI_TEMPLATE", raising=False)
    called = []
    monkeypatch.setattr(lookup, "_templateflow_download", lambda: called.append(1))
    found = lookup.find_template(allow_download=False)
    assert found.origin == "debian"
    assert not called, "no download may be attempted unless allowed"


def test_error_names_all_three_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CNMRI_TEMPLATE", raising=False)
    monkeypatch.setattr(lookup, "DEBIAN_COLIN27", tmp_path / "no" / "ch2.nii.gz")
    with pytest.raises(TemplateNotFoundError) as err:
        lookup.find_template(allow_download=False)
    text = str(err.value)
    assert "CNMRI_TEMPLATE" in text and "TemplateFlow" in text and "mricron-data" in text
    assert err.value.exit_code == 2


def test_missing_configured_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateNotFoundError, match=r"nothere\.nii\.gz"):
        lookup.find_template(tmp_path / "nothere.nii.gz")
