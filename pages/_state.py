"""Typed accessors for the session state the pages share: no page spells a state key itself.

The case survives page switches because none of these is a widget key. Widget keys (the Case page's
choosers, the Waveform lead and window) are named here too, with ``persist``: Streamlit drops a
widget's state while another page shows, so its last value is kept under a second key and restored.
"""
from __future__ import annotations

from typing import Any

import streamlit as st


class Key:
    """Every session-state key, in one place."""

    CASE = "case"                    # core.predict.CaseResult of the analysed case
    CASE_HASH = "case_hash"          # core.predict.content_hash of that case; keys every per-case result
    CASE_LABEL = "case_label"        # where the case came from ("example nsr_100", "upload 100.hea, 100.dat")
    CASE_NOTE = "case_note"          # the note text that was analysed
    BEAT = "beat_index"              # the selected beat (default: the most abnormal)
    READS = "reads"                  # {case_hash: {"call": "normal"|"abnormal", "comment": str}} (teaching mode)
    MEMO = "memo"                    # {(case_hash, kind, ...): result} for slow per-case results
    TEACHING = "teaching"            # teaching mode on (sidebar toggle)
    JUST_ANALYSED = "just_analysed"  # one-shot flag: the Case page says "analysed" once
    ZEROSHOT_LAST = "zeroshot_last"  # {case_hash: ZeroShotResult} last zero-shot run (the Report page includes it)
    PROMPT_BASE = "prompt_base"      # the prompt table the editor starts from
    PROMPTS = "prompts_current"      # the prompt table as edited
    PROMPT_GEN = "prompt_gen"        # bumped on reset, so the editor gets a fresh key
    WIN_START = "win_start"          # Waveform window start (s)
    WIN_CASE = "win_case"            # the case the window was placed for
    NOTE_KEPT = "note_kept_for"      # the example whose note.txt was not put in the box (a typed note was kept)
    NOTE_UPLOAD_ERROR = "note_upload_error"  # why an uploaded .txt was not put in the note box
    # widgets (value persisted under "<key>_saved" by ``persist``)
    NOTE_INPUT = "note_input"
    EXAMPLE = "example_choice"
    SOURCE = "source_choice"
    UPLOAD = "upload"
    LEAD = "lead_choice"
    EPISODE_PICK = "episode_pick"    # Waveform: jump to a rhythm episode (cleared after each jump)


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def pop(key: str, default: Any = None) -> Any:
    return st.session_state.pop(key, default)


def has(key: str) -> bool:
    return key in st.session_state


def persist(widget_key: str, default: Any) -> Any:
    """Restore a widget's value dropped while another page showed (the one copy of that workaround)."""
    if widget_key not in st.session_state:
        st.session_state[widget_key] = st.session_state.get(widget_key + "_saved", default)
    return st.session_state[widget_key]


def remember(widget_key: str, value: Any) -> None:
    """Keep a widget's current value for ``persist`` to restore."""
    st.session_state[widget_key + "_saved"] = value


# ---- the case ------------------------------------------------------------------------------------
def set_case(case, case_hash: str, label: str, note: str | None, beat: int | None) -> None:
    st.session_state[Key.CASE] = case
    st.session_state[Key.CASE_HASH] = case_hash
    st.session_state[Key.CASE_LABEL] = label
    st.session_state[Key.CASE_NOTE] = note or ""
    st.session_state[Key.BEAT] = beat


def case():
    return st.session_state.get(Key.CASE)


def case_hash() -> str | None:
    return st.session_state.get(Key.CASE_HASH)


def case_label(default: str = "") -> str:
    return st.session_state.get(Key.CASE_LABEL, default)


def case_note() -> str:
    return st.session_state.get(Key.CASE_NOTE, "")


def beat() -> int | None:
    return st.session_state.get(Key.BEAT)


def set_beat(i: int | None) -> None:
    st.session_state[Key.BEAT] = None if i is None else int(i)


# ---- teaching mode -------------------------------------------------------------------------------
def teaching_on() -> bool:
    return bool(st.session_state.get(Key.TEACHING, False))


def reads() -> dict[str, dict]:
    return st.session_state.setdefault(Key.READS, {})


def committed_read() -> dict | None:
    """The reader's committed read of the current case, or None."""
    return st.session_state.get(Key.READS, {}).get(case_hash())


def has_committed_read() -> bool:
    """True when the reader has committed a read of the current case (the one copy of this check)."""
    return committed_read() is not None


def commit_read(call: str, comment: str) -> None:
    reads()[case_hash()] = {"call": call, "comment": comment}


def answers_hidden() -> bool:
    """Teaching mode and no committed read yet: model answers and reference letters stay hidden."""
    return teaching_on() and not has_committed_read()


# ---- per-case results ----------------------------------------------------------------------------
def memo_store() -> dict:
    return st.session_state.setdefault(Key.MEMO, {})


def last_zeroshot(h: str | None = None):
    return st.session_state.get(Key.ZEROSHOT_LAST, {}).get(case_hash() if h is None else h)


def set_last_zeroshot(result) -> None:
    st.session_state.setdefault(Key.ZEROSHOT_LAST, {})[case_hash()] = result
