"""DICOM SR/SEG/KO/SC and the FHIR bundle written by ``cnmri analyze STUDY_DIR`` (one real analysis)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from interop_support import Analysed
from pydicom.sr.codedict import codes

from cnmri.report.dicom_common import hashed_uid as _hashed_uid
from cnmri.report.dicom_sr import ASSESSMENT
from cnmri.report.fhir import build_bundle, validate_bundle
from cnmri.report.interop import InteropRequest, write_interop_outputs

SEGMENT_KEY = "{nerve}-{side}-{segment}"


def dciodvfy_errors(path: Path) -> list[str]:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.fail("dciodvfy is missing: apt-get install dicom3tools")
    run = subprocess.run([binary, str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def dicom_files(out: Path) -> list[Path]:
    return sorted((out / "dicom").rglob("*.dcm"))


@pytest.fixture(scope="module")
def deidentified(analysed: Analysed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same analysis written again as with --deidentify (the writers only, no second analysis)."""
    out = tmp_path_factory.mktemp("deid")
    request = InteropRequest(
        post_files=analysed.request.post_files, pre_files=analysed.request.pre_files, deidentify=True
    )
    write_interop_outputs(analysed.analysis, out, request)
    return out


def findings(analysed: Analysed) -> dict:
    return json.loads((analysed.out / "findings.json").read_text())


def test_every_dicom_object_passes_dciodvfy(analysed: Analysed, deidentified: Path) -> None:
    files = dicom_files(analysed.out) + dicom_files(deidentified)
    names = {p.relative_to(p.parents[1] if p.parent.name == "sc" else p.parent).as_posix() for p in files}
    assert {"sr.dcm", "seg.dcm", "ko.dcm", "sc/01.dcm"} <= names
    assert {str(p): dciodvfy_errors(p) for p in files} == {str(p): [] for p in files}


def test_sr_round_trip_reads_every_measurement_back(analysed: Analysed) -> None:
    sr = hd.sr.srread(analysed.out / "dicom" / "sr.dcm")
    seg = hd.seg.segread(analysed.out / "dicom" / "seg.dcm")
    by_key = {SEGMENT_KEY.format(**s): s for s in findings(analysed)["segments"]}
    seg_tracking = {int(d.SegmentNumber): str(d.TrackingUID) for d in seg.SegmentSequence}
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(seg_tracking) >= 50
    for group in groups:
        finding = by_key[str(group.tracking_identifier)]
        site = group.finding_sites[0]
        assert site.laterality.meaning.lower() == finding["side"]
        measured = {m.name.meaning: m.value for m in group.get_measurements()}
        if finding["thickness_mm"] is not None:
            assert measured["Diameter"] == pytest.approx(finding["thickness_mm"], abs=1e-6)
            assert group.get_measurements(name=codes.SCT.Diameter)[0].unit.value == "mm"
        assessment = group.get_qualitative_evaluations(name=ASSESSMENT)[0].value
        assert assessment == (codes.SCT.Abnormal if finding["abnormal"] else codes.SCT.Normal)
        referenced = group.referenced_segment.referenced_segment_numbers[0]  # type: ignore[union-attr]
        assert seg_tracking[referenced] == group.tracking_uid
    facial = sr.content.get_volumetric_roi_measurement_groups(finding_type=codes.SCT.FacialNerve)
    assert {str(g.tracking_identifier).split("-")[1] for g in facial} == {"left", "right"}
    assert len(facial) == sum(
        1 for k in by_key if k.startswith("CN7-") and k in {str(g.tracking_identifier) for g in groups}
    )


def test_objects_are_filed_in_the_source_study_and_reference_its_series(analysed: Analysed) -> None:
    study = analysed.study
    post_uid, pre_uid = study.series[7].series_uid, study.series[5].series_uid
    for path in dicom_files(analysed.out):
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        assert ds.StudyInstanceUID == study.study.study_uid
        assert ds.PatientID == study.study.patient.patient_id
    seg = pydicom.dcmread(str(analysed.out / "dicom" / "seg.dcm"), stop_before_pixels=True)
    assert [s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence] == [post_uid]
    sr = pydicom.dcmread(str(analysed.out / "dicom" / "sr.dcm"))
    evidence = {
        s.SeriesInstanceUID for e in sr.CurrentRequestedProcedureEvidenceSequence for s in e.ReferencedSeriesSequence
    }
    assert {post_uid, pre_uid, seg.SeriesInstanceUID} <= evidence


