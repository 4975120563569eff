"""Helpers shared by the pages: model access, the case, teaching mode and the error boundary. Pages
stay thin: they compose ``core`` functions and ``core.report`` figures and tables. Session state is
read and written only through ``pages._state``; caches live in ``pages._cache``.

Environment: ``CARDIOLENS_MODEL_DIR`` names a model bundle folder to load instead of
``assets/models/<CARDIOLENS_MODEL or v1>`` (used by the tests with a randomly initialised bundle).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

import numpy as np
import streamlit as st

from core import config
from pages import _cache
from pages import _state as state

log = logging.getLogger(__name__)

PAGES = {
    "case": "pages/case.py",
    "waveform": "pages/waveform.py",
    "predictions": "pages/predictions.py",
    "explanations": "pages/explanations.py",
    "model_card": "pages/model_card.py",
    "report": "pages/report.py",
}
#: Largest number of per-case results kept in memory (explanations, zero-shot runs).
MAX_MEMO = 64


# ---- models ------------------------------------------------------------------------------------

def model_dir() -> str | None:
    """Bundle folder from ``CARDIOLENS_MODEL_DIR`` (None: the default ``assets/models/<version>``)."""
    return os.environ.get("CARDIOLENS_MODEL_DIR") or None


class ModelMissing(RuntimeError):
    """No trained model where the app looks for one."""


def get_bundle():
    """The model bundle, loaded once per process."""
    try:
        return _cache.load_bundle(model_dir())
    except FileNotFoundError as exc:
        where = model_dir() or str(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION)
        raise ModelMissing(f"No trained model was found at {where}: train one with `python -m core train` "
                           f"or point CARDIOLENS_MODEL_DIR at a model folder, then reload the page.") from exc
    except (RuntimeError, KeyError, ValueError, OSError) as exc:  # weights that do not fit, unreadable files
        where = model_dir() or str(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION)
        raise ModelMissing(f"The model at {where} could not be loaded ({type(exc).__name__}): it does not match this "
                           f"version of CardioLens; retrain it or point CARDIOLENS_MODEL_DIR at a matching model folder.") from exc


def get_text_encoder():
    """The note encoder named in the bundle's config, loaded once per process."""
    bundle = get_bundle()
    return _cache.load_text_encoder(bundle.config.text_model, bundle.config.pooling)


# ---- examples ------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def list_examples() -> dict[str, dict]:
    """Bundled cases by folder name: ``case.json`` plus ``note`` and ``path`` of the signal file."""
    out: dict[str, dict] = {}
    if not config.EXAMPLES_DIR.is_dir():
        return out
    for d in sorted(p for p in config.EXAMPLES_DIR.iterdir() if (p / "case.json").is_file()):
        meta = json.loads((d / "case.json").read_text())
        files = meta.get("files", {})
        sig = files.get("header") or files.get("signal")
        note = (d / "note.txt").read_text(encoding="utf-8") if (d / "note.txt").is_file() else ""
        meta.update(note=note, path=str(d / sig) if sig else str(d), folder=d.name)
        out[d.name] = meta
    return out


def example_label(name: str) -> str:
    meta = list_examples().get(name, {})
    shows = meta.get("shows", "")
    dur = meta.get("duration_s")
    return f"{name} — {shows}" + (f" ({dur:g} s)" if dur else "")


@st.cache_data(show_spinner=False)
def read_example(name: str):
    """The ``Record`` of a bundled example (cached per process)."""
    from core.io import read_record

    meta = list_examples()[name]
    return read_record(meta["path"], fs=meta.get("fs_hz") if meta.get("format") == "csv" else None, name=name)


# ---- the case ------------------------------------------------------------------------------------

