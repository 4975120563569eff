"""Honest evaluation on the inter-patient split: metrics, per-record errors, the classical baseline.

All numbers are on DS2 (+107, 217), records never used in training, thresholds and calibration come
from record-grouped out-of-fold predictions on the training records. Per-class figures: S (or Q)
sensitivity = flagged S / all S; S PPV = flagged S / (flagged S + flagged N), i.e. how many of the
N-vs-S alarms are real (Q beats left out of that ratio so the paced records do not inflate it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve



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


def auc_score(y, score) -> float:
    """ROC AUC of ``score`` for binary ``y``; NaN when ``y`` holds one class only (AUC undefined)."""
    y = np.asarray(y).astype(int)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def binary_report(aami: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Metrics of abnormal probability ``p`` for beats with AAMI class ``aami`` (N=0; S,Q=1; V,F ignored)."""
    aami = np.asarray(aami)
    keep = np.isin(aami, ["N", "S", "Q"])
    p_all = p
    a, p = aami[keep], np.asarray(p, float)[keep]
    y = (a != "N").astype(int)
    pred = (p >= threshold).astype(int)
    tp, fp = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum())
    fn, tn = int(((pred == 0) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    out = dict(
        n_beats=int(len(y)), n_N=int((a == "N").sum()), n_S=int((a == "S").sum()), n_Q=int((a == "Q").sum()),
        threshold=float(threshold),
        accuracy=(tp + tn) / max(len(y), 1), precision=tp / max(tp + fp, 1), recall=tp / max(tp + fn, 1),
        auc=auc_score(y, p), ece=ece(p, y), confusion=[[tn, fp], [fn, tp]],
    )
    out["f1"] = 2 * out["precision"] * out["recall"] / max(out["precision"] + out["recall"], 1e-9)
    for c in ("S", "Q"):
        m = a == c
        flagged_c = int((pred[m] == 1).sum())
        out[f"{c}_sensitivity"] = flagged_c / max(int(m.sum()), 1)
        out[f"{c}_ppv"] = flagged_c / max(flagged_c + fp, 1)
        mn = np.isin(a, ["N", c])
        out[f"{c}_vs_N_auc"] = auc_score((a[mn] == c).astype(int), p[mn])
    out["N_flagged_rate"] = fp / max(int((a == "N").sum()), 1)
    v = aami == "V"  # V beats are outside the AUC (seed 000's binary task) but every PVC should be flagged
    out["n_V"] = int(v.sum())
    out["V_flagged_rate"] = float((np.asarray(p_all, float)[v] >= threshold).mean()) if v.any() else None
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


def _auc_or_none(y, score) -> float | None:
    """``auc_score`` with None instead of NaN (JSON null in metrics files)."""
    v = auc_score(np.asarray(y, bool), score)
    return None if np.isnan(v) else v


def zero_shot_metrics(aami: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Metrics of ``/work/shared/checks/eval_zs.py`` on beats with AAMI classes ``aami`` and ``probs`` ``[n, L]``.

    Per-class one-vs-rest AUC; ``V_vs_S``: AUC of P(V)/(P(V)+P(S)) among V and S beats (a plain
    abnormality score gets 0.5 there); ``F_vs_NV``: AUC of P(F)/(P(F)+P(N)+P(V)) among N, V, F beats;
    5-class accuracy and balanced accuracy of the argmax; ``macro_auc``: mean of the per-class AUCs.
    """
    aami = np.asarray(aami, dtype=object)
    probs = np.asarray(probs, float)
    res: dict = {"n_beats": int(len(aami)), "class_counts": {c: int((aami == c).sum()) for c in labels}}
    per_class = {c: _auc_or_none(aami == c, probs[:, j]) for j, c in enumerate(labels)}
    res["auc"] = {c: v for c, v in per_class.items() if v is not None}
    aucs = list(res["auc"].values())
    res["macro_auc"] = float(np.mean(aucs)) if aucs else None

    def rel(num: list[str], den: list[str], keep: list[str], pos: str):
        if not all(c in labels for c in den):
            return None
        m = np.isin(aami, keep)
        d = probs[m][:, [labels.index(c) for c in den]].sum(1)
        nmr = probs[m][:, [labels.index(c) for c in num]].sum(1)
        r = np.round(np.divide(nmr, d, out=np.full(d.shape, 0.5), where=d > 0), 6)
        return _auc_or_none(aami[m] == pos, r)

    res["V_vs_S"] = rel(["V"], ["V", "S"], ["V", "S"], "V")
    res["F_vs_NV"] = rel(["F"], ["F", "N", "V"], ["N", "V", "F"], "F")
    pred = np.array(labels, dtype=object)[probs.argmax(1)] if len(probs) else np.array([], dtype=object)
    present = [c for c in labels if (aami == c).any()]
    res["accuracy"] = float((pred == aami).mean()) if len(aami) else None
    res["recall"] = {c: float((pred[aami == c] == c).mean()) for c in present}
    res["balanced_acc"] = float(np.mean(list(res["recall"].values()))) if present else None
    return res