def test_seg_segments_lie_where_the_label_map_puts_them(analysed: Analysed) -> None:
    """Each SEG segment's centroid (from the SEG's own frame positions) matches the NIfTI label map's."""
    dseg = nib.load(str(analysed.out / "nerves_dseg.nii.gz"))
    labels = np.asarray(dseg.dataobj)
    lookup = {
        row.split("\t")[1]: int(row.split("\t")[0])
        for row in (analysed.out / "nerves_dseg.tsv").read_text().splitlines()[1:]
    }
    seg = hd.seg.segread(analysed.out / "dicom" / "seg.dcm")
    checked = 0
    for description in seg.SegmentSequence:
        key = str(description.TrackingID)
        if not key.startswith(("CN7-", "CN5-")):
            continue
        volume = seg.get_volume(segment_numbers=[int(description.SegmentNumber)], combine_segments=True)
        ijk = np.argwhere(volume.array > 0)
        seg_lps = (volume.affine @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3].mean(axis=0)
        vox = np.argwhere(labels == lookup[key])
        dseg_ras = (dseg.affine @ np.c_[vox, np.ones(len(vox))].T).T[:, :3].mean(axis=0)
        assert np.linalg.norm(seg_lps * [-1, -1, 1] - dseg_ras) < 2.5, key  # within about a 2 mm voxel
        assert (seg_lps[0] > 0) == key.split("-")[1].startswith("l"), key  # DICOM +x is the patient's left
        checked += 1
    assert checked >= 10


def test_key_object_selection_flags_every_secondary_capture(analysed: Analysed) -> None:
    ko = pydicom.dcmread(str(analysed.out / "dicom" / "ko.dcm"))
    title = ko.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("113000", "DCM")
    referenced = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for item in ko.ContentSequence
        if "ReferencedSOPSequence" in item
    }
    captures = [pydicom.dcmread(str(p)) for p in sorted((analysed.out / "dicom" / "sc").glob("*.dcm"))]
    abnormal_sides = {(n["nerve"], n["side"]) for n in findings(analysed)["nerves"] if n["abnormal"]}
    assert len(captures) == 1 + len(abnormal_sides)
    assert referenced == {c.SOPInstanceUID for c in captures}
    assert all(c.pixel_array.ndim == 3 and c.pixel_array.shape[2] == 3 for c in captures)


def test_tracking_uids_are_stable_across_studies_of_a_patient(analysed: Analysed, deidentified: Path) -> None:
    """The de-identified copy is another study UID; the same segment keeps its tracking UID."""
    first = {
        str(d.TrackingID): str(d.TrackingUID)
        for d in pydicom.dcmread(str(analysed.out / "dicom" / "seg.dcm")).SegmentSequence
    }
    second_ds = pydicom.dcmread(str(deidentified / "dicom" / "seg.dcm"))
    second = {str(d.TrackingID): str(d.TrackingUID) for d in second_ds.SegmentSequence}
    assert second_ds.StudyInstanceUID != analysed.study.study.study_uid
    assert first == second
    assert len(set(first.values())) == len(first)


def test_deidentified_objects_carry_no_identifiers_and_match_findings_uids(
    analysed: Analysed, deidentified: Path
) -> None:
    study = analysed.study.study
    forbidden = [
        study.patient.name.split("^")[0],
        study.patient.patient_id,
        study.study_uid,
        study.accession,
        study.date,
        study.patient.birth_date,
    ]
    for path in [*dicom_files(deidentified), deidentified / "fhir" / "bundle.json"]:
        text = path.read_bytes().decode("latin-1")
        assert [f for f in forbidden if f in text] == [], path.name
    seg = pydicom.dcmread(str(deidentified / "dicom" / "seg.dcm"), stop_before_pixels=True)
    # analyze --deidentify writes the same hashed UID into findings.json
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == _hashed_uid(analysed.study.series[7].series_uid)
    assert seg.StudyInstanceUID == _hashed_uid(study.study_uid)


