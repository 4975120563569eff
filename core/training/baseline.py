"""The classical baseline of the issue: gradient boosting (scikit-learn ``HistGradientBoostingClassifier``)
on five RR features and a 90-point beat shape (the primary-lead window at 90 Hz)."""
from __future__ import annotations

import numpy as np
import pandas as pd

def baseline_inputs(windows: np.ndarray, features: pd.DataFrame) -> np.ndarray:
    rr = features[["rr_pre_ms", "rr_post_ms", "rr_pre_local_ratio", "rr_pre_record_ratio", "rr_post_pre_ratio"]].to_numpy(np.float32)
    shape = windows[:, 0, ::4][:, :90]
    return np.concatenate([rr, shape], 1)


def fit_baseline(X: np.ndarray, y: np.ndarray, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, class_weight="balanced", random_state=seed).fit(X, y)
