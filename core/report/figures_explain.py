"""Explanation figures: SHAP waterfall and summary, beat saliency, similar beats (Okabe-Ito colours
with a second, non-colour cue, as in ``core.report.figures``)."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.report.figures import PALETTE, PAPER, _base_layout, format_value


# ---- explanations ----------------------------------------------------------------------------

def shap_waterfall(feature_names: Sequence[str], values: Sequence[float], base_value: float,
                   data: Sequence[float] | None = None, units: Sequence[str] | None = None,
                   max_features: int = 10) -> go.Figure:
    """SHAP waterfall: base value, then each feature's contribution, ending at the prediction.

    Features are sorted by |SHAP|; those beyond ``max_features`` are summed into one bar so the total
    still reads base + contributions = prediction (Lundberg & Lee 2017 additivity).
    """
    v = np.asarray(values, float)
    names = list(feature_names)
    d = list(data) if data is not None else [None] * len(v)
    u = list(units) if units is not None else [""] * len(v)
    order = np.argsort(-np.abs(v))
    keep, rest = order[:max_features], order[max_features:]
    labels, contrib = [], []
    for i in keep:  # largest first; the axis is reversed so the bars read top to bottom
        labels.append(f"{names[i]} = {format_value(d[i], u[i])}" if data is not None else names[i])
        contrib.append(float(v[i]))
    if len(rest):
        labels.append(f"{len(rest)} other features")
        contrib.append(float(v[rest].sum()))
    pred = float(base_value + v.sum())
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=["absolute"] + ["relative"] * len(contrib) + ["total"],
        y=["base value"] + labels + ["prediction"], x=[float(base_value)] + contrib + [pred],
        text=[f"{base_value:.3f}"] + [f"{c:+.3f}" for c in contrib] + [f"{pred:.3f}"], textposition="outside",
        increasing=dict(marker=dict(color=PALETTE["vermillion"])), decreasing=dict(marker=dict(color=PALETTE["blue"])),
        totals=dict(marker=dict(color=PALETTE["grey"])), connector=dict(line=dict(color="#999999", width=1)),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>", cliponaxis=False,
    ))
    steps = np.concatenate([[base_value], base_value + np.cumsum(contrib), [pred]])
    lo, hi = float(min(0.0, steps.min())), float(steps.max())
    pad = 0.18 * max(hi - lo, 1e-3)  # room for the value labels outside the bars
    _base_layout(fig, height=90 + 34 * (len(contrib) + 2), legend=False)
    fig.update_layout(margin=dict(l=20, r=30, t=20, b=50))
    fig.update_xaxes(title_text="model output (probability); red raises, blue lowers", range=[lo, hi + pad])
    fig.update_yaxes(automargin=True, autorange="reversed")
    return fig


def shap_summary(shap_values: pd.DataFrame, feature_values: pd.DataFrame | None = None,
                 max_features: int = 12) -> go.Figure:
    """Record-level SHAP: mean |SHAP| bars (left) and a strip of every beat's SHAP value (right),
    coloured by the feature value's rank within the record (low = blue, high = vermillion)."""
    from plotly.subplots import make_subplots

    mean_abs = shap_values.abs().mean().sort_values(ascending=True).tail(max_features)
    feats = list(mean_abs.index)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.03, column_widths=[0.35, 0.65],
                        subplot_titles=("mean |SHAP| over beats", "SHAP of each beat (colour: feature value rank)"))
    fig.add_trace(go.Bar(x=mean_abs.to_numpy(), y=list(range(len(feats))), orientation="h", marker_color=PALETTE["blue"],
                         customdata=feats, showlegend=False, hovertemplate="%{customdata}: %{x:.3f}<extra></extra>"),
                  row=1, col=1)
    rng = np.random.default_rng(0)
    for k, f in enumerate(feats):
        s = shap_values[f].to_numpy(float)
        if feature_values is not None and f in feature_values:
            fv = pd.Series(feature_values[f].to_numpy(float)).rank(pct=True).to_numpy()
        else:
            fv = np.full(len(s), 0.5)
        jitter = rng.uniform(-0.28, 0.28, len(s))
        fig.add_trace(go.Scatter(
            x=s, y=k + jitter, mode="markers", showlegend=False,
            marker=dict(size=6, color=np.nan_to_num(fv, nan=0.5), cmin=0, cmax=1,
                        colorscale=[[0, PALETTE["blue"]], [0.5, "#DDDDDD"], [1, PALETTE["vermillion"]]],
                        showscale=(k == 0), colorbar=dict(title="value<br>rank", len=0.6, tickvals=[0, 1], ticktext=["low", "high"])),
            hovertemplate=f"{f}: SHAP %{{x:.3f}}<extra></extra>"), row=1, col=2)
    _base_layout(fig, height=120 + 30 * len(feats), legend=False)
    fig.update_yaxes(tickvals=list(range(len(feats))), ticktext=feats, range=[-0.6, len(feats) - 0.4], row=1, col=1)
    fig.update_xaxes(title_text="mean |SHAP|", row=1, col=1)
    fig.update_xaxes(title_text="SHAP value (probability)", zeroline=True, zerolinecolor="#888", row=1, col=2)
    return fig


