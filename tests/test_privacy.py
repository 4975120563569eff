"""Privacy: an uploaded case leaves nothing behind on disk and nothing goes over the network.

- Uploads (``{filename: bytes}`` of a WFDB record, a zip of it, a CSV) read with ``core.io.read_record``
  and analysed with ``core.predict.analyse_case`` leave no new file in the temp folder, the repository
  or ``~/.cache``; every file the process opened for writing meanwhile (seen by an audit hook) was
  inside the temp folder and is gone again.
- The same through the Case page (Streamlit ``AppTest``: upload, Analyse).
- Loading the model and the note BERT and analysing a case open no socket (the default BERT loads with
  ``local_files_only``); importing ``core`` changes no environment variable; Streamlit's usage
  statistics are off.

The temp folder is redirected to a fresh private one for each test (``tempfile.tempdir`` and
``TMPDIR``), so files made by other programs on a shared machine cannot make the test fail, and the
system temp folder is checked too, for entries that this process wrote.
"""
from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import config

EXAMPLE = "pvc_bigeminy_200"
CSV_EXAMPLE = "short_10s_csv"
_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", "node_modules"}

# ---- what the process writes: an audit hook (hooks cannot be removed, so it is gated by a list) ----
_written: list[str] | None = None
_lock = threading.Lock()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    if _written is None:
        return
    path = None
    if event == "open" and len(args) >= 3:
        p, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and isinstance(p, (str, bytes, os.PathLike)):
            path = p
    elif event == "os.mkdir" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        if not os.path.exists(args[0]):  # makedirs(exist_ok=True) on an existing folder writes nothing
            path = args[0]
    elif event in ("os.rename", "shutil.copyfile", "shutil.move") and len(args) > 1:
        path = args[1]
    if path is not None:
        with _lock:
            _written.append(os.fsdecode(os.fspath(path)))


sys.addaudithook(_audit)


def _tree(root: Path, skip_prefixes: tuple[str, ...] = ()) -> set[str]:
    """Every file and folder under ``root`` (relative paths), skipping caches of tools and ``skip_prefixes``."""
    out: set[str] = set()
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        rel = os.path.relpath(dirpath, root)
        if rel != "." and rel.startswith(skip_prefixes):
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return out


def _top_entries(folder: Path) -> set[str]:
    try:
        return {p.name for p in folder.iterdir() if not p.name.startswith("pytest-of-")}
    except OSError:
        return set()


class NoTrace:
    """Snapshot before / after a block: new paths in the private temp folder, the repo, ~/.cache and
    (if written by this process) the system temp folder; plus the files the block opened for writing."""

    def __init__(self, private_tmp: Path, system_tmp: Path):
        self.private_tmp, self.system_tmp = private_tmp, system_tmp
        self.cache = Path.home() / ".cache"

    def __enter__(self):
        global _written
        self.before = {"tmp": _tree(self.private_tmp), "repo": _tree(config.REPO_ROOT), "cache": _tree(self.cache),
                       "system": _top_entries(self.system_tmp)}
        with _lock:
            _written = []
        return self

    def __exit__(self, *exc):
        global _written
        with _lock:
            self.written, _written = list(_written or []), None
        return False

    def leftovers(self) -> dict[str, list[str]]:
        now = {"tmp": _tree(self.private_tmp), "repo": _tree(config.REPO_ROOT), "cache": _tree(self.cache),
               "system": _top_entries(self.system_tmp)}
        new = {k: sorted(now[k] - self.before[k]) for k in now}
        # Other programs share the system temp folder: count only entries this process wrote to.
        new["system"] = [n for n in new["system"]
                         if any(Path(w).resolve().is_relative_to((self.system_tmp / n).resolve()) for w in self.written)]
        return {k: v for k, v in new.items() if v}

    def assert_clean(self) -> None:
        left = self.leftovers()
        assert not left, f"files left behind: {left}"
        still = [w for w in self.written if os.path.exists(w)]
        assert not still, f"files written during the upload still exist: {still}"
        outside = [w for w in self.written if not Path(w).resolve().is_relative_to(self.private_tmp.resolve())]
        assert not outside, f"files written outside the temp folder: {outside}"


@pytest.fixture
def private_tmp(monkeypatch):
    """A fresh, empty temp folder that ``tempfile`` (and child libraries through TMPDIR) will use."""
    system = Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix="cl-privacy-"))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    yield folder, system
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def models(bundle_dir):
    from core.model.bundle import load_bundle
    from core.text.encoder import load_text_encoder

    bundle = load_bundle(bundle_dir)
    return bundle, load_text_encoder(bundle.config.text_model, bundle.config.pooling)


