"""Training: a few steps on the bundled examples make the loss fall; the shipped checkpoint reproduces
its DS2 AUC on a fixed subset (slow, needs ../shared/data)."""
import json

import numpy as np
import pytest

from core import config
from core.signal.beats import extract_beats
from core.training.dataset import BeatTable
from core.io import read_record
from core.text.notes import header_note, parse_header_comments


@pytest.fixture(scope="module")
def text_encoder():
    from core.text.encoder import load_text_encoder

    return load_text_encoder()


def _examples_table() -> BeatTable:
    parts = []
    for case in ("nsr_100", "apb_232", "paced_107"):
        rec = read_record(config.EXAMPLES_DIR / case)
        ann = rec.annotations
        beat = np.array([s in config.AAMI_CLASS for s in ann.symbol])
        beats = extract_beats(rec, rpeaks=ann.sample[beat])
        parts.append((case, rec, beats, np.array(ann.symbol, dtype=object)[beat]))
    return BeatTable(
        windows=np.concatenate([b.windows for _, _, b, _ in parts]),
        features=__import__("pandas").concat([b.features for _, _, b, _ in parts], ignore_index=True),
        record=np.concatenate([np.full(len(b), c, dtype=object) for c, _, b, _ in parts]),
        sample=np.concatenate([b.rpeaks for _, _, b, _ in parts]),
        symbol=np.concatenate([s for *_, s in parts]),
        header_notes={c: header_note(parse_header_comments(r.comments)) for c, r, _, _ in parts},
        rhythm_notes={c: header_note(parse_header_comments(r.comments)) for c, r, _, _ in parts},
    )


def test_a_few_steps_on_the_examples_make_the_loss_fall(text_encoder):
    from core.training.dataset import TextCache, make_train_data, training_mask
    from core.training.loop import TrainOptions, train_model

    table = _examples_table()
    rng = np.random.default_rng(0)
    mask = training_mask(table, list(set(table.record)), 2.0, rng)
    data = make_train_data(table, mask, TextCache(text_encoder), rng)
    assert set(np.unique(data.y)) == {0.0, 1.0}
    history = []
    train_model(data, TrainOptions(epochs=6, batch_size=64, lr=3e-3, oof_folds=2), log=history.append)
    total = [sum(float(x.split("=")[1]) for x in line.split()[3:]) for line in history]
    assert total[-1] < 0.8 * total[0], history


@pytest.mark.parametrize("change", [{"contrastive": "siglip"}, {"unimodal_weight": 0.5}, {"recon_weight": 0.5},
                                    {"shared_projection": False}, {"encoder": "mlp"}, {"fn_mitigation": "same_text"}])
def test_every_training_option_runs(text_encoder, change):
    from core.training.dataset import TextCache, make_train_data, training_mask
    from core.training.loop import TrainOptions, train_model
    from core.model.inference import predict_logits

    table = _examples_table()
    rng = np.random.default_rng(1)
    data = make_train_data(table, training_mask(table, list(set(table.record)), 1.0, rng), TextCache(text_encoder), rng)
    model = train_model(data, TrainOptions(epochs=1, batch_size=64, **change), log=lambda *_: None)
    out = predict_logits(model, data.windows[:10], data.features[:10], data.note_vecs[0, 0])
    assert np.isfinite(out["ecg"]).all() and np.isfinite(out["fused"]).all()


@pytest.mark.slow
def test_shipped_checkpoint_reproduces_its_ds2_auc(mitdb_dir):
    """Re-score a fixed DS2 subset with the shipped model; AUC within 0.005 of metrics.json's subset figure."""
    from core.training.dataset import build_beat_table
    from core.training.metrics import binary_report
    from core.model.bundle import load_bundle
    from core.model.inference import calibrated, predict_logits
    from core.model.inference import feature_matrix

    bundle = load_bundle()
    subset = bundle.metrics["reproducibility_subset"]
    table = build_beat_table(mitdb_dir, subset["records"], "reference", cache=False)
    res = predict_logits(bundle.model, table.windows, feature_matrix(table.features, bundle.config.features), None)
    p = calibrated(res["ecg"], bundle.config.calibration["ecg"])
    auc = binary_report(table.aami, p, bundle.config.thresholds["ecg"])["auc"]
    assert abs(auc - subset["auc_ecg_only"]) <= 0.005, (auc, subset)
