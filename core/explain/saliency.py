"""Integrated Gradients (Sundararajan et al. 2017) of the shown head's logit over the primary-lead window."""
from __future__ import annotations

import numpy as np
import torch

from core.explain.head import _build_head, _check_beat, _scaled
from core.model.inference import feature_matrix, torch_threads


# ---- ECG waveform saliency -----------------------------------------------------------------------
def beat_saliency(case, bundle, beat_index: int, n_steps: int = 32) -> np.ndarray:
    """Integrated Gradients of the shown head's logit w.r.t. the primary-lead window ``[360]``.

    Baseline: a flat (all-zero) window; the other leads, the features and the note stay fixed, so the
    attributions sum to logit(beat) - logit(primary lead flat). Units: logit per sample (360 Hz). With a
    feature booster (``core.model.booster``) this is the network's logit, the waveform evidence the trees read:
    trees have no gradient.
    """
    from captum.attr import IntegratedGradients

    i = _check_beat(case, beat_index)
    model = bundle.model
    model.eval()
    win = case.beats.windows[i]  # [L, 360]
    head = _build_head(case, bundle, case.view, np.array([i]))
    feats = _scaled(model, feature_matrix(case.beats.features.iloc[[i]], bundle.config.features))[0]
    fixed_pre = head.note_pre + feats @ head.w_feat.T + head.bias  # [H]
    others = head.ecg_pre[0, 1:] + fixed_pre  # leads after the primary, held fixed [L-1, H]

    def forward(x):  # x [B, 360]
        emb, z = model.encode_ecg(x)
        pre0 = model.ecg_part(emb, z) @ head.w_ecg.T + fixed_pre  # [B, H]
        pre = torch.cat([pre0[:, None], others[None].expand(len(x), -1, -1)], 1)  # [B, L, H]
        return head.logits(pre)

    x = torch.from_numpy(np.ascontiguousarray(win[0], np.float32))[None]
    with torch.enable_grad(), torch_threads(1):
        attr = IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps)
    return attr[0].detach().numpy().astype(np.float32)
