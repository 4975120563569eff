"""Plotly figure builders shared by the dashboard pages and the HTML case report.

Every figure of the app is built here, once, so the page and the exported report show the same
picture. Functions take plain data (arrays, DataFrames, dicts) and return ``plotly.graph_objects.Figure``;
nothing here knows about Streamlit.

Conventions
-----------
- ECG paper (AHA/IEC standard display): 25 mm/s and 10 mm/mV, a 1 mm minor grid (0.04 s, 0.1 mV)
  and a 5 mm major grid (0.2 s, 0.5 mV). One millimetre is square on screen: the y axis is anchored
  to x with ``scaleratio = 10 mm/mV / 25 mm/s = 0.4`` (1 mV is drawn as long as 0.4 s).
- Colours are Okabe & Ito (2008), safe for the common colour-vision deficiencies, and never carry
  meaning alone: normal beats are blue circles, abnormal beats vermillion triangles.
- Times in seconds (s), amplitudes in millivolts (mV), probabilities in [0, 1].
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go


#: Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design").
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#666666",
}

#: Style of each predicted class: colour AND marker shape (never colour alone).
CLASS_STYLE = {
    "normal": {"color": PALETTE["blue"], "symbol": "circle", "label": "normal"},
    "abnormal": {"color": PALETTE["vermillion"], "symbol": "triangle-up", "label": "abnormal"},
    "other": {"color": PALETTE["green"], "symbol": "square", "label": "other"},
    # neither normal nor abnormal: the signal was too poor to call the beat (core.signal.quality)
    "unreadable": {"color": "#888888", "symbol": "x-thin-open", "label": "unreadable"},
}

#: ECG paper: speed (mm/s), gain (mm/mV), grid steps (s, mV) and colours.
PAPER = {
    "mm_per_s": 25.0,
    "mm_per_mv": 10.0,
    "minor_s": 0.04,
    "major_s": 0.2,
    "minor_mv": 0.1,
    "major_mv": 0.5,
    "minor_color": "#F6C9D0",
    "major_color": "#E0707F",
    "background": "#FFFAFA",
    "trace_color": "#111111",
}

#: Left margin (px) of the whole-record figures (overview, rhythm band, tachogram): fixed so they align.
WHOLE_RECORD_LEFT_PX = 90
_FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=15, color="#111111")
_SCALE_RATIO = PAPER["mm_per_mv"] / PAPER["mm_per_s"]  # 0.4: 1 mV drawn as long as 0.4 s


def format_value(value, unit: str = "") -> str:
    """A measurement for people: '1140 ms', '0.78 ratio', '0.383 mV'; 'not measured' for NaN/None. The SI
    dimensionless unit '1' (record-relative features) is not printed: '1.55 1' reads as a typo."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "not measured"
    if not np.isfinite(v):
        return "not measured"
    a = abs(v)
    txt = f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"
    return f"{txt} {'' if unit == '1' else unit}".strip()


def _base_layout(fig: go.Figure, *, height: int, title: str | None = None, legend: bool = True) -> go.Figure:
    fig.update_layout(
        height=height,
        template="plotly_white",
        font=_FONT,
        margin=dict(l=60, r=20, t=50 if title else 20, b=50),
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=18)) if title else None,
        showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="right", x=1.0),
        hoverlabel=dict(font_size=15),
    )
    return fig


# ---- ECG paper --------------------------------------------------------------------------------

def _grid_segments(lo: float, hi: float, step: float, other_lo: float, other_hi: float,
                   skip_every: int | None = None) -> tuple[list, list]:
    """Polyline (None-separated) of grid lines at multiples of ``step`` in [lo, hi]."""
    first = np.ceil(lo / step - 1e-9)
    vals = np.arange(first, np.floor(hi / step + 1e-9) + 1) * step
    if skip_every:
        k = np.round(vals / step).astype(int)
        vals = vals[k % skip_every != 0]
    a = np.repeat(vals, 3).astype(object)
    a[2::3] = None
    b = np.tile(np.array([other_lo, other_hi, None], dtype=object), len(vals))
    return list(a), list(b)


