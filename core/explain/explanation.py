"""The one explanation type, and the explanation assets shipped with a bundle (SHAP background, similar-beat index).

As in the shap library, every attribution method returns an ``Explanation(values, base_values, data,
feature_names)``; ``kind`` says which method made it and ``meta`` carries what only that method has
(the model output, units, the beat explained, a per-feature summary ...).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core import config


@dataclass
class Explanation:
    """Attributions of one model output (or of several, row by row) to its inputs.

    ``values``: attributions, ``[F]`` or ``[n, F]`` (probability units for SHAP); ``base_values``: the
    output with every input "absent" (SHAP: mean over the background); ``data``: the inputs' own
    values (raw feature units, NaN = not measured); ``feature_names``: one per column; ``kind``:
    'shap' | 'shap_record'; ``meta``: ``prediction`` (SHAP: ``base_values + values.sum()``),
    ``units``, ``beat_index``, ``view`` and, for 'shap_record', ``summary`` and ``predictions``.
    """

    values: np.ndarray
    base_values: float | np.ndarray
    data: np.ndarray | None
    feature_names: list[str]
    kind: str
    meta: dict = field(default_factory=dict)

    @property
    def base_value(self) -> float:
        return float(np.asarray(self.base_values).reshape(-1)[0])

    @property
    def prediction(self) -> float:
        return float(self.meta["prediction"])

    @property
    def units(self) -> list[str]:
        return list(self.meta.get("units") or [""] * len(self.feature_names))

    @property
    def beat_index(self):
        return self.meta.get("beat_index")

    @property
    def summary(self) -> pd.DataFrame:
        return self.meta["summary"]

    def to_frame(self) -> pd.DataFrame:
        """One explained output as ``feature, value, unit, shap`` sorted by ``|shap|`` (largest first)."""
        df = pd.DataFrame({"feature": self.feature_names, "value": self.data, "unit": self.units, "shap": self.values})
        return df.reindex(df["shap"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


# ---- assets shipped with a bundle ----------------------------------------------------------------
@dataclass(frozen=True)
class ExplainAssets:
    """``explain_assets.npz`` of a bundle: SHAP background and the similar-beat index (training beats)."""

    background_features: np.ndarray  # [B, F] raw feature units
    index_z: np.ndarray  # [m, 128] unit float32
    index_record: np.ndarray  # [m] str
    index_sample: np.ndarray  # [m] int, at the record's fs
    index_symbol: np.ndarray  # [m] MIT-BIH beat symbol
    index_window: np.ndarray  # [m, 360] primary-lead window (record-normalised)

    @property
    def index_aami(self) -> np.ndarray:
        return np.array([config.AAMI_CLASS.get(s, "") for s in self.index_symbol], dtype=object)


@functools.lru_cache(maxsize=8)
def load_explain_assets(path: str) -> ExplainAssets:
    """Read ``<bundle>/explain_assets.npz`` once per bundle folder (cached on the path string)."""
    f = Path(path) / "explain_assets.npz"
    with np.load(f, allow_pickle=False) as d:
        z = d["index_z"].astype(np.float32)
        z /= np.clip(np.linalg.norm(z, axis=1, keepdims=True), 1e-12, None)
        return ExplainAssets(
            background_features=d["background_features"].astype(np.float32),
            index_z=z,
            index_record=d["index_record"].astype(str),
            index_sample=d["index_sample"].astype(np.int64),
            index_symbol=d["index_symbol"].astype(str),
            index_window=d["index_window"].astype(np.float32),
        )


def explain_assets(bundle) -> ExplainAssets | None:
    """The bundle's explanation assets, or None when the bundle has none (e.g. built in memory)."""
    if bundle.path is None or not (Path(bundle.path) / "explain_assets.npz").is_file():
        return None
    return load_explain_assets(str(Path(bundle.path).resolve()))


def _require_assets(bundle, what: str) -> ExplainAssets:
    assets = explain_assets(bundle)
    if assets is None:
        raise FileNotFoundError(
            f"The model bundle at {bundle.path} has no explain_assets.npz, which {what} needs; retrain it with core.train to write one."
        )
    return assets
