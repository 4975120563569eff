"""Browser benchmark: the real app (``streamlit run app.py``) in headless Chromium, one user.

    python -m scripts.bench_browser [--repeats 5]

Measures (wall clock in the browser, median and max over repeats):
- first Analyse after the server started (the model and BERT load on it) on the default example;
- warm Analyse on the default example: the note gets a different filler sentence each repeat, so the case
  cache (keyed by content hash and note) misses and the whole analysis runs again;
- each page drawn after switching to it (click in the sidebar -> heading shown and the script run over).
"Verdict shown" is the sidebar's case summary with the verdict, drawn on the rerun after Analyse.
Needs /usr/bin/chromium and the playwright package. Not a test: it asserts nothing about time.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_app  # the e2e tests' server and flags
from tests.e2e.test_browser import PAGES, _idle


def _analyse(page, note: str) -> float:
    """Seconds from pressing Analyse to the sidebar showing the verdict (and the run being over)."""
    box = page.get_by_label(re.compile("Clinical note"))
    box.fill(note)
    box.blur()
    _idle(page)
    side = page.locator('[data-testid="stSidebar"]')
    t0 = time.perf_counter()
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("Analysis done", exact=False).first.wait_for(timeout=180_000)
    side.get_by_text(re.compile(r"beats · (normal|abnormal)")).first.wait_for(timeout=60_000)
    dt = time.perf_counter() - t0
    _idle(page)
    return dt


def _switch(page, title: str) -> float:
    """Seconds from the sidebar click to the page's heading shown with the script run over (the first
    moment with no running indicator; ``_idle``'s 0.6 s of quiet is waited for afterwards, not timed)."""
    t0 = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
    busy = '[data-testid="stStatusWidget"], [data-testid="stSpinner"]'
    while page.locator(busy).count():
        page.wait_for_timeout(20)
    dt = time.perf_counter() - t0
    _idle(page)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description="Browser benchmark of the dashboard (one user)")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp(prefix="cardiolens_bench_")) / "streamlit.log"
    with start_app(log) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(120_000)
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="Case", exact=True).wait_for(timeout=120_000)
        _idle(page)
        t_load = time.perf_counter() - t0
        base = page.get_by_label(re.compile("Clinical note")).input_value()
        t_first = _analyse(page, base)
        side = page.locator('[data-testid="stSidebar"]').inner_text()
        case_line = next((ln for ln in side.splitlines() if ln.startswith("Case:")), "Case: ?")
        warm = [_analyse(page, f"{base}\nFiller sentence number {k}.") for k in range(a.repeats)]
        switch: dict[str, list[float]] = {p: [] for p in PAGES}
        for _ in range(a.repeats):
            for title in PAGES:
                switch[title].append(_switch(page, title))
        browser.close()

    def fmt(xs: list[float]) -> str:
        return f"p50 {statistics.median(xs):.2f} s, max {max(xs):.2f} s (n={len(xs)})"

    print(f"default example: {case_line}")
    print(f"app first load (page open -> Case page drawn): {t_load:.2f} s")
    print(f"first Analyse after server start, default example (models load): {t_first:.2f} s")
    print(f"warm Analyse, default example, cache missed: {fmt(warm)}")
    for title, xs in switch.items():
        print(f"page drawn after switching to {title}: {fmt(xs)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
