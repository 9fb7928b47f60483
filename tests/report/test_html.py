"""The self-contained HTML report and its figures, on the real Colin27 head with fake nerve segments."""

from __future__ import annotations

import base64
import copy
import io
import itertools
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cnmri.report import figures
from cnmri.report.example import distance_to_polyline
from cnmri.report.html import NERVES, ReportImages, pattern_text, render_report_html

Lines = tuple[dict[str, np.ndarray], float]


@pytest.fixture(scope="module")
def _cache() -> dict[str, str]:
    return {}


@pytest.fixture()
def html(findings: dict[str, Any], report_images: ReportImages, _cache: dict[str, str]) -> str:
    """The report of the default findings (rendered once per module)."""
    if "html" not in _cache:
        _cache["html"] = render_report_html(findings, report_images)
    return _cache["html"]


@pytest.fixture()
def fast_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the figures by a tiny PNG, for tests about the text of the page."""
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    monkeypatch.setattr(figures, "key_image_png", lambda *a, **k: buf.getvalue())
    monkeypatch.setattr(figures, "overview_mosaic_png", lambda *a, **k: buf.getvalue())


def _sections(html: str) -> dict[str, str]:
    """Key-image sections by their data-nerve attribute."""
    return dict(re.findall(r'<section class="keyimg"[^>]*data-nerve="([^"]+)">(.*?)</section>', html, re.S))


def _text(html: str) -> str:
    """The report without its embedded image data (base64 can contain any short string)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", html)


def _images(html: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(data)))
        for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    ]


def test_report_is_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", html, re.I)
    assert not re.search(r"<script|<link|<iframe|@import|url\(", html, re.I)
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))
    assert len(html.encode()) < 5_000_000
    for image in _images(html):
        assert image.format == "PNG" and image.size[0] >= 600


def test_header_shows_version_mode_disclaimer_and_warnings(html: str) -> None:
    assert "cnmri 0.1.0" in html
    assert "Decision support — not a diagnosis" in html
    assert "pre- and post-contrast" in html
    assert "bias field correction skipped" in html
    assert "skull_base_ncc" in html and "0.810" in html


def test_summary_has_every_nerve_and_side_with_abnormal_highlighted(html: str) -> None:
    summary = html.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<tr class="nerve-row" id="row-(CN\d+)"[^>]*>(.*?)</tr>', summary, re.S))
    assert list(rows) == list(NERVES)
    for nerve, row in rows.items():
        statuses = re.findall(r">(ABNORMAL|normal)<", row)
        if nerve == "CN7":
            # right first (radiological order), then left
            assert statuses == ["normal", "ABNORMAL"]
            assert 'class="abnormal"' in row and "0.97" in row and "canalicular" in row
            assert 'href="#images-CN7-left"' in row
        else:
            assert statuses == ["normal", "normal"]
            assert 'class="abnormal"' not in row
    assert "Patient's right" in summary and "Patient's left" in summary


def test_pattern_line(html: str) -> None:
    assert "Single nerve</b>: CN7 facial left" in html
    text = pattern_text({"kind": "multiple_nerves", "nerves": ["CN9-right", "CN7-left", "CN7-right", "CN9-left"]})
    assert text == "Multiple nerves: CN7 facial bilateral, CN9 glossopharyngeal bilateral"
    assert pattern_text({"kind": "normal", "nerves": []}).startswith("Normal")


def test_key_images_only_for_the_abnormal_nerve(html: str) -> None:
    sections = _sections(html)
    assert list(sections) == ["CN7-left"]
    assert sections["CN7-left"].count("<img") == 1
    assert "canalicular segment" in sections["CN7-left"]
    # one key figure plus the overview mosaic, nothing else
    assert html.count("<img") == 2
    assert 'class="figure mosaic"' in html


def test_segment_table_collapsible_with_all_measurements(html: str) -> None:
    details = dict(re.findall(r'<details class="nerve-detail" data-nerve="(CN\d+)"( open)?>', html))
    assert set(details) == set(NERVES)
    assert details["CN7"] == " open" and details["CN8"] == ""
    cn7 = html.split('data-nerve="CN7" open>', 1)[1].split("</details>", 1)[0]
    rows = re.findall(r'<tr class="(abnormal|normal)">(.*?)</tr>', cn7, re.S)
    assert [cls for cls, _ in rows] == ["normal", "abnormal"]  # right, then left
    left = rows[1][1]
    for shown in ("1.90", "2.10", "3.1", "0.45", "4.2", "3.0", "enhancement above the normal limit", "pons"):
        assert shown in left
    assert "−0.45" in rows[0][1]  # a true minus sign


@pytest.mark.usefixtures("fast_figures")
def test_physiologic_segments_are_marked(findings: dict[str, Any], report_images: ReportImages) -> None:
    findings["segments"][1]["physiologic_enhancement"] = True
    findings["segments"][1]["segment"] = "geniculate"
    out = render_report_html(findings, report_images)
    row = re.search(r'<tr class="normal"><td>right</td><td>geniculate(.*?)</td>', out, re.S)
    assert row is not None and 'class="badge"' in row.group(1) and "physiologic" in row.group(1)


