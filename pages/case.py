"""Case page: choose a bundled example or upload a record, add a note, press Analyse."""
from __future__ import annotations

import logging

from pathlib import Path

import streamlit as st

from core import config
from pages import _state as state
from pages._state import Key
from pages._common import (PAGES, ModelMissing, analyse, current_case, example_label, get_bundle,
                           get_text_encoder, list_examples, note_after_source_change, note_after_upload, read_example,
                           run_page)

_UPLOAD_TYPES = ["hea", "dat", "atr", "zip", "csv", "tsv", "edf", "npy", "txt"]
_SOURCES = ("Bundled example", "Upload files")

log = logging.getLogger(__name__)


#: Under the note box (wording from the note-hint text of issue 11).
NOTE_HINT_SHORT = ("**What a useful note contains.** Write what you knew *before* the strip, one fact per short "
                   "sentence: a pacemaker; known AF or flutter; bundle-branch or AV block; sick sinus or known pauses; "
                   "drugs that change the ECG; why the recording was made; any recording problem.")
NOTE_HINT = """Write what you knew *before* the strip, one fact per short sentence:
a pacemaker (PPM, ICD with pacing); known atrial fibrillation or flutter; bundle-branch block or AV block;
sick sinus syndrome or known pauses; drugs that change the ECG (digoxin, beta-blockers, antiarrhythmics
such as quinidine, procainamide, amiodarone); why the recording was made (palpitations, syncope); and any
recording problem (loose lead, noise). Denials count too ("no pacemaker"). The model only uses the facts it
recognises, and only on the beats they bear on (a pacemaker on paced-looking beats, known AF on irregular RR,
known BBB on wide QRS); everything else in the note (age, unrelated history, administrative text) changes
nothing. Do not paste the strip's findings or the answer you expect: the note is context, not a label.

Examples:
- `78 y/o M, DDD pacemaker 2019. On digoxin. Holter for dizzy spells.`
- `Known paroxysmal AF, on bisoprolol. Referred for palpitations. No pacemaker.`
- `65 F with known LBBB and 1st degree AV block. Tech reports loose lead overnight.`
"""
_NOTE_KEPT = Key.NOTE_KEPT


def _example_notes() -> set[str]:
    return {m.get("note", "") for m in list_examples().values()}


def _on_example_change() -> None:
    """Prefill the note with the chosen example's note.txt, unless the box holds text the user typed.

    The callback runs before the script with every widget value of that rerun already applied, so a note
    typed while the example's rerun was still going is in the box by now: it is kept (nothing entered is
    lost) and the page offers the example's note on a button instead. Only an empty box or one still
    holding an example's own note.txt is replaced."""
    current = state.get(Key.NOTE_INPUT, "") or ""
    name = state.get(Key.EXAMPLE)
    if current.strip() and current not in _example_notes():
        state.put(_NOTE_KEPT, name)
        return
    state.put(_NOTE_KEPT, None)
    state.put(Key.NOTE_INPUT, list_examples().get(name, {}).get("note", ""))


def _use_example_note() -> None:
    state.put(Key.NOTE_INPUT, list_examples().get(state.get(Key.EXAMPLE), {}).get("note", ""))
    state.put(_NOTE_KEPT, None)


def _on_upload_change() -> None:
    """A .txt in the upload is the note (``note_after_upload``); an unreadable one is said under the uploader."""
    note, error = note_after_upload(state.get(Key.UPLOAD), state.get(Key.NOTE_INPUT, ""), _example_notes())
    state.put(Key.NOTE_INPUT, note)
    state.put(Key.NOTE_UPLOAD_ERROR, error)


def _on_source_change() -> None:
    """Switching source: the note box follows (``note_after_source_change``)."""
    example_note = list_examples().get(state.get(Key.EXAMPLE), {}).get("note", "")
    state.put(Key.NOTE_INPUT, note_after_source_change(state.get(Key.SOURCE) == _SOURCES[0],
                                                       state.get(Key.NOTE_INPUT, "") or "", example_note,
                                                       _example_notes()))


def _upload_needs_fs(files) -> str | None:
    """'required' for .npy, 'optional' for CSV/TSV (a time column gives the rate), else None."""
    exts = {Path(f.name).suffix.lower() for f in files}
    if ".npy" in exts:
        return "required"
    if exts & {".csv", ".tsv"}:
        return "optional"
    return None


