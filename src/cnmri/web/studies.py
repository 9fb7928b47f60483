"""The studies of a results folder: each analysis output folder (one holding ``findings.json``) is a study.

Nothing is read up front: the folder listing is cached for a couple of seconds and each study's summary,
findings and segment table are parsed when first asked for and cached until ``findings.json`` (or the label
map) changes on disk. A list page therefore reads only the studies it shows, so a folder of 1,000 studies
lists as fast as one of 10.

Study ids are opaque: a hash of the folder name, so URLs carry no patient name or folder path.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from cnmri.errors import InputError
from cnmri.report.writers import SEGMENT_FIELDS

#: Images a study may have for the viewer (written by ``cnmri analyze``), in the order the viewer offers them.
VOLUME_FILES: dict[str, str] = {
    "post": "post.nii.gz",
    "pre": "pre.nii.gz",
    "enhancement": "enhancement.nii.gz",
    "labels": "nerves_dseg.nii.gz",
}

#: One colour per nerve (RGB 0-255): Okabe-Ito and Tol "bright" hues, told apart by colour-blind readers.
NERVE_COLOURS: dict[str, tuple[int, int, int]] = {
    "CN2": (0, 114, 178),
    "CN3": (230, 159, 0),
    "CN4": (86, 180, 233),
    "CN5": (0, 158, 115),
    "CN6": (240, 228, 66),
    "CN7": (213, 94, 0),
    "CN8": (204, 121, 167),
    "CN9": (102, 204, 238),
    "CN10": (34, 136, 51),
    "CN11": (204, 187, 68),
    "CN12": (170, 51, 119),
}
#: Label-map opacity of a normal segment; abnormal segments are drawn fully opaque (highlighted).
NORMAL_SEGMENT_ALPHA = 110
ABNORMAL_SEGMENT_ALPHA = 255

T = TypeVar("T")


def study_id(folder_name: str) -> str:
    """Opaque, stable id of a study folder (16 hex digits of SHA-256 of its name)."""
    return hashlib.sha256(f"cnmri-study:{folder_name}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StudyRef:
    id: str
    name: str
    path: Path


@dataclass(frozen=True)
class StudySummary:
    """What the study list shows; read from findings.json alone."""

    id: str
    name: str
    status: str  # "abnormal" | "normal" | "unreadable"
    mode: str
    pattern: str
    nerves_abnormal: list[str]
    abnormal_segments: int
    warnings: int
    cns_category: str | None
    software_version: str
    volumes: list[str]
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "mode": self.mode,
            "pattern": self.pattern,
            "nerves_abnormal": self.nerves_abnormal,
            "abnormal_segments": self.abnormal_segments,
            "warnings": self.warnings,
            "cns_category": self.cns_category,
            "software_version": self.software_version,
            "volumes": self.volumes,
            "error": self.error,
        }


@dataclass
class _Cached:
    stamp: tuple[int, int]
    value: Any


@dataclass
class StudyIndex:
    """Lazy, cached view of a results folder. Thread-safe for the web server's worker threads."""

    root: Path
    listing_ttl_s: float = 2.0
    _listing: tuple[float, list[StudyRef], dict[str, StudyRef]] | None = field(default=None, init=False)
    _cache: dict[tuple[str, str], _Cached] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise InputError(f"--results {self.root}: not a folder; give the folder holding 'cnmri analyze' outputs")

    # -- listing -------------------------------------------------------------------------------------------
    def refs(self) -> list[StudyRef]:
        return self._current_listing()[1]

    def get(self, sid: str) -> StudyRef | None:
        return self._current_listing()[2].get(sid)

    def _current_listing(self) -> tuple[float, list[StudyRef], dict[str, StudyRef]]:
        with self._lock:
            now = time.monotonic()
            if self._listing is None or now - self._listing[0] > self.listing_ttl_s:
                refs = self._scan()
                self._listing = (now, refs, {ref.id: ref for ref in refs})
            return self._listing

    def _scan(self) -> list[StudyRef]:
        refs: list[StudyRef] = []
        if (self.root / "findings.json").is_file():  # the results folder is itself one analysis
            refs.append(StudyRef(study_id(self.root.name), self.root.name, self.root))
        with os.scandir(self.root) as entries:
            for entry in entries:
                # Hidden folders include the analysis' own '.partial-' temporary folders.
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                if os.path.isfile(os.path.join(entry.path, "findings.json")):
                    refs.append(StudyRef(study_id(entry.name), entry.name, Path(entry.path)))
        refs.sort(key=lambda ref: ref.name)
        return refs

    # -- cached per-study reads ----------------------------------------------------------------------------
    def _cached(self, ref: StudyRef, kind: str, file: Path, make: Callable[[], T]) -> T:
        try:
            st = file.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (0, -1)
        key = (ref.id, kind)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit.stamp == stamp:
            return hit.value
        value = make()
        with self._lock:
            self._cache[key] = _Cached(stamp, value)
        return value

    def findings(self, ref: StudyRef) -> dict[str, Any]:
        """The parsed findings.json; :class:`InputError` naming the study when it cannot be read."""
        return self._cached(ref, "findings", ref.path / "findings.json", lambda: _read_findings(ref))

    def summary(self, ref: StudyRef) -> StudySummary:
        return self._cached(ref, "summary", ref.path / "findings.json", lambda: _summarise(ref, self))

    def page(self, page: int, per_page: int) -> tuple[list[StudySummary], int]:
        refs = self.refs()
        start = (page - 1) * per_page
        return [self.summary(ref) for ref in refs[start : start + per_page]], len(refs)

    def volumes(self, ref: StudyRef) -> list[str]:
        return [name for name, file in VOLUME_FILES.items() if (ref.path / file).is_file()]

    def segments(self, ref: StudyRef) -> list[dict[str, Any]]:
        """Per-segment rows for the table and the viewer: findings plus label value and centre (world mm)."""
        dseg = ref.path / VOLUME_FILES["labels"]
        return self._cached(ref, "segments", dseg, lambda: _segment_rows(ref, self.findings(ref)))

    def label_colormap(self, ref: StudyRef) -> dict[str, Any]:
        """NiiVue label colormap ``{R, G, B, A, I, labels}``: colour per nerve, abnormal segments opaque."""
        rows = [row for row in self.segments(ref) if row["label"] is not None]
        cmap: dict[str, list[Any]] = {"R": [0], "G": [0], "B": [0], "A": [0], "I": [0], "labels": [""]}
        for row in sorted(rows, key=lambda r: r["label"]):
            r, g, b = NERVE_COLOURS.get(row["nerve"], (200, 200, 200))
            cmap["R"].append(r)
            cmap["G"].append(g)
            cmap["B"].append(b)
            cmap["A"].append(ABNORMAL_SEGMENT_ALPHA if row["abnormal"] else NORMAL_SEGMENT_ALPHA)
            cmap["I"].append(row["label"])
            cmap["labels"].append(row["key"])
        return cmap