def _add_paper_grid(fig: go.Figure, t0: float, t1: float, y0: float, y1: float, row=None, col=None) -> None:
    """Pink 1 mm / 5 mm grid drawn as two line traces (fast; follows pan and zoom within the window)."""
    kw = dict(row=row, col=col) if row is not None else {}
    for level, width, skip in (("minor", 0.6, 5), ("major", 1.1, None)):
        xs, ys = _grid_segments(t0, t1, PAPER[f"{level}_s"], y0, y1, skip)
        yh, xh = _grid_segments(y0, y1, PAPER[f"{level}_mv"], t0, t1, skip)
        fig.add_trace(
            go.Scatter(x=xs + xh, y=ys + yh, mode="lines", hoverinfo="skip", showlegend=False,
                       line=dict(color=PAPER[f"{level}_color"], width=width), name=f"{level} grid"),
            **kw,
        )


def paper_range_mv(x: np.ndarray, margin_mv: float = 0.3) -> tuple[float, float]:
    """y range (mV) covering the trace, snapped outward to the 0.5 mV major grid, at least 2 mV tall."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return -1.0, 1.0
    lo, hi = np.percentile(x, 0.1) - margin_mv, np.percentile(x, 99.9) + margin_mv
    lo = np.floor(lo / PAPER["major_mv"]) * PAPER["major_mv"]
    hi = np.ceil(hi / PAPER["major_mv"]) * PAPER["major_mv"]
    if hi - lo < 2.0:
        mid = (hi + lo) / 2
        lo, hi = mid - 1.0, mid + 1.0
    return float(lo), float(hi)


def _class_of(predicted: int | float | str) -> str:
    if isinstance(predicted, str):
        return predicted if predicted in CLASS_STYLE else "other"
    return "abnormal" if int(predicted) == 1 else "normal"


def beat_calls(beats: pd.DataFrame) -> np.ndarray:
    """Each beat's call: the ``call`` column ('normal' | 'abnormal' | 'unreadable') when present
    (v2 models), else from ``predicted`` (0/1)."""
    if "call" in beats:
        return beats["call"].astype(str).to_numpy()
    return np.where(beats["predicted"].to_numpy().astype(int) == 1, "abnormal", "normal")


def _unreadable_runs(times: np.ndarray, unreadable: np.ndarray, pad_s: float = 0.35) -> list[tuple[float, float]]:
    """Stretches (s) covered by consecutive unreadable beats, each padded by ``pad_s``."""
    runs, start = [], None
    for k, u in enumerate(unreadable):
        if u and start is None:
            start = k
        if start is not None and (not u or k == len(unreadable) - 1):
            end = k if u else k - 1
            runs.append((float(times[start]) - pad_s, float(times[end]) + pad_s))
            start = None
    return runs


def ecg_strip(signal_mv: np.ndarray, fs: float, *, t0: float = 0.0, t1: float | None = None,
              beats: pd.DataFrame | None = None, reference: pd.DataFrame | None = None,
              lead_name: str = "", title: str | None = None, width_px: int = 1100,
              highlight_time_s: float | None = None, episodes=None) -> go.Figure:
    """One lead on ECG paper between ``t0`` and ``t1`` (s).

    Parameters
    ----------
    signal_mv : one lead, mV, at ``fs`` Hz (the whole record; only [t0, t1] is drawn).
    beats : optional per-beat table with ``time_s``, ``predicted`` (0/1), ``p_abnormal`` and, if
        present, ``rr_pre_ms``, ``ref_symbol``; each beat gets a marker above its R peak, styled by class.
    reference : optional reference annotations with ``time_s`` and ``symbol``, written above the trace.
    width_px : nominal plot width; the height is chosen so that 1 mm is square at that width.
    highlight_time_s : a beat to mark with a vertical band (the selected beat).
    episodes : optional rhythm episodes (``core.rhythm.Episode``) drawn as a labelled band in a row above
        everything else (``core.report.figures_rhythm.add_rhythm_band``). Beats whose ``call`` is
        'unreadable' get a grey cross and a hatched grey box over the stretch: neither normal nor abnormal.
    """
    x = np.asarray(signal_mv, float).reshape(-1)
    n = x.size
    dur = n / fs
    t1 = dur if t1 is None else min(t1, dur)
    t0 = max(0.0, min(t0, max(t1 - 1.0 / fs, 0.0)))
    i0, i1 = int(np.floor(t0 * fs)), int(np.ceil(t1 * fs)) + 1
    seg = x[i0:i1]
    t = (np.arange(i0, i0 + seg.size)) / fs
    y0, y1 = paper_range_mv(seg)
    # Rows above the trace, as on an annotated rhythm strip: predicted class markers, then reference letters.
    marker_row = y1 + 0.25
    top = y1 + (0.5 if beats is not None else 0.0) + (0.5 if reference is not None else 0.0)
    band = (top, top + 1.0) if episodes is not None else None  # 10 mm: two 5 mm lanes
    top = band[1] if band else top

    fig = go.Figure()
    _add_paper_grid(fig, t0, t1, y0, band[0] if band else top)
    fig.add_trace(go.Scatter(x=t, y=seg, mode="lines", name=lead_name or "ECG", showlegend=False,
                             line=dict(color=PAPER["trace_color"], width=1.4),
                             hovertemplate="%{x:.3f} s<br>%{y:.2f} mV<extra></extra>"))
    if highlight_time_s is not None and t0 <= highlight_time_s <= t1:
        fig.add_vrect(x0=highlight_time_s - 0.3, x1=highlight_time_s + 0.45, fillcolor=PALETTE["yellow"],
                      opacity=0.25, line_width=0, layer="below")
    if beats is not None and len(beats):
        b = beats[(beats["time_s"] >= t0) & (beats["time_s"] <= t1)]
        calls = beat_calls(b)
        for a, z in _unreadable_runs(b["time_s"].to_numpy(float), calls == "unreadable"):
            a, z = max(a, t0), min(z, t1)
            fig.add_trace(go.Bar(x=[(a + z) / 2], y=[marker_row + 0.2 - y0], base=[y0], width=[z - a], showlegend=False,
                                 name="unreadable stretch", hoverinfo="skip",
                                 marker=dict(color="rgba(160,160,160,0.18)", line=dict(width=0),
                                             pattern=dict(shape="/", fgcolor="rgba(110,110,110,0.55)", size=10))))
        for cls in ("normal", "abnormal", "unreadable"):
            m = calls == cls
            if not m.any():
                continue
            sub = b[m]
            st = CLASS_STYLE[cls]
            rr = sub["rr_pre_ms"].to_numpy(float) if "rr_pre_ms" in sub else np.full(len(sub), np.nan)
            ref = sub["ref_symbol"].astype(str).to_numpy() if "ref_symbol" in sub else np.full(len(sub), "")
            custom = np.stack([rr, sub["p_abnormal"].to_numpy(float), ref], 1)
            prob = "not called (signal unreadable)" if cls == "unreadable" else "%{customdata[1]:.2f}"
            fig.add_trace(go.Scatter(
                x=sub["time_s"], y=np.full(len(sub), marker_row), mode="markers",
                name=f"{st['label']} beat", legendgroup=cls,
                marker=dict(color=st["color"], symbol=st["symbol"], size=12,
                            line=dict(color=st["color"] if cls == "unreadable" else "white", width=2 if cls == "unreadable" else 1)),
                customdata=custom,
                hovertemplate=(f"<b>{st['label']}</b><br>time %{{x:.2f}} s<br>RR %{{customdata[0]:.0f}} ms"
                               f"<br>p(abnormal) {prob}<br>reference %{{customdata[2]}}<extra></extra>"),
            ))
    if band:
        from core.report.figures_rhythm import add_rhythm_band

        add_rhythm_band(fig, episodes, t0, t1, band[0] + 0.05, band[1])
    if reference is not None and len(reference):
        r = reference[(reference["time_s"] >= t0) & (reference["time_s"] <= t1)]
        if len(r):
            fig.add_trace(go.Scatter(
                x=r["time_s"], y=np.full(len(r), (band[0] if band else top) - 0.2), mode="text", text=r["symbol"].astype(str),
                textfont=dict(size=15, color=PALETTE["black"]), name="reference annotation", showlegend=True,
                hovertemplate="reference %{text} at %{x:.2f} s<extra></extra>"))
    # 1 mm square: the plot area is (t1-t0)*25 mm wide and (top-y0)*10 mm tall.
    w_mm, h_mm = (t1 - t0) * PAPER["mm_per_s"], (top - y0) * PAPER["mm_per_mv"]
    plot_w = width_px - 80
    height = int(np.clip(plot_w * h_mm / max(w_mm, 1e-6), 160, 900)) + (110 if title else 90)
    _base_layout(fig, height=height, title=title)
    fig.update_layout(plot_bgcolor=PAPER["background"], dragmode="pan", barmode="overlay", bargap=0)
    fig.update_xaxes(range=[t0, t1], dtick=1.0 if t1 - t0 > 3 else 0.2, showgrid=False, zeroline=False,
                     title_text="time (s)  ·  25 mm/s", ticks="outside", constrain="domain")
    px_per_mm = plot_w / max(w_mm, 1e-6)
    y_dtick = PAPER["major_mv"] if px_per_mm * PAPER["mm_per_mv"] * PAPER["major_mv"] >= 24 else 1.0  # legible labels
    # mV labels only along the trace's own range, not beside the marker rows and the rhythm band
    fig.update_yaxes(range=[y0, top], tickvals=list(np.arange(y0, y1 + 1e-9, y_dtick).round(3)), showgrid=False, zeroline=False,
                     title_text=f"{lead_name + '  ' if lead_name else ''}mV  ·  10 mm/mV", ticks="outside",
                     scaleanchor="x", scaleratio=_SCALE_RATIO, constrain="domain")
    return fig


def downsample_minmax(x: np.ndarray, fs: float, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and values keeping each bucket's min and max, so spikes survive decimation."""
    x = np.asarray(x, float).reshape(-1)
    n = x.size
    if n <= max_points:
        return np.arange(n) / fs, x
    buckets = max_points // 2
    size = int(np.ceil(n / buckets))
    pad = buckets * size - n
    xp = np.concatenate([x, np.full(pad, np.nan)]).reshape(buckets, size)
    with np.errstate(all="ignore"):
        imin = np.nanargmin(np.where(np.isnan(xp), np.inf, xp), axis=1)
        imax = np.nanargmax(np.where(np.isnan(xp), -np.inf, xp), axis=1)
    lo, hi = np.minimum(imin, imax), np.maximum(imin, imax)
    base = np.arange(buckets) * size
    idx = np.stack([base + lo, base + hi], 1).reshape(-1)
    idx = np.clip(idx, 0, n - 1)
    return idx / fs, x[idx]