def body() -> None:
    st.title("Case")
    st.write("Pick a bundled example or upload an ECG record, add the clinical note, then press **Analyse**.")
    examples = list_examples()
    try:  # load the models now (once per process), while the reader is still choosing a case
        get_bundle()
        get_text_encoder()
    except ModelMissing as exc:
        log.exception("model not loaded")
        st.error(str(exc))

    # The note box keeps its text across page switches through a plain (non-widget) copy.
    state.persist(Key.NOTE_INPUT, "")
    state.persist(Key.SOURCE, _SOURCES[0])
    # The example selectbox is not drawn while uploading, so Streamlit drops its key: prefill the note only while
    # the examples are the source, or an upload would be analysed with the example patient's note.
    if not state.has(Key.EXAMPLE) and examples:
        state.persist(Key.EXAMPLE, next(iter(examples)))
        if not state.get(Key.NOTE_INPUT) and state.get(Key.SOURCE) == _SOURCES[0]:
            _on_example_change()

    left, right = st.columns([3, 2], gap="large")
    with left:
        source = st.radio("Source", _SOURCES, horizontal=True, key=Key.SOURCE, on_change=_on_source_change)
        fs = None
        files = []
        if source == _SOURCES[0]:
            if not examples:
                st.warning("No bundled examples were found in assets/examples: upload a record instead.")
            else:
                st.selectbox("Example case", list(examples), key=Key.EXAMPLE, format_func=example_label,
                             on_change=_on_example_change)
                meta = examples[state.get(Key.EXAMPLE)]
                st.caption(meta.get("why_chosen", ""))
        else:
            files = st.file_uploader(
                "ECG record: WFDB .hea + .dat (+ .atr) together, or one .zip, .csv, .edf or .npy; "
                "a .txt file is taken as the note",
                type=_UPLOAD_TYPES, accept_multiple_files=True, key=Key.UPLOAD, on_change=_on_upload_change,
                help=f"Up to {config.MAX_UPLOAD_BYTES // 2**20} MB. Files stay in memory and are never stored.")
            if state.get(Key.NOTE_UPLOAD_ERROR):
                st.warning(state.get(Key.NOTE_UPLOAD_ERROR))
            need = _upload_needs_fs(files or [])
            if need:
                fs = st.number_input(
                    "Sampling rate (Hz)" + (" — required for .npy" if need == "required" else
                                            " — leave empty to use the file's time column"),
                    min_value=1.0, max_value=20000.0, value=None, step=1.0, key="upload_fs")
        note = st.text_area("Clinical note (optional; leave empty for an ECG-only reading)", key=Key.NOTE_INPUT,
                            height=150)
        kept = state.get(_NOTE_KEPT)
        if kept and source == _SOURCES[0] and kept == state.get(Key.EXAMPLE):
            st.caption(f"Your note was kept; the note that comes with {kept} was not put in the box.")
            st.button(f"Use the note of {kept} instead", on_click=_use_example_note, icon=":material/edit_note:")
        st.caption(NOTE_HINT_SHORT)
        with st.expander("More on what a useful note contains, with examples"):
            st.markdown(NOTE_HINT)
        go = st.button("Analyse", type="primary", icon=":material/play_arrow:")

    state.remember(Key.NOTE_INPUT, note)
    state.remember(Key.SOURCE, source)
    if state.has(Key.EXAMPLE):
        state.remember(Key.EXAMPLE, state.get(Key.EXAMPLE))

    if go:
        from core.io import RecordReadError

        record, label = None, ""
        with st.spinner("Reading the record…"):
            try:
                if source == _SOURCES[0]:
                    name = state.get(Key.EXAMPLE)
                    record, label = read_example(name), f"example {name}"
                else:
                    ecg_files = [f for f in (files or []) if not f.name.lower().endswith(".txt")]
                    if not ecg_files:
                        raise RecordReadError("No ECG file was uploaded: add the record's files "
                                              "(.hea + .dat [+ .atr], .zip, .csv, .edf or .npy) above.")
                    from core.io import read_record

                    # Uploaded bytes go straight to core.io as {filename: bytes}; nothing is written here.
                    record = read_record({f.name: f.getvalue() for f in ecg_files}, fs=fs)
                    label = "upload " + ", ".join(sorted({f.name for f in ecg_files})[:4])
            except RecordReadError as exc:
                log.exception("upload or example could not be read")
                st.error(str(exc))
                record = None
        if record is not None:
            with st.spinner("Finding beats and running the model…"):
                analyse(record, note, label)
            state.put(Key.JUST_ANALYSED, True)
            st.rerun()  # so the sidebar, drawn before this page, shows the new case

    with right:
        _summary()


def _summary() -> None:
    case = current_case()
    st.subheader("What was read")
    if case is None:
        st.caption("Nothing analysed yet.")
        return
    rec = case.record
    if state.pop(Key.JUST_ANALYSED, False):
        st.success("Analysis done: see the other pages.", icon=":material/check:")
    st.markdown(f"**{state.case_label(rec.name)}**")
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    c1.metric("Leads", rec.n_leads, help=", ".join(rec.lead_names))
    c2.metric("Rate", f"{rec.fs:g} Hz")
    c3.metric("Duration", f"{rec.duration_s:.1f} s")
    c4.metric("Beats found", len(case.table))
    st.caption(f"Leads: {', '.join(rec.lead_names)} · model lead: {case.beats.lead_names[0] if case.beats.lead_names else '–'}"
               f" · reference annotations: {'yes' if rec.annotations is not None else 'no'}"
               f" · note: {'yes' if case.note is not None else 'no (ECG-only head)'}")
    if rec.comments:
        st.caption("Header: " + " ".join(rec.comments))
    for n in case.notices:
        st.warning(n)
    st.page_link(PAGES["waveform"], label="See the waveform", icon=":material/ecg:")
    st.page_link(PAGES["predictions"], label="See the predictions", icon=":material/analytics:")


run_page(body)
