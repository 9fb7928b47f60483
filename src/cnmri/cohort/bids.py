"""Find each session's inputs in a BIDS dataset (BIDS App conventions, CONTRACTS §8).

The post-contrast T1 is ``*_ce-<agent>_T1w.nii[.gz]``; the pre-contrast T1 is the same session's
``*_T1w`` without a ``ce`` entity, matched on ``acq``/``run`` when several exist. A 3D heavily
T2-weighted image (``*_T2w`` with ``acq-ciss``/``acq-fiesta``/``acq-cube``...) and a post-contrast FLAIR
are recorded when present. Indexing is PyBIDS' (``BIDSLayout``), so what counts as a BIDS file is what
the BIDS tools say, not a glob of ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnmri.errors import InputError

_log = logging.getLogger(__name__)

#: ``acq`` labels that mark a heavily T2-weighted 3D steady-state sequence (CISS, FIESTA, DRIVE ...).
_HEAVY_T2_ACQ = ("ciss", "fiesta", "drive", "cube", "space", "heavyt2")


@dataclass(frozen=True)
class SessionInputs:
    """One participant session and the images cnmri reads from it (absolute paths)."""

    participant: str  # without "sub-"
    session: str | None  # without "ses-"
    post: Path | None
    pre: Path | None = None
    ciss: Path | None = None
    flair_post: Path | None = None
    skip_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        """``sub-X`` or ``sub-X_ses-Y``: the BIDS prefix of every derivative of this session."""
        return f"sub-{self.participant}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def anat_dir(self) -> Path:
        """Derivative folder of this session, relative to the output dataset."""
        parts = [f"sub-{self.participant}"] + ([f"ses-{self.session}"] if self.session else []) + ["anat"]
        return Path(*parts)


def strip_prefix(label: str, prefix: str) -> str:
    """Participant and session labels are accepted with or without their ``sub-``/``ses-`` prefix."""
    return label[len(prefix) :] if label.startswith(prefix) else label


def _check_dataset(bids_dir: Path) -> None:
    if not bids_dir.is_dir():
        raise InputError(f"BIDS_DIR {bids_dir} is not a folder")
    description = bids_dir / "dataset_description.json"
    if not description.is_file():
        raise InputError(
            f"BIDS_DIR {bids_dir} has no dataset_description.json: it is not a BIDS dataset "
            "(see https://bids-specification.readthedocs.io)"
        )
    try:
        json.loads(description.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{description} is not valid JSON ({err}); fix it and run again") from None


def _layout(bids_dir: Path) -> Any:
    from bids import BIDSLayout

    try:
        return BIDSLayout(str(bids_dir), validate=False)
    except Exception as err:  # PyBIDS raises its own error types for unreadable datasets
        raise InputError(f"PyBIDS could not index {bids_dir}: {err}") from None


def _pick(candidates: list[Any], like: dict[str, Any] | None = None) -> Any | None:
    """The candidate sharing most of ``acq``/``run`` with ``like``; ties broken by path for determinism."""
    if not candidates:
        return None

    def score(f: Any) -> tuple[int, str]:
        ents = f.get_entities()
        shared = sum(1 for k in ("acquisition", "run") if like and ents.get(k) == like.get(k))
        return (-shared, str(f.path))

    return sorted(candidates, key=score)[0]


@dataclass(frozen=True)
class _File:
    """One indexed anatomical image: its path and BIDS entities (read once from PyBIDS)."""

    path: str
    entities: dict[str, Any]

    def get_entities(self) -> dict[str, Any]:
        return self.entities


def _anat_files(layout: Any) -> dict[tuple[str, str | None], list[_File]]:
    """Every anatomical NIfTI of the dataset, grouped by (participant, session), from one PyBIDS query.

    One query for the whole dataset: per-session queries cost PyBIDS a database round trip each,
    which made a 50-participant dataset take 30 s to index instead of 3.
    """
    grouped: dict[tuple[str, str | None], list[_File]] = {}
    for f in layout.get(datatype="anat", extension=[".nii", ".nii.gz"]):
        entities = dict(f.get_entities())
        key = (str(entities.get("subject")), entities.get("session"))
        grouped.setdefault(key, []).append(_File(str(f.path), entities))
    return grouped


def _session_inputs(files: list[_File], participant: str, session: str | None) -> SessionInputs:
    def with_suffix(suffix: str) -> list[_File]:
        return [f for f in files if f.entities.get("suffix") == suffix]

    t1w = with_suffix("T1w")
    post_files = [f for f in t1w if f.entities.get("ceagent")]
    pre_files = [f for f in t1w if not f.entities.get("ceagent")]
    post = _pick(post_files)
    if post is None:
        reason = "no post-contrast T1 (*_ce-<agent>_T1w.nii.gz)" + (
            f"; found {len(pre_files)} T1w without ce-" if pre_files else ""
        )
        return SessionInputs(participant, session, None, skip_reason=reason)
    post_ents = post.get_entities()
    pre = _pick(pre_files, post_ents)
    heavy = [
        f
        for f in with_suffix("T2w")
        if any(tag in str(f.entities.get("acquisition", "")).lower() for tag in _HEAVY_T2_ACQ)
    ]
    flair = [f for f in with_suffix("FLAIR") if f.entities.get("ceagent")]
    chosen_ciss, chosen_flair = _pick(heavy), _pick(flair)
    return SessionInputs(
        participant,
        session,
        Path(post.path),
        pre=Path(pre.path) if pre is not None else None,
        ciss=Path(chosen_ciss.path) if chosen_ciss is not None else None,
        flair_post=Path(chosen_flair.path) if chosen_flair is not None else None,
        extra={"contrast_agent": post_ents.get("ceagent")},
    )


def index_sessions(
    bids_dir: Path,
    participant_labels: Sequence[str] = (),
    session_labels: Sequence[str] = (),
) -> list[SessionInputs]:
    """Every selected participant session with its inputs (or the reason it will be skipped)."""
    bids_dir = Path(bids_dir)
    _check_dataset(bids_dir)
    layout = _layout(bids_dir)
    subjects = sorted(layout.get_subjects())
    wanted = [strip_prefix(p, "sub-") for p in participant_labels]
    unknown = sorted(set(wanted) - set(subjects))
    if unknown:
        raise InputError(
            f"--participant-label: {', '.join(unknown)} not in {bids_dir} (it has {len(subjects)} participants: "
            f"{', '.join(subjects[:10])}{' ...' if len(subjects) > 10 else ''})"
        )
    wanted_sessions = {strip_prefix(s, "ses-") for s in session_labels}
    files = _anat_files(layout)
    out: list[SessionInputs] = []
    for participant in wanted or subjects:
        present = {session for (subject, session) in files if subject == participant}
        labelled = sorted(s for s in present if s is not None)
        sessions: list[str | None] = list(labelled) if labelled else [None]
        for session in sessions:
            if wanted_sessions and session not in wanted_sessions:
                continue
            out.append(_session_inputs(files.get((participant, session), []), participant, session))
    if not out:
        raise InputError(f"no participant session of {bids_dir} matches the labels given")
    return out


def read_participants(bids_dir: Path) -> dict[str, dict[str, str]]:
    """``participants.tsv`` rows keyed by label without ``sub-`` (empty when the file is absent)."""
    import csv

    path = Path(bids_dir) / "participants.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        pid = row.get("participant_id")
        if pid:
            out[strip_prefix(pid, "sub-")] = {k: v for k, v in row.items() if k is not None}
    return out


#: participants.tsv columns and values that mark a control (first match wins).
CONTROL_COLUMNS = ("group", "diagnosis", "status", "cohort")
CONTROL_VALUES = ("control", "controls", "hc", "healthy", "healthy_control", "normal")


def is_control(row: dict[str, str]) -> bool | None:
    """True/False when participants.tsv says, None when it has no group column for this participant."""
    for column in CONTROL_COLUMNS:
        value = row.get(column)
        if value not in (None, "", "n/a"):
            return str(value).strip().lower() in CONTROL_VALUES
    return None
