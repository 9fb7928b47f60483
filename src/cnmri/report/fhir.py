"""``OUT/fhir/bundle.json``: the findings as a FHIR Bundle for the EHR (R4 by default, R5 selectable).

Resources: a DiagnosticReport (LOINC 24590-2 "MRI Head Report", the conclusion, the differential when a
clinical case was given, report.html as presentedForm), one Observation per measured segment (bodySite
SNOMED CT from DICOM CID 7706, laterality as a component, measurements as UCUM quantities,
interpretation A/N, identifier = the segment's DICOM tracking UID, the link to the SR group and SEG
segment), one Observation per abnormal nerve side, the CNS status as an Observation when a clinical case
was given, and for DICOM input an ImagingStudy identified by the StudyInstanceUID.

"R4" is validated with ``fhir.resources.R4B`` (R4B changed none of the elements used here); "R5" with
the package's default R5 models. The Patient carries no identifier unless ``--identify`` was given.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

from cnmri import __version__
from cnmri.errors import InputError
from cnmri.report.dicom_common import NERVE_CODES, SIDE_CODES, DicomSource, tracking_uid

FHIR_VERSIONS = ("R4", "R5")
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CNMRI = "urn:cnmri:codes"  # private code system for concepts without a standard code (docs/pacs.md)
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

#: findings.json field -> (coding, UCUM unit code)
COMPONENTS: dict[str, tuple[dict[str, str], str]] = {
    "thickness_mm": ({"system": SNOMED, "code": "81827009", "display": "Diameter"}, "mm"),
    "enhancement": ({"system": CNMRI, "code": "CNM001", "display": "Enhancement (post minus pre, normalised)"}, "1"),
    "enhancement_ratio": ({"system": CNMRI, "code": "CNM002", "display": "Enhancement ratio post/pre"}, "1"),
    "asymmetry": ({"system": CNMRI, "code": "CNM003", "display": "Left-right enhancement asymmetry index"}, "1"),
    "z": ({"system": CNMRI, "code": "CNM004", "display": "Enhancement z-score"}, "1"),
    "z_thickness": ({"system": CNMRI, "code": "CNM005", "display": "Thickness z-score"}, "1"),
}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _coding(code: Any) -> dict[str, str]:
    system = {"SCT": SNOMED, "LN": LOINC, "DCM": DCM}[code.scheme_designator]
    return {"system": system, "code": str(code.value), "display": str(code.meaning)}


def _interpretation(abnormal: bool) -> list[dict[str, Any]]:
    code, display = ("A", "Abnormal") if abnormal else ("N", "Normal")
    return [{"coding": [{"system": INTERPRETATION, "code": code, "display": display}]}]


def _imaging_category() -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}]


def _segment_observation(seg: Mapping[str, Any], patient: str, study: str | None, patient_id: str) -> dict[str, Any]:
    key = f"{seg['nerve']}-{seg['side']}-{seg['segment']}"
    components: list[dict[str, Any]] = [
        {
            "code": {"coding": [{"system": SNOMED, "code": "272741003", "display": "Laterality"}]},
            "valueCodeableConcept": {"coding": [_coding(SIDE_CODES[str(seg["side"])])]},
        }
    ]
    for field, (coding, unit) in COMPONENTS.items():
        if seg.get(field) is not None:
            components.append(
                {
                    "code": {"coding": [coding]},
                    "valueQuantity": {"value": float(seg[field]), "unit": unit, "system": UCUM, "code": unit},
                }
            )
    return {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{tracking_uid(key, patient_id)}"}],
        "category": _imaging_category(),
        "code": {
            "coding": [{"system": DCM, "code": "125007", "display": "Measurement Group"}],
            "text": f"{key} measurements",
        },
        "subject": {"reference": patient},
        **({"derivedFrom": [{"reference": study}]} if study else {}),
        "bodySite": {
            "coding": [_coding(NERVE_CODES[str(seg["nerve"])])],
            "text": f"{seg['side']} {seg['nerve']} {str(seg['segment']).replace('_', ' ')} segment",
        },
        "interpretation": _interpretation(bool(seg.get("abnormal"))),
        "component": components,
        "note": [{"text": "; ".join(str(r) for r in seg.get("reasons", []))}] if seg.get("reasons") else [],
    }


def _nerve_observation(nerve: Mapping[str, Any], patient: str, members: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": _imaging_category(),
        "code": {
            "coding": [{"system": CNMRI, "code": "CNM020", "display": "Cranial nerve infiltration pattern on MRI"}],
            "text": f"{nerve['nerve']} {nerve['side']}: abnormal",
        },
        "subject": {"reference": patient},
        "bodySite": {
            "coding": [_coding(NERVE_CODES[str(nerve["nerve"])])],
            "text": f"{nerve['side']} {nerve['nerve']}",
        },
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "263654008", "display": "Abnormal"}]},
        "interpretation": _interpretation(True),
        "hasMember": [{"reference": m} for m in members],
        "note": [{"text": "abnormal segments: " + ", ".join(str(s) for s in nerve.get("abnormal_segments", []))}],
    }


def _cns_observation(cns: Mapping[str, Any], patient: str) -> dict[str, Any]:
    category = str(cns.get("category"))
    subcategory = cns.get("subcategory")
    text = f"CNS status {category}" + (f" ({subcategory})" if subcategory else "") + f", {cns.get('framework')}"
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}]},
            *_imaging_category(),
        ],
        "code": {"coding": [{"system": CNMRI, "code": "CNM030", "display": "CNS status"}], "text": "CNS status"},
        "subject": {"reference": patient},
        "valueCodeableConcept": {
            "coding": [{"system": CNMRI, "code": str(subcategory or category), "display": text}],
            "text": text,
        },
        "note": [{"text": str(r)} for r in cns.get("rationale", [])],
    }


def conclusion_text(findings: Mapping[str, Any]) -> str:
    pattern = findings.get("pattern", {})
    nerves = ", ".join(pattern.get("nerves", [])) or "none"
    lines = [
        f"Cranial nerve MRI (cnmri {__version__}, decision support): pattern {pattern.get('kind')}; "
        f"abnormal nerves: {nerves}."
    ]
    cns = findings.get("cns_status")
    if cns:
        lines.append(f"CNS status {cns.get('category')} ({cns.get('framework')}).")
    differential = findings.get("differential") or []
    if differential:
        ranked = "; ".join(
            f"{d.get('label', d.get('diagnosis'))} {float(d.get('score', 0)):.2f}" for d in differential[:5]
        )
        lines.append(f"Differential: {ranked}.")
    return " ".join(lines)


def _imaging_study(source: DicomSource, patient: str, version: str) -> dict[str, Any]:
    def modality(code: str) -> dict[str, Any]:
        coding = {"system": DCM, "code": code}
        return coding if version == "R4" else {"coding": [coding]}

    series = []
    for headers in (source.pre, source.post):
        if headers:
            first = headers[0]
            series.append(
                {
                    "uid": str(first.SeriesInstanceUID),
                    **({"number": int(first.SeriesNumber)} if first.get("SeriesNumber") is not None else {}),
                    "modality": modality(str(first.get("Modality", "MR"))),
                    "numberOfInstances": len(headers),
                    "instance": [
                        {
                            "uid": str(ds.SOPInstanceUID),
                            "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{ds.SOPClassUID}"},
                        }
                        for ds in headers[:1]
                    ],
                }
            )
    return {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{source.study_uid}"}],
        "status": "available",
        "subject": {"reference": patient},
        "modality": [modality("MR")],
        "numberOfSeries": len(series),
        "series": series,
    }


def build_bundle(
    findings: Mapping[str, Any],
    source: DicomSource | None,
    report_html: bytes | None = None,
    version: str = "R4",
    identify: bool = False,
    patient_id: str | None = None,
) -> dict[str, Any]:
    """The Bundle as a plain dict, validated against the chosen FHIR version's models."""
    if version not in FHIR_VERSIONS:
        raise InputError(f"FHIR version {version!r} is not supported; choose one of {', '.join(FHIR_VERSIONS)}")
    entries: list[tuple[str, dict[str, Any]]] = []
    patient_url = _urn()
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if identify and patient_id:
        patient["identifier"] = [{"value": patient_id}]
    entries.append((patient_url, patient))
    study_url = None
    if source is not None:
        study_url = _urn()
        entries.append((study_url, _imaging_study(source, patient_url, version)))
    tracking_patient = source.patient_id if source is not None else (patient_id or "")
    segment_urls: dict[str, str] = {}
    for seg in findings.get("segments", []):
        url = _urn()
        segment_urls[f"{seg['nerve']}-{seg['side']}-{seg['segment']}"] = url
        entries.append((url, _segment_observation(seg, patient_url, study_url, tracking_patient)))
    results = list(segment_urls.values())
    for nerve in findings.get("nerves", []):
        if nerve.get("abnormal"):
            members = [segment_urls[k] for k in segment_urls if k.startswith(f"{nerve['nerve']}-{nerve['side']}-")]
            url = _urn()
            entries.append((url, _nerve_observation(nerve, patient_url, members)))
            results.insert(0, url)
    if findings.get("cns_status"):
        url = _urn()
        entries.append((url, _cns_observation(findings["cns_status"], patient_url)))
        results.insert(0, url)
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {
            "coding": [
                {"system": LOINC, "code": "24590-2", "display": "MRI Head Report"},
                {"system": DCM, "code": "126000", "display": "Imaging Measurement Report"},
            ]
        },
        "subject": {"reference": patient_url},
        "result": [{"reference": r} for r in results],
        "conclusion": conclusion_text(findings),
    }
    if study_url:
        report["imagingStudy" if version == "R4" else "study"] = [{"reference": study_url}]
    if report_html:
        report["presentedForm"] = [
            {"contentType": "text/html", "title": "cnmri report", "data": base64.b64encode(report_html).decode("ascii")}
        ]
    entries.insert(0, (_urn(), report))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
    }
    validate_bundle(bundle, version)
    return bundle


def validate_bundle(bundle: Mapping[str, Any], version: str = "R4") -> None:
    """Raise ``pydantic.ValidationError`` when the bundle or any resource in it is not valid FHIR of ``version``.

    Each entry's resource is validated with its own model: the Bundle model alone accepts any resource.
    """
    if version == "R4":
        from fhir.resources.R4B import get_fhir_model_class as model_class
    else:
        from fhir.resources import get_fhir_model_class as model_class

    model_class("Bundle").model_validate(bundle)
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        model_class(str(resource["resourceType"])).model_validate(resource)
