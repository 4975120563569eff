"""Faithfulness checks (Samek et al. 2017): delete the top attributed inputs and compare the change of the
output with deleting random ones; a faithful attribution changes the output more.
"""
from __future__ import annotations

import numpy as np
import torch

from core.explain.head import _background, _build_head, _scaled
from core.explain.note import _note_target, note_attention, note_gradients
from core.explain.shap import _pick_beats, shap_features
from core.model.inference import torch_threads


# ---- faithfulness --------------------------------------------------------------------------------
def deletion_test(case, bundle, k: int = 3, n_random: int = 20, seed: int = 0, max_beats: int = 40) -> dict:
    """Feature deletion test: set the top-k |SHAP| features of a beat to the background mean and measure
    |delta p| of the shown probability, against ``n_random`` draws of k random features.

    Over up to ``max_beats`` beats (flagged first, as ``shap_record``). A faithful explanation gives
    ``delta_top_k`` well above ``delta_random`` (ratio > 1).
    """
    n_f = len(bundle.config.features)
    k = max(1, min(int(k), n_f))
    bg = _background(bundle, None)
    with np.errstate(all="ignore"):
        fill = np.asarray(bundle.config.feature_fill or [0.0] * n_f, np.float32)
        bg_mean = np.where(np.isnan(np.nanmean(bg, 0)), fill, np.nanmean(bg, 0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    idx = _pick_beats(case, max_beats, seed)
    top_d, rnd_d = [], []
    with torch_threads(1):
        for i in idx:
            top, rnd = _deletion_one(case, bundle, int(i), k, n_random, bg_mean, rng)
            top_d.append(top)
            rnd_d.append(rnd)
    dt, dr = float(np.mean(top_d)) if top_d else float("nan"), float(np.mean(rnd_d)) if rnd_d else float("nan")
    return {"k": k, "n_beats": len(idx), "n_random": n_random, "delta_top_k": dt, "delta_random": dr,
            "ratio": dt / dr if dr > 0 else float("nan"), "view": case.view}


def _deletion_one(case, bundle, i: int, k: int, n_random: int, bg_mean: np.ndarray, rng) -> tuple[float, float]:
    """|delta p| of one beat when its top-k |SHAP| features, then k random ones, take the background mean."""
    model, n_f = bundle.model, len(bundle.config.features)
    exp = shap_features(case, bundle, i)
    head = _build_head(case, bundle, case.view, np.array([i]))
    base = head.ecg_pre[0] + head.note_pre + head.bias
    top = np.argsort(-np.abs(exp.values), kind="stable")[:k]
    rand = [rng.choice(n_f, k, replace=False) for _ in range(n_random)]
    rows = np.repeat(exp.data[None].astype(np.float32), 1 + n_random, 0)
    for r, cols in enumerate([top] + rand):
        rows[r, cols] = bg_mean[cols]
    with torch.no_grad():
        p = head.prob(head.logits(base + (_scaled(model, rows) @ head.w_feat.T)[:, None, :], rows)).double().numpy()
    d = np.abs(p - exp.prediction)
    return float(d[0]), float(d[1:].mean()) if n_random else float("nan")


def _drop_words(note: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for s, e in sorted(spans):
        out.append(note[last:s])
        last = e
    out.append(note[last:])
    return " ".join("".join(out).split())


def note_deletion_test(note: str, case, bundle, text_encoder, k: int = 3, n_random: int = 10, seed: int = 0,
                       n_steps: int = 32) -> dict:
    """Delete the top-k attended words vs the top-k |IG| words (vs k random words) from the note and
    measure |delta p| of the fused record probability (the target of ``note_gradients``)."""
    att = note_attention(note, text_encoder)
    grad = note_gradients(note, case, bundle, text_encoder, n_steps=n_steps)
    if att.empty:
        raise ValueError("The note has no words to delete; give a non-empty note.")
    target = _note_target(case, bundle)
    k = max(1, min(int(k), len(att)))

    def p_of(text: str) -> float:
        with torch.no_grad():
            return float(target(torch.from_numpy(text_encoder.embed([text or "."]))).item())

    p_full = p_of(note)
    pick = {"attention": att.nlargest(k, "normalised"), "gradient": grad.nlargest(k, "normalised")}
    res: dict = {"k": k, "p_full": p_full}
    for name, sel in pick.items():
        p = p_of(_drop_words(note, list(zip(sel["start"], sel["end"]))))
        res[f"words_{name}"] = list(sel["word"])
        res[f"p_drop_{name}"] = p
        res[f"delta_{name}"] = abs(p - p_full)
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_random):
        rows = att.iloc[rng.choice(len(att), k, replace=False)]
        deltas.append(abs(p_of(_drop_words(note, list(zip(rows["start"], rows["end"])))) - p_full))
    res["delta_random"] = float(np.mean(deltas)) if deltas else float("nan")
    return res
