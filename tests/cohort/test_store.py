"""The results database on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnmri.cohort.store import DONE, FAILED, PENDING, RUNNING, ResultsStore, default_url
from cnmri.errors import InputError


def _exercise(store: ResultsStore, other: ResultsStore) -> None:
    store.record("sub-01_ses-01", "01", "01", PENDING, settings={"threads": 1}, versions={"cnmri": "x"})
    store.record("sub-01_ses-01", "01", "01", RUNNING)
    store.record("sub-01_ses-01", "01", "01", DONE, pattern="single_nerve", abnormal_nerves=["CN7-left"], seconds=12.5)
    store.record("sub-02", "02", None, FAILED, reason="post image empty")
    rows = {r["job_id"]: r for r in store.rows()}
    assert rows["sub-01_ses-01"]["status"] == DONE
    assert rows["sub-01_ses-01"]["abnormal_nerves"] == ["CN7-left"]
    assert rows["sub-02"]["reason"] == "post image empty" and rows["sub-02"]["session"] is None
    assert store.counts()[DONE] == 1 and store.counts()[FAILED] == 1
    # one row per analysis: updating never duplicates
    assert len(store.rows()) == 2
    # another output dataset in the same database does not see these rows
    assert other.rows() == [] and other.status("sub-01_ses-01") is None
    with pytest.raises(ValueError, match="unknown status"):
        store.record("sub-03", "03", None, "finished")


def test_sqlite_store(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    _exercise(ResultsStore(url, "/data/a"), ResultsStore(url, "/data/b"))
    # reopening finds what was recorded
    assert ResultsStore(url, "/data/a").status("sub-01_ses-01") == DONE
    assert (tmp_path / "cnmri.db").is_file()


def test_postgresql_store(postgres_url: str) -> None:
    _exercise(ResultsStore(postgres_url, "/data/a"), ResultsStore(postgres_url, "/data/b"))


def test_unreachable_or_unknown_database_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open the results database") as err:
        ResultsStore("postgresql+psycopg://u:secret@127.0.0.1:1/db", "x")
    assert "secret" not in str(err.value)
    with pytest.raises(InputError):
        ResultsStore("nosuchdialect://x", "x")
