"""Honest evaluation on the inter-patient split: metrics, per-record errors, the classical baseline.

All numbers are on DS2 (+107, 217), records never used in training, thresholds and calibration come
from record-grouped out-of-fold predictions on the training records. Per-class figures: S (or Q)
sensitivity = flagged S / all S; S PPV = flagged S / (flagged S + flagged N), i.e. how many of the
N-vs-S alarms are real (Q beats left out of that ratio so the paced records do not inflate it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from core import config


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with equal-width probability bins."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def calibration_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = [dict(bin_mid=(edges[b] + edges[b + 1]) / 2, mean_p=float(p[idx == b].mean()), frac_pos=float(y[idx == b].mean()),
                 n=int((idx == b).sum())) for b in range(bins) if (idx == b).any()]
    return pd.DataFrame(rows)


def _safe_auc(y, p) -> float:
    y = np.asarray(y)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def binary_report(aami: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Metrics of abnormal probability ``p`` for beats with AAMI class ``aami`` (N=0; S,Q=1; V,F ignored)."""
    aami = np.asarray(aami)
    keep = np.isin(aami, ["N", "S", "Q"])
    a, p = aami[keep], np.asarray(p, float)[keep]
    y = (a != "N").astype(int)
    pred = (p >= threshold).astype(int)
    tp, fp = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum())
    fn, tn = int(((pred == 0) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    out = dict(
        n_beats=int(len(y)), n_N=int((a == "N").sum()), n_S=int((a == "S").sum()), n_Q=int((a == "Q").sum()),
        threshold=float(threshold),
        accuracy=(tp + tn) / max(len(y), 1), precision=tp / max(tp + fp, 1), recall=tp / max(tp + fn, 1),
        auc=_safe_auc(y, p), ece=ece(p, y), confusion=[[tn, fp], [fn, tp]],
    )
    out["f1"] = 2 * out["precision"] * out["recall"] / max(out["precision"] + out["recall"], 1e-9)
    for c in ("S", "Q"):
        m = a == c
        flagged_c = int((pred[m] == 1).sum())
        out[f"{c}_sensitivity"] = flagged_c / max(int(m.sum()), 1)
        out[f"{c}_ppv"] = flagged_c / max(flagged_c + fp, 1)
        mn = np.isin(a, ["N", c])
        out[f"{c}_vs_N_auc"] = _safe_auc((a[mn] == c).astype(int), p[mn])
    out["N_flagged_rate"] = fp / max(int((a == "N").sum()), 1)
    return out


def per_record_errors(records: np.ndarray, aami: np.ndarray, p: np.ndarray, threshold: float) -> pd.DataFrame:
    """Per test record: beats, S/Q found, N falsely flagged."""
    rows = []
    for r in sorted(set(records)):
        m = (records == r) & np.isin(aami, ["N", "S", "Q"])
        a, pr = aami[m], p[m] >= threshold
        rows.append(dict(record=r, n=int(m.sum()), N=int((a == "N").sum()), S=int((a == "S").sum()), Q=int((a == "Q").sum()),
                         S_found=int((pr & (a == "S")).sum()), Q_found=int((pr & (a == "Q")).sum()),
                         N_flagged=int((pr & (a == "N")).sum())))
    return pd.DataFrame(rows)


def roc_points(aami: np.ndarray, p: np.ndarray, max_points: int = 200) -> dict:
    keep = np.isin(aami, ["N", "S", "Q"])
    fpr, tpr, _ = roc_curve((aami[keep] != "N").astype(int), p[keep])
    sel = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
    return {"fpr": fpr[sel].round(5).tolist(), "tpr": tpr[sel].round(5).tolist()}


# --- the classical baseline of the issue: gradient boosting on RR + a 90-point beat shape ----------------
def baseline_inputs(windows: np.ndarray, features: pd.DataFrame) -> np.ndarray:
    rr = features[["rr_pre_ms", "rr_post_ms", "rr_pre_local_ratio", "rr_pre_record_ratio", "rr_post_pre_ratio"]].to_numpy(np.float32)
    shape = windows[:, 0, ::4][:, :90]
    return np.concatenate([rr, shape], 1)


def fit_baseline(X: np.ndarray, y: np.ndarray, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, class_weight="balanced", random_state=seed).fit(X, y)


def aami_of(symbols) -> np.ndarray:
    return np.array([config.AAMI_CLASS.get(s, "") for s in symbols], dtype=object)
