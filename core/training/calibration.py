"""Calibration and thresholds from held-out (record-grouped out-of-fold) predictions: Platt (1999)
scaling of a head's logits and the threshold that maximises F1.
"""
from __future__ import annotations

import numpy as np


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * logit + b) by logistic regression on held-out predictions."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(logits.reshape(-1, 1), y.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def best_f1_threshold(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    prec, rec, thr = precision_recall_curve(y, p)
    f1 = 2 * prec * rec / np.clip(prec + rec, 1e-9, None)
    return float(thr[int(np.nanargmax(f1[:-1]))]) if len(thr) else 0.5
