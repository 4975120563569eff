"""Ten people at once: one ``streamlit run app.py`` server, ten Chromium pages, ten different cases.

Each page loads its own case (the seven bundled examples, then CSV cuts of different lengths uploaded
under their own names), every case with its own note carrying a unique token. All pages press
Analyse together; each must then show its own case (sidebar case line, duration, note) and nothing
of another session's. Measured and written to ``concurrency.json`` in the test's tmp folder and
printed (see with ``-s``): time from the click to the verdict in the sidebar (p50, p95, max) and the
server's peak RSS (psutil, the server process and its children). No assertion on time: the figures
depend on the machine.

Run: ``pytest -m e2e --runslow tests/e2e/test_concurrent_sessions.py -s``.
``CARDIOLENS_E2E_SESSIONS`` sets the number of pages (default 10; e.g. 3 on a busy 2-core box).
Selectors are visible text and roles (the page code changes; its texts are the contract).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core import config

pytest.importorskip("playwright.async_api")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_SESSIONS = int(os.environ.get("CARDIOLENS_E2E_SESSIONS", "10"))
TIMEOUT_MS = 600_000  # Analyse -> verdict, 10 pages on 2 cores: generous, the figures are what matters
SETUP_TIMEOUT_MS = 180_000  # loading the page, choosing the case
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VERDICT = re.compile(r"\d+ s · \d+ beats · (normal|abnormal|not enough beats)")
# WFDB examples to cut uploads from, and the cut lengths (s): every upload differs in name, source and length
UPLOAD_SOURCES = ["nsr_100", "afib_219", "apb_232", "paced_107", "noisy_105", "pvc_bigeminy_200"]


@dataclass
class Case:
    """What one session loads and what it must show afterwards."""

    kind: str  # "example" or "upload"
    name: str  # example folder, or uploaded file path
    label: str  # the sidebar's "Case: ..." text
    duration_s: float
    note: str
    seconds: float = float("nan")  # click -> verdict
    verdict: str = ""


def _example_cases() -> list[Case]:
    out = []
    for d in sorted(p for p in config.EXAMPLES_DIR.iterdir() if (p / "case.json").is_file()):
        meta = json.loads((d / "case.json").read_text())
        dur = float(meta.get("duration_s") or 0.0)
        out.append(Case("example", d.name, f"example {d.name}", dur, ""))
    return out


def _upload_case(k: int, src: str, seconds: int, folder: Path) -> Case:
    """A CSV cut (time_s + leads, mV) of a bundled WFDB example, under a name of its own."""
    import wfdb

    rec = wfdb.rdrecord(str(config.EXAMPLES_DIR / src / src))
    n = int(seconds * rec.fs)
    sig = rec.p_signal[:n]
    t = np.arange(n) / rec.fs
    path = folder / f"session{k:02d}_{src}_{seconds}s.csv"
    header = "time_s," + ",".join(rec.sig_name)
    np.savetxt(path, np.column_stack([t, sig]), delimiter=",", header=header, comments="", fmt="%.5f")
    return Case("upload", str(path), f"upload {path.name}", float(seconds), "")


def _cases(n: int, folder: Path) -> list[Case]:
    """The seven examples, then uploads, to ``max(n, 10)``; fewer than ten sessions take a spread of both."""
    cases = _example_cases()
    k = len(cases)
    while len(cases) < max(n, 10):
        j = len(cases) - k
        cases.append(_upload_case(len(cases), UPLOAD_SOURCES[j % len(UPLOAD_SOURCES)], 20 + 10 * j, folder))
    if n < len(cases):
        cases = [cases[i] for i in np.unique(np.linspace(0, len(cases) - 1, n).round().astype(int))]
    for i, c in enumerate(cases):  # a token no other session has: a leak of the note is visible
        c.note = f"Session {i} note, token {uuid.uuid4().hex[:12]}: palpitations, no chest pain."
    return cases


def _server_process(port: int):
    """The ``streamlit run`` process started by the app_url fixture (a child of this pytest process)."""
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "streamlit" in cmd and str(port) in cmd:
            return p
    raise AssertionError(f"no streamlit server on port {port} among this process's children")


class RssSampler(threading.Thread):
    """Peak resident memory (bytes) of a process and its children, sampled every 0.2 s."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.peak, self.stop = proc, 0, threading.Event()

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.stop.wait(0.2)


