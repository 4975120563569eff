"""core.training.dataset: record-grouped folds and the beat-table cache key."""
import numpy as np

from core import config
from core.training import dataset


def test_record_folds_are_disjoint_and_cover_every_record():
    recs = list(config.TRAIN_RECORDS)
    folds = dataset.record_folds(recs, 3, seed=0)
    assert len(folds) == 3 and all(folds)
    flat = [r for f in folds for r in f]
    assert sorted(flat) == sorted(recs) and len(flat) == len(set(flat))  # each record in exactly one fold
    assert not set(flat) & set(config.TEST_RECORDS)
    assert dataset.record_folds(recs, 3, seed=0) == folds  # seeded
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_cache_key_depends_on_records_mode_and_feature_list(monkeypatch, tmp_path):
    k = dataset.cache_key(tmp_path, ["100", "101"], "reference")
    assert k == dataset.cache_key(tmp_path, ["100", "101"], "reference")
    assert k != dataset.cache_key(tmp_path, ["100"], "reference")
    assert k != dataset.cache_key(tmp_path, ["100", "101"], "detected")
    monkeypatch.setattr(dataset, "BEAT_FEATURE_UNITS", {**dataset.BEAT_FEATURE_UNITS, "new_feature_ms": "ms"})
    assert k != dataset.cache_key(tmp_path, ["100", "101"], "reference")


def test_cache_key_hashes_the_pipeline_code(monkeypatch, tmp_path):
    k = dataset.cache_key(tmp_path, ["100"], "reference")
    fake = tmp_path / "core"
    (fake / "signal").mkdir(parents=True)
    (fake / "signal" / "peaks.py").write_text("# another detector\n")
    (fake / "training").mkdir()
    (fake / "training" / "dataset.py").write_text("")
    monkeypatch.setattr(dataset, "__file__", str(fake / "training" / "dataset.py"))
    assert dataset.cache_key(tmp_path, ["100"], "reference") != k
    assert np.all([c in "0123456789abcdef" for c in k]) and len(k) == 12
