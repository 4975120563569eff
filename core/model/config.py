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

#: v2 adds what reads each beat against its own record (core.signal.relative: the patient's rhythm and
#: dominant morphology, never its labels), signal quality (core.signal.quality) and pacing spikes on the
#: unfiltered lead (core.signal.pacing). Chosen on record-grouped out-of-fold training predictions.
MODEL_FEATURES_V2 = MODEL_FEATURES + (
    "rr_pre_prev10_ratio",
    "rr_post_prev10_ratio",
    "rr_pre_regular_ratio",
    "rr_post_regular_ratio",
    "template_corr",
    "template_dist",
    "window_template_corr",
    "window_template_dist",
    "cluster_frac",
    "qrs_width_rel",
    "r_amp_rel",
    "p_template_corr",
    "p_energy_rel",
    "t_template_corr",
    "sqi",
    "spike_amp_mv",
    "paced_spike",
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
    #: AAMI classes the heads call abnormal (v1: S, Q; v2 adds V so that every PVC is flagged).
    abnormal_classes: list[str] = field(default_factory=lambda: ["S", "Q"])
    #: How the note enters the fused head: 'concat' (v1: BERT projection concatenated, memorises
    #: patients) or 'fact_gated' (v2: only the facts the recognizer finds, core.model.fusion).
    fusion: str = "concat"
    facts: list[str] = field(default_factory=list)  # fact vocabulary, recognizer order (core.text.facts)
    fact_inputs: dict = field(default_factory=dict)  # fact -> feature names it may read
    fact_directions: dict = field(default_factory=dict)  # fact -> +1 / -1 / 0 (core.text.facts.Fact.direction)
    fact_tau: float = 0.75  # recognizer probability below which a fact has exactly no effect
    max_residual: float = 2.0  # largest logit change one fact can make
    #: weight w of the feature booster's log-odds in the ECG logit, (1 - w) * network + w * booster
    #: (core.model.booster; 0 = no booster, as in v1)
    booster_weight: float = 0.0
    #: calibrated ECG-only probability at which zero-shot's normal gate is even (``core.zeroshot.gate_normal``),
    #: chosen on record-grouped OOF training predictions (Youden 1950); None: the beat threshold ``thresholds['ecg']``
    zeroshot_gate: float | None = None
    #: [[c, fraction of OOF normal beats with calibrated p >= c], ...] (``core.model.confidence``): how often a
    #: normal beat reaches c, so the record verdict's one-beat level can follow the record's length; None: fixed
    normal_exceedance: list | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