def _read_findings(ref: StudyRef) -> dict[str, Any]:
    file = ref.path / "findings.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"study {ref.name}: findings.json is not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise InputError(f"study {ref.name}: findings.json must hold an object, got {type(data).__name__}")
    return data


def abnormal_nerves(findings: dict[str, Any]) -> list[str]:
    """``["CN7-left", ...]`` in the order of ``nerves``; falls back to ``pattern.nerves``."""
    nerves = findings.get("nerves")
    if isinstance(nerves, list):
        return [
            f"{n.get('nerve')}-{n.get('side')}" for n in nerves if isinstance(n, dict) and n.get("abnormal") is True
        ]
    pattern = findings.get("pattern")
    listed = pattern.get("nerves") if isinstance(pattern, dict) else None
    return [str(n) for n in listed] if isinstance(listed, list) else []


def _summarise(ref: StudyRef, index: StudyIndex) -> StudySummary:
    volumes = index.volumes(ref)
    try:
        findings = index.findings(ref)
    except InputError as error:
        return StudySummary(ref.id, ref.name, "unreadable", "", "", [], 0, 0, None, "", volumes, str(error))
    nerves = abnormal_nerves(findings)
    listed = findings.get("segments")
    segments: list[Any] = listed if isinstance(listed, list) else []
    n_abnormal = len([s for s in segments if isinstance(s, dict) and s.get("abnormal") is True])
    pattern = findings.get("pattern")
    cns = findings.get("cns_status")
    software = findings.get("software")
    warnings = findings.get("warnings")
    return StudySummary(
        id=ref.id,
        name=ref.name,
        status="abnormal" if nerves or n_abnormal else "normal",
        mode=str(findings.get("mode", "")),
        pattern=str(pattern.get("kind", "")) if isinstance(pattern, dict) else "",
        nerves_abnormal=nerves,
        abnormal_segments=n_abnormal,
        warnings=len(warnings) if isinstance(warnings, list) else 0,
        cns_category=str(cns.get("category")) if isinstance(cns, dict) and cns.get("category") else None,
        software_version=str(software.get("version", "")) if isinstance(software, dict) else "",
        volumes=volumes,
    )


