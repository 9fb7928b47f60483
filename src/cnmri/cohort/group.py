"""Group level of the BIDS App: cohort tables, the group report and a normative reference from controls.

Reads only what the participant level wrote (``*_findings.json`` in each session's anat folder) and
``participants.tsv`` of the raw dataset (which participants are controls). Pure tables in, files out.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnmri import __version__
from cnmri.cohort.bids import is_control, read_participants, strip_prefix
from cnmri.errors import InputError
from cnmri.report.writers import SEGMENT_FIELDS

_log = logging.getLogger(__name__)

MEASUREMENT_COLUMNS = ("participant_id", "session_id", "group", *SEGMENT_FIELDS)
NERVE_COLUMNS = ("participant_id", "session_id", "group", "nerve", "side", "abnormal", "score", "abnormal_segments")


@dataclass(frozen=True)
class SessionFindings:
    participant: str  # without sub-
    session: str | None  # without ses-
    group: str  # control | patient | n/a
    findings: dict[str, Any]


def collect_findings(out_dir: Path, bids_dir: Path) -> list[SessionFindings]:
    """Every finished session's findings, with the participant's group from participants.tsv."""
    participants = read_participants(bids_dir)
    found: list[SessionFindings] = []
    for path in sorted(Path(out_dir).glob("sub-*/**/anat/sub-*_findings.json")):
        try:
            findings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"{path} is unreadable ({err}); re-run the participant level with --force") from None
        participant = strip_prefix(path.parts[len(Path(out_dir).parts)], "sub-")
        session_dir = path.parent.parent.name
        session = strip_prefix(session_dir, "ses-") if session_dir.startswith("ses-") else None
        control = is_control(participants.get(participant, {}))
        group = "n/a" if control is None else ("control" if control else "patient")
        found.append(SessionFindings(participant, session, group, findings))
    if not found:
        raise InputError(f"no finished session in {out_dir}: run the participant level first")
    return found


def _cell(value: Any) -> Any:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "n/a"
    return value


def _tsv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def _ids(s: SessionFindings) -> dict[str, Any]:
    return {
        "participant_id": f"sub-{s.participant}",
        "session_id": f"ses-{s.session}" if s.session else None,
        "group": s.group,
    }


def measurement_rows(sessions: list[SessionFindings]) -> list[dict[str, Any]]:
    """One row per participant, session, segment and side."""
    return [{**_ids(s), **seg} for s in sessions for seg in s.findings.get("segments", [])]


def nerve_rows(sessions: list[SessionFindings]) -> list[dict[str, Any]]:
    return [{**_ids(s), **nerve} for s in sessions for nerve in s.findings.get("nerves", [])]


# ---------------------------------------------------------------------------------------------- plots


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_distribution(rows: list[dict[str, Any]], feature: str = "z") -> str:
    """Box plot of ``feature`` per nerve segment (sides pooled), controls and patients side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({f"{r['nerve']} {r['segment']}" for r in rows}, key=_nerve_order)
    groups = [g for g in ("control", "patient", "n/a") if any(r["group"] == g for r in rows)]
    colours = {"control": "#4c72b0", "patient": "#c44e52", "n/a": "#8c8c8c"}
    fig, ax = plt.subplots(figsize=(max(8.0, 0.32 * len(keys) * len(groups)), 4.2))
    width = 0.8 / max(len(groups), 1)
    for gi, group in enumerate(groups):
        data = [
            [
                float(r[feature])
                for r in rows
                if r["group"] == group and f"{r['nerve']} {r['segment']}" == k and r.get(feature) is not None
            ]
            for k in keys
        ]
        positions = [i + (gi - (len(groups) - 1) / 2) * width for i in range(len(keys))]
        present = [(p, d) for p, d in zip(positions, data, strict=True) if d]
        if present:
            box = ax.boxplot(
                [d for _, d in present],
                positions=[p for p, _ in present],
                widths=width * 0.9,
                patch_artist=True,
                showfliers=True,
                flierprops={"markersize": 2},
            )
            for patch in box["boxes"]:
                patch.set_facecolor(colours[group])
                patch.set_alpha(0.7)
        ax.plot([], [], color=colours[group], lw=6, alpha=0.7, label=f"{group} (n={_n_participants(rows, group)})")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=70, ha="right", fontsize=7)
    ax.axhline(0, color="#999", lw=0.6)
    ax.set_ylabel(f"enhancement {feature}" if feature == "z" else feature)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{feature} per segment (both sides pooled)")
    encoded = _png(fig)
    plt.close(fig)
    return encoded


def _n_participants(rows: list[dict[str, Any]], group: str) -> int:
    return len({r["participant_id"] for r in rows if r["group"] == group})


def _nerve_order(key: str) -> tuple[int, str]:
    nerve = key.split()[0]
    return (int(nerve[2:]) if nerve[2:].isdigit() else 99, key)


