"""Rhythm figures: the rhythm band drawn above an ECG strip or the record overview, and the RR
tachogram (Holter style: RR interval in ms against time in s, every beat marked by its call).

Episodes are duck-typed ``core.rhythm.Episode`` objects (``kind``, ``start_s``, ``end_s``,
``confidence``, ``detail``). Each kind has a colour (Okabe & Ito 2008) *and* its label written on the
segment, so the band never relies on colour alone; unreadable stretches are grey and hatched.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.report.figures import CLASS_STYLE, PALETTE, WHOLE_RECORD_LEFT_PX, _base_layout

#: Fill colour of each rhythm kind (underlying sinus rhythms pale, abnormal rhythms saturated).
RHYTHM_COLORS = {
    "SR": "#CFE8DF", "SBR": "#B9DCEB", "STACH": "#F3D9B1",
    "AF": PALETTE["orange"], "AFL": "#F5B94A", "SVT": PALETTE["purple"], "VT": PALETTE["vermillion"],
    "BIGEMINY": PALETTE["sky"], "TRIGEMINY": "#8FCBEF", "PAUSE": "#444444", "AVB1": PALETTE["yellow"],
    "PACED": PALETTE["blue"], "UNREADABLE": "#BBBBBB",
}
#: Kinds drawn in the lower lane of the band: they sit on top of an underlying rhythm (a pause inside
#: sinus rhythm, a bigeminy stretch, a first-degree block) and would hide it in the same lane.
_OVERLAY_KINDS = frozenset({"PAUSE", "BIGEMINY", "TRIGEMINY", "AVB1", "SVT", "VT"})
_DARK_TEXT = frozenset({"SR", "SBR", "STACH", "AF", "AFL", "AVB1", "UNREADABLE", "TRIGEMINY", "BIGEMINY"})


def _lane(kind: str) -> int:
    return 1 if kind in _OVERLAY_KINDS else 0


def episode_label(ep) -> str:
    """Short text for a band segment and the episode list: 'AF 0.3–149.9 s'."""
    return f"{ep.kind} {ep.start_s:.1f}–{ep.end_s:.1f} s"


def add_rhythm_band(fig: go.Figure, episodes: Sequence, t0: float, t1: float, y_lo: float, y_hi: float,
                    min_label_s: float = 0.6) -> None:
    """Draw ``episodes`` clipped to [t0, t1] (s) as filled boxes between ``y_lo`` and ``y_hi`` (data units).

    Two lanes: the underlying rhythm (SR, AF, PACED, ...) in the upper one, the events on top of it (pauses,
    runs, bigeminy, AV block) in the lower one. Labels are written when the clipped box is at least
    ``min_label_s`` wide; every box carries its kind, times, confidence and detail on hover. Unreadable
    stretches are hatched grey (bars, since plotly shapes have no pattern fill).
    """
    mid = (y_lo + y_hi) / 2
    lanes = {0: (mid, y_hi), 1: (y_lo, mid)}
    for ep in episodes or []:
        a, b = max(float(ep.start_s), t0), min(float(ep.end_s), t1)
        if b <= a and not (ep.kind == "PAUSE" and t0 <= ep.start_s <= t1):
            continue
        b = max(b, a + 0.02 * (t1 - t0) if ep.kind == "PAUSE" else b)
        lo, hi = lanes[_lane(ep.kind)]
        color = RHYTHM_COLORS.get(ep.kind, PALETTE["grey"])
        hover = (f"<b>{ep.kind}</b> {ep.start_s:.1f}–{ep.end_s:.1f} s ({ep.end_s - ep.start_s:.1f} s)"
                 f"<br>confidence {ep.confidence:.2f}" + (f"<br>{ep.detail}" if ep.detail else "") + "<extra></extra>")
        fig.add_trace(go.Bar(
            x=[(a + b) / 2], y=[hi - lo], base=[lo], width=[b - a], name=f"rhythm {ep.kind}", showlegend=False,
            marker=dict(color=color if ep.kind != "UNREADABLE" else "rgba(200,200,200,0.6)",
                        line=dict(color="white", width=1),
                        pattern=dict(shape="/" if ep.kind == "UNREADABLE" else "", fgcolor="#666666")),
            hovertemplate=hover, textposition="none"))
        if b - a >= min_label_s:
            fig.add_trace(go.Scatter(
                x=[(a + b) / 2], y=[(lo + hi) / 2], mode="text", text=[ep.kind], showlegend=False, hoverinfo="skip",
                name=f"rhythm label {ep.kind}",
                textfont=dict(size=12, color="#111111" if ep.kind in _DARK_TEXT else "white")))


def rhythm_band(episodes: Sequence, duration_s: float, window: tuple[float, float] | None = None) -> go.Figure:
    """The rhythm band over the whole record (s), with the strip's window outlined."""
    fig = go.Figure()
    add_rhythm_band(fig, episodes, 0.0, duration_s, 0.0, 1.0, min_label_s=0.02 * duration_s)
    if window is not None:
        fig.add_vrect(x0=window[0], x1=window[1], line=dict(color=PALETTE["black"], width=2), fillcolor="rgba(0,0,0,0)")
    _base_layout(fig, height=110, legend=False)
    fig.update_layout(margin=dict(l=WHOLE_RECORD_LEFT_PX, r=20, t=8, b=36), barmode="overlay", bargap=0)
    fig.update_xaxes(range=[0, duration_s], title_text="time (s), whole record")
    fig.update_yaxes(range=[0, 1], showticklabels=True, tickvals=[0.25, 0.75], ticktext=["events", "rhythm"],
                     showgrid=False, zeroline=False, fixedrange=True, automargin=False)
    return fig