def overview_strip(signal_mv: np.ndarray, fs: float, beats: pd.DataFrame | None = None,
                   window: tuple[float, float] | None = None, max_points: int = 4000) -> go.Figure:
    """The whole record, min/max-decimated to ``max_points``, flagged beats marked, the shown window shaded."""
    t, y = downsample_minmax(signal_mv, fs, max_points)
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", line=dict(color=PALETTE["grey"], width=0.8),
                               hoverinfo="skip", showlegend=False))
    if beats is not None and len(beats):
        flagged = beats[beats["predicted"].astype(int) == 1]
        if len(flagged):
            top = float(np.nanmax(y)) if y.size else 1.0
            st = CLASS_STYLE["abnormal"]
            fig.add_trace(go.Scatter(x=flagged["time_s"], y=np.full(len(flagged), top * 1.05 + 0.1), mode="markers",
                                     name="flagged beat", marker=dict(color=st["color"], symbol=st["symbol"], size=9),
                                     hovertemplate="flagged beat at %{x:.1f} s<extra></extra>"))
    if window is not None:
        fig.add_vrect(x0=window[0], x1=window[1], fillcolor=PALETTE["sky"], opacity=0.3, line_width=0)
    _base_layout(fig, height=170)
    # same left margin as the whole-record rhythm band and the tachogram, so their time axes line up
    fig.update_layout(margin=dict(l=WHOLE_RECORD_LEFT_PX, r=20, t=10, b=40))
    fig.update_xaxes(title_text="time (s), whole record", range=[0, len(np.asarray(signal_mv).reshape(-1)) / fs])
    fig.update_yaxes(title_text="mV", showticklabels=True, nticks=3, automargin=False)
    return fig


