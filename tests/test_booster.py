"""The feature booster (core.model.booster): trees exported from scikit-learn give its exact log-odds, survive
the bundle round trip, are blended into the ECG logit, and SHAP still explains the probability shown."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from core import config, explain
from core.explain.shap import BOOSTER_BACKGROUND, BOOSTER_PERMUTATIONS
from core.io import read_record
from core.model.booster import booster_logit, load_booster, save_booster
from core.model.bundle import load_bundle, save_bundle
from core.model.config import MODEL_FEATURES_V2, ModelConfig
from core.model.inference import feature_matrix, predict_logits
from core.model.nets import CardioLensModel
from core.predict import analyse_case
from core.signal.beats import extract_beats
from core.training.booster_fit import booster_from_sklearn, fit_booster


def _toy(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) * np.nan_to_num(x[:, 1], nan=1.0) + 0.3 * rng.normal(size=n) > 0).astype(int)
    return x, y


def test_exported_trees_give_sklearn_log_odds_with_missing_values():
    x, y = _toy()
    clf = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=9, random_state=0).fit(x, y)
    b = booster_from_sklearn(clf)
    assert b.n_trees == 25
    np.testing.assert_allclose(booster_logit(b, x), clf.decision_function(x), atol=1e-9)
    assert booster_logit(b, x[:0]).shape == (0,)


def test_booster_npz_round_trip(tmp_path):
    x, y = _toy()
    b = fit_booster(x, y, seed=1)
    save_booster(b, tmp_path)
    np.testing.assert_array_equal(booster_logit(load_booster(tmp_path), x), booster_logit(b, x))
    with pytest.raises(FileNotFoundError, match="booster.npz"):
        load_booster(tmp_path / "elsewhere")


@pytest.fixture(scope="module")
def boosted(tmp_path_factory):
    """A random network on the 10 s example's feature scaling, with a booster fitted to a made-up rule, w = 0.4."""
    torch.manual_seed(0)
    rec = read_record(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv")
    beats = extract_beats(rec)
    feats = feature_matrix(beats.features, list(MODEL_FEATURES_V2))
    fill = np.nanmedian(feats, 0)
    f = np.where(np.isnan(feats), fill, feats)
    conf = ModelConfig(version="test-boosted", features=list(MODEL_FEATURES_V2), feature_fill=fill.tolist(), feature_mean=f.mean(0).tolist(),
                       feature_std=np.maximum(f.std(0), 1e-3).tolist(), booster_weight=0.4,
                       calibration={"ecg": [1.2, -0.3], "note": [1.0, 0.0], "fused": [1.0, 0.0]})
    model = CardioLensModel(conf).eval()
    rng = np.random.default_rng(0)
    train = np.repeat(f, 40, 0) * rng.normal(1, 0.05, (len(f) * 40, f.shape[1])).astype(np.float32)
    model.booster = fit_booster(train, train[:, 0] < np.median(train[:, 0]), seed=0)
    folder = tmp_path_factory.mktemp("boosted")
    save_bundle(model, folder)
    np.savez_compressed(folder / "explain_assets.npz", background_features=f.astype(np.float32),
                        index_z=np.zeros((2, 128), np.float16), index_record=np.array(["x", "y"]), index_sample=np.arange(2),
                        index_symbol=np.array(["N", "N"]), index_window=np.zeros((2, 360), np.float16))
    return load_bundle(folder), rec, beats, feats


def test_ecg_logit_is_the_weighted_blend(boosted):
    bundle, _, beats, feats = boosted
    assert bundle.model.booster is not None
    got = predict_logits(bundle.model, beats.windows, feats, None)["ecg"]
    booster, bundle.model.booster = bundle.model.booster, None
    try:
        net = predict_logits(bundle.model, beats.windows, feats, None)["ecg"]
    finally:
        bundle.model.booster = booster
    np.testing.assert_allclose(got, 0.6 * net + 0.4 * booster_logit(booster, feats), rtol=1e-5, atol=1e-5)


def test_shap_explains_the_boosted_probability_shown(boosted):
    bundle, rec, _, _ = boosted
    case = analyse_case(rec, None, bundle, None)
    for i in (0, len(case.beats) // 2):
        e = explain.shap_features(case, bundle, i)
        assert e.prediction == pytest.approx(case.table["p_abnormal"].iloc[i], abs=1e-4)
        assert e.base_value + e.values.sum() == pytest.approx(e.prediction, abs=1e-6)
        assert e.meta["background_rows"] <= BOOSTER_BACKGROUND and f"{BOOSTER_PERMUTATIONS} antithetic" in e.meta["method"]

