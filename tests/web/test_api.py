"""The web app through FastAPI's test client: authentication, CSRF, pagination, findings, the clinical
form and the follow-up comparison, on a results folder derived from one real analysis."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

TOKEN = "test-token-0123456789abcdef"  # the token the app fixture is built with (conftest.py)

STUDY_NAMES = [
    "patient-a_2024-01_baseline",
    "patient-a_2024-04_followup",
    "patient-b_normal_old-version",
    "patient-c_broken",
]


def study_ids(authed: Any) -> dict[str, str]:
    studies = authed.get("/api/studies").json()["studies"]
    return {s["name"]: s["id"] for s in studies}


# -- authentication ----------------------------------------------------------------------------------------
def test_health_needs_no_token(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/", "/api/studies", "/openapi.json", "/api/docs", "/static/app.css", "/studies/x"])
def test_every_other_route_answers_401_without_the_token(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.text


def test_a_wrong_bearer_token_or_cookie_is_refused(client: Any) -> None:
    assert client.get("/api/studies", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    client.cookies.set("cnmri_session", "forged")
    assert client.get("/").status_code == 401


def test_token_in_the_url_becomes_an_httponly_strict_cookie_and_leaves_the_url(client: Any) -> None:
    response = client.get(f"/?page=1&token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?page=1"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie, "the cookie carries a derived value, not the token"
    assert client.get("/").status_code == 200  # the cookie alone now suffices


def test_a_wrong_token_in_the_url_sets_no_cookie(client: Any) -> None:
    response = client.get("/?token=not-the-token-at-all", follow_redirects=False)
    assert response.status_code == 401 and "set-cookie" not in response.headers


def test_pages_forbid_outside_resources(authed: Any) -> None:
    ids = study_ids(authed)
    response = authed.get(f"/studies/{ids['patient-a_2024-01_baseline']}")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    # No external URL anywhere in the page: every src and href is local.
    for url in re.findall(r'(?:src|href)="([^"]*)"', response.text):
        assert url.startswith(("/", "#", "data:")), url


# -- study list --------------------------------------------------------------------------------------------
def test_study_list_holds_the_analysis_folders_only(authed: Any) -> None:
    body = authed.get("/api/studies").json()
    assert body["total"] == 4
    assert [s["name"] for s in body["studies"]] == STUDY_NAMES
    by_name = {s["name"]: s for s in body["studies"]}
    assert by_name["patient-a_2024-01_baseline"]["nerves_abnormal"] == [
        "CN7-right",
        "CN7-left",
        "CN9-right",
        "CN9-left",
    ]
    assert by_name["patient-a_2024-01_baseline"]["status"] == "abnormal"
    assert by_name["patient-a_2024-04_followup"]["nerves_abnormal"] == ["CN7-right", "CN7-left"]
    assert by_name["patient-b_normal_old-version"]["status"] == "normal"
    assert by_name["patient-b_normal_old-version"]["volumes"] == ["labels"]
    assert by_name["patient-c_broken"]["status"] == "unreadable"
    assert "patient-c_broken" in by_name["patient-c_broken"]["error"]


def test_list_is_paginated(authed: Any) -> None:
    first = authed.get("/api/studies?per_page=3").json()
    second = authed.get("/api/studies?per_page=3&page=2").json()
    assert [s["name"] for s in first["studies"]] == STUDY_NAMES[:3]
    assert [s["name"] for s in second["studies"]] == STUDY_NAMES[3:]
    assert first["total"] == second["total"] == 4
    assert authed.get("/api/studies?per_page=0").status_code == 422
    page = authed.get("/?per_page=2&page=2").text
    assert "page 2 of 2" in page and "patient-b_normal_old-version" in page and "patient-a_2024-01" not in page


def test_urls_carry_opaque_ids_not_folder_names(authed: Any) -> None:
    page = authed.get("/").text
    links = re.findall(r'href="([^"]*)"', page)
    assert any(link.startswith("/studies/") for link in links)
    for link in links:
        assert "patient" not in link, link
    for sid in study_ids(authed).values():
        assert re.fullmatch(r"[0-9a-f]{16}", sid)


def test_folder_names_are_escaped_in_pages(authed: Any, results_dir: Path) -> None:
    from cnmri.web.studies import study_id

    name = "zz<img src=x onerror=alert(1)>"
    target = results_dir / name
    target.mkdir()
    (target / "findings.json").write_text('{"segments": [], "nerves": [], "warnings": ["<b>x</b>"]}')
    try:
        authed.app.state.index.listing_ttl_s = 0
        page = authed.get("/?per_page=200").text
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        study = authed.get(f"/studies/{study_id(name)}").text
        assert "<b>x</b>" not in study and "&lt;b&gt;x&lt;/b&gt;" in study
    finally:
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
        # Rescan while the TTL is still 0 so the cached listing no longer holds the removed study (later
        # tests, the browser test among them, share this results folder and count its studies).
        assert name not in {ref.name for ref in authed.app.state.index.refs()}
        authed.app.state.index.listing_ttl_s = 2.0


# -- one study ---------------------------------------------------------------------------------------------
def test_findings_are_served_as_written(authed: Any, results_dir: Path) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    served = authed.get(f"/api/studies/{sid}/findings").json()
    assert served == json.loads((results_dir / "patient-a_2024-01_baseline" / "findings.json").read_text())
    assert authed.get("/api/studies/0000000000000000/findings").status_code == 404
    broken = study_ids(authed)["patient-c_broken"]
    response = authed.get(f"/api/studies/{broken}/findings")
    assert response.status_code == 422 and "patient-c_broken" in response.json()["detail"]


def test_segment_centres_lie_on_their_own_label(authed: Any, results_dir: Path) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    rows = authed.get(f"/api/studies/{sid}/segments").json()
    image = nib.load(str(results_dir / "patient-a_2024-01_baseline" / "nerves_dseg.nii.gz"))
    data = np.asarray(image.dataobj)
    inverse = np.linalg.inv(image.affine)
    with_centre = [r for r in rows if r["centre_mm"] is not None]
    assert len(rows) == 56 and len(with_centre) >= 50
    for row in with_centre:
        ijk = np.rint(inverse[:3, :3] @ np.array(row["centre_mm"]) + inverse[:3, 3]).astype(int)
        assert data[tuple(ijk)] == row["label"], row["key"]
    lesion = next(r for r in rows if r["key"] == "CN7-left-canalicular")
    assert lesion["abnormal"] is True and lesion["label"] is not None


def test_colormap_gives_one_colour_per_nerve_and_highlights_abnormal_segments(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    cmap = authed.get(f"/api/studies/{sid}/colormap").json()
    rows = {r["key"]: r for r in authed.get(f"/api/studies/{sid}/segments").json()}
    colour = {}
    for n, key in enumerate(cmap["labels"][1:], start=1):
        row = rows[key]
        assert cmap["I"][n] == row["label"]
        colour.setdefault(row["nerve"], set()).add((cmap["R"][n], cmap["G"][n], cmap["B"][n]))
        assert cmap["A"][n] == (255 if row["abnormal"] else 110)
    assert all(len(c) == 1 for c in colour.values()), "every segment of a nerve has the nerve's colour"
    assert len({next(iter(c)) for c in colour.values()}) == len(colour), "nerves have distinct colours"


def test_css_swatches_match_the_nerve_colours(authed: Any) -> None:
    from cnmri.web.studies import NERVE_COLOURS

    css = authed.get("/static/app.css").text
    for nerve, (r, g, b) in NERVE_COLOURS.items():
        assert f".sw-{nerve} {{ background: #{r:02x}{g:02x}{b:02x}; }}" in css


def test_volumes_are_served_and_nothing_else(authed: Any, results_dir: Path) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    info = authed.get(f"/api/studies/{sid}").json()
    assert sorted(info["volume_urls"]) == ["enhancement", "labels", "post", "pre"]
    body = authed.get(info["volume_urls"]["post"]).content
    assert body == (results_dir / "patient-a_2024-01_baseline" / "post.nii.gz").read_bytes()
    assert len(gzip.decompress(body)) > 348  # a NIfTI header and data
    for bad in ("findings.json", "..%2Ffindings.json", "report.html", "inputs%2Fpost.nii.gz"):
        assert authed.get(f"/api/studies/{sid}/volumes/{bad}").status_code == 404, bad


def test_viewer_volumes_written_by_the_analysis_share_the_label_grid(demo_analysis: Path) -> None:
    labels = nib.load(str(demo_analysis / "nerves_dseg.nii.gz"))
    data = {}
    for name in ("post", "pre", "enhancement"):
        image = nib.load(str(demo_analysis / f"{name}.nii.gz"))
        assert image.shape == labels.shape and np.allclose(image.affine, labels.affine), name
        assert image.get_data_dtype() == np.int16, name
        data[name] = np.asarray(image.get_fdata(), dtype=np.float64).ravel()[::7]
    # The images are what the analysis measured: post matches the demo's input post, and the enhancement
    # map is post − pre up to the reference normalisation (a near-perfect linear relation).
    given = np.asarray(nib.load(str(demo_analysis / "inputs" / "post.nii.gz")).get_fdata()).ravel()[::7]
    assert np.corrcoef(given, data["post"])[0, 1] > 0.95
    assert np.corrcoef(data["enhancement"], data["post"] - data["pre"])[0, 1] > 0.99
    assert data["enhancement"].max() > 0.5, "the demo's lesions enhance"


def test_study_page_shows_the_table_the_viewer_and_the_form(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    page = authed.get(f"/studies/{sid}").text
    assert page.count("data-centre=") >= 50
    assert 'id="viewer"' in page and "/static/study.js" in page
    assert 'name="csf.wbc_per_ul"' in page and 'name="csrf_token"' in page
    assert f"/studies/{sid}/report" in page
    old = authed.get(f"/studies/{study_ids(authed)['patient-b_normal_old-version']}").text
    assert 'id="viewer"' not in old and "no images for the viewer" in old


def test_report_is_served_with_its_own_strict_policy(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    response = authed.get(f"/studies/{sid}/report")
    assert response.status_code == 200 and "<html" in response.text[:200].lower()
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]


# -- clinical form -----------------------------------------------------------------------------------------
CASE_FORM = {
    "disease.type": "B-ALL",
    "disease.phase": "diagnosis",
    "csf.wbc_per_ul": "12",
    "csf.rbc_per_ul": "0",
    "csf.blasts": "yes",
    "exam.cranial_nerve_palsies": "CN7-left",
}


def test_clinical_form_without_csrf_token_is_refused(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    assert authed.post(f"/studies/{sid}/clinical", data=CASE_FORM).status_code == 403
    assert authed.post(f"/studies/{sid}/clinical", data={**CASE_FORM, "csrf_token": "wrong"}).status_code == 403


def test_clinical_form_gives_cns_status_and_differential(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', authed.get(f"/studies/{sid}").text).group(1)
    response = authed.post(f"/studies/{sid}/clinical", data={**CASE_FORM, "csrf_token": csrf})
    assert response.status_code == 200
    # COG: CSF WBC >= 5/µL with blasts and RBC < 10/µL is CNS3 (Children's Oncology Group CNS criteria).
    assert re.search(r"CNS status \(COG\): <strong>CNS3</strong>", response.text)
    assert "Differential diagnosis" in response.text
    assert 'value="12"' in response.text  # the form keeps what was entered


def test_clinical_form_names_a_bad_field(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', authed.get(f"/studies/{sid}").text).group(1)
    response = authed.post(f"/studies/{sid}/clinical", data={"csf.wbc_per_ul": "many", "csrf_token": csrf})
    assert response.status_code == 422 and "csf.wbc_per_ul" in response.text
    response = authed.post(f"/studies/{sid}/clinical", data={"csf.wbc_per_ul": "-3", "csrf_token": csrf})
    assert response.status_code == 422 and "csf.wbc_per_ul" in response.text and "plausible range" in response.text


def test_clinical_api_joins_the_study_nerve_findings(authed: Any) -> None:
    sid = study_ids(authed)["patient-a_2024-01_baseline"]
    case = {"csf": {"wbc_per_ul": 2, "rbc_per_ul": 0, "blasts": False}, "exam": {"cranial_nerve_palsies": ["CN7-left"]}}
    result = authed.post(f"/api/studies/{sid}/clinical", json=case).json()
    assert result["cns_status"]["category"] in {"CNS1", "CNS2", "CNS3", "indeterminate"}
    assert result["differential"] and all("diagnosis" in d for d in result["differential"])
    bad = authed.post(f"/api/studies/{sid}/clinical", json={"csf": {"colour": "red"}})
    assert bad.status_code == 422 and "csf.colour" in bad.json()["detail"]


def test_clinical_api_with_a_cookie_session_needs_the_csrf_header(client: Any) -> None:
    client.get(f"/?token={TOKEN}")
    sid = client.get("/api/studies").json()["studies"][0]["id"]
    assert client.post(f"/api/studies/{sid}/clinical", json={}).status_code == 403
    csrf = client.app.state.secrets.csrf_token
    assert client.post(f"/api/studies/{sid}/clinical", json={}, headers={"x-csrf-token": csrf}).status_code == 200


# -- follow-up ---------------------------------------------------------------------------------------------
def test_compare_shows_the_resolved_nerves(authed: Any) -> None:
    ids = study_ids(authed)
    base, follow = ids["patient-a_2024-01_baseline"], ids["patient-a_2024-04_followup"]
    result = authed.get(f"/api/compare?a={base}&b={follow}").json()
    resolved = {(r["nerve"], r["side"]) for r in result["segments"] if r["category"] == "resolved"}
    assert resolved == {("CN9", "left"), ("CN9", "right")}
    assert result["summary"]["overall"] == "improved"
    page = authed.get(f"/compare?s={base}&s={follow}")
    assert page.status_code == 200 and "resolved" in page.text and page.text.count("<canvas") == 2
    assert authed.get(f"/compare?s={base}").status_code == 400


def test_openapi_and_its_local_page(authed: Any) -> None:
    schema = authed.get("/openapi.json").json()
    assert "/api/studies" in schema["paths"] and "/api/studies/{sid}/findings" in schema["paths"]
    page = authed.get("/api/docs").text
    assert "/api/studies/{sid}/findings" in page and "cdn" not in page.lower()
