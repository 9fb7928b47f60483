"""report.html and its sections come from autoescaping package templates; assess/ makes no markup.

Hostile strings go into every field of the findings, the clinical result and the comparison that reaches
the page; the page is then parsed and must hold only the markup the templates write.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cnmri.assess.clinical import evaluate_case, load_case
from cnmri.commands.demo import demo_clinical_case
from cnmri.report import figures, templating
from cnmri.report.clinical_html import render_clinical_html
from cnmri.report.compare import compare_findings, render_comparison_html, render_comparison_section
from cnmri.report.html import ReportImages, render_report_html

SRC = Path(__file__).resolve().parents[2] / "src" / "cnmri"
PAYLOADS = (
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(2)>",
    "</style><style>body{background:url(https://evil.example/x)}",
    "{{ 7*7 }}{% raw %}",  # template syntax in data must stay text (data is never compiled)
    "&amp; <!-- -->",
)
EVIL = "".join(PAYLOADS)
#: Every element the templates write; anything else in a page came from data.
TEMPLATE_TAGS = frozenset(
    {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "header",
        "h1",
        "h2",
        "h3",
        "div",
        "span",
        "b",
        "a",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "section",
        "img",
        "details",
        "summary",
        "ul",
        "ol",
        "li",
        "br",
        "small",
        "strong",
        "footer",
    }
)


class _Page(HTMLParser):
    """Collects elements, attributes and text of a page (entities decoded, as a browser sees them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _assert_only_template_markup(html: str) -> _Page:
    page = _parse(html)
    assert {tag for tag, _ in page.tags} <= TEMPLATE_TAGS
    assert [tag for tag, _ in page.tags].count("style") == 1  # the stylesheet; nothing closed it early
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,")
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#")
    assert page.comments == []  # "<!--" in data would have opened one
    return page


def _poison(value: Any) -> Any:
    """Every string in a nested structure prefixed with the hostile payloads (numbers kept)."""
    if isinstance(value, str):
        return EVIL + value
    if isinstance(value, list):
        return [_poison(item) for item in value]
    if isinstance(value, dict):
        return {key: _poison(item) for key, item in value.items()}
    return value


@pytest.fixture()
def tiny_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    monkeypatch.setattr(figures, "key_image_png", lambda *a, **k: buffer.getvalue())
    monkeypatch.setattr(figures, "overview_mosaic_png", lambda *a, **k: buffer.getvalue())


def _hostile_findings(findings: dict[str, Any]) -> dict[str, Any]:
    hostile = copy.deepcopy(findings)
    for seg in hostile["segments"]:
        seg["segment"] = EVIL + seg["segment"]
        seg["reasons"] = [EVIL]
        seg["side"] = seg["side"]  # sides select the table columns; kept so rows are drawn
        seg["computed_from"] = {EVIL: EVIL, "sequences": [EVIL], "roi_voxels": EVIL}
        seg["enhancement"] = EVIL  # a non-number where a number belongs is shown as text
    for item in hostile["nerves"]:
        item["abnormal_segments"] = [EVIL]
        item["score"] = EVIL
    hostile["nerves"].append({"nerve": EVIL, "side": EVIL, "abnormal": True, "abnormal_segments": [EVIL]})
    hostile["segments"].append(dict(hostile["segments"][0], nerve=EVIL, side="left"))
    hostile["schema_version"] = EVIL
    hostile["software"] = {"name": EVIL, "version": EVIL}
    hostile["mode"] = EVIL
    hostile["inputs"] = {
        "pre": {"file": f"/data/{EVIL}/{EVIL}.nii.gz"},
        "post": {"series_number": EVIL, "series_description": EVIL},
        EVIL: EVIL,
    }
    hostile["pattern"] = {"kind": EVIL, "nerves": [f"{EVIL}-left", "CN7-" + EVIL]}
    hostile["registration"] = {EVIL: EVIL, "status": EVIL}
    hostile["warnings"] = [EVIL]
    return hostile


@pytest.mark.usefixtures("tiny_figures")
def test_hostile_strings_in_every_field_stay_text(findings: dict[str, Any], report_images: ReportImages) -> None:
    hostile = _hostile_findings(findings)
    keys = {
        value: (EVIL + key if key.startswith("CN7-left") else key) for value, key in report_images.label_keys.items()
    }
    images = ReportImages(
        report_images.post,
        report_images.pre,
        report_images.enhancement,
        report_images.labels,
        keys,
        dict(report_images.centerlines_mm),
    )
    clinical = render_clinical_html(_poison(evaluate_case(load_case(demo_clinical_case()))))
    numeric = copy.deepcopy(hostile)
    for seg in numeric["segments"]:
        seg["enhancement"] = 1.0  # the comparison refuses non-numbers; names stay hostile
    comparison = compare_findings(numeric, numeric)
    comparison["warnings"] = [EVIL]
    comparison["summary"]["overall"] = EVIL
    html = render_report_html(
        hostile, images, clinical_html=clinical, comparison_html=render_comparison_section(comparison, None)
    )
    page = _assert_only_template_markup(html)
    text = "".join(page.text)
    # each payload is on the page as readable text, once per field it was put into
    assert text.count(EVIL) >= 20
    assert "{{ 7*7 }}{% raw %}" in text
    # the whole clinical result went through the template too: its notice, status, steps, differential
    assert "Clinical assessment" in text and "Differential diagnosis" in text
    assert html.count("<h2>Clinical") == 1  # one heading for the section, not a wrapper's and the fragment's


def test_hostile_comparison_page_stays_text(findings: dict[str, Any]) -> None:
    hostile = _hostile_findings(findings)
    hostile["nerves"] = findings["nerves"]
    hostile["segments"] = [dict(s, enhancement=1.0) for s in hostile["segments"] if s["nerve"] == "CN7"]
    result = compare_findings(hostile, hostile)
    result["warnings"] = [EVIL]
    html = render_comparison_html(result, b"\x89PNG\r\n\x1a\n")
    page = _assert_only_template_markup(html)
    assert EVIL in "".join(page.text)


def test_clinical_section_escapes_every_field() -> None:
    result = _poison(evaluate_case(load_case(demo_clinical_case())))
    assert "cns_relapse" in result  # the on-therapy case: every part of the section is present
    html = render_clinical_html(result)
    page = _assert_only_template_markup(f"<html><head><style></style></head><body>{html}</body></html>")
    text = "".join(page.text)
    for line in result["cns_relapse"]["rationale"] + result["cns_status"]["sources"]:
        assert line.strip() in text
    for item in result["differential"]:
        assert item["label"] in text
    for step in result["next_steps"]:
        assert step["step"] in text and step["reason"] in text


@pytest.mark.usefixtures("tiny_figures")
def test_stylesheet_is_inlined_and_nothing_is_fetched(findings: dict[str, Any], report_images: ReportImages) -> None:
    css = resources.files("cnmri.report").joinpath("templates", "report.css").read_text(encoding="utf-8")
    assert ".disclaimer" in css and "--abn" in css  # the real stylesheet, not an empty file
    html = render_report_html(findings, report_images)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert styles == [css]
    assert not re.search(
        r"<link|<script|@import|url\(|https?:|//[a-z]", re.sub(r"data:image/png;base64,[^\"]+", "", html), re.I
    )
    page = _parse(html)
    for _tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:image/png;base64,", "#"))


def test_templates_and_stylesheets_reference_nothing_outside_the_page() -> None:
    folder = resources.files("cnmri.report").joinpath("templates")
    names = sorted(entry.name for entry in folder.iterdir())
    assert {"report.html", "report.css", "clinical.html", "comparison.html", "comparison.css"} <= set(names)
    for name in names:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"https?:|<link|<script|@import|url\(", text, re.I), name


