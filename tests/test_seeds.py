"""The v2 experiment's rules that decide every headline number: the OOF threshold rule, the seed
aggregate and shipped-seed rule, and that test notes never repeat a training note."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core import config
from core.training.seeds import _mean_sd, aggregate_seeds, n_flagged_threshold, youden_threshold


def test_threshold_flags_at_most_the_target_share_of_normal_beats():
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    normal = np.ones(1000, bool)
    thr = n_flagged_threshold(p, normal, 0.02)
    assert (p[normal] >= thr).mean() <= 0.02
    assert (p[normal] >= np.nextafter(thr, -np.inf) - 1e-3).mean() > 0.02  # and it is the lowest such threshold


def test_threshold_ignores_abnormal_beats():
    p = np.array([0.1, 0.2, 0.3, 0.9, 0.95])
    normal = np.array([True, True, True, False, False])
    assert n_flagged_threshold(p, normal, 0.0) > 0.3


def test_youden_threshold_maximises_sensitivity_plus_specificity():
    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.2
    p = np.clip(np.where(y, rng.normal(0.6, 0.15, 2000), rng.normal(0.3, 0.15, 2000)), 0, 1)
    thr = youden_threshold(p, y)
    j = lambda t: (p[y] >= t).mean() + (p[~y] < t).mean() - 1  # noqa: E731
    assert all(j(thr) >= j(t) - 1e-12 for t in np.linspace(0.01, 0.99, 99))
    assert 0.4 < thr < 0.5  # two equal-spread normals: near the midpoint 0.45
    assert youden_threshold(p, np.zeros(2000, bool)) == 0.5  # one class only: no threshold to learn


def test_mean_sd_uses_sample_sd_and_skips_missing():
    s = _mean_sd([1.0, 2.0, None, 3.0])
    assert s["mean"] == 2.0 and s["n"] == 3 and abs(s["sd"] - 1.0) < 1e-12


def _fake_run(tmp_path, seed, oof_auc, test_auc):
    d = tmp_path / f"seed{seed}"
    d.mkdir()
    rep = {"auc": test_auc, "S_sensitivity": 0.5}
    m = {"seed": seed, "oof_train": {"ecg": {"auc": oof_auc}}, "oof_svdb": {}, "oof_mitdb": {}, "train_seconds": 60.0,
         "test": {"ecg_only": rep, "fused (own note)": rep, "_unreadable_beats": 3}, "test_reference_peaks": {"ecg_only": rep},
         "fact_tests": {}}
    (d / "metrics.json").write_text(json.dumps(m))
    return d


def test_aggregate_ships_the_best_oof_seed_not_the_best_test_seed(tmp_path):
    runs = [_fake_run(tmp_path, 0, 0.90, 0.99), _fake_run(tmp_path, 1, 0.95, 0.80)]
    out = aggregate_seeds(runs, tmp_path / "shipped", log=lambda *_: None)
    assert out["seeds"]["shipped_seed"] == 1
    summ = out["seeds"]["summary"]["test"]["ecg_only"]["auc"]
    assert abs(summ["mean"] - 0.895) < 1e-12 and summ["n"] == 2


def test_aggregate_keeps_the_oof_predictions_out_of_the_shipped_bundle(tmp_path):
    from core.training.seeds import OOF_FILE

    runs = [_fake_run(tmp_path, 0, 0.90, 0.99)]
    (runs[0] / OOF_FILE).write_bytes(b"x")
    (runs[0] / "weights.pt").write_bytes(b"w")
    aggregate_seeds(runs, tmp_path / "shipped", log=lambda *_: None)
    assert (tmp_path / "shipped" / "weights.pt").is_file() and not (tmp_path / "shipped" / OOF_FILE).exists()


@pytest.mark.slow
def test_no_test_note_equals_a_training_note():
    """201 (DS1) and 202 (DS2) are one patient with byte-identical headers: their notes must still differ."""
    from pathlib import Path

    from core.io import read_record
    from core.text.facts import record_facts
    from core.text.referral import referral_note
    from core.training.referral_notes import TEST_NOTE_SEED, _record_seed

    mitdb = config.MITDB_DIR
    if not (mitdb / "RECORDS").is_file():
        pytest.skip("needs ../shared/data/mitdb")

    def note(r):
        rec = read_record(Path(mitdb) / f"{r}.hea")
        facts, demo = record_facts(rec.comments, r, "mitdb")
        return referral_note(facts, demo, np.random.default_rng(TEST_NOTE_SEED + _record_seed(r)))

    train = {r: note(r) for r in config.TRAIN_RECORDS}
    test = {r: note(r) for r in config.TEST_RECORDS}
    assert not set(train.values()) & set(test.values())
    assert train["201"] != test["202"]
