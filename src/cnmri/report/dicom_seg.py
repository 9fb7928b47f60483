"""``OUT/dicom/seg.dcm``: every nerve segment's region as a DICOM SEG on the post-contrast series' grid.

The label map lives on the analysis grid (the pre-contrast image's); each SEG frame samples it, nearest
neighbour, at the world position of every pixel of the matching source slice. Pre and post share the
frame of reference of one session; patient motion between them (corrected for measurement by the rigid
co-registration) is not undone here, so outlines can be off by the motion (usually < 1 mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from cnmri.errors import ProcessingError
from cnmri.report.dicom_common import (
    MANUFACTURER,
    MODEL,
    NERVE_CODES,
    SERIES_NUMBER,
    DicomSource,
    segment_description_text,
    software_versions,
    tracking_uid,
)
from cnmri.volume import Volume

_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class SegmentEntry:
    """One SEG segment: its number, the atlas key ("CN7-left-canalicular") and its tracking UID."""

    number: int
    key: str
    tracking_uid: str


def _slice_index_grid(ds: Dataset, inverse: NDArray[np.float64]) -> NDArray[np.float32]:
    """Continuous label-map indices of every pixel of one slice, shape (rows, columns, 3).

    A slice is a plane, so the indices are linear in (row, column): origin + row x one step + column x
    the other, computed by broadcasting instead of transforming every pixel's world position.
    """
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = orientation[:3], orientation[3:]  # along a row (column index), along a column (row index)
    spacing_row, spacing_col = (float(v) for v in ds.PixelSpacing)
    origin_ras = np.asarray(ds.ImagePositionPatient, dtype=float) * _LPS_TO_RAS
    linear, shift = inverse[:3, :3], inverse[:3, 3]
    start = (linear @ origin_ras + shift).astype(np.float32)
    down = (linear @ (col_dir * spacing_row * _LPS_TO_RAS)).astype(np.float32)
    across = (linear @ (row_dir * spacing_col * _LPS_TO_RAS)).astype(np.float32)
    rows = np.arange(int(ds.Rows), dtype=np.float32)[:, None, None] * down
    cols = np.arange(int(ds.Columns), dtype=np.float32)[None, :, None] * across
    return np.asarray(start + rows + cols, dtype=np.float32)


def labels_on_source_grid(labels: Volume, source: list[Dataset]) -> NDArray[np.int32]:
    """The label map resampled (nearest neighbour) onto the source slices: (slices, rows, columns)."""
    data = np.asarray(labels.data).astype(np.int32)
    upper = np.asarray(data.shape) - 1
    inverse = np.linalg.inv(np.asarray(labels.affine, dtype=np.float64))
    out = np.zeros((len(source), int(source[0].Rows), int(source[0].Columns)), dtype=np.int32)
    for k, ds in enumerate(source):
        ijk = np.rint(_slice_index_grid(ds, inverse)).astype(np.int32)
        inside = np.all((ijk >= 0) & (ijk <= upper), axis=2)
        if inside.any():
            hit = ijk[inside]
            out[k][inside] = data[hit[:, 0], hit[:, 1], hit[:, 2]]
    return out


def build_seg(labels: Volume, label_keys: dict[int, str], source: DicomSource) -> tuple[Dataset, list[SegmentEntry]]:
    """A binary SEG with one segment per labelled nerve segment that falls on the post series."""
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in source.post):
        raise ProcessingError("the post series is multi-frame: the DICOM SEG supports single-frame series only")
    on_grid = labels_on_source_grid(labels, source.post)
    present = set(np.flatnonzero(np.bincount(on_grid.ravel())).tolist()) - {0}
    entries: list[SegmentEntry] = []
    remap = np.zeros(max(label_keys, default=0) + 1, dtype=np.uint16)
    for label in sorted(label_keys, key=lambda v: label_keys[v]):
        if label not in present:
            continue
        key = label_keys[label]
        entries.append(SegmentEntry(len(entries) + 1, key, tracking_uid(key, source.patient_id)))
        remap[label] = len(entries)
    if not entries:
        raise ProcessingError("no nerve segment falls inside the post series' field of view: no SEG written")
    pixel_array = remap[np.clip(on_grid, 0, len(remap) - 1)]
    algorithm = hd.AlgorithmIdentificationSequence(
        name="cnmri atlas registration", version=software_versions(), family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=entry.number,
            segment_label=segment_description_text(entry.key)[:64],
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=NERVE_CODES[entry.key.split("-", 1)[0]],
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=entry.tracking_uid,
            tracking_id=entry.key,
        )
        for entry in entries
    ]
    seg = hd.seg.Segmentation(
        source_images=source.post,
        pixel_array=pixel_array.astype(np.uint16 if len(entries) > 255 else np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["seg"],
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL,
        software_versions=software_versions(),
        device_serial_number="0",
        series_description="cnmri cranial nerve segments",
        content_label="CNMRI_SEG",
        content_description="cranial nerve segments (atlas registration)",
    )
    return seg, entries
