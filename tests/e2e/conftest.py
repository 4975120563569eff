"""Start the real app (``streamlit run app.py``) on a free localhost port for the browser tests.

The browser tests run when asked for (``pytest -m e2e``), with ``--runslow`` or when ``CI=true``; they
need Debian's Chromium at /usr/bin/chromium and the ``playwright`` package, and are skipped with a
reason otherwise. The app loads the shipped model, or a random one when none is shipped
(``CARDIOLENS_MODEL_DIR``).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core import config

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _wanted(cfg) -> bool:
    return ("e2e" in (cfg.getoption("markexpr") or "") or cfg.getoption("--runslow")
            or os.environ.get("CI", "").lower() == "true")


def pytest_collection_modifyitems(config, items):
    skip = None
    if not _wanted(config):
        skip = pytest.mark.skip(reason="browser test: run with -m e2e (or --runslow, or CI=true)")
    elif not CHROMIUM.is_file():
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install -y chromium")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            skip = pytest.mark.skip(reason="the playwright package is missing: pip install playwright")
    if skip is not None:
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppDidNotStart(RuntimeError):
    """The ``streamlit run`` process exited or was not healthy in time; the message ends with its log."""


@contextlib.contextmanager
def start_app(log: Path, bundle_dir: Path | None = None, timeout_s: float = 90.0):
    """Run ``streamlit run app.py`` on a free localhost port (the shipped model, or ``bundle_dir``);
    yields its URL once ``/_stcore/health`` answers, and stops the server afterwards."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if bundle_dir is not None:
        env["CARDIOLENS_MODEL_DIR"] = str(bundle_dir)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=config.REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AppDidNotStart(f"the app did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def app_url(bundle_dir, tmp_path_factory):
    """URL of a freshly started app; the server is stopped after the session."""
    try:
        with start_app(tmp_path_factory.mktemp("server") / "streamlit.log", bundle_dir) as url:
            yield url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
