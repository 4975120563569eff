"""core.model.inference: feature matrix, calibration, thread scope; and core.model.bundle's fs/window check."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.model.bundle import load_bundle
from core.model.inference import calibrated, feature_matrix, torch_threads


def test_feature_matrix_orders_columns_and_refuses_a_missing_one():
    df = pd.DataFrame({"a_ms": [1.0, np.nan], "b_mv": [3.0, 4.0]})
    m = feature_matrix(df, ["b_mv", "a_ms"])
    assert m.dtype == np.float32 and m.shape == (2, 2) and m[0, 0] == 3.0 and np.isnan(m[1, 1])
    with pytest.raises(KeyError, match="c_ms"):
        feature_matrix(df, ["a_ms", "c_ms"])


def test_calibrated_is_platt():
    assert calibrated(np.array([0.0]), (1.0, 0.0))[0] == pytest.approx(0.5)
    assert calibrated(np.array([2.0]), (0.5, -1.0))[0] == pytest.approx(0.5)


def test_torch_threads_restores_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_load_bundle_refuses_another_fs(bundle_dir, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(bundle_dir, folder)
    conf = json.loads((folder / "config.json").read_text())
    conf["fs"] = 250.0
    (folder / "config.json").write_text(json.dumps(conf))
    with pytest.raises(ValueError, match="250 Hz"):
        load_bundle(folder)