def _call_of(table: pd.DataFrame) -> np.ndarray:
    if "call" in table:
        return table["call"].astype(str).to_numpy()
    return np.where(table["predicted"].astype(int).to_numpy() == 1, "abnormal", "normal")


def rr_tachogram(table: pd.DataFrame, duration_s: float, episodes: Sequence | None = None,
                 window: tuple[float, float] | None = None, hide_calls: bool = False) -> go.Figure:
    """RR interval before each beat (ms) against the beat's time (s) over the whole record.

    Beats are marked by their call (normal blue circles, abnormal vermillion triangles, unreadable grey
    crosses: neither normal nor abnormal); ``hide_calls`` draws every beat alike (teaching mode). The rhythm
    episodes shade the background, the strip's ``window`` is outlined. The y range is cut at the 1st-99th
    percentile ± 30 % so one missed beat does not flatten the rest; longer RR are drawn at the top edge.
    """
    fig = go.Figure()
    t = table["time_s"].to_numpy(float) if len(table) else np.array([])
    rr = table["rr_pre_ms"].to_numpy(float) if len(table) and "rr_pre_ms" in table else np.full(len(t), np.nan)
    ok = np.isfinite(rr)
    lo, hi = (float(np.percentile(rr[ok], 1)) * 0.7, float(np.percentile(rr[ok], 99)) * 1.3) if ok.any() else (300.0, 1500.0)
    lo, hi = max(0.0, np.floor(lo / 100) * 100), np.ceil(max(hi, lo + 400) / 100) * 100
    for ep in episodes or []:
        if ep.kind in ("SR",):
            continue  # the normal background needs no shade
        fig.add_vrect(x0=ep.start_s, x1=max(ep.end_s, ep.start_s + 0.005 * duration_s), line_width=0, layer="below",
                      fillcolor=RHYTHM_COLORS.get(ep.kind, PALETTE["grey"]), opacity=0.25)
    if len(t):
        fig.add_trace(go.Scatter(x=t[ok], y=np.minimum(rr[ok], hi), mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color="#CCCCCC", width=1)))
    calls = np.full(len(t), "beat") if hide_calls else _call_of(table) if len(t) else np.array([])
    styles = {"beat": {"color": PALETTE["grey"], "symbol": "circle", "label": "RR of a"}, **CLASS_STYLE}
    for cls in ("beat", "normal", "abnormal", "unreadable"):
        m = (calls == cls) & ok
        if not m.any():
            continue
        s = styles[cls]
        fig.add_trace(go.Scatter(
            x=t[m], y=np.minimum(rr[m], hi), mode="markers", name=f"{s['label']} beat",
            marker=dict(color=s["color"], symbol=s["symbol"], size=6 if cls in ("normal", "beat") else 8),
            customdata=rr[m], hovertemplate=f"{s['label']} beat<br>%{{x:.2f}} s<br>RR %{{customdata:.0f}} ms<extra></extra>"))
    if window is not None:
        fig.add_vrect(x0=window[0], x1=window[1], line=dict(color=PALETTE["black"], width=1.5), fillcolor="rgba(0,0,0,0)")
    _base_layout(fig, height=260)
    fig.update_layout(margin=dict(l=WHOLE_RECORD_LEFT_PX, r=20, t=40, b=50))
    fig.update_xaxes(range=[0, duration_s], title_text="time (s), whole record")
    fig.update_yaxes(range=[lo, hi], title_text="RR (ms)", automargin=False)
    return fig
