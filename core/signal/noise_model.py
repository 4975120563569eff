"""The learned noise index: probability that a beat lies in a stretch an annotator marked unreadable.

Logistic regression (Cox 1958) on the per-beat quality indices of ``core.signal.quality`` (bSQI, kSQI,
pSQI, basSQI, the window amplitude against the record's and the two high-frequency noise indices; Li,
Clifford & Mark 2008; Clifford et al. 2012) and on their medians over the 7 beats centred on the beat
(noise comes in stretches). The weights live in ``noise_model.json`` beside this module, written by
``python -m core.training.noise_fit`` from the MIT-BIH-style '~' signal-quality annotations of the training
records only (DS1 + 102, 104 and the 58 SVDB records), each analysed whole and as 10 s, 1 min and 5 min pieces
(the indices are relative to the analysed signal, so a short upload must be seen in training too); the threshold
comes from their record-grouped out-of-fold predictions by a rule fixed before the test records were read (see
that module).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

MODEL_PATH = Path(__file__).with_name("noise_model.json")
#: Quality indices the index reads (columns of ``core.signal.quality.assess_beat_quality``).
INPUTS = ("bsqi", "ksqi", "psqi", "bassqi", "amp_rel", "hf_rel", "hf_snr")
#: Beats in the centred median that gives each input its neighbourhood value.
NEIGHBOURS = 7


@dataclass(frozen=True)
class NoiseModel:
    """Standardised logistic regression: p = sigmoid(intercept + coef . (x - mean) / scale)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # p_noise at or above which a beat is unreadable
    fit: dict = field(default_factory=dict)  # what the fit measured (out-of-fold), for the docs
    #: p_noise at or above which a beat the classifier flags is unreadable instead (None: no such rule):
    #: an "abnormal" beat in a stretch that looks noisy is more often artefact than ectopy.
    flagged_threshold: float | None = None

    @classmethod
    def untrained(cls) -> "NoiseModel":
        """No learned call at all (p = 0.5, threshold above 1): used only while fitting the first model."""
        n = len(design_names())
        return cls(design_names(), np.zeros(n), np.ones(n), np.zeros(n), 0.0, 2.0)

    def to_json(self) -> dict:
        return {"names": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
                "flagged_threshold": self.flagged_threshold, "fit": self.fit}


def design_names() -> tuple[str, ...]:
    base = ("bsqi", "log_ksqi", "psqi", "bassqi", "log_amp_rel", "abs_log_amp_rel", "log_hf_rel", "log_hf_snr")
    return base + tuple(f"{b}_median{NEIGHBOURS}" for b in base)


def noise_design(q: pd.DataFrame) -> np.ndarray:
    """Design matrix ``[n_beats, 16]`` from the quality indices of one record's beats (in beat order).

    Logs where an index spans decades; the high-frequency indices are NaN below 100 Hz and then read
    as typical (``hf_rel`` 1, ``hf_snr`` 0.003).
    """
    log_amp = np.log(np.clip(np.nan_to_num(q["amp_rel"].to_numpy(float), nan=1.0), 0.05, 20.0))
    x = pd.DataFrame({
        "bsqi": np.nan_to_num(q["bsqi"].to_numpy(float)),
        "log_ksqi": np.log(np.clip(np.nan_to_num(q["ksqi"].to_numpy(float), nan=1.0), 1.0, None)),
        "psqi": np.nan_to_num(q["psqi"].to_numpy(float)),
        "bassqi": np.nan_to_num(q["bassqi"].to_numpy(float)),
        "log_amp_rel": log_amp,
        "abs_log_amp_rel": np.abs(log_amp),
        "log_hf_rel": np.log(np.clip(np.nan_to_num(q["hf_rel"].to_numpy(float), nan=1.0), 0.1, 100.0)),
        "log_hf_snr": np.log(np.clip(np.nan_to_num(q["hf_snr"].to_numpy(float), nan=0.003), 1e-4, 1.0)),
    })
    med = x.rolling(NEIGHBOURS, center=True, min_periods=1).median()
    return np.hstack([x.to_numpy(), med.to_numpy()])


@lru_cache(maxsize=4)
def load_noise_model(path: str | Path = MODEL_PATH) -> NoiseModel:
    """The shipped noise index (``noise_model.json``)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: the noise index ships with the package "
                                "(re-create it with `python -m core.training.noise_fit`).")
    d = json.loads(p.read_text())
    if tuple(d["names"]) != design_names():
        raise ValueError(f"{p}: its inputs {d['names']} are not this version's {list(design_names())}; refit it.")
    return NoiseModel(tuple(d["names"]), np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                      np.asarray(d["coef"], float), float(d["intercept"]), float(d["threshold"]), d.get("fit", {}),
                      None if d.get("flagged_threshold") is None else float(d["flagged_threshold"]))


def noise_probability(q: pd.DataFrame, model: NoiseModel | None = None) -> np.ndarray:
    """p_noise in [0, 1] for every beat of one record (``q``: the quality indices, in beat order)."""
    m = model or load_noise_model()
    if len(q) == 0:
        return np.zeros(0)
    z = m.intercept + ((noise_design(q) - m.mean) / m.scale) @ m.coef
    return 1.0 / (1.0 + np.exp(-z))