def _read_label_index(ref: StudyRef) -> dict[str, int]:
    """Segment key → label value, from the label map's lookup table ``nerves_dseg.tsv``."""
    table = ref.path / "nerves_dseg.tsv"
    out: dict[str, int] = {}
    if not table.is_file():
        return out
    lines = table.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if "index" not in header or "name" not in header:
        return out
    i_col, n_col = header.index("index"), header.index("name")
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) > max(i_col, n_col) and cells[i_col].strip().isdigit():
            out[cells[n_col]] = int(cells[i_col])
    return out


def _label_centres_mm(ref: StudyRef) -> dict[int, list[float]]:
    """For each label, the labelled voxel nearest the label's mean position, in world RAS mm.

    The mean of a curved tube can fall outside it; the nearest labelled voxel is always on the segment,
    so the viewer's three planes all cut it.
    """
    file = ref.path / VOLUME_FILES["labels"]
    if not file.is_file():
        return {}
    import nibabel as nib

    image = nib.load(str(file))
    if not isinstance(image, nib.Nifti1Image):
        return {}
    data = np.asarray(image.dataobj).astype(np.int32, copy=False)
    flat = np.flatnonzero(data)
    values = data.reshape(-1)[flat]
    order = np.argsort(values, kind="stable")
    flat, values = flat[order], values[order]
    ijk = np.stack(np.unravel_index(flat, data.shape), axis=1).astype(np.float64)
    affine = np.asarray(image.affine, dtype=np.float64)
    centres: dict[int, list[float]] = {}
    labels, starts = np.unique(values, return_index=True)
    bounds = [*starts.tolist(), len(values)]
    for n, label in enumerate(labels.tolist()):
        points = ijk[bounds[n] : bounds[n + 1]]
        nearest = points[np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1))]
        world = affine[:3, :3] @ nearest + affine[:3, 3]
        centres[int(label)] = [round(float(v), 2) for v in world]
    return centres


def _segment_rows(ref: StudyRef, findings: dict[str, Any]) -> list[dict[str, Any]]:
    label_of = _read_label_index(ref)
    centres = _label_centres_mm(ref)
    rows: list[dict[str, Any]] = []
    segments = findings.get("segments")
    for seg in segments if isinstance(segments, list) else []:
        if not isinstance(seg, dict):
            continue
        key = str(seg.get("key") or f"{seg.get('nerve')}-{seg.get('side')}-{seg.get('segment')}")
        label = label_of.get(key)
        row = {name: seg.get(name) for name in SEGMENT_FIELDS}
        row["key"] = key
        row["label"] = label
        row["centre_mm"] = centres.get(label) if label is not None else None
        row["reasons"] = [str(r) for r in seg.get("reasons", []) if r] if isinstance(seg.get("reasons"), list) else []
        rows.append(row)
    return rows


__all__ = [
    "NERVE_COLOURS",
    "VOLUME_FILES",
    "StudyIndex",
    "StudyRef",
    "StudySummary",
    "abnormal_nerves",
    "study_id",
]
