"""Contrastive and auxiliary losses; each returns a scalar tensor, the training loop sums a dict of them.

- ``nt_xent``: symmetric NT-Xent / InfoNCE between ECG and text embeddings (seed 000, tau 0.05), with
  optional multi-positive targets: rows whose texts are the same (or, with a similarity matrix, close)
  are not pushed apart (false-negative mitigation, FG-CLEP seed 003).
- ``sigmoid_contrastive``: the pairwise sigmoid loss (SigLIP) used by FG-CLEP (seed 003).
- ``unimodal_alignment``: MERL's uni-modal alignment (seed 002): two latent-dropout views of the same
  ECG embedding are contrasted with each other.
- ``masked_reconstruction``: mean squared error on the masked samples of a beat window (seed 004).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def positive_mask_from_ids(text_ids: torch.Tensor) -> torch.Tensor:
    """``[B, B]`` boolean matrix: True where two rows were paired with the same text."""
    return text_ids.unsqueeze(0) == text_ids.unsqueeze(1)


def positive_mask_from_similarity(text_emb: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """``[B, B]`` boolean matrix: True where two texts' (unit) embeddings have cosine >= threshold.

    FG-CLEP's false-negative mitigation: texts that say nearly the same thing are not negatives.
    """
    z = F.normalize(text_emb, dim=-1)
    return (z @ z.T) >= threshold


def nt_xent(
    ecg_z: torch.Tensor,
    text_z: torch.Tensor,
    temperature: float = 0.05,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric NT-Xent between L2-normalised ECG and text embeddings ``[B, D]``.

    Without ``positives`` only the diagonal pairs are positives (seed 000). With a ``[B, B]`` boolean
    ``positives`` matrix, each row's target is spread uniformly over its positives (multi-positive
    InfoNCE), so beats that share a text are not pushed apart.
    """
    e = F.normalize(ecg_z, dim=-1)
    t = F.normalize(text_z, dim=-1)
    logits = e @ t.T / temperature
    if positives is None:
        target = torch.arange(len(e), device=e.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    pos = positives.float()
    pos = pos + torch.eye(len(e), device=e.device) * (pos.diagonal() == 0).float()  # diagonal always positive
    t_rows = pos / pos.sum(1, keepdim=True)
    t_cols = pos.T / pos.T.sum(1, keepdim=True)
    loss_e = -(t_rows * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(t_cols * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (loss_e + loss_t)


def sigmoid_contrastive(
    ecg_z: torch.Tensor,
    text_z: torch.Tensor,
    temperature: float = 0.05,
    bias: float = -5.0,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pairwise sigmoid loss (Zhai et al. 2023, SigLIP; used by FG-CLEP): every pair is a binary task."""
    e = F.normalize(ecg_z, dim=-1)
    t = F.normalize(text_z, dim=-1)
    logits = e @ t.T / temperature + bias
    if positives is None:
        positives = torch.eye(len(e), dtype=torch.bool, device=e.device)
    labels = positives.float() * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / len(e)


def unimodal_alignment(ecg_emb: torch.Tensor, dropout: float = 0.1, temperature: float = 0.1) -> torch.Tensor:
    """MERL (seed 002) uni-modal alignment: NT-Xent between two latent-dropout views of the embedding."""
    v1 = F.dropout(ecg_emb, p=dropout, training=True)
    v2 = F.dropout(ecg_emb, p=dropout, training=True)
    return nt_xent(v1, v2, temperature=temperature)


def masked_reconstruction(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Seed 004: mean squared error over the masked samples only (``mask`` True where hidden)."""
    m = mask.float()
    return ((recon - target) ** 2 * m).sum() / m.sum().clamp(min=1.0)


def random_span_mask(shape: tuple[int, int], ratio: float = 0.25, span: int = 20, generator=None) -> torch.Tensor:
    """Boolean ``[B, T]`` mask hiding random contiguous spans covering about ``ratio`` of each window."""
    b, t = shape
    n_spans = max(1, int(round(ratio * t / span)))
    starts = torch.randint(0, max(1, t - span), (b, n_spans), generator=generator)
    idx = starts.unsqueeze(-1) + torch.arange(span)
    mask = torch.zeros(b, t, dtype=torch.bool)
    mask.scatter_(1, idx.reshape(b, -1).clamp(max=t - 1), True)
    return mask