def plot_longitudinal(rows: list[dict[str, Any]]) -> str | None:
    """Per patient with several sessions: the highest enhancement z per nerve and side across sessions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.get("session_id") and r.get("z") is not None:
            nerve = f"{r['nerve']}-{r['side']}"
            prev = per[r["participant_id"]][nerve].get(r["session_id"])
            per[r["participant_id"]][nerve][r["session_id"]] = max(float(r["z"]), prev if prev is not None else -1e9)
    longitudinal = {p: n for p, n in per.items() if len({s for v in n.values() for s in v}) > 1}
    if not longitudinal:
        return None
    fig, axes = plt.subplots(1, len(longitudinal), figsize=(4.2 * len(longitudinal), 3.4), squeeze=False)
    for ax, (participant, nerves) in zip(axes[0], sorted(longitudinal.items()), strict=True):
        sessions = sorted({s for v in nerves.values() for s in v})
        top = sorted(nerves, key=lambda n: -max(nerves[n].values()))[:6]
        for nerve in top:
            ax.plot(range(len(sessions)), [nerves[nerve].get(s, float("nan")) for s in sessions], "o-", label=nerve)
        ax.set_xticks(range(len(sessions)))
        ax.set_xticklabels(sessions, fontsize=8)
        ax.set_title(participant, fontsize=9)
        ax.set_ylabel("max enhancement z")
        ax.legend(fontsize=6)
    encoded = _png(fig)
    plt.close(fig)
    return encoded


# ---------------------------------------------------------------------------------------------- report


def group_report_html(sessions: list[SessionFindings], rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = defaultdict(int)
    abnormal_by_group: dict[str, int] = defaultdict(int)
    for s in sessions:
        counts[s.group] += 1
        if s.findings.get("pattern", {}).get("nerves"):
            abnormal_by_group[s.group] += 1
    summary = "".join(
        f"<tr><td>{html.escape(g)}</td><td>{counts[g]}</td><td>{abnormal_by_group[g]}</td></tr>" for g in sorted(counts)
    )
    table = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(f"sub-{s.participant}"),
            html.escape(f"ses-{s.session}" if s.session else "n/a"),
            html.escape(s.group),
            html.escape(", ".join(s.findings.get("pattern", {}).get("nerves", [])) or "none"),
        )
        for s in sessions
    )
    figures = [
        ("Enhancement z per segment, controls vs patients", plot_distribution(rows, "z")),
        ("Thickness per segment (mm)", plot_distribution(rows, "thickness_mm")),
    ]
    longitudinal = plot_longitudinal(rows)
    if longitudinal:
        figures.append(("Longitudinal change per patient (highest z per nerve)", longitudinal))
    figs = "".join(
        f"<figure><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'><figcaption>{html.escape(t)}"
        "</figcaption></figure>"
        for t, b in figures
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>cnmri group report</title><style>"
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:90em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border-bottom:1px solid #ddd;padding:.3em .7em;text-align:left}img{max-width:100%}"
        "figure{margin:1.5em 0}</style></head><body><h1>cnmri group report</h1>"
        f"<p>cnmri {html.escape(__version__)}; {len(sessions)} sessions of "
        f"{len({s.participant for s in sessions})} participants. Groups from participants.tsv "
        "(column group/diagnosis/status). Decision support, not a diagnosis.</p>"
        "<table><tr><th>group</th><th>sessions</th><th>with abnormal nerves</th></tr>"
        f"{summary}</table>{figs}<h2>Sessions</h2><table><tr><th>participant</th><th>session</th><th>group</th>"
        f"<th>abnormal nerves</th></tr>{table}</table></body></html>\n"
    )


@dataclass
class GroupSummary:
    sessions: int
    participants: int
    controls: int
    files: list[str]


def run_group_level(bids_dir: Path, out_dir: Path, normative_out: Path | None = None) -> GroupSummary:
    """Write ``OUT_DIR/group/`` (tables, report) and, if asked, a normative reference from the controls."""
    from cnmri.io.outputs import write_json_atomic, write_text_atomic

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"OUT_DIR {out_dir} does not exist: run the participant level first")
    sessions = collect_findings(out_dir, Path(bids_dir))
    rows = measurement_rows(sessions)
    group_dir = out_dir / "group"
    group_dir.mkdir(exist_ok=True)
    files = {
        "group_measurements.tsv": _tsv(MEASUREMENT_COLUMNS, rows),
        "group_nerves.tsv": _tsv(NERVE_COLUMNS, nerve_rows(sessions)),
        "group_report.html": group_report_html(sessions, rows),
    }
    for name, text in files.items():
        write_text_atomic(group_dir / name, text)
    controls = [s for s in sessions if s.group == "control"]
    written = [str(group_dir / name) for name in files]
    if normative_out is not None:
        from cnmri.measure.normative import build_normative

        if len(controls) < 2:
            raise InputError(
                f"--normative-out needs at least two control sessions; participants.tsv marks {len(controls)} "
                "(a 'group' column with the value 'control')"
            )
        payload = build_normative(
            [s.findings for s in controls],
            built_from=f"{len(controls)} control sessions of a BIDS dataset (cnmri bids group)",
        )
        write_json_atomic(Path(normative_out), payload)
        written.append(str(normative_out))
    return GroupSummary(len(sessions), len({s.participant for s in sessions}), len(controls), written)