async def _idle(page, timeout_s: float = 600.0) -> None:
    """Until the script run is over: no running indicator and no spinner for 0.6 s."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        busy = (await page.locator('[data-testid="stStatusWidget"]').count()
                or await page.locator('[data-testid="stSpinner"]').count())
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 0.6:
            return
        await page.wait_for_timeout(100)
    raise AssertionError("the app was still running after %.0f s" % timeout_s)


async def _prepare(page, case: Case, url: str) -> None:
    """Open the app and load the case into the form (not analysed yet)."""
    from playwright.async_api import expect

    await page.goto(url)
    await page.get_by_role("heading", name="Case", exact=True).wait_for(timeout=SETUP_TIMEOUT_MS)
    await _idle(page)
    note = page.get_by_label(re.compile("Clinical note"))
    if case.kind == "example":
        await page.get_by_text("Bundled example", exact=True).click()
        await _idle(page)
        await page.get_by_role("combobox", name="Example case").click()
        await page.get_by_role("option", name=re.compile(re.escape(case.name))).first.click()
        # the choice is through when the box holds that example's note (its callback fills it)
        own = (config.EXAMPLES_DIR / case.name / "note.txt").read_text(encoding="utf-8").strip()[:60]
        await expect(note).to_have_value(re.compile("^" + re.escape(own)), timeout=SETUP_TIMEOUT_MS)
    else:
        await page.get_by_text("Upload files", exact=True).click()
        await _idle(page)
        await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([case.name])
        # the upload is through when the page asks for the CSV's optional sampling rate
        await page.get_by_label(re.compile("Sampling rate")).wait_for(timeout=SETUP_TIMEOUT_MS)
    await _idle(page)
    await _set_note(page, case.note)


async def _set_note(page, text: str) -> None:
    """Type the note and make sure the server kept it (it travels on blur; a late rerun may reset it)."""
    note = page.get_by_label(re.compile("Clinical note"))
    for _ in range(5):
        if await note.input_value() != text:
            await note.fill(text)
            await note.press("Tab")
        await _idle(page)
        await page.wait_for_timeout(300)
        await _idle(page)
        if await note.input_value() == text:
            return
    raise AssertionError(f"the note box did not keep {text!r}")


async def _analyse(page, case: Case) -> None:
    """Press Analyse; time until the sidebar shows this case's line and a verdict."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    t0 = time.perf_counter()
    await page.get_by_role("button", name="Analyse").click()
    deadline = t0 + TIMEOUT_MS / 1000
    while time.perf_counter() < deadline:
        text = await sidebar.inner_text()
        m = VERDICT.search(text)
        if m and f"Case: {case.label}" in text:
            case.seconds, case.verdict = time.perf_counter() - t0, m.group(1)
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"{case.label}: no verdict {TIMEOUT_MS / 1000:.0f} s after Analyse")
    await _idle(page)


async def _shown(page) -> dict:
    """What the page shows now: the sidebar's case line, the Duration metric, the note, the whole HTML."""
    sidebar = await page.locator('[data-testid="stSidebar"]').inner_text()
    line = next((ln for ln in sidebar.splitlines() if ln.startswith("Case: ")), "")
    duration = await page.get_by_test_id("stMetric").filter(has_text="Duration").inner_text()
    return {"case_line": line.removeprefix("Case: ").strip(), "duration": duration,
            "note": await page.get_by_label(re.compile("Clinical note")).input_value(),
            "text": await page.locator("body").inner_text(), "html": await page.content(),
            "exceptions": await page.locator('[data-testid="stException"]').count()}


async def _drive(url: str, cases: list[Case]) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            contexts = [await browser.new_context(viewport={"width": 1280, "height": 900}) for _ in cases]
            pages = [await c.new_page() for c in contexts]
            for page in pages:
                page.set_default_timeout(SETUP_TIMEOUT_MS)
            await asyncio.gather(*(_prepare(pg, c, url) for pg, c in zip(pages, cases)))
            await asyncio.gather(*(_set_note(pg, c.note) for pg, c in zip(pages, cases)))  # still there
            # every form is filled: all press Analyse at the same moment
            await asyncio.gather(*(_analyse(pg, c) for pg, c in zip(pages, cases)))
            return list(await asyncio.gather(*(_shown(pg) for pg in pages)))
        finally:
            await browser.close()


def test_ten_sessions_at_once(app_url, tmp_path):
    cases = _cases(N_SESSIONS, tmp_path)
    assert len({c.label for c in cases}) == len({c.note for c in cases}) == N_SESSIONS  # all different
    server = _server_process(int(app_url.rsplit(":", 1)[1]))
    sampler = RssSampler(server)
    rss_before = sampler.rss()
    sampler.start()
    t0 = time.perf_counter()
    try:
        # Playwright's async API in a thread of its own: the sync fixtures of other tests own this one's loop
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            shown = ex.submit(asyncio.run, _drive(app_url, cases)).result()
    finally:
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - t0

    secs = np.array([c.seconds for c in cases])
    figures = {
        "sessions": N_SESSIONS, "cpu_count": os.cpu_count(),
        "click_to_verdict_s": {"p50": round(float(np.percentile(secs, 50)), 2),
                               "p95": round(float(np.percentile(secs, 95)), 2), "max": round(float(secs.max()), 2)},
        "per_session": [{"case": c.label, "seconds": round(c.seconds, 2), "verdict": c.verdict} for c in cases],
        "server_rss_mb": {"before": round(rss_before / 2**20), "peak": round(sampler.peak / 2**20)},
        "wall_s": round(wall, 1), "load_average_1min": round(os.getloadavg()[0], 2),
    }
    (tmp_path / "concurrency.json").write_text(json.dumps(figures, indent=1))
    print(f"\n[e2e] {N_SESSIONS} concurrent sessions: {json.dumps(figures, indent=1)}\n"
          f"[e2e] written to {tmp_path / 'concurrency.json'}")

    for c, s in zip(cases, shown):
        assert s["exceptions"] == 0, f"{c.label}: an exception is shown"
        assert s["case_line"] == c.label, f"session of {c.label} shows the case {s['case_line']!r}"
        assert f"{c.duration_s:.1f} s" in s["duration"], f"{c.label}: duration {s['duration']!r}, not {c.duration_s} s"
        assert s["note"] == c.note, f"{c.label}: the note box holds {s['note'][:80]!r}"
        for other in cases:  # nothing of another session: not its note token, not its case label or file
            if other is not c:
                token = other.note.split("token ")[1][:12]
                assert token not in s["html"] and token not in s["text"] and token not in s["note"], \
                    f"{c.label} shows the note of {other.label}"
                assert other.label not in s["text"], f"{c.label} shows the case of {other.label}"
                if other.kind == "upload":
                    assert Path(other.name).name not in s["html"], f"{c.label} shows the file of {other.label}"