def test_no_patient_identifiers_from_input_paths(html: str, findings: dict[str, Any]) -> None:
    text = _text(html)
    for identifier in ("Doe", "John", "1961", "Smith", "Jane", "patients", "PACS"):
        assert identifier not in text
    assert "pre.nii.gz" in html and "post.nii.gz" in html


@pytest.mark.usefixtures("fast_figures")
def test_dicom_inputs_show_series_not_uids(findings: dict[str, Any], report_images: ReportImages) -> None:
    findings["inputs"] = {
        "post": {
            "series_instance_uid": "1.2.826.0.1.3680043.8.498.1",
            "series_number": 7,
            "series_description": "T1 MPRAGE post",
            "patient_name": "Doe^John",
            "patient_id": "MRN-0042",
        }
    }
    out = render_report_html(findings, report_images)
    assert "series 7" in out and "T1 MPRAGE post" in out
    for leak in ("1.2.826.0.1.3680043.8.498.1", "Doe", "MRN-0042"):
        assert leak not in _text(out)


@pytest.mark.usefixtures("fast_figures")
def test_text_from_findings_is_escaped(findings: dict[str, Any], report_images: ReportImages) -> None:
    evil = '<script>alert("x")</script>'
    findings["segments"][0]["segment"] = evil
    findings["segments"][0]["reasons"] = [evil]
    findings["nerves"][0]["abnormal_segments"] = [evil]
    findings["warnings"] = [evil]
    findings["inputs"]["post"]["file"] = f"/tmp/{evil}.nii.gz"
    findings["software"]["version"] = evil
    keys = {v: (evil if k == "CN7-left-canalicular" else k) for v, k in report_images.label_keys.items()}
    centerlines = {evil if k == "CN7-left-canalicular" else k: v for k, v in report_images.centerlines_mm.items()}
    images = ReportImages(
        report_images.post,
        report_images.pre,
        report_images.enhancement,
        report_images.labels,
        keys,
        centerlines,
    )
    out = render_report_html(findings, images)
    assert "<script" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in out


@pytest.mark.usefixtures("fast_figures")
def test_clinical_fragment_in_its_own_section(findings: dict[str, Any], report_images: ReportImages) -> None:
    out = render_report_html(findings, report_images, clinical_html="<p id='cns'>CNS3</p>")
    # the fragment brings its own heading ("Clinical assessment"); no second one stacked above it
    assert "<section class=\"clinical\"><p id='cns'>CNS3</p></section>" in out


def test_post_only_mode(findings: dict[str, Any], report_images: ReportImages) -> None:
    findings = copy.deepcopy(findings)
    findings["mode"] = "post_only"
    del findings["inputs"]["pre"]
    images = ReportImages(
        report_images.post,
        None,
        None,
        report_images.labels,
        report_images.label_keys,
        report_images.centerlines_mm,
    )
    out = render_report_html(findings, images)
    assert "POST-CONTRAST ONLY" in out
    assert _sections(out)["CN7-left"].count("<img") == 1
    assert "no enhancement map" in out


@pytest.mark.usefixtures("fast_figures")
def test_normal_study_has_no_key_images(findings: dict[str, Any], report_images: ReportImages) -> None:
    for item in findings["nerves"]:
        item["abnormal"], item["abnormal_segments"] = False, []
    for seg in findings["segments"]:
        seg["abnormal"] = False
    findings["pattern"] = {"kind": "normal", "nerves": []}
    out = render_report_html(findings, report_images)
    assert _sections(out) == {}
    assert "No abnormal nerve" in out
    assert out.count("<img") == 1  # the mosaic only


# ------------------------------------------------------------------------------------------ figures


@pytest.fixture(scope="module")
def _panels() -> dict[str, list[list[figures.Panel]]]:
    return {}


@pytest.mark.parametrize("plane", figures.PLANES)
def test_outline_lies_on_the_projected_centreline(
    report_images: ReportImages,
    fake_centerlines: Lines,
    plane: figures.Plane,
    _panels: dict[str, list[list[figures.Panel]]],
) -> None:
    centerlines, radius = fake_centerlines
    key = "CN7-left-canalicular"
    line = centerlines[key]
    value = next(v for v, k in report_images.label_keys.items() if k == key)
    centre = (float(line[1][0]), float(line[1][1]), float(line[1][2]))
    if "panels" not in _panels:
        req = figures.KeyImageRequest("t", centre, frozenset({value}), frozenset())
        _panels["panels"] = figures.compose_key_panels(
            req, report_images.post, report_images.labels, report_images.enhancement, report_images.pre, 2.0
        )
    rows = _panels["panels"]
    assert len(rows) == 3 and [p.grid.plane for p in rows[0]] == list(figures.PLANES)
    panel = rows[0][figures.PLANES.index(plane)]
    assert panel.outline.any()
    # every outline pixel is on the tube's surface: within the radius (plus voxel discretisation)
    world = panel.grid.world_points()[panel.outline]
    assert distance_to_polyline(world, line).max() <= radius + 1.0
    # the centreline's projection falls inside the outline ...
    row, col, off = panel.grid.project(np.asarray([centre]))[0]
    assert off < 1e-6
    filled = ndimage.binary_fill_holes(panel.outline)
    assert filled[round(row), round(col)]
    # ... and the outline is painted in the outline colour on the post-contrast panel
    assert np.allclose(panel.rgb[panel.outline], figures.OUTLINE_COLOUR)


