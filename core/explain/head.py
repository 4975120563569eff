"""The shown classifier head, rebuilt from its first linear layer (public model hooks only).

The shown probability of a beat is ``sigmoid(a * mean_over_leads(head logit) + b)`` with the head of
``case.view`` ('fused' with a note, else 'ecg') and its Platt calibration ``(a, b)`` from the bundle.
Splitting the first layer's pre-activation into ECG + note + features + bias lets thousands of
feature coalitions (SHAP) or interpolation steps (integrated gradients) cost one small matrix product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.explain.explanation import explain_assets
from core.model.inference import blend_booster


# ---- the shown head, rebuilt from its first linear layer -----------------------------------------
@dataclass
class _Head:
    """One classifier head split at its first linear layer: pre-activation = ecg + note + features + bias."""

    view: str
    rest: torch.nn.Module  # the head after its first linear layer
    w_ecg: torch.Tensor  # [H, d_ecg]
    w_note: torch.Tensor | None  # [H, d_note] (fused head only)
    w_feat: torch.Tensor  # [H, F]
    bias: torch.Tensor  # [H]
    ecg_pre: torch.Tensor  # [n_beats, L, H] ECG-part contribution per lead
    note_pre: torch.Tensor  # [H] note contribution (zeros for the ECG head or without a note)
    calib: tuple[float, float]
    model: torch.nn.Module | None = None  # for the feature booster blended into the ECG logit

    def logits(self, pre: torch.Tensor, raw_features: np.ndarray | None = None) -> torch.Tensor:
        """Pre-activations ``[..., L, H]`` -> lead-averaged logits ``[...]``; with the raw feature rows
        ``[..., F]`` of the same beats, the model's feature booster is blended in (``blend_booster``)."""
        net = self.rest(pre).squeeze(-1).mean(-1)
        if raw_features is None or self.model is None or self.view != "ecg":  # the booster moves the ECG logit only
            return net
        return blend_booster(self.model, net, raw_features)

    def prob(self, logits: torch.Tensor) -> torch.Tensor:
        a, b = self.calib
        return torch.sigmoid(a * logits + b)


def _ecg_parts(model, windows: np.ndarray) -> torch.Tensor:
    """ECG part of the head input per beat and lead ``[n, L, d]`` (shared-space z, or the raw embedding)."""
    n, n_leads = windows.shape[:2]
    with torch.no_grad():
        emb, z = model.encode_ecg(torch.from_numpy(np.ascontiguousarray(windows, np.float32)).reshape(n * n_leads, -1))
        part = model.ecg_part(emb, z)
    return part.reshape(n, n_leads, -1)


def _note_part(model, bert: torch.Tensor) -> torch.Tensor:
    return model.note_part(bert, model.encode_text(bert))


def _build_head(case, bundle, view: str, beat_idx: np.ndarray) -> _Head:
    model = bundle.model
    model.eval()
    if bundle.config.fusion == "fact_gated":
        view = "ecg"  # v2: the fused head is the ECG head moved by recognised facts; the ECG part is what is explained
    first, rest = model.head_layers("fused" if view == "fused" else "ecg")
    if not isinstance(first, torch.nn.Linear):
        raise TypeError("core.explain expects each classifier head to start with a linear layer (see core.model.nets._head).")
    n_f = len(bundle.config.features)
    ecg = _ecg_parts(model, case.beats.windows[beat_idx])
    d_e = ecg.shape[-1]
    w = first.weight.detach()
    with torch.no_grad():
        ecg_pre = ecg @ w[:, :d_e].T
        w_note = None
        note_pre = torch.zeros(w.shape[0])
        if view == "fused":
            w_note = w[:, d_e : w.shape[1] - n_f]
            if case.note is not None and case.note.vector is not None:
                note_pre = _note_part(model, torch.from_numpy(np.asarray(case.note.vector, np.float32))[None])[0] @ w_note.T
    calib = tuple(float(v) for v in bundle.config.calibration.get(view, [1.0, 0.0]))
    return _Head(view=view, rest=rest, w_ecg=w[:, :d_e], w_note=w_note, w_feat=w[:, w.shape[1] - n_f :], bias=first.bias.detach(),
                 ecg_pre=ecg_pre, note_pre=note_pre, calib=calib, model=model)


def _scaled(model, raw: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.scale_features(torch.from_numpy(np.asarray(raw, np.float32)))


def _check_beat(case, beat_index: int) -> int:
    n = len(case.beats)
    if not -n <= int(beat_index) < n:
        raise IndexError(f"Beat {beat_index} does not exist: this case has {n} beats (0 to {n - 1}).")
    return int(beat_index) % n


def _background(bundle, background: np.ndarray | None) -> np.ndarray:
    if background is not None:
        return np.atleast_2d(np.asarray(background, np.float32))
    assets = explain_assets(bundle)
    if assets is not None:
        return assets.background_features
    # No training sample shipped: explain against the training median beat (the imputation values).
    return np.asarray(bundle.config.feature_fill or [0.0] * len(bundle.config.features), np.float32)[None]