def analyse(record, note: str | None, label: str) -> Any:
    """Analyse ``record`` + ``note`` (or reuse the result for the same content) and make it the case."""
    from core.predict import content_hash

    key = content_hash(record, note)
    bundle = get_bundle()  # raises ModelMissing with its own message
    if note and note.strip():
        get_text_encoder()  # load BERT (with its spinner) before the cached analysis needs it
    case = _cache.analyse(key, note, bundle.version, model_dir(), record)
    state.set_case(case, key, label, note, most_abnormal_beat(case))
    return case


def note_after_upload(files, current: str, example_notes) -> tuple[str, str | None]:
    """The note box after an upload change, and why an uploaded .txt was not used (None when it was, or when
    there is none). A readable .txt is the note; otherwise a typed note stays and an example's note is cleared, so
    it is never read as the note of someone else's recording (``core.text.note_file`` says what is readable)."""
    from core.text.note_file import NoteFileError, read_note_bytes

    error = None
    for f in files or []:
        if f.name.lower().endswith(".txt"):
            try:
                return read_note_bytes(f.getvalue(), f.name), None
            except NoteFileError as exc:
                error = str(exc)
                break
    return _without_example_note(current, example_notes), error


def _without_example_note(current: str, example_notes) -> str:
    """The note box's text, or "" when it is a bundled example's own note (that example's patient, not this ECG's)."""
    return "" if current in example_notes else current


def note_after_source_change(to_examples: bool, current: str, example_note: str, example_notes) -> str:
    """The note box after the source switches: to uploads, an example's note is cleared (it belongs to that example's
    patient, not to the recording about to be uploaded); to the examples, an empty box gets the chosen example's
    note. Text the user typed stays either way."""
    if to_examples:
        return example_note if not current.strip() else current
    return _without_example_note(current, example_notes)


def current_case():
    return state.case()


def readable_mask(case) -> np.ndarray:
    """True for beats the model called (False for beats in unreadable stretches)."""
    t = case.table
    return (t["unreadable"].to_numpy(int) == 0) if "unreadable" in t else np.ones(len(t), bool)


def is_fact_gated(case) -> bool:
    """v2 models: rhythm reading, statements, fact-gated note (no ECG-note agreement)."""
    return getattr(case, "rhythm", None) is not None


def most_abnormal_beat(case) -> int | None:
    """The readable beat with the highest p(abnormal); an unreadable beat is never 'the most abnormal'."""
    p = case.table["p_abnormal"].to_numpy(float) if len(case.table) else np.array([])
    if p.size:
        p = np.where(readable_mask(case), p, np.nan)
    if p.size == 0 or not np.isfinite(p).any():
        return None
    return int(np.nanargmax(p))


def selected_beat(case) -> int | None:
    i = state.beat()
    if i is None or not (0 <= int(i) < len(case.table)):
        i = most_abnormal_beat(case)
    return None if i is None else int(i)


def require_case():
    """The case, or a pointer to the Case page (and None) when there is none yet."""
    case = current_case()
    if case is None:
        st.info("No case loaded yet: pick an example or upload a record on the Case page, then press Analyse.")
        st.page_link(PAGES["case"], label="Go to the Case page", icon=":material/folder_open:")
    return case


def memo(key: tuple, fn: Callable[[], Any]) -> Any:
    """``fn()`` computed once per ``key`` in this session (keys start with the case hash)."""
    store = state.memo_store()
    if key not in store:
        store[key] = fn()
        while len(store) > MAX_MEMO:
            store.pop(next(iter(store)))
    return store[key]


def memo_has(key: tuple) -> bool:
    return key in state.memo_store()


def memo_get(key: tuple, default: Any = None) -> Any:
    return state.memo_store().get(key, default)


def on_demand(key: tuple, fn: Callable[[], Any], label: str, note: str) -> Any:
    """A slow result: computed when the user asks (button), then kept for the session; None until then."""
    if memo_has(key):
        return memo_get(key)
    st.caption(note)
    if st.button(label, key="btn_" + "_".join(map(str, key[1:])), icon=":material/play_arrow:"):
        with st.spinner(f"{label}…"):
            memo(key, fn)
        st.rerun()  # redraw without the button
    return None


