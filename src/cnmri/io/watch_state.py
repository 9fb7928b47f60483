"""The ``cnmri watch`` state: one SQLite row per study seen, so a restart neither repeats nor misses work.

States: ``waiting`` (seen; its instance count must stay unchanged for the stability time), ``processing``
(pulled/analysed/pushed right now; a row left in this state by a killed run is picked up again), ``done``,
``failed`` (retried on later passes until the attempt limit). Every change is committed at once.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    instances INTEGER NOT NULL,
    changed_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    folder TEXT,
    message TEXT,
    updated_at REAL NOT NULL
)
"""
_COLUMNS = "study_uid, state, instances, changed_at, attempts, folder, message"


@dataclass(frozen=True)
class StudyRow:
    study_uid: str
    state: str
    instances: int
    changed_at: float
    attempts: int
    folder: str | None
    message: str | None


class WatchState:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)  # autocommit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, study_uid: str) -> StudyRow | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM studies WHERE study_uid=?",
            (study_uid,),
        ).fetchone()
        return StudyRow(*row) if row else None

    def observe(self, study_uid: str, instances: int, now: float | None = None) -> StudyRow:
        """Record the instance count seen now; the stability clock restarts when it changed."""
        now = time.time() if now is None else now
        row = self.get(study_uid)
        if row is None:
            self.db.execute(
                "INSERT INTO studies (study_uid, state, instances, changed_at, updated_at) "
                "VALUES (?, 'waiting', ?, ?, ?)",
                (study_uid, instances, now, now),
            )
        elif row.state in ("waiting", "failed") and row.instances != instances:
            self.db.execute(
                "UPDATE studies SET instances=?, changed_at=?, updated_at=? WHERE study_uid=?",
                (instances, now, now, study_uid),
            )
        result = self.get(study_uid)
        assert result is not None
        return result

    def set_state(self, study_uid: str, state: str, folder: str | None = None, message: str | None = None) -> None:
        attempts = ", attempts=attempts+1" if state == "processing" else ""
        self.db.execute(
            f"UPDATE studies SET state=?, folder=COALESCE(?, folder), message=?, updated_at=?{attempts} "
            "WHERE study_uid=?",
            (state, folder, message, time.time(), study_uid),
        )

    def rows(self) -> list[StudyRow]:
        return [StudyRow(*r) for r in self.db.execute(f"SELECT {_COLUMNS} FROM studies ORDER BY changed_at")]
