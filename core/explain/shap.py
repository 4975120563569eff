"""Shapley values (Shapley 1953; interventional SHAP, Lundberg & Lee 2017) of the shown probability of one
beat over the clinical features against a background of training beats; the waveform embedding and the
note are held fixed. Up to ``MAX_EXACT_FEATURES`` features by enumeration of all 2^F coalitions; above
that by antithetic permutation sampling (Strumbelj & Kononenko 2014), whose values still add up exactly
to prediction - base value (each permutation's marginal contributions telescope).
For fact-gated (v2) models the ECG-only reading is explained: the note moves it only through recognised
facts, which the note explanations and "what the note changed" show.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from core.explain.explanation import Explanation
from core.explain.head import _Head, _background, _build_head, _check_beat, _scaled
from core.model.inference import feature_matrix, torch_threads
from core.signal.beats import BEAT_FEATURE_UNITS


#: Exact enumeration costs 2^F model calls per background row; above this many features, permutation sampling.
MAX_EXACT_FEATURES = 16
#: Permutations (in antithetic pairs) of the sampling estimate; its standard error is in ``meta['stderr']``.
N_PERMUTATIONS = 64
#: With a feature booster (``core.model.booster``) every coalition x background row runs the trees in numpy:
#: fewer permutations and background rows keep one beat's SHAP near 0.15 s (the stderr says the cost).
BOOSTER_PERMUTATIONS, BOOSTER_BACKGROUND = 8, 24
#: Coalitions evaluated per chunk in ``shap_features`` (bounds memory: chunk x background x leads x hidden).
_COALITION_CHUNK = 256

# ---- SHAP over clinical features -----------------------------------------------------------------
def _coalition_masks(n_f: int) -> np.ndarray:
    """All 2^F coalitions as a bool matrix; row s has feature j on iff bit j of s is set."""
    s = np.arange(2**n_f, dtype=np.int64)
    return ((s[:, None] >> np.arange(n_f)) & 1).astype(bool)


def _shapley_from_values(v: np.ndarray, n_f: int) -> np.ndarray:
    """Exact Shapley values from the value of every coalition ``v[2^F]`` (bit-indexed)."""
    s = np.arange(2**n_f, dtype=np.int64)
    size = np.array([bin(i).count("1") for i in range(2**n_f)])
    weight = np.array([math.factorial(k) * math.factorial(n_f - k - 1) / math.factorial(n_f) for k in range(n_f)])
    phi = np.zeros(n_f)
    for j in range(n_f):
        without = s[(s >> j) & 1 == 0]
        phi[j] = np.sum(weight[size[without]] * (v[without | (1 << j)] - v[without]))
    return phi


def _coalition_values(head: _Head, row: int, s_x: torch.Tensor, s_bg: torch.Tensor, masks: np.ndarray,
                      raw_x: np.ndarray | None = None, raw_bg: np.ndarray | None = None) -> np.ndarray:
    """Mean shown probability over the background for every coalition (features on = the beat's); the raw
    rows ``raw_x`` [F] and ``raw_bg`` [B, F] feed the model's feature booster when it has one."""
    base = head.ecg_pre[row] + head.note_pre + head.bias  # [L, H]
    out = np.empty(len(masks))
    m_all = torch.from_numpy(masks)
    with torch.no_grad():
        for i in range(0, len(masks), _COALITION_CHUNK):
            m = m_all[i : i + _COALITION_CHUNK]  # [C, F]
            mixed = torch.where(m[:, None, :], s_x, s_bg[None])  # [C, B, F] scaled features
            pre = base + (mixed @ head.w_feat.T)[:, :, None, :]  # [C, B, L, H]
            raw = None if raw_x is None else np.where(m.numpy()[:, None, :], raw_x, raw_bg[None])  # [C, B, F]
            out[i : i + len(m)] = head.prob(head.logits(pre, raw)).double().mean(1).numpy()
    return out


def shap_features(case, bundle, beat_index: int, background: np.ndarray | None = None) -> Explanation:
    """Exact Shapley values of the probability shown for one beat, over the model's clinical features.

    The value of a coalition is the mean calibrated probability when the coalition's features take
    the beat's values and the others take each background row's (interventional SHAP, Lundberg & Lee
    2017), enumerated over all 2^F coalitions; the beat's waveform embedding and the note stay fixed.
    ``background``: rows of raw features; default the bundle's ``explain_assets.npz`` training rows
    (else the training medians). Returns values in probability units (0-1).
    """
    with torch_threads(1):
        return _shap_features(case, bundle, beat_index, background)


def _shap_features(case, bundle, beat_index: int, background: np.ndarray | None) -> Explanation:
    i = _check_beat(case, beat_index)
    model, names = bundle.model, list(bundle.config.features)
    n_f = len(names)
    view = "ecg" if bundle.config.fusion == "fact_gated" else case.view
    head = _build_head(case, bundle, view, np.array([i]))
    raw = feature_matrix(case.beats.features.iloc[[i]], names)[0]
    bg = _background(bundle, background)
    boosted = model.booster is not None and bundle.config.booster_weight > 0
    if boosted and len(bg) > BOOSTER_BACKGROUND:  # evenly spaced rows of the (shuffled) training sample
        bg = bg[np.linspace(0, len(bg) - 1, BOOSTER_BACKGROUND).round().astype(int)]
    s_x, s_bg = _scaled(model, raw[None])[0], _scaled(model, bg)
    raws = (raw, bg) if boosted else (None, None)
    n_perm = BOOSTER_PERMUTATIONS if boosted else N_PERMUTATIONS
    stderr = None
    if n_f <= MAX_EXACT_FEATURES:
        masks = _coalition_masks(n_f)
        v = _coalition_values(head, 0, s_x, s_bg, masks, *raws)
        phi, base, pred = _shapley_from_values(v, n_f), float(v[0]), float(v[-1])
    else:
        phi, base, pred, stderr = _shapley_by_permutations(head, s_x, s_bg, n_f, n_perm, raws=raws)
    units = [BEAT_FEATURE_UNITS.get(c, "") for c in names]
    return Explanation(
        values=phi, base_values=base, data=raw.astype(float), feature_names=names, kind="shap",
        meta={"prediction": pred, "units": units, "beat_index": i, "view": view, "stderr": stderr,
              "method": "exact enumeration" if stderr is None else f"{n_perm} antithetic permutations",
              "background_rows": int(len(bg))},
    )


def _shapley_by_permutations(head: _Head, s_x: torch.Tensor, s_bg: torch.Tensor, n_f: int, n_perm: int, seed: int = 0,
                             raws: tuple = (None, None)):
    """(phi, base, prediction, standard error of phi) from ``n_perm`` permutations in antithetic pairs."""
    rng = np.random.default_rng(seed)
    half = [rng.permutation(n_f) for _ in range(max(1, n_perm // 2))]
    perms = half + [p[::-1] for p in half]
    masks = np.zeros((len(perms), n_f + 1, n_f), bool)
    for k, p in enumerate(perms):
        for step in range(1, n_f + 1):
            masks[k, step, p[:step]] = True
    v = _coalition_values(head, 0, s_x, s_bg, masks.reshape(-1, n_f), *raws).reshape(len(perms), n_f + 1)
    contrib = np.zeros((len(perms), n_f))
    for k, p in enumerate(perms):
        contrib[k, p] = np.diff(v[k])
    pairs = 0.5 * (contrib[: len(half)] + contrib[len(half):])
    stderr = pairs.std(0, ddof=1) / np.sqrt(len(pairs)) if len(pairs) > 1 else np.zeros(n_f)
    return contrib.mean(0), float(v[0, 0]), float(v[0, -1]), stderr


def _pick_beats(case, max_beats: int, seed: int = 0) -> np.ndarray:
    """All flagged beats first (most probable first), then a seeded sample of the others, up to ``max_beats``."""
    n = len(case.beats)
    p = case.table["p_abnormal"].to_numpy(float)
    flagged = np.flatnonzero(case.table["predicted"].to_numpy() == 1)
    flagged = flagged[np.argsort(-p[flagged], kind="stable")][:max_beats]
    rest = np.setdiff1d(np.arange(n), flagged)
    k = min(len(rest), max_beats - len(flagged))
    extra = np.sort(np.random.default_rng(seed).choice(rest, k, replace=False)) if k > 0 else np.array([], int)
    return np.concatenate([flagged, extra]).astype(int)


def shap_record(case, bundle, max_beats: int = 40, background: np.ndarray | None = None) -> Explanation:
    """SHAP of up to ``max_beats`` beats (all flagged first, then a sample) for a bar / beeswarm summary."""
    names = list(bundle.config.features)
    idx = _pick_beats(case, max_beats)
    exps = [shap_features(case, bundle, int(i), background) for i in idx]
    vals = np.stack([e.values for e in exps]) if exps else np.zeros((0, len(names)))
    data = np.stack([e.data for e in exps]) if exps else np.zeros((0, len(names)))
    summary = pd.DataFrame({
        "feature": names, "unit": [BEAT_FEATURE_UNITS.get(c, "") for c in names],
        "mean_abs_shap": np.abs(vals).mean(0) if len(vals) else np.nan, "mean_shap": vals.mean(0) if len(vals) else np.nan,
    }).sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    return Explanation(values=vals, base_values=exps[0].base_value if exps else float("nan"), data=data,
                       feature_names=names, kind="shap_record",
                       meta={"summary": summary, "beat_index": idx, "predictions": np.array([e.prediction for e in exps]),
                             "units": [BEAT_FEATURE_UNITS.get(c, "") for c in names], "view": exps[0].meta["view"] if exps else case.view})