def test_fhir_bundle_is_valid_r4_with_observations_and_the_study(analysed: Analysed) -> None:
    bundle = json.loads((analysed.out / "fhir" / "bundle.json").read_text())
    validate_bundle(bundle, "R4")
    resources = [e["resource"] for e in bundle["entry"]]
    kinds = [r["resourceType"] for r in resources]
    data = findings(analysed)
    abnormal = [n for n in data["nerves"] if n["abnormal"]]
    assert kinds.count("Observation") == len(data["segments"]) + len(abnormal) + 1  # + CNS status
    study = next(r for r in resources if r["resourceType"] == "ImagingStudy")
    assert study["identifier"][0]["value"] == f"urn:oid:{analysed.study.study.study_uid}"
    report = next(r for r in resources if r["resourceType"] == "DiagnosticReport")
    assert base64.b64decode(report["presentedForm"][0]["data"]) == (analysed.out / "report.html").read_bytes()
    cns = next(r for r in resources if r.get("code", {}).get("text") == "CNS status")
    assert data["cns_status"]["category"] in cns["valueCodeableConcept"]["text"]
    segment_obs = [
        r for r in resources if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "125007"
    ]
    thickness = [
        c["valueQuantity"] for r in segment_obs for c in r["component"] if c["code"]["coding"][0]["code"] == "81827009"
    ]
    assert thickness and all(q["system"] == "http://unitsofmeasure.org" and q["code"] == "mm" for q in thickness)
    assert "identifier" not in next(r for r in resources if r["resourceType"] == "Patient")


def test_fhir_r5_is_selectable_and_valid(analysed: Analysed) -> None:
    bundle = build_bundle(findings(analysed), None, version="R5")
    validate_bundle(bundle, "R5")
    report = bundle["entry"][0]["resource"]
    assert report["resourceType"] == "DiagnosticReport" and "imagingStudy" not in report


def test_an_invalid_resource_fails_validation() -> None:
    from pydantic import ValidationError

    bad = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Observation", "code": {"text": "x"}}}],  # status is required
    }
    with pytest.raises(ValidationError):
        validate_bundle(bad, "R4")


def test_nifti_input_writes_the_fhir_bundle_only(analysed: Analysed, tmp_path: Path) -> None:
    write_interop_outputs(analysed.analysis, tmp_path, InteropRequest())
    assert not (tmp_path / "dicom").exists()
    bundle = json.loads((tmp_path / "fhir" / "bundle.json").read_text())
    assert "ImagingStudy" not in {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert "NIfTI input" in json.loads((tmp_path / "interop.json").read_text())["dicom"]["note"]


def test_key_images_are_the_figures_embedded_in_the_report() -> None:
    """SCs re-use report.html's PNGs: the overview first, then each nerve's key images in report order."""
    from PIL import Image

    from cnmri.report.key_images import key_images_from_report
    from cnmri.report.templating import environment

    # the <img> element as templates/report.html writes it (class, alt, data URI), with the report's escaping
    img = environment().from_string('<img class="{{ css }}" alt="{{ alt }}" src="{{ png|png_data_uri }}">')

    def _img(png_bytes: bytes, alt: str, css: str = "figure") -> str:
        return img.render(css=css, alt=alt, png=png_bytes)

    def png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
        buffer = __import__("io").BytesIO()
        Image.new("RGB", size, colour).save(buffer, format="PNG")
        return buffer.getvalue()

    page = (
        "<p>x</p>"
        + _img(png((200, 0, 0), (40, 30)), "Key images of CN7 facial, left: axial, coronal and sagittal")
        + _img(png((0, 200, 0), (50, 20)), "Overview: axial slices", "figure mosaic")
        + _img(png((0, 0, 200), (10, 10)), "Key images of CN9 glossopharyngeal, right: axial")
    )
    images = key_images_from_report(page)
    assert [i.rgb.shape for i in images] == [(20, 50, 3), (30, 40, 3), (10, 10, 3)]
    assert images[1].title == "cnmri key images CN7 facial, left"
    assert tuple(images[0].rgb[0, 0]) == (0, 200, 0)
    assert key_images_from_report("<p>no figures</p>") == []


def test_a_source_the_seg_cannot_use_skips_dicom_objects_with_the_reason(analysed: Analysed, tmp_path: Path) -> None:
    post = pydicom.dcmread(str(analysed.request.post_files[0]))
    post.NumberOfFrames = 2  # looks like an enhanced multi-frame series, which the SEG writer refuses
    odd = tmp_path / "odd.dcm"
    post.save_as(odd)
    out = tmp_path / "out"
    out.mkdir()
    write_interop_outputs(analysed.analysis, out, InteropRequest(post_files=[odd]))
    assert not (out / "dicom").exists()
    assert "multi-frame" in json.loads((out / "interop.json").read_text())["dicom"]["note"]
    assert (out / "fhir" / "bundle.json").exists()
