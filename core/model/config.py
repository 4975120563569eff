"""`ModelConfig`: everything needed to rebuild a model (saved as ``config.json`` in a bundle), and the
clinical features the classifier reads (``MODEL_FEATURES``, columns of ``core.signal.features.beat_features``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from core import config as cfg


from core.text.encoder import DEFAULT_TEXT_MODEL

#: Clinical features the classifier reads (columns of ``core.features.beat_features``), in order.
MODEL_FEATURES = (
    "rr_pre_ms",
    "rr_post_ms",
    "rr_pre_local_ratio",
    "rr_pre_record_ratio",
    "rr_pre_sinus_ratio",
    "rr_post_pre_ratio",
    "pr_ms",
    "p_amp_mv",
    "qrs_ms",
    "qrs_amp_mv",
    "t_amp_mv",
    "hrv_rmssd_ms",
)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` in the bundle."""

    version: str = "dev"
    encoder: str = "cnn"  # 'mlp' (seed 000) | 'cnn' (small 1-D ResNet)
    window: int = cfg.BEAT_WINDOW
    fs: float = cfg.MODEL_FS
    embed_dim: int = 64
    proj_dim: int = 128
    shared_projection: bool = True  # ablation (seed table 4): heads read raw embeddings instead
    text_model: str = DEFAULT_TEXT_MODEL
    text_dim: int = 384
    pooling: str = "mean"
    temperature: float = 0.05
    zeroshot_temperature: float = 0.05
    features: list[str] = field(default_factory=lambda: list(MODEL_FEATURES))
    feature_fill: list[float] = field(default_factory=list)  # median imputation for NaN (train set)
    feature_mean: list[float] = field(default_factory=list)
    feature_std: list[float] = field(default_factory=list)
    # calibration of each head: p = sigmoid(a * logit + b), fitted on record-grouped OOF predictions
    calibration: dict = field(default_factory=lambda: {"ecg": [1.0, 0.0], "note": [1.0, 0.0], "fused": [1.0, 0.0]})
    thresholds: dict = field(default_factory=lambda: {"ecg": 0.5, "note": 0.5, "fused": 0.5})
    train: dict = field(default_factory=dict)  # training options, data, split, class counts

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
