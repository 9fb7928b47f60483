"""``OUT/dicom/sr.dcm``: the findings as a Comprehensive 3D SR, TID 1500 Measurement Report.

One TID 1411 volumetric group per nerve segment and side: finding type and site (SNOMED CT nerve code
from DICOM CID 7706, laterality from CID 244, the segment as a topographical modifier), the SEG segment it
measures, the measurements with UCUM units and a qualitative evaluation (normal/abnormal). Tracking
identifier and UID are the SEG segment's, stable for the same segment across a patient's studies.
Concepts SNOMED/LOINC/DCM lack are coded in the private scheme ``99CNMRI`` (docs/pacs.md lists them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from cnmri.report.dicom_common import (
    MANUFACTURER,
    NERVE_CODES,
    SCHEME,
    SERIES_NUMBER,
    SIDE_CODES,
    DicomSource,
    software_versions,
)
from cnmri.report.dicom_seg import SegmentEntry

NO_UNITS = Code("1", "UCUM", "no units")
MILLIMETER = Code("mm", "UCUM", "millimeter")

#: findings.json field -> (concept name, unit). Thickness is the SNOMED "Diameter" of the cross-section.
MEASUREMENTS: dict[str, tuple[Code, Code]] = {
    "thickness_mm": (codes.SCT.Diameter, MILLIMETER),
    "enhancement": (Code("CNM001", SCHEME, "Enhancement (post minus pre, reference-normalised)"), NO_UNITS),
    "enhancement_ratio": (Code("CNM002", SCHEME, "Enhancement ratio post/pre"), NO_UNITS),
    "asymmetry": (Code("CNM003", SCHEME, "Left-right enhancement asymmetry index"), NO_UNITS),
    "z": (Code("CNM004", SCHEME, "Enhancement z-score against the normative reference"), NO_UNITS),
    "z_thickness": (Code("CNM005", SCHEME, "Thickness z-score against the normative reference"), NO_UNITS),
}
ASSESSMENT = Code("CNM010", SCHEME, "Segment assessment for infiltration")
PHYSIOLOGIC = Code("CNM011", SCHEME, "Physiologic enhancement expected")


def segment_modifier(segment: str) -> Code:
    return Code(f"CNS-{segment}"[:16], SCHEME, f"{segment.replace('_', ' ')} segment")


def _group(
    finding: Mapping[str, Any], entry: SegmentEntry, seg: Dataset, algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    nerve_code = NERVE_CODES[str(finding["nerve"])]
    measurements = [
        hd.sr.Measurement(name=name, value=float(finding[field]), unit=unit)
        for field, (name, unit) in MEASUREMENTS.items()
        if finding.get(field) is not None
    ]
    evaluations = [
        hd.sr.QualitativeEvaluation(
            name=ASSESSMENT, value=codes.SCT.Abnormal if finding.get("abnormal") else codes.SCT.Normal
        ),
        hd.sr.QualitativeEvaluation(
            name=PHYSIOLOGIC,
            value=codes.SCT.Present if finding.get("physiologic_enhancement") else codes.SCT.Absent,
        ),
    ]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=entry.tracking_uid, identifier=entry.key),
        # The source as a series, not one item per source image: per-image lists made the SR grow with the
        # slice count (54 groups x 150 slices at 1 mm) and its generation slow.
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=entry.number,
            source_series=hd.sr.SourceSeriesForSegmentation(seg.ReferencedSeriesSequence[0].SeriesInstanceUID),
        ),
        finding_category=codes.SCT.AnatomicalStructure,
        finding_type=nerve_code,
        finding_sites=[
            hd.sr.FindingSite(
                anatomic_location=nerve_code,
                laterality=SIDE_CODES[str(finding["side"])],
                topographical_modifier=segment_modifier(str(finding["segment"])),
            )
        ],
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations,
    )


def build_sr(findings: Mapping[str, Any], seg: Dataset, entries: list[SegmentEntry], source: DicomSource) -> Dataset:
    """The TID 1500 report; segments that are not in the SEG (outside the post's field of view) are left out."""
    by_key = {e.key: e for e in entries}
    algorithm = hd.sr.AlgorithmIdentification(name="cnmri", version=software_versions())
    groups = [
        _group(finding, by_key[f"{finding['nerve']}-{finding['side']}-{finding['segment']}"], seg, algorithm)
        for finding in findings["segments"]
        if f"{finding['nerve']}-{finding['side']}-{finding['segment']}" in by_key
    ]
    observation_context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.cid270.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=hd.UID(), name="cnmri", manufacturer_name=MANUFACTURER, model_name=software_versions()
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=observation_context,
        procedure_reported=codes.LN.MRIHeadReport,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[*source.evidence, seg],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER["sr"],
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description="cnmri cranial nerve measurements",
        is_complete=True,
    )
