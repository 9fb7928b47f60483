"""Cohorts: the BIDS App (participant and group levels) on Dask, with a results database."""

from cnmri.cohort.bids import SessionInputs, index_sessions
from cnmri.cohort.group import run_group_level
from cnmri.cohort.runner import JobSettings, ParticipantSummary, run_participant_level
from cnmri.cohort.store import ResultsStore

__all__ = [
    "JobSettings",
    "ParticipantSummary",
    "ResultsStore",
    "SessionInputs",
    "index_sessions",
    "run_group_level",
    "run_participant_level",
]
