"""Inference with a trained model: feature matrices, head logits, Platt-calibrated probabilities, thread scope.

Used by ``core.predict``, ``core.zeroshot``, ``core.explain`` and by training; it imports nothing from
``core.training``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.model.booster import booster_logit
from core.model.nets import CardioLensModel


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block on ``n`` intra-op torch threads and restore the caller's setting afterwards.

    Many tiny tensor ops on 2 shared cores: with 2 threads each op waits for both to be scheduled,
    which made SHAP ~10x slower and beat scoring ~3x slower under load (``core.bench``).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def feature_matrix(beats_df, features: list[str]) -> np.ndarray:
    """``[n_beats, n_features]`` float32 from a features DataFrame, columns in the order of ``features``.

    Raises ``KeyError`` naming the columns that are missing: a model must never silently read NaN
    for a feature it was trained on (NaN inside a column is a value that could not be measured).
    """
    missing = [c for c in features if c not in beats_df]
    if missing:
        raise KeyError(f"feature_matrix: the beat table has no column {', '.join(missing)}; "
                       f"compute it with core.signal.features.beat_features.")
    cols = [beats_df[c].to_numpy(np.float32) for c in features]
    return np.stack(cols, 1) if cols else np.zeros((len(beats_df), 0), np.float32)


def blend_booster(model: CardioLensModel, network_logit: torch.Tensor, raw_features: np.ndarray) -> torch.Tensor:
    """The ECG logit: ``(1 - w) * network + w * booster`` log-odds (``core.model.booster``); the network logit
    unchanged when the model has no booster. ``raw_features`` ``[..., F]`` match the logit's leading shape."""
    w = float(model.config.booster_weight)
    if model.booster is None or w <= 0:
        return network_logit
    raw = np.asarray(raw_features, np.float64)
    boost = booster_logit(model.booster, raw.reshape(-1, raw.shape[-1])).reshape(raw.shape[:-1])
    return (1.0 - w) * network_logit + w * torch.as_tensor(boost, dtype=network_logit.dtype)


@torch.no_grad()
def predict_logits(model: CardioLensModel, windows: np.ndarray, features: np.ndarray, note_vec: np.ndarray | None,
                   batch_size: int = 2048, fact_probs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Raw logits of the three heads for beats; ECG logits averaged over the leads given.

    ``windows`` [n, L, 360]; ``features`` [n, F] raw units; ``note_vec`` BERT vector [text_dim] of the
    record's note or None (then 'fused' and 'note' are NaN). A fact-gated model (``config.fusion ==
    'fact_gated'``) reads ``fact_probs`` [K] (the recognizer's p(stated) per fact) instead of the vector.
    """
    model.eval()
    n, n_leads = windows.shape[0], windows.shape[1]
    out = {"ecg": [], "fused": [], "note": [], "z": []}
    gated = model.config.fusion == "fact_gated"
    fp = None if (not gated or fact_probs is None) else torch.as_tensor(np.asarray(fact_probs, np.float32))[None]
    nv = None if (gated or note_vec is None) else torch.from_numpy(np.asarray(note_vec, np.float32))[None]
    ntz = None if nv is None else model.encode_text(nv)
    for i in range(0, n, batch_size):
        w = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size], dtype=np.float32))
        b = w.shape[0]
        fsc = model.scale_features(torch.from_numpy(np.asarray(features[i : i + batch_size], np.float32)))
        emb, z = model.encode_ecg(w.reshape(b * n_leads, -1))
        emb, z = emb.reshape(b, n_leads, -1), z.reshape(b, n_leads, -1)
        le = torch.stack([model.logit_ecg(emb[:, k], z[:, k], fsc) for k in range(n_leads)], 1).mean(1)
        le = blend_booster(model, le, features[i : i + batch_size])
        out["ecg"].append(le.numpy())
        out["z"].append(F.normalize(z, dim=-1).mean(1).numpy())
        if fp is not None:  # v2: the ECG logit moved by the recognised facts
            out["fused"].append(model.logit_fused_facts(le, fsc, fp.expand(b, -1)).numpy())
            out["note"].append(model.logit_note_facts(fp).expand(b).numpy())
        elif nv is not None:  # v1: the note's projection concatenated, per lead
            lf = torch.stack([model.logit_fused(emb[:, k], z[:, k], nv.expand(b, -1), ntz.expand(b, -1), fsc) for k in range(n_leads)], 1).mean(1)
            out["fused"].append(lf.numpy())
            out["note"].append(model.logit_note(nv, ntz).expand(b).numpy())
    res = {k: np.concatenate(v) if v else np.full(n, np.nan, np.float32) for k, v in out.items() if k != "z"}
    res["z"] = np.concatenate(out["z"]) if out["z"] else np.zeros((0, model.config.proj_dim), np.float32)
    return res


def calibrated(logits: np.ndarray, ab) -> np.ndarray:
    """Platt-calibrated probability ``sigmoid(a * logit + b)`` (Platt 1999) with ``ab = (a, b)``."""
    return 1.0 / (1.0 + np.exp(-(ab[0] * np.asarray(logits, float) + ab[1])))
