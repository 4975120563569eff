"""Fit the feature booster (``core.model.booster``) with scikit-learn's histogram gradient boosting and export
its trees as arrays."""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from core.model.booster import FeatureBooster

#: Trees, learning rate and leaves: sized so that scoring a 30-min record's beats costs tens of ms (numpy).
N_TREES, LEARNING_RATE, MAX_LEAF_NODES = 150, 0.12, 15


def fit_booster(features: np.ndarray, y: np.ndarray, seed: int = 0) -> FeatureBooster:
    """Gradient-boosted trees on raw features ``[n, F]`` (NaN = not measured) for ``y`` (1 = abnormal),
    classes weighted to balance; returns the trees as a ``FeatureBooster``."""
    clf = HistGradientBoostingClassifier(max_iter=N_TREES, learning_rate=LEARNING_RATE, max_leaf_nodes=MAX_LEAF_NODES,
                                         class_weight="balanced", early_stopping=False, random_state=seed)
    clf.fit(np.asarray(features, np.float32), np.asarray(y).astype(int))
    return booster_from_sklearn(clf)


def booster_from_sklearn(clf: HistGradientBoostingClassifier) -> FeatureBooster:
    """The trees of a fitted binary ``HistGradientBoostingClassifier`` (numeric features only) as arrays."""
    trees = [p[0].nodes for p in clf._predictors]  # one predictor per iteration for a binary target
    if any(t["is_categorical"].any() for t in trees):
        raise ValueError("booster_from_sklearn: categorical splits are not supported.")
    n_t, m = len(trees), max(len(t) for t in trees)
    arr = {k: np.zeros((n_t, m), dt) for k, dt in (("feature", np.int32), ("threshold", np.float64), ("left", np.int32),
                                                    ("right", np.int32), ("value", np.float64))}
    is_leaf, miss = np.ones((n_t, m), bool), np.zeros((n_t, m), bool)
    for i, t in enumerate(trees):
        k = len(t)
        arr["feature"][i, :k], arr["threshold"][i, :k] = t["feature_idx"], t["num_threshold"]
        arr["left"][i, :k], arr["right"][i, :k], arr["value"][i, :k] = t["left"], t["right"], t["value"]
        is_leaf[i, :k], miss[i, :k] = t["is_leaf"], t["missing_go_to_left"]
    depth = int(max(t["depth"].max() for t in trees)) + 1
    return FeatureBooster(feature=arr["feature"], threshold=arr["threshold"], missing_left=miss, left=arr["left"],
                          right=arr["right"], is_leaf=is_leaf, value=arr["value"],
                          baseline=float(np.ravel(clf._baseline_prediction)[0]), max_depth=depth)