# ---- predictions -----------------------------------------------------------------------------

def probability_timeline(table: pd.DataFrame, threshold: float, column: str = "p_abnormal",
                         selected_time_s: float | None = None) -> go.Figure:
    """p(abnormal) of every beat over time, with the decision threshold and class-styled markers."""
    fig = go.Figure()
    if len(table):
        fig.add_trace(go.Scatter(x=table["time_s"], y=table[column], mode="lines", hoverinfo="skip",
                                 line=dict(color="#BBBBBB", width=1), showlegend=False))
    calls = beat_calls(table) if len(table) else np.array([])
    for cls in ("normal", "abnormal", "unreadable"):
        m = calls == cls
        if not m.any():
            continue
        sub = table[m]
        st = CLASS_STYLE[cls]
        fig.add_trace(go.Scatter(x=sub["time_s"], y=sub[column], mode="markers", name=f"{st['label']} beat",
                                 marker=dict(color=st["color"], symbol=st["symbol"], size=8),
                                 hovertemplate="%{x:.2f} s<br>p(abnormal) %{y:.2f}"
                                 + (" (not called: unreadable)" if cls == "unreadable" else "") + "<extra></extra>"))
    fig.add_hline(y=threshold, line=dict(color=PALETTE["black"], dash="dash", width=1.5),
                  annotation_text=f"threshold {threshold:.2f}", annotation_position="top left")
    if selected_time_s is not None:
        fig.add_vline(x=selected_time_s, line=dict(color=PALETTE["orange"], width=2))
    _base_layout(fig, height=300)
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="p(abnormal)", range=[-0.02, 1.02])
    return fig