def beat_saliency(window: np.ndarray, saliency: np.ndarray, fs: float = 360.0, title: str | None = None) -> go.Figure:
    """One beat window (record-normalised amplitude) with integrated-gradients saliency overlaid.

    The saliency is shown twice so it does not depend on colour: as the marker colour of the trace
    and as a filled band under it (|IG| scaled to the window's amplitude range).
    """
    w = np.asarray(window, float).reshape(-1)
    s = np.asarray(saliency, float).reshape(-1)
    t = (np.arange(w.size) - w.size // 2) / fs * 1000.0
    mag = np.abs(s)
    mag = mag / mag.max() if mag.size and mag.max() > 0 else mag
    span = (np.nanmax(w) - np.nanmin(w)) if w.size else 1.0
    base = np.nanmin(w) - 0.1 * span if w.size else 0.0
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=base + mag * 0.5 * span, mode="lines",
                             line=dict(color=PALETTE["orange"], width=1.5), name="|saliency| (scaled)"))
    fig.add_trace(go.Scatter(x=t, y=np.full_like(t, base), mode="lines", line=dict(color=PALETTE["orange"], width=0),
                             fill="tonexty", fillcolor="rgba(230,159,0,0.3)", showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=t, y=w, mode="lines", name="beat", line=dict(color=PAPER["trace_color"], width=2),
                             hovertemplate="%{x:.0f} ms from R<br>amplitude %{y:.2f}<extra></extra>"))
    hot = mag >= 0.25
    fig.add_trace(go.Scatter(x=t[hot], y=w[hot], mode="markers", name="high |IG| (≥ 25 % of max)",
                             marker=dict(size=7, symbol="diamond", color=mag[hot], colorscale="YlOrRd", cmin=0.25, cmax=1,
                                         showscale=True, colorbar=dict(title="|IG|", len=0.7)),
                             hovertemplate="%{x:.0f} ms from R<br>|IG| %{marker.color:.2f} of max<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#999", dash="dot"))
    _base_layout(fig, height=340, title=title)
    fig.update_xaxes(title_text="time from R peak (ms)")
    fig.update_yaxes(title_text="amplitude (÷ record R height)")
    return fig


def similar_beats(query: np.ndarray, others: Iterable[np.ndarray], labels: Sequence[str],
                  fs: float = 360.0) -> go.Figure:
    """The selected beat (thick black) over its nearest known beats (thin, dashed when abnormal)."""
    q = np.asarray(query, float).reshape(-1)
    t = (np.arange(q.size) - q.size // 2) / fs * 1000.0
    fig = go.Figure()
    cols = [PALETTE["sky"], PALETTE["green"], PALETTE["purple"], PALETTE["orange"], PALETTE["yellow"], PALETTE["grey"]]
    for k, (w, lab) in enumerate(zip(others, labels)):
        w = np.asarray(w, float).reshape(-1)
        fig.add_trace(go.Scatter(x=t[: w.size], y=w, mode="lines", name=str(lab),
                                 line=dict(color=cols[k % len(cols)], width=1.6, dash="solid" if "N" in str(lab)[:3] else "dash")))
    fig.add_trace(go.Scatter(x=t, y=q, mode="lines", name="this beat", line=dict(color=PALETTE["black"], width=3)))
    _base_layout(fig, height=440)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0, font=dict(size=13)),
                      margin=dict(l=60, r=20, t=20, b=40))
    fig.update_xaxes(title_text="time from R peak (ms)")
    fig.update_yaxes(title_text="amplitude (÷ record R height)")
    return fig