def _wfdb_upload() -> dict[str, bytes]:
    folder = config.EXAMPLES_DIR / EXAMPLE
    return {f"{EXAMPLE}{ext}": (folder / f"{EXAMPLE}{ext}").read_bytes() for ext in (".hea", ".dat", ".atr")}


def _zip_upload() -> dict[str, bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in _wfdb_upload().items():
            z.writestr(f"record/{name}", data)
    return {"record.zip": buf.getvalue()}


def _csv_upload() -> dict[str, bytes]:
    return {"ecg.csv": (config.EXAMPLES_DIR / CSV_EXAMPLE / "ecg.csv").read_bytes()}


UPLOADS = {"wfdb": (_wfdb_upload, EXAMPLE), "zip": (_zip_upload, EXAMPLE), "csv": (_csv_upload, CSV_EXAMPLE)}


@pytest.mark.parametrize("kind", list(UPLOADS))
def test_upload_read_and_analyse_leave_no_files(kind, models, private_tmp):
    from core.io import read_record
    from core.predict import analyse_case

    bundle, enc = models
    make, example = UPLOADS[kind]
    upload = make()
    note = (config.EXAMPLES_DIR / example / "note.txt").read_text(encoding="utf-8")
    with NoTrace(*private_tmp) as trace:
        rec = read_record(upload)
        case = analyse_case(rec, note, bundle, enc)
    # the upload was really read and analysed
    assert rec.fs == 360.0 and rec.n_leads == 2
    if kind == "csv":
        assert abs(rec.duration_s - 10.0) < 0.01 and rec.annotations is None
    else:
        assert abs(rec.duration_s - 150.0) < 0.01 and rec.annotations is not None
        assert 190 <= len(case.table) <= 230  # 209 reference beats in this strip
    assert case.view == "fused" and np.isfinite(case.table["p_abnormal"]).all()
    if kind != "csv":
        # WFDB needs real files: the reader wrote them, and only into its temporary folder
        assert any(Path(w).name.endswith(".dat") for w in trace.written)
    trace.assert_clean()


def test_case_page_upload_leaves_no_files(bundle_dir, private_tmp, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CARDIOLENS_MODEL_DIR", str(bundle_dir))
    at = AppTest.from_file(str(config.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()  # loads the models (cached per process) before the snapshot
    assert not at.exception
    at.radio(key="source_choice").set_value("Upload files").run()
    files = [(n, d, "application/octet-stream") for n, d in _wfdb_upload().items()]
    files.append(("note.txt", b"Palpitations; bigeminy on Holter.", "text/plain"))
    with NoTrace(*private_tmp) as trace:
        at.file_uploader(key="upload").set_value(files).run()
        assert at.text_area(key="note_input").value == "Palpitations; bigeminy on Holter."  # the .txt became the note
        next(b for b in at.button if b.label == "Analyse").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    case = at.session_state["case"]
    assert at.session_state["case_label"].startswith("upload ")
    assert case.record.name == EXAMPLE and case.view == "fused"
    assert {m.label: m.value for m in at.metric}["Beats found"] == str(len(case.table))
    trace.assert_clean()


def test_no_network_when_loading_models_and_analysing(bundle_dir, monkeypatch):
    attempts: list = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError(f"network use in a privacy test: connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    from core.io import read_record
    from core.model.bundle import load_bundle
    from core.predict import analyse_case
    from core.text.encoder import load_text_encoder

    bundle = load_bundle(bundle_dir)
    enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    folder = config.EXAMPLES_DIR / CSV_EXAMPLE
    case = analyse_case(read_record(folder / "ecg.csv"), (folder / "note.txt").read_text(), bundle, enc)
    assert len(case.table) >= 10 and case.note is not None
    assert attempts == []


def test_importing_core_changes_no_environment_variable():
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = ("import os, sys; before = dict(os.environ); import core.text.encoder, core.predict, core.cli; "
            "sys.exit(0 if dict(os.environ) == before else 3)")
    res = subprocess.run([sys.executable, "-c", code], cwd=config.REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]


def test_streamlit_usage_statistics_are_off():
    conf = tomllib.loads((config.REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["browser"]["gatherUsageStats"] is False
