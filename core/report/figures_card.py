"""Model-card figures: ROC curves, reliability diagram, confusion heat map, per-record errors."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.report.figures import PALETTE, _base_layout


# ---- model card --------------------------------------------------------------------------------

def roc_curve(curves: Mapping[str, Mapping[str, Sequence[float]]], aucs: Mapping[str, float] | None = None) -> go.Figure:
    """ROC curves ``{name: {'fpr': [...], 'tpr': [...]}}`` with the chance diagonal."""
    fig = go.Figure()
    styles = [(PALETTE["blue"], "solid"), (PALETTE["vermillion"], "dash"), (PALETTE["green"], "dot")]
    for k, (name, c) in enumerate(curves.items()):
        col, dash = styles[k % len(styles)]
        auc = (aucs or {}).get(name)
        fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", line=dict(color=col, dash=dash, width=2.5),
                                 name=f"{name}" + (f" (AUC {auc:.3f})" if auc is not None and auc == auc else "")))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dot"), name="chance"))
    _base_layout(fig, height=420)
    fig.update_xaxes(title_text="false positive rate (1 - specificity)", range=[0, 1])
    fig.update_yaxes(title_text="true positive rate (sensitivity)", range=[0, 1.01])
    return fig


def calibration_curve(bins: pd.DataFrame) -> go.Figure:
    """Reliability diagram from rows ``mean_p, frac_pos, n`` (one per probability bin)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dot"), name="perfect"))
    if len(bins):
        size = 8 + 14 * np.sqrt(bins["n"] / bins["n"].max()) if "n" in bins else 10
        fig.add_trace(go.Scatter(x=bins["mean_p"], y=bins["frac_pos"], mode="lines+markers", name="model",
                                 line=dict(color=PALETTE["blue"], width=2.5), marker=dict(size=size, symbol="circle"),
                                 customdata=bins["n"] if "n" in bins else None,
                                 hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>n %{customdata}<extra></extra>"))
    _base_layout(fig, height=420)
    fig.update_xaxes(title_text="mean predicted p(abnormal)", range=[0, 1])
    fig.update_yaxes(title_text="observed fraction abnormal", range=[0, 1.01])
    return fig


def confusion_heatmap(matrix: Sequence[Sequence[int]], row_labels: Sequence[str], col_labels: Sequence[str],
                      title: str | None = None) -> go.Figure:
    """Confusion matrix with counts written in every cell (rows: reference, columns: predicted)."""
    z = np.asarray(matrix, float)
    fig = go.Figure(go.Heatmap(z=z, x=list(col_labels), y=list(row_labels), colorscale="Blues", showscale=False,
                               text=np.asarray(matrix).astype(int).astype(str), texttemplate="%{text}",
                               textfont=dict(size=18), hovertemplate="reference %{y}<br>predicted %{x}<br>%{z:.0f} beats<extra></extra>"))
    _base_layout(fig, height=120 + 60 * len(row_labels), title=title, legend=False)
    fig.update_xaxes(title_text="predicted", side="bottom")
    fig.update_yaxes(title_text="reference", autorange="reversed")
    return fig


def per_record_errors(df: pd.DataFrame) -> go.Figure:
    """Per test record: abnormal beats found vs missed and normal beats falsely flagged."""
    d = df.copy()
    d["record"] = d["record"].astype(str)
    d["abnormal_total"] = d.get("S", 0) + d.get("Q", 0)
    d["found"] = d.get("S_found", 0) + d.get("Q_found", 0)
    d["missed"] = d["abnormal_total"] - d["found"]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=d["record"], y=d["found"], name="abnormal found", marker_color=PALETTE["green"]))
    fig.add_trace(go.Bar(x=d["record"], y=d["missed"], name="abnormal missed", marker_color=PALETTE["vermillion"],
                         marker_pattern_shape="x"))
    fig.add_trace(go.Bar(x=d["record"], y=d.get("N_flagged", 0), name="normal falsely flagged",
                         marker_color=PALETTE["orange"], marker_pattern_shape="/"))
    _base_layout(fig, height=380)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="test record (MIT-BIH)", type="category")
    fig.update_yaxes(title_text="beats")
    return fig
