"""The real app in headless Chromium: load an example, upload a WFDB record with a note, visit every
page, edit a prompt, export the report; screenshots go to tests/e2e/screenshots/ (gitignored).

Also measures, in the browser, the time from pressing Analyse on the 10 s CSV example until the
result is shown and every page has been drawn once (printed; see the test output with -s).
"""
from __future__ import annotations

import re
import time

import pytest

from core import config

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.e2e

PAGES = ["Waveform", "Predictions", "Explanations", "Model card", "Report", "Case"]
WFDB_CASE = "pvc_bigeminy_200"


def _idle(page, timeout_s: float = 120.0) -> None:
    """Wait until the script run is over: no running indicator and no spinner for 0.6 s."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"]').count() or page.locator('[data-testid="stSpinner"]').count()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 0.6:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the app was still running after %.0f s" % timeout_s)


def _no_exception(page, where: str) -> None:
    n = page.locator('[data-testid="stException"]').count()
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert n == 0 and "Traceback" not in text, f"exception shown on {where}: {text[:800]}"


def _goto(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_timeout(200)
    _idle(page)
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)


def _shot(page, screenshots, name: str) -> None:
    """Whole page: the main area scrolls inside a fixed viewport, so grow the viewport to its height."""
    size = page.viewport_size
    h = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                      " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(h, size["height"]), 12000))})
    page.wait_for_timeout(400)  # plotly charts re-layout to the new size
    page.screenshot(path=str(screenshots / f"{name}.png"))
    page.set_viewport_size(size)


def _choose_example(page, name: str) -> None:
    page.get_by_text("Bundled example", exact=True).click()
    _idle(page)
    page.get_by_role("combobox", name="Example case").click()
    page.get_by_role("option", name=re.compile(re.escape(name))).first.click()
    _idle(page)


def test_full_walkthrough(app_url, browser, screenshots):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.get_by_role("heading", name="Case", exact=True).wait_for(timeout=90_000)
    _idle(page)
    _no_exception(page, "start")

    # 1. the 10 s CSV example: time Analyse -> result shown -> every page drawn once
    _choose_example(page, "short_10s_csv")
    t0 = time.perf_counter()
    page.get_by_role("button", name="Analyse").click()
    page.get_by_test_id("stMetric").filter(has_text="Beats found").wait_for(timeout=120_000)
    _idle(page)
    t_result = time.perf_counter() - t0
    _no_exception(page, "Case (CSV example)")
    _shot(page, screenshots, "01_case_csv")
    for k, title in enumerate(PAGES):
        _goto(page, title)
        _no_exception(page, title)
        _shot(page, screenshots, f"{k + 2:02d}_{title.lower().replace(' ', '_')}_csv")
    t_all = time.perf_counter() - t0
    print(f"\n[e2e] 10 s CSV example: result shown {t_result:.1f} s after Analyse; all pages drawn after {t_all:.1f} s")

    # 2. a bad upload (annotations without their header): a plain error, the case and the note stay
    folder = config.EXAMPLES_DIR / WFDB_CASE
    page.get_by_text("Upload files", exact=True).click()
    _idle(page)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files([str(folder / f"{WFDB_CASE}.atr")])
    _idle(page)
    page.get_by_label(re.compile("Clinical note")).fill("Note typed by hand.")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text(re.compile(r"cannot be read without its header")).first.wait_for(timeout=60_000)
    _idle(page)
    _no_exception(page, "Case (bad upload)")
    assert page.get_by_label(re.compile("Clinical note")).input_value() == "Note typed by hand."
    assert "example short_10s_csv" in page.locator('[data-testid="stSidebar"]').inner_text()
    _shot(page, screenshots, "09_case_bad_upload")
    uploader.set_input_files([])
    _idle(page)

    # 3. upload a WFDB record (.hea + .dat + .atr) and its note together
    files = [folder / f"{WFDB_CASE}.hea", folder / f"{WFDB_CASE}.dat", folder / f"{WFDB_CASE}.atr", folder / "note.txt"]
    uploader.set_input_files([str(f) for f in files])
    _idle(page)
    note_box = page.get_by_label(re.compile("Clinical note"))
    expect(note_box).to_have_value(re.compile(re.escape((folder / "note.txt").read_text().strip()[:60])), timeout=30_000)
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text(f"upload {WFDB_CASE}").first.wait_for(timeout=120_000)
    _idle(page)
    _no_exception(page, "Case (upload)")
    metrics = page.get_by_test_id("stMetric").filter(has_text="Duration").inner_text()
    assert "150.0 s" in metrics
    _shot(page, screenshots, "10_case_upload")

    _goto(page, "Waveform")
    _no_exception(page, "Waveform (upload)")
    nxt = page.get_by_role("button", name=re.compile("next flagged"))
    (nxt if nxt.is_enabled() else page.get_by_role("button", name="10 s ▶")).click()  # no flagged beat: page on
    _idle(page)
    _no_exception(page, "Waveform (next flagged)")
    _shot(page, screenshots, "11_waveform_upload")

    # 4. edit a prompt label in the data editor: the new label must reach the zero-shot chart
    _goto(page, "Predictions")
    _no_exception(page, "Predictions (upload)")
    editor = page.locator('[class*="st-key-prompt_editor"] [data-testid="stDataFrame"]')
    editor.scroll_into_view_if_needed()
    _idle(page)
    # first data row, 'label' column: just right of the row-number column, one row below the header
    cell_editor = page.locator("textarea.gdg-input")
    for _ in range(3):
        editor.dblclick(position={"x": 60, "y": 35 + 17})
        try:
            cell_editor.wait_for(timeout=5_000)
            break
        except Exception:  # the grid was re-drawn under the pointer: try again
            page.wait_for_timeout(500)
    cell_editor.fill("NEWLABEL")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    _idle(page)
    _no_exception(page, "Predictions (edited prompt)")
    try:
        page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                               ".some(p => p.textContent.includes('NEWLABEL'))", timeout=60_000)
    finally:
        _shot(page, screenshots, "12_predictions_edited_prompt")


    _goto(page, "Explanations")
    _no_exception(page, "Explanations (upload)")
    for label in ("Compute integrated gradients for the note", "Compute the record-level SHAP summary"):
        page.get_by_role("button", name=label).click()
        page.wait_for_timeout(300)
        _idle(page, timeout_s=240)
        _no_exception(page, f"Explanations ({label})")
    assert page.get_by_text("Where they agree").count() == 1
    _shot(page, screenshots, "13_explanations_upload")

    # 5. export the report
    _goto(page, "Report")
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name=re.compile("Download the HTML report")).click()
    path = screenshots / "report.html"
    dl.value.save_as(str(path))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and WFDB_CASE in text
    assert text.count("<script type=\"text/javascript\">/**") <= 1  # plotly.js inlined once
    _no_exception(page, "Report")

    # the report opens offline and draws its figures
    rpage = ctx.new_page()
    rpage.goto(path.as_uri())
    rpage.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert rpage.locator(".js-plotly-plot").count() >= 4
    rpage.screenshot(path=str(screenshots / "14_report_html.png"), full_page=True)
    ctx.close()