def test_templates_autoescape_and_fail_on_unknown_variables() -> None:
    autoescape = templating.environment().autoescape
    assert callable(autoescape)
    for name in ("report.html", "clinical.html", "comparison.html", "comparison_section.html"):
        assert autoescape(name) is True
    assert autoescape("future.txt") is True  # any other template escapes too (the stylesheet is no template)
    with pytest.raises(Exception, match="css"):
        templating.render("report.html")  # a missing value is an error, never an empty string


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


HTML_TAG = re.compile(r"</?(section|div|p|ul|ol|li|h[1-6]|table|tr|td|th|span|strong|details|summary|br|img)\b[^>]*>")


def test_assess_makes_no_markup() -> None:
    files = sorted((SRC / "assess").rglob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _imports(tree)
        assert not {m for m in imported if m.split(".")[0] in ("html", "jinja2", "markupsafe")}, path
        assert not {m for m in imported if m.startswith("cnmri.report")}, path
        strings = [
            node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        assert not [s for s in strings if HTML_TAG.search(s)], path


def test_importing_assess_loads_no_markup_code() -> None:
    code = (
        "import sys\n"
        "from cnmri.assess.clinical import evaluate_case, load_case, render_clinical_text\n"
        "render_clinical_text(evaluate_case(load_case(sys.argv[1])))\n"
        "print(sorted(m for m in sys.modules if m in ('jinja2', 'markupsafe') or m.startswith('cnmri.report')))\n"
    )
    case = str(demo_clinical_case())
    out = subprocess.run([sys.executable, "-c", code, case], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_former_address_of_the_clinical_renderer_still_works() -> None:
    import cnmri.assess.clinical as clinical

    assert clinical.render_clinical_html is render_clinical_html
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = clinical.no_such_name  # type: ignore[attr-defined]