def head_comparison(p_record: Mapping[str, float], thresholds: Mapping[str, float] | float | None = None,
                    heads: tuple[str, ...] = ("ecg", "note", "fused")) -> go.Figure:
    """Record probability of the ECG-only, note-only and fused heads side by side (horizontal bars).

    ``thresholds``: one per head (``{'ecg': .., 'note': .., 'fused': ..}``) or one for all; each bar is
    vermillion and hatched when at or over its own threshold, which is drawn as a black tick on the bar.
    ``heads``: which of them to draw (fact-gated v2 models have no note-only reading to show).
    """
    keys = [(k, lab) for k, lab in (("ecg", "ECG only"), ("note", "note only"), ("fused", "ECG + note (fused)"))
            if k in heads]
    thr = {k: (thresholds.get(k, 0.5) if isinstance(thresholds, Mapping) else (0.5 if thresholds is None else float(thresholds)))
           for k, _ in keys}
    vals = [float(p_record.get(k, float("nan"))) for k, _ in keys]
    labels = [lab for _, lab in keys]
    over = [v == v and v >= thr[k] for v, (k, _) in zip(vals, keys)]
    fig = go.Figure(go.Bar(
        x=[0 if v != v else v for v in vals], y=labels, orientation="h", showlegend=False,
        marker_color=[PALETTE["vermillion"] if o else PALETTE["blue"] for o in over],
        marker_pattern_shape=["/" if o else "" for o in over],
        text=["not available" if v != v else f"{v:.2f}" for v in vals], textposition="outside",
        hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[thr[k] for k, _ in keys], y=labels, mode="markers", name="threshold",
                             marker=dict(symbol="line-ns", size=34, line=dict(width=3, color=PALETTE["black"])),
                             hovertemplate="threshold %{x:.2f}<extra></extra>"))
    _base_layout(fig, height=130 + 40 * len(keys))
    fig.update_xaxes(range=[0, 1.15], title_text="record p(abnormal); black tick = that head's threshold")
    fig.update_yaxes(autorange="reversed")
    return fig


def zeroshot_bars(record_probs: pd.Series, beat_probs: pd.Series | None = None,
                  beat_label: str = "selected beat") -> go.Figure:
    """Zero-shot label probabilities for the record (and, if given, one beat), grouped bars."""
    labels = [str(x) for x in record_probs.index]
    fig = go.Figure(go.Bar(x=labels, y=record_probs.to_numpy(float), name="whole record",
                           marker_color=PALETTE["blue"], text=[f"{v:.2f}" for v in record_probs], textposition="outside"))
    if beat_probs is not None:
        bp = beat_probs.reindex(record_probs.index).to_numpy(float)
        fig.add_trace(go.Bar(x=labels, y=bp, name=beat_label, marker_color=PALETTE["orange"],
                             marker_pattern_shape="/", text=[f"{v:.2f}" for v in bp], textposition="outside"))
    _base_layout(fig, height=320)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.15], title_text="probability")
    fig.update_xaxes(title_text="label")
    return fig
