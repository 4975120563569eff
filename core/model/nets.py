"""The multimodal contrastive model of seed 000 and its bundle on disk.

ECG encoder (seed MLP 360 -> 128 -> ReLU -> 64, or a small 1-D ResNet) -> projection to the shared
128-d space; note encoder (frozen BERT, pooled) -> projection to the same space; NT-Xent aligns the two.
Three classifier heads read the shared space plus the beat's clinical features:

- ECG-only:  [ECG projection || features]                 (used when no note is given)
- note-only: [note projection]
- fused:     [ECG projection || note projection || features]
"""
from __future__ import annotations

import torch
from torch import nn

from core.model.fusion import FactGatedHead

from core.model.config import ModelConfig


class MLPEncoder(nn.Module):
    """Seed 000 ECG encoder: one beat window (360 samples) -> 128 -> ReLU -> 64."""

    def __init__(self, window: int, embed_dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(window, 128), nn.ReLU(), nn.Linear(128, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T]
        return self.net(x)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, k: int = 5):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, k, padding=k // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))


class CNNEncoder(nn.Module):
    """Small 1-D ResNet (in the spirit of seeds 001-002's ResNet1d) for one beat window.

    Sized for 2 CPU cores (~0.2 M multiply-adds a beat): the 360-sample window is averaged to 180 Hz,
    a strided stem and two residual stages bring it to 45 steps, then a flatten keeps where the P and
    T waves sit relative to R (global pooling would throw that away) before a linear layer to 64.
    """

    def __init__(self, window: int, embed_dim: int = 64, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(
            nn.AvgPool1d(2), nn.Conv1d(1, width // 2, 7, stride=2, padding=3, bias=False), nn.BatchNorm1d(width // 2), nn.ReLU()
        )
        self.stages = nn.Sequential(_ResBlock(width // 2, width, 2), _ResBlock(width, width, 1))
        n = window // 2
        for _ in range(2):
            n = (n + 1) // 2
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(width * n, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T]
        return self.head(self.stages(self.stem(x.unsqueeze(1))))


class ReconstructionDecoder(nn.Module):
    """Seed 004 auxiliary: rebuild the (masked) window from the ECG embedding."""

    def __init__(self, embed_dim: int, window: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, 256), nn.ReLU(), nn.Linear(256, window))

    def forward(self, z):
        return self.net(z)


def _head(d_in: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1))


class CardioLensModel(nn.Module):
    """ECG encoder + text projection (over frozen BERT sentence vectors) + three classifier heads."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.ecg_encoder = MLPEncoder(c.window, c.embed_dim) if c.encoder == "mlp" else CNNEncoder(c.window, c.embed_dim)
        self.ecg_proj = nn.Linear(c.embed_dim, c.proj_dim)
        self.text_proj = nn.Sequential(nn.Linear(c.text_dim, 256), nn.ReLU(), nn.Linear(256, c.proj_dim))
        n_f = len(c.features)
        e_dim = c.proj_dim if c.shared_projection else c.embed_dim
        t_dim = c.proj_dim if c.shared_projection else c.text_dim
        self.head_ecg = _head(e_dim + n_f)
        if c.fusion == "fact_gated":
            # the note reaches the reading only through recognised facts: a prior (note-only) and
            # bounded, fact-specific residuals on the ECG logit (fused); see core.model.fusion
            self.head_note = nn.Linear(len(c.facts), 1)
            self.head_fused = FactGatedHead(c.facts, c.features, c.fact_inputs, c.max_residual, tau=c.fact_tau,
                                            directions=c.fact_directions)
        else:
            self.head_note = _head(t_dim)
            self.head_fused = _head(e_dim + t_dim + n_f)
        self.decoder = ReconstructionDecoder(c.embed_dim, c.window)
        #: feature booster blended into the ECG logit (core.model.booster); set by the bundle loader or trainer
        self.booster = None
        self.register_buffer("f_fill", torch.tensor(c.feature_fill or [0.0] * n_f, dtype=torch.float32))
        self.register_buffer("f_mean", torch.tensor(c.feature_mean or [0.0] * n_f, dtype=torch.float32))
        self.register_buffer("f_std", torch.tensor(c.feature_std or [1.0] * n_f, dtype=torch.float32))

    # -- building blocks -------------------------------------------------------------------------
    def scale_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Raw features (units as in ``FEATURE_UNITS``) -> imputed, standardised, clipped to +/-6."""
        f = torch.where(torch.isnan(feats), self.f_fill.expand_as(feats), feats)
        return ((f - self.f_mean) / self.f_std).clamp(-6, 6)

    def encode_ecg(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Beat windows ``[B, 360]`` (record-normalised) -> (embedding 64-d, shared-space 128-d)."""
        emb = self.ecg_encoder(windows)
        return emb, self.ecg_proj(emb)

    def encode_text(self, bert_vectors: torch.Tensor) -> torch.Tensor:
        """Pooled BERT sentence vectors ``[B, text_dim]`` -> shared-space ``[B, 128]``."""
        return self.text_proj(bert_vectors)

    def ecg_part(self, emb, z):
        """What the heads read of the ECG: the shared-space ``z``, or the raw embedding (ablation)."""
        return z if self.config.shared_projection else emb

    def note_part(self, bert, tz):
        """What the heads read of the note: the shared-space ``tz``, or the BERT vector (ablation)."""
        return tz if self.config.shared_projection else bert

    def head_layers(self, view: str) -> tuple[nn.Linear, nn.Module]:
        """The first linear layer of head ``view`` ('ecg' | 'note' | 'fused') and the rest of that head.

        The first layer's input is ``[ecg_part || note_part || scaled features]`` (parts absent from a
        head left out), so explanations can split its pre-activation into the three sources.
        """
        head = {"ecg": self.head_ecg, "note": self.head_note, "fused": self.head_fused}[view]
        return head[0], head[1:]

    # -- heads (logits) --------------------------------------------------------------------------
    def logit_ecg(self, emb, z, feats_scaled):
        return self.head_ecg(torch.cat([self.ecg_part(emb, z), feats_scaled], 1)).squeeze(1)

    def logit_note(self, bert, tz):
        return self.head_note(self.note_part(bert, tz)).squeeze(1)

    def logit_note_facts(self, fact_probs: torch.Tensor) -> torch.Tensor:
        """Note-only logit of a fact-gated model from the note's fact probabilities ``[B, K]``."""
        return self.head_note(fact_probs).squeeze(1)

    def logit_fused_facts(self, ecg_logit: torch.Tensor, feats_scaled: torch.Tensor, fact_probs: torch.Tensor) -> torch.Tensor:
        """Fused logit of a fact-gated model: the ECG-only logit moved only by recognised facts."""
        return self.head_fused(ecg_logit, feats_scaled, fact_probs)

    def logit_fused(self, emb, z, bert, tz, feats_scaled):
        return self.head_fused(torch.cat([self.ecg_part(emb, z), self.note_part(bert, tz), feats_scaled], 1)).squeeze(1)