def beat_label(case, i: int) -> str:
    row = case.table.iloc[i]
    cls = str(row["call"]) if "call" in row else "abnormal" if int(row["predicted"]) == 1 else "normal"
    # the reference letter is the answer key: hidden in teaching mode until a read is committed
    show_ref = "ref_symbol" in row and str(row["ref_symbol"]) and not state.answers_hidden()
    ref = f", reference {row['ref_symbol']}" if show_ref else ""
    if cls == "unreadable":
        return f"beat {i} at {row['time_s']:.2f} s — unreadable signal, not called{ref}"
    return f"beat {i} at {row['time_s']:.2f} s — p(abnormal) {row['p_abnormal']:.2f} ({cls}{ref})"


_CLASS_WORDS = {"N": "a normal beat", "S": "a supraventricular ectopic beat", "V": "a ventricular ectopic beat",
                "Q": "a paced or unclassifiable beat", "U": "unreadable"}


def context_reason(case, i: int | None) -> str:
    """Why the rhythm context changed beat ``i`` ('' when it did not or for v1 models), with how the rhythm
    reading counts the beat when the beat model flagged it, so the flag and the reading do not seem to clash."""
    r = getattr(case, "rhythm", None)
    if i is None or r is None or r.context_reason is None or not (0 <= i < len(r.context_reason)):
        return ""
    why = str(r.context_reason[i] or "")
    if not why:
        return ""
    row = case.table.iloc[i]
    if int(row["predicted"]) == 1 and r.beat_class is not None:
        why += (f". The beat model still flags it (p {row['p_abnormal']:.2f}); the rhythm reading and the statements "
                f"count it as {_CLASS_WORDS.get(str(r.beat_class[i]), str(r.beat_class[i]))}")
    return why


def explain_module():
    """``core.explain`` or None when it is not available in this build."""
    try:
        from core import explain
    except ImportError:
        return None
    return explain


# ---- teaching mode -----------------------------------------------------------------------------

def teaching_on() -> bool:
    return state.teaching_on()


def teaching_gate(case, where: str) -> bool:
    """True when the model's answers may be shown; in teaching mode, first ask for the reader's read."""
    if not teaching_on():
        return True
    r = state.committed_read()
    if r is not None:
        model_call = case.verdict
        agree = r["call"] == model_call
        (st.success if agree else st.warning)(
            f"Your read: **{r['call']}**. The model says: **{model_call}**"
            f" — {'you agree' if agree else 'you disagree; look at the flagged beats and the explanations'}.")
        if r.get("comment"):
            st.caption(f"Your notes: {r['comment']}")
        return True
    st.subheader("Your read first (teaching mode)")
    st.write(f"The model's answers on this {where} page are hidden until you commit your own read of the ECG. "
             "Look at the Waveform page, then decide.")
    with st.form(f"read_form_{where}"):
        call = st.radio("Your call for the whole record", ["normal", "abnormal"], horizontal=True, index=None)
        comment = st.text_area("What do you see? (rhythm, ectopy, intervals)", height=100)
        done = st.form_submit_button("Commit my read and reveal the model", type="primary")
    if done:
        if call is None:
            st.error("Choose normal or abnormal before committing your read.")
            return False
        state.commit_read(call, comment)
        st.rerun()
    return False


# ---- the error boundary ------------------------------------------------------------------------

def run_page(body: Callable[[], None]) -> None:
    """Run a page body; any error is shown as one plain sentence with what to do, never a traceback."""
    try:
        body()
    except ModelMissing as exc:
        log.exception("model missing")
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - the page boundary: nothing escapes as a traceback
        log.exception("page failed")
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        user_facing = type(exc).__name__ in ("RecordReadError", "PromptError")
        if user_facing:
            st.error(msg)
        else:
            st.error(f"This part of the page could not be drawn ({type(exc).__name__}: {msg}). "
                     "Try Analyse again on the Case page or pick another beat; if it keeps happening, "
                     "export the case and report it.")
