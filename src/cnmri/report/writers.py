"""Write an :class:`~cnmri.analysis.Analysis` into an (already temporary) output folder.

Files (CONTRACTS.md §2 / DESIGN.md §5): ``findings.json`` (validated against the shipped JSON Schema
before it is written), ``segments.tsv``, ``nerves_dseg.nii.gz`` with its lookup table
``nerves_dseg.tsv`` (BIDS "dseg" convention), the images the measurements were made on (``post.nii.gz``,
``pre.nii.gz``, ``enhancement.nii.gz``, same grid as the label map, for viewers such as ``cnmri serve``)
and ``report.html``; ``settings.json`` (the frozen :class:`~cnmri.settings.Settings` the analysis ran
with: no absolute path, no patient identifier) when the analysis carries them.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnmri.io.outputs import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from cnmri.analysis import Analysis

#: The per-segment values every table of cnmri shows (segments.tsv, the cohort tables, the web app).
SEGMENT_FIELDS = (
    "nerve",
    "side",
    "segment",
    "abnormal",
    "physiologic_enhancement",
    "enhancement",
    "enhancement_ratio",
    "thickness_mm",
    "asymmetry",
    "z",
    "z_thickness",
)
SEGMENT_COLUMNS = (*SEGMENT_FIELDS[:6], "enhancement_mean", *SEGMENT_FIELDS[6:], "roi_voxels", "reasons")


def findings_schema() -> dict[str, Any]:
    text = resources.files("cnmri").joinpath("data", "findings.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def validate_findings(findings: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when findings break the published contract."""
    import jsonschema

    jsonschema.validate(findings, findings_schema())


def segments_tsv(findings: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(SEGMENT_COLUMNS)
    for seg in findings["segments"]:
        row = []
        for col in SEGMENT_COLUMNS:
            if col == "roi_voxels":
                value: Any = seg["computed_from"]["roi_voxels"]
            elif col == "reasons":
                value = "; ".join(seg["reasons"])
            else:
                value = seg.get(col)
            row.append("n/a" if value is None else str(value).lower() if isinstance(value, bool) else value)
        writer.writerow(row)
    return buffer.getvalue()


def dseg_lookup_tsv(label_keys: dict[int, str]) -> str:
    lines = ["index\tname\tnerve\tside\tsegment"]
    for index in sorted(label_keys):
        nerve, side, segment = label_keys[index].split("-", 2)
        lines.append(f"{index}\t{label_keys[index]}\t{nerve}\t{side}\t{segment}")
    return "\n".join(lines) + "\n"


#: Viewer images written beside the label map: file name → Analysis attribute.
VIEWER_VOLUMES: dict[str, str] = {
    "post.nii.gz": "post",
    "pre.nii.gz": "pre",
    "enhancement.nii.gz": "enhancement",
}


def write_viewer_volumes(analysis: Analysis, folder: Path) -> list[str]:
    """Write the post, pre and enhancement images (those present) on the subject grid.

    Stored as int16 with NIfTI scaling (``scl_slope``/``scl_inter``, chosen by nibabel) to keep each file
    near a third of float32; 65,536 grey levels are far finer than the display needs. Returns the
    names written. Each file goes through a temporary sibling and is renamed when complete.
    """
    import os
    import tempfile

    import nibabel as nib

    written: list[str] = []
    for name, attribute in VIEWER_VOLUMES.items():
        volume = getattr(analysis, attribute)
        if volume is None:
            continue
        image = nib.Nifti1Image(np.asarray(volume.data, dtype=np.float32), volume.affine)
        image.set_qform(volume.affine, code=1)
        image.set_sform(volume.affine, code=1)
        image.set_data_dtype(np.int16)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".nii.gz", dir=folder)
        os.close(fd)
        try:
            nib.save(image, tmp_name)
            os.replace(tmp_name, folder / name)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        written.append(name)
    return written


def write_outputs(analysis: Analysis, folder: Path, report: bool = True) -> None:
    from cnmri.io.nifti import save_volume

    findings = analysis.findings  # the typed segments and nerves in their JSON form (to_json)
    validate_findings(findings)
    folder = Path(folder)
    write_json_atomic(folder / "findings.json", findings)
    if analysis.settings is not None:
        write_json_atomic(folder / "settings.json", analysis.settings.to_json())
    write_text_atomic(folder / "segments.tsv", segments_tsv(findings))
    save_volume(analysis.labels.with_data(analysis.labels.data.astype(np.int16)), folder / "nerves_dseg.nii.gz")
    write_text_atomic(folder / "nerves_dseg.tsv", dseg_lookup_tsv(analysis.label_keys))
    if report:
        _write_report_and_viewer_volumes(analysis, findings, folder)


def _write_report_and_viewer_volumes(analysis: Analysis, findings: dict[str, Any], folder: Path) -> None:
    """report.html and the viewer volumes: human-facing outputs only (batch runs with --no-report, e.g. the
    phantom suite, skip ~20 MB a study).

    The volumes are compressed in a second thread while the report's figures are drawn: zlib releases the
    GIL, and gzip of three whole-head images took about 3.7 s of a 1 mm analysis. An error in either is
    raised here, after both have stopped.
    """
    from concurrent.futures import ThreadPoolExecutor

    from cnmri.report.html import ReportImages, render_report_html

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnmri-viewer") as pool:
        volumes = pool.submit(write_viewer_volumes, analysis, folder)

        images = ReportImages(
            post=analysis.post,
            pre=analysis.pre,
            enhancement=analysis.enhancement,
            labels=analysis.labels,
            label_keys=analysis.label_keys,
            centerlines_mm=analysis.centerlines_mm,
        )
        html = render_report_html(
            findings,
            images,
            clinical_html=analysis.clinical_html,
            comparison_html=analysis.comparison_html,
        )
        volumes.result()
    write_text_atomic(folder / "report.html", html)