def test_axial_in_plane_centreline_projects_along_the_outline(
    report_images: ReportImages, fake_centerlines: Lines
) -> None:
    key = "CN7-left-canalicular"
    line = fake_centerlines[0][key]
    value = next(v for v, k in report_images.label_keys.items() if k == key)
    grid = figures.PlaneGrid("axial", (-25.0, -41.5, -32.5), 60.0, 60.0, 0.25)
    mask = figures.sample_mask(report_images.labels, {value}, grid)
    # the centreline points lying within 1 mm of this plane project inside the segment's mask
    dense = np.concatenate([np.linspace(a, b, 20) for a, b in itertools.pairwise(line)])
    proj = grid.project(dense)
    near = proj[proj[:, 2] < 1.0]
    assert len(near) >= 5
    assert mask[np.round(near[:, 0]).astype(int), np.round(near[:, 1]).astype(int)].all()


def test_radiological_orientation(fake_centerlines: Lines) -> None:
    """Patient's left (x < 0) on the image right in axial and coronal; anterior at the top/left."""
    for plane in ("axial", "coronal"):
        grid = figures.PlaneGrid(plane, (0.0, -41.5, -32.5), 100.0, 100.0, 0.5)
        left = grid.project(fake_centerlines[0]["CN7-left-canalicular"])
        right = grid.project(fake_centerlines[0]["CN7-right-canalicular"])
        assert (left[:, 1] > grid.shape[1] / 2).all() and (right[:, 1] < grid.shape[1] / 2).all()
        assert figures.ORIENTATION_LETTERS[plane][:2] == ("R", "L")
    axial = figures.PlaneGrid("axial", (0.0, 0.0, 0.0), 100.0, 100.0, 1.0)
    assert axial.project(np.array([[0.0, 20.0, 0.0]]))[0, 0] < 50  # anterior towards the top
    sagittal = figures.PlaneGrid("sagittal", (0.0, 0.0, 0.0), 100.0, 100.0, 1.0)
    ant_sup = sagittal.project(np.array([[0.0, 20.0, 20.0]]))[0]
    assert ant_sup[1] < 50 and ant_sup[0] < 50  # anterior on the left, superior at the top


def test_sampling_respects_the_affine(colin_crop: Any) -> None:
    """A flipped/permuted copy of the same image gives the same display slice."""
    grid = figures.PlaneGrid("coronal", (-25.0, -41.5, -32.5), 40.0, 40.0, 0.5)
    original = figures.sample(colin_crop, grid)
    # new array D'[k, n-1-i, j] = D[i, j, k]; its affine maps (k, i', j) to A @ (n-1-i', j, k)
    data = np.flip(np.transpose(np.asarray(colin_crop.data), (2, 0, 1)), axis=1)
    n = colin_crop.shape[0]
    to_old = np.array([[0, -1, 0, n - 1], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    moved = type(colin_crop)(data.copy(), colin_crop.affine @ to_old)
    assert np.allclose(figures.sample(moved, grid), original, equal_nan=True)


def test_mosaic_draws_every_segment(report_images: ReportImages) -> None:
    levels, spacing, _centre = figures.mosaic_slices(report_images.labels, 12)
    assert 1 <= len(levels) <= 12 and spacing > 0
    seen: set[int] = set()
    for z in levels:
        grid = figures.PlaneGrid("axial", (0.0, -41.5, z), 130.0, 110.0, 0.5)
        seen |= {int(v) for v in np.unique(figures.slab_labels(report_images.labels, grid, spacing)) if v}
    assert seen == set(report_images.label_keys)
    colours = figures.segment_colours(["CN7-left-a", "CN7-right-a", "CN7-left-b", "CN9-left-a"])
    assert colours["CN7-left-a"] == colours["CN7-right-a"] != colours["CN7-left-b"] != colours["CN9-left-a"]


def test_key_image_png_survives_dollar_signs_in_names(report_images: ReportImages) -> None:
    value = next(v for v, k in report_images.label_keys.items() if k == "CN7-left-canalicular")
    req = figures.KeyImageRequest(
        "CN7 $\\frac{a}{$ left",
        (-25.0, -41.5, -32.5),
        frozenset({value}),
        frozenset(),
        fov_mm=30.0,
        pixel_mm=0.5,
    )
    png = figures.key_image_png(req, report_images.post, report_images.labels, None, None, 1.0)
    assert Image.open(io.BytesIO(png)).format == "PNG"
