"""Waveform page: the record on ECG paper, 10 s at a time, beats marked by predicted class."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages import _state as state
from pages._state import Key
from core.report import figures as figs
from core.report.tables import STRIP_S, reference_frame, strip_window
from pages._common import beat_label, require_case, run_page, selected_beat

_STEP_S = 0.5


def _max_start(dur: float) -> float:
    return float(max(0.0, np.floor((dur - STRIP_S) / _STEP_S) * _STEP_S))


def _go_to(t_start: float, dur: float, beat: int | None = None) -> None:
    state.put(Key.WIN_START, float(min(max(0.0, round(t_start / _STEP_S) * _STEP_S), _max_start(dur))))
    if beat is not None:
        state.set_beat(beat)


def _jump(direction: int, times: np.ndarray, flagged: np.ndarray, dur: float) -> None:
    """Next (+1) / previous (-1) flagged beat after / before the current window's middle third."""
    t0 = float(state.get(Key.WIN_START, 0.0))
    anchor = t0 + STRIP_S / 3
    idx = np.flatnonzero(flagged)
    cand = idx[times[idx] > anchor + 0.05] if direction > 0 else idx[times[idx] < anchor - 0.05][::-1]
    if len(cand):
        i = int(cand[0])
        _go_to(strip_window(float(times[i]), dur)[0], dur, i)


def body() -> None:
    st.title("Waveform")
    case = require_case()
    if case is None:
        return
    rec, table = case.record, case.table
    dur = rec.duration_s
    hide = state.answers_hidden()  # teaching mode before a read: no predictions and no reference letters

    # Lead and window live in plain session keys so they survive page switches.
    primary = case.beats.lead_names[0] if case.beats.lead_names else rec.lead_names[0]
    if state.persist(Key.LEAD, primary) not in rec.lead_names:
        state.put(Key.LEAD, rec.lead_names[0])
    state.persist(Key.WIN_START, 0.0)  # the slider's state is dropped while another page shows
    if state.get(Key.WIN_CASE) != state.case_hash():
        # New case: open on the selected (most abnormal) beat.
        i = selected_beat(case)
        t = float(table["time_s"].iloc[i]) if i is not None else 0.0
        state.put(Key.WIN_START, strip_window(t, dur)[0])
        state.put(Key.WIN_CASE, state.case_hash())
    state.put(Key.WIN_START, float(min(state.get(Key.WIN_START, 0.0), _max_start(dur))))

    times = table["time_s"].to_numpy(float) if len(table) else np.array([])
    flagged = (table["predicted"].to_numpy(int) == 1) if len(table) and not hide else np.zeros(len(times), bool)

    c1, c2 = st.columns([1, 3])
    with c1:
        lead = st.selectbox("Lead", rec.lead_names, key=Key.LEAD)
        state.remember(Key.LEAD, lead)
    with c2:
        if dur > STRIP_S:
            st.slider("Window start (s)", 0.0, _max_start(dur), step=_STEP_S, key=Key.WIN_START,
                      help="The strip shows 10 s; drag to move through the record.")
        else:
            st.caption(f"The whole record ({dur:.1f} s) fits on one strip.")
    t0 = float(state.get(Key.WIN_START)) if dur > STRIP_S else 0.0
    t1 = min(dur, t0 + STRIP_S)
    state.remember(Key.WIN_START, t0)

    if dur > STRIP_S:
        b1, b2, b3, b4, b5 = st.columns(5)
        b1.button("◀ 10 s", on_click=_go_to, args=(t0 - STRIP_S, dur), width="stretch")
        b2.button("10 s ▶", on_click=_go_to, args=(t0 + STRIP_S, dur), width="stretch")
        b3.button("◀ prev. flagged", on_click=_jump, args=(-1, times, flagged, dur),
                  width="stretch", disabled=not flagged.any())
        b4.button("next flagged ▶", on_click=_jump, args=(1, times, flagged, dur), type="primary",
                  width="stretch", disabled=not flagged.any())
        b5.caption(f"{int(flagged.sum())} flagged beats" if not hide else "predictions hidden (teaching mode)")

    li = rec.lead_names.index(lead)
    sel = selected_beat(case)
    sel_t = float(times[sel]) if sel is not None and len(times) else None
    beats = None if hide else table
    fig = figs.ecg_strip(rec.signal[:, li], rec.fs, t0=t0, t1=t1, beats=beats, reference=None if hide else reference_frame(rec),
                         lead_name=lead, highlight_time_s=sel_t if not hide else None)
    st.plotly_chart(fig, width="stretch", config={"displaylogo": False, "scrollZoom": False})
    st.caption("ECG paper: 25 mm/s, 10 mm/mV; small squares 0.04 s × 0.1 mV, large squares 0.2 s × 0.5 mV. "
               + ("" if hide else "Blue circles: beats called normal; vermillion triangles: beats called abnormal. ")
               + ("Letters above the trace: reference annotations from the file." if rec.annotations is not None and not hide
                  else "Reference annotations are hidden until you commit your read." if rec.annotations is not None else ""))
    if dur > STRIP_S:
        st.plotly_chart(figs.overview_strip(rec.signal[:, li], rec.fs, beats, window=(t0, t1)),
                        width="stretch", config={"displaylogo": False})
        st.caption("Whole record (decimated for display); the shaded band is the strip above"
                   + ("; triangles mark flagged beats." if not hide else "."))

    if not hide and len(table):
        in_win = np.flatnonzero((times >= t0) & (times <= t1))
        if len(in_win):
            st.selectbox("Select a beat in this strip (used on Explanations)", in_win.tolist(),
                         index=int(np.argmin(np.abs(in_win - (sel if sel is not None else in_win[0])))),
                         format_func=lambda i: beat_label(case, i), key=f"win_beat_{t0}",
                         on_change=lambda k=f"win_beat_{t0}": state.set_beat(state.get(k)))


run_page(body)
