"""The per-beat `unreadable` call: a synthetic noise burst, and MIT-BIH '~' annotations on DS1."""
from __future__ import annotations

import numpy as np
import pytest

from core.signal.quality import assess_beat_quality

FS = 360.0


def _synthetic_ecg(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian QRS-like spikes (1 mV, 10 ms) and T waves at 72 bpm, slight jitter; mV, peaks."""
    t = np.arange(int(seconds * FS)) / FS
    beats = np.cumsum(0.83 + 0.02 * rng.standard_normal(int(seconds / 0.83)))
    beats = beats[beats < seconds - 0.5]
    x = np.zeros_like(t)
    for b in beats:
        x += np.exp(-0.5 * ((t - b) / 0.01) ** 2) + 0.25 * np.exp(-0.5 * ((t - b - 0.25) / 0.04) ** 2)
    return x + 0.005 * rng.standard_normal(len(t)), np.round(beats * FS).astype(np.int64)


def test_noise_burst_is_unreadable_clean_beats_are_not():
    rng = np.random.default_rng(1)
    x, peaks = _synthetic_ecg(120.0, rng)
    burst = (np.arange(len(x)) >= 50 * FS) & (np.arange(len(x)) < 70 * FS)
    noisy = x + burst * 0.15 * rng.standard_normal(len(x))  # broadband, like muscle artefact
    q = assess_beat_quality(x, noisy, FS, peaks)  # the cleaned lead is the noise-free one here
    t = peaks / FS
    inside, outside = (t > 53) & (t < 67), (t < 45) | (t > 75)
    assert q.unreadable[inside].mean() >= 0.9
    assert not q.unreadable[outside].any()


def test_other_columns_do_not_depend_on_the_hf_rule():
    rng = np.random.default_rng(2)
    x, peaks = _synthetic_ecg(60.0, rng)
    q = assess_beat_quality(x, x, FS, peaks)
    assert not q.unreadable.any() and (q.sqi == 1.0).all()


@pytest.mark.slow
def test_ds1_noise_annotations(mitdb_dir):
    """On DS1 (+102, 104): measured 41.3 % of in-noise beats unreadable, 0.24 % of clean ones."""
    wfdb = pytest.importorskip("wfdb")
    from core import config
    from core.io import read_record
    from core.signal.beats import extract_beats, lead_order

    hit = n_noise = fp = n_clean = 0
    for name in config.TRAIN_RECORDS:
        rec = read_record(str(mitdb_dir / f"{name}.hea"))
        beats = extract_beats(rec)
        ann = wfdb.rdann(str(mitdb_dir / name), "atr")
        tl = np.array(ann.symbol) == "~"
        samp, code = ann.sample[tl], ann.subtype[tl]
        j = np.searchsorted(samp, beats.rpeaks, side="right") - 1
        c = np.where(j >= 0, code[np.maximum(j, 0)], 0) if len(samp) else np.zeros(len(beats.rpeaks), int)
        bit = 1 << lead_order(rec)[0][0]
        noise = (c == -1) | ((c > 0) & ((c & bit) > 0))
        u = beats.features["unreadable"].to_numpy(bool)
        hit += int((u & noise).sum()); n_noise += int(noise.sum())
        fp += int((u & ~noise).sum()); n_clean += int((~noise).sum())
    assert hit / n_noise >= 0.35
    assert fp / n_clean <= 0.005


def test_fewer_beats_than_the_vote_window():
    rng = np.random.default_rng(3)
    x, peaks = _synthetic_ecg(4.0, rng)
    q = assess_beat_quality(x, x, FS, peaks[:3])
    assert len(q) == 3 and q.unreadable.dtype == bool
