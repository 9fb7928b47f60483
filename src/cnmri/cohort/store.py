"""The results database: one row per analysis (participant session), its settings, versions and status.

SQLAlchemy, so the same code serves SQLite (the default, a file in the output dataset) and PostgreSQL
(a site's server, given as a URL). Only the coordinating process writes: workers return results and
the client records them, so SQLite never sees concurrent writers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from cnmri.errors import InputError, ProcessingError

#: Status values of an analysis row.
PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
STATUSES = (PENDING, RUNNING, DONE, FAILED, SKIPPED)


class Base(DeclarativeBase):
    pass


class AnalysisRow(Base):
    __tablename__ = "cnmri_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(512), index=True)  # the output dataset it belongs to
    job_id: Mapped[str] = mapped_column(String(256), index=True)  # sub-X[_ses-Y]
    participant: Mapped[str] = mapped_column(String(128))
    session: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why skipped or failed
    pattern: Mapped[str | None] = mapped_column(String(32), nullable=True)
    abnormal_nerves: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    output: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # relative to the dataset
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    versions: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_rss_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "participant": self.participant,
            "session": self.session,
            "status": self.status,
            "reason": self.reason,
            "pattern": self.pattern,
            "abnormal_nerves": list(self.abnormal_nerves or []),
            "output": self.output,
            "seconds": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            "worker": self.worker,
            "updated": self.updated.isoformat() if self.updated else None,
        }


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'cnmri.db'}"


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class ResultsStore:
    """Create or open the results database at ``url`` and record analyses of one output dataset."""

    def __init__(self, url: str, dataset: str) -> None:
        self.url = url
        self.dataset = dataset
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=True)
            Base.metadata.create_all(self.engine)
        except ModuleNotFoundError as err:
            raise InputError(f"--db {_redacted(url)}: the database driver {err.name!r} is not installed") from None
        except (SQLAlchemyError, ValueError) as err:
            raise InputError(
                f"--db {_redacted(url)}: cannot open the results database ({type(err).__name__})"
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as err:
            session.rollback()
            raise ProcessingError(f"results database {_redacted(self.url)}: {type(err).__name__}: {err}") from None
        finally:
            session.close()

    def _row(self, session: Session, job_id: str) -> AnalysisRow | None:
        return session.scalars(
            select(AnalysisRow).where(AnalysisRow.dataset == self.dataset, AnalysisRow.job_id == job_id)
        ).first()

    def record(self, job_id: str, participant: str, session_label: str | None, status: str, **fields: Any) -> None:
        """Insert or update the row of ``job_id`` (one row per analysis of this dataset)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._session() as session:
            row = self._row(session, job_id)
            if row is None:
                row = AnalysisRow(dataset=self.dataset, job_id=job_id, participant=participant, session=session_label)
                session.add(row)
            row.status = status
            row.updated = dt.datetime.now(dt.UTC)
            for key, value in fields.items():
                setattr(row, key, json.loads(json.dumps(value)) if isinstance(value, dict | list) else value)

    def status(self, job_id: str) -> str | None:
        with self._session() as session:
            row = self._row(session, job_id)
            return row.status if row is not None else None

    def rows(self) -> list[dict[str, Any]]:
        with self._session() as session:
            found = session.scalars(
                select(AnalysisRow).where(AnalysisRow.dataset == self.dataset).order_by(AnalysisRow.job_id)
            ).all()
            return [r.to_dict() for r in found]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for row in self.rows():
            out[row["status"]] += 1
        return out

    def close(self) -> None:
        self.engine.dispose()
