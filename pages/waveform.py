"""Waveform page: the record on ECG paper, 10 s at a time, beats marked by their call; for v2 models the
rhythm band above the strip, the episode list with jump-to and the RR tachogram of the whole record."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages import _state as state
from pages._state import Key
from core.report import figures as figs
from core.report import figures_rhythm as rfigs
from core.report.tables import STRIP_S, reference_frame, strip_window
from pages._common import beat_label, context_reason, is_fact_gated, require_case, run_page, selected_beat

_STEP_S = 0.5


def _max_start(dur: float) -> float:
    return float(max(0.0, np.floor((dur - STRIP_S) / _STEP_S) * _STEP_S))


def _go_to(t_start: float, dur: float, beat: int | None = None) -> None:
    state.put(Key.WIN_START, float(min(max(0.0, round(t_start / _STEP_S) * _STEP_S), _max_start(dur))))
    if beat is not None:
        state.set_beat(beat)


_EPISODE_PICK = Key.EPISODE_PICK


def _episode_window(ep, dur: float) -> float:
    """Window start (s) showing an episode: its onset 1 s in, or centred when it is shorter than the strip."""
    if ep.end_s - ep.start_s < STRIP_S - 2.0:
        return (ep.start_s + ep.end_s) / 2 - STRIP_S / 2
    return ep.start_s - 1.0


def _on_episode_pick(episodes: list, dur: float) -> None:
    """Move the window to the picked episode, then clear the picker so the same episode can be picked again."""
    k = state.get(_EPISODE_PICK)
    if k is not None and 0 <= int(k) < len(episodes):
        _go_to(_episode_window(episodes[int(k)], dur), dur)
    state.put(_EPISODE_PICK, None)


def _episodes(case, dur: float) -> None:
    """The rhythm episodes as a table and a jump-to picker."""
    import pandas as pd

    from core.rhythm.episodes import RHYTHM_NAMES

    eps = list(case.rhythm.episodes)
    st.markdown("**Rhythm episodes**")
    if not eps:
        st.caption("No rhythm episode was found (too few beats to read a rhythm).")
        return
    st.dataframe(pd.DataFrame({
        "rhythm": [e.kind for e in eps], "reading": [RHYTHM_NAMES.get(e.kind, e.kind) for e in eps],
        "start (s)": [round(e.start_s, 1) for e in eps], "end (s)": [round(e.end_s, 1) for e in eps],
        "duration (s)": [round(e.end_s - e.start_s, 1) for e in eps],
        "confidence": [round(e.confidence, 2) for e in eps], "detail": [e.detail for e in eps]}),
        hide_index=True, width="stretch", height=min(36 * (len(eps) + 1) + 2, 250))
    if dur > STRIP_S:
        st.selectbox("Jump to an episode (moves the 10 s strip there)", list(range(len(eps))), index=None,
                     placeholder="Pick an episode…", key=_EPISODE_PICK, on_change=_on_episode_pick, args=(eps, dur),
                     format_func=lambda k: f"{RHYTHM_NAMES.get(eps[k].kind, eps[k].kind)} ({rfigs.episode_label(eps[k])})"
                                           + (f" — {eps[k].detail}" if eps[k].detail else ""))


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
    v2 = is_fact_gated(case) and not hide  # the rhythm reading is a model answer: hidden in teaching mode too
    if v2 and case.statements:
        st.markdown("**Rhythm:** " + "; ".join(case.statements))
    fig = figs.ecg_strip(rec.signal[:, li], rec.fs, t0=t0, t1=t1, beats=beats, reference=None if hide else reference_frame(rec),
                         lead_name=lead, highlight_time_s=sel_t if not hide else None,
                         episodes=case.rhythm.episodes if v2 else None)
    st.plotly_chart(fig, width="stretch", config={"displaylogo": False, "scrollZoom": False})
    st.caption("ECG paper: 25 mm/s, 10 mm/mV; small squares 0.04 s × 0.1 mV, large squares 0.2 s × 0.5 mV. "
               + ("" if hide else "Blue circles: beats called normal; vermillion triangles: beats called abnormal"
                  + ("; grey crosses over hatched grey: unreadable signal, beats not called. " if v2 else ". "))
               + ("Top band: the rhythm reading (upper lane the underlying rhythm, lower lane pauses, runs and "
                  "bigeminy). " if v2 else "")
               + ("Letters above the trace: reference annotations from the file." if rec.annotations is not None and not hide
                  else "Reference annotations are hidden until you commit your read." if rec.annotations is not None else ""))
    if v2:
        _episodes(case, dur)
    if dur > STRIP_S:
        if v2:
            st.plotly_chart(rfigs.rhythm_band(case.rhythm.episodes, dur, window=(t0, t1)), width="stretch",
                            config={"displaylogo": False})
        st.plotly_chart(figs.overview_strip(rec.signal[:, li], rec.fs, beats, window=(t0, t1)),
                        width="stretch", config={"displaylogo": False})
        st.caption("Whole record (decimated for display); the shaded band is the strip above"
                   + ("; triangles mark flagged beats." if not hide else "."))
    if len(table) > 2 and "rr_pre_ms" in table:
        st.markdown("**RR tachogram**")
        st.plotly_chart(rfigs.rr_tachogram(table, dur, episodes=case.rhythm.episodes if v2 else None, window=(t0, t1),
                                           hide_calls=hide), width="stretch", config={"displaylogo": False})
        st.caption("RR interval before each beat (ms) over the whole record; the outlined box is the strip above"
                   + ("; shading: rhythm episodes." if v2 else ".")
                   + (" An irregularly irregular cloud is atrial fibrillation; a short RR followed by a long one is a "
                      "premature beat." if not hide else ""))

    if not hide and len(table):
        in_win = np.flatnonzero((times >= t0) & (times <= t1))
        if len(in_win):
            st.selectbox("Select a beat in this strip (used on Explanations)", in_win.tolist(),
                         index=int(np.argmin(np.abs(in_win - (sel if sel is not None else in_win[0])))),
                         format_func=lambda i: beat_label(case, i), key=f"win_beat_{t0}",
                         on_change=lambda k=f"win_beat_{t0}": state.set_beat(state.get(k)))
            why = context_reason(case, sel)
            if why and sel in in_win:
                st.info(f"Rhythm context for beat {sel}: {why}.", icon=":material/info:")


run_page(body)
