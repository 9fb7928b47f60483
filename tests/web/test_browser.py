"""End-to-end in a real browser: Debian's chromium driven by Playwright (no browser download), WebGL in
software (SwiftShader). Opens the study list, a study, clicks a segment row and checks that the viewer's
crosshair moved to that segment, clicks in the viewer and checks the table followed, submits the clinical
form, opens the follow-up comparison; saves the screenshots that docs/viewer.md shows.

Skipped when chromium or playwright is missing; CI installs both (.ci/run, pyproject dev extra).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL2 without a GPU: ANGLE on SwiftShader (newer Chromium no longer falls back to it by itself).
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
TOKEN = "test-token-0123456789abcdef"  # the token the app fixture is built with (conftest.py)
# Software WebGL on 2 shared cores is slow; the limit is generous, speed is measured in benchmarks/.
VIEWER_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    # While WebGL (in software) builds textures the page does not respond; allow for it in every action.
    page.set_default_timeout(VIEWER_TIMEOUT_S * 1000)
    page.outside_requests = []
    page.console_errors = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server, "data:", "blob:")) else page.outside_requests.append(r.url),
    )
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


def wait_for_viewer(page: Any) -> None:
    """Poll the page's ready flag (the CSP forbids the eval that wait_for_function would need)."""
    deadline = time.monotonic() + VIEWER_TIMEOUT_S
    # a click that navigates returns once the new document is committed, before it is parsed
    page.wait_for_load_state("domcontentloaded")
    while time.monotonic() < deadline:
        try:
            state = page.evaluate(
                "document.body ? [document.body.dataset.viewerReady || '', document.body.dataset.viewerError || '']"
                " : ['', '']"
            )
        except Exception as err:  # playwright's Error: the document was replaced while asked
            if "context was destroyed" not in str(err):
                raise
            continue
        if state[1]:
            raise AssertionError(f"viewer failed: {state[1]}")
        if state[0]:
            return
        time.sleep(0.25)
    raise AssertionError(f"viewer not ready after {VIEWER_TIMEOUT_S} s")


def wait_until(page: Any, expression: str, timeout_s: float = VIEWER_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.evaluate(f"Boolean({expression})"):
            return
        time.sleep(0.25)
    raise AssertionError(f"still false after {timeout_s} s: {expression}")


def crosshair_mm(page: Any) -> list[float]:
    return [float(v) for v in page.evaluate("window.cnmriViewer.crosshairMm()")]


def test_study_list_to_viewer_to_segment_and_back(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/?token={TOKEN}")
    assert "token=" not in page.url, "the token is dropped from the address bar"
    assert page.locator("table.studies tbody tr").count() == 4
    page.screenshot(path=str(FIGURES / "viewer_study_list.png"))

    page.click("text=patient-a_2024-01_baseline")
    wait_for_viewer(page)
    # Click the row of the left canalicular facial nerve: the crosshair goes to that segment's centre.
    row = page.locator('#segments tr[data-key="CN7-left-canalicular"]')
    target = [float(v) for v in row.get_attribute("data-centre").split(",")]
    row.click()
    moved = crosshair_mm(page)
    assert max(abs(a - b) for a, b in zip(moved, target, strict=True)) < 1.0, (moved, target)
    assert "selected" in row.get_attribute("class")
    assert page.evaluate("window.cnmriViewer.viewer.lastLocation.values[1].value") == int(
        row.get_attribute("data-label")
    )
    page.screenshot(path=str(FIGURES / "viewer_study.png"))

    # The other way: a crosshair move inside the viewer (as a click there does) selects that segment's row.
    other = page.locator('#segments tr[data-key="CN9-right-cisternal"]')
    centre = [float(v) for v in other.get_attribute("data-centre").split(",")]
    page.evaluate(f"window.cnmriViewer.centreOn({centre})")
    assert "selected" in other.get_attribute("class")
    assert "selected" not in row.get_attribute("class")

    # A real mouse click on the canvas moves the crosshair and the readout names what is under it.
    before = crosshair_mm(page)
    box = page.locator("#gl").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.25)
    assert crosshair_mm(page) != before
    assert page.locator("#location").inner_text().startswith("RAS ")
    # Whatever the click landed on, the highlighted row is the label under the crosshair (or none on label 0).
    under = round(page.evaluate("window.cnmriViewer.viewer.lastLocation.values[1].value"))
    selected = page.locator("#segments tr.selected")
    if under:
        assert selected.get_attribute("data-label") == str(under)
    else:
        assert selected.count() == 0

    # The enhancement image replaces the post image under the same overlay, at the same crosshair.
    page.evaluate(f"window.cnmriViewer.centreOn({target})")
    page.select_option("#background", "enhancement")
    wait_until(page, "window.cnmriViewer.viewer.nv.volumes[0]?.name === 'enhancement.nii.gz'")
    assert page.evaluate("window.cnmriViewer.viewer.nv.volumes.length") == 2
    assert max(abs(a - b) for a, b in zip(crosshair_mm(page), target, strict=True)) < 1.0
    # "abnormal segments only" hides the normal segments: their LUT alpha drops to 0, abnormal ones stay opaque.
    normal = int(page.locator('#segments tr[data-key="CN2-right-prechiasmatic"]').get_attribute("data-label"))
    page.check("#abnormal-only")
    lut = "window.cnmriViewer.viewer.nv.volumes[1].colormapLabel.lut"
    wait_until(page, f"{lut}[{normal} * 4 + 3] === 0")
    assert page.evaluate(f"{lut}[{int(row.get_attribute('data-label'))} * 4 + 3]") == 255
    assert page.outside_requests == []
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_clinical_form_in_the_browser(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/?token={TOKEN}")
    page.click("text=patient-a_2024-01_baseline")
    wait_for_viewer(page)  # while WebGL builds its textures in software, the page does not respond
    page.select_option('select[name="disease.type"]', "B-ALL")
    page.fill('input[name="csf.wbc_per_ul"]', "12")
    page.fill('input[name="csf.rbc_per_ul"]', "0")
    page.select_option('select[name="csf.blasts"]', "yes")
    page.fill('input[name="exam.cranial_nerve_palsies"]', "CN7-left")
    page.click("text=Assess CNS status and differential")
    result = page.locator("#clinical-result")
    # COG: CSF WBC >= 5/µL with blasts and RBC < 10/µL is CNS3.
    assert "CNS status (COG): CNS3" in result.locator("p.cns").inner_text()
    wait_for_viewer(page)  # the answer page has the viewer too; let it settle before the screenshot
    page.evaluate("document.getElementById('clinical-result').scrollIntoView()")
    page.screenshot(path=str(FIGURES / "viewer_clinical.png"))


def test_follow_up_side_by_side(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/?token={TOKEN}")
    page.check('input[aria-label="compare patient-a_2024-01_baseline"]')
    page.check('input[aria-label="compare patient-a_2024-04_followup"]')
    page.click("text=Compare side by side")
    wait_for_viewer(page)
    assert page.locator("#changes tr.cat-resolved").count() >= 2
    page.locator("#changes tr.cat-resolved").first.click()
    positions = page.evaluate(
        "window.cnmriViewers.map((v) => Array.from(v.nv.frac2mm(v.nv.scene.crosshairPos)).slice(0, 3))"
    )
    assert max(abs(a - b) for a, b in zip(positions[0], positions[1], strict=True)) < 1.0
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(FIGURES / "viewer_compare.png"))
