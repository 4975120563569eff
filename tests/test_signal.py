"""Tests for core.signal on real MIT-BIH data (records 100, 200, 205, 207) and on controlled additions to it."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from core import config
from core.io import Record
from core.signal.beats import BeatSet, beat_windows, extract_beats, normalise_windows, record_scale
from core.signal.clean import ecg_clean
from core.signal.peaks import detect_rpeaks, ecg_peaks
from core.signal.vf import detect_vf_episodes

wfdb = pytest.importorskip("wfdb")

FS = 360.0
BEATS = set("N L R e j A a J S V E F / f Q".split())


@pytest.fixture(scope="module")
def rec100(mitdb_dir):
    """20 s of record 100 (MLII, V5) in mV and its reference beats inside the excerpt."""
    path = mitdb_dir / "100"
    if not path.with_suffix(".dat").is_file():
        pytest.skip("record 100 not found")
    n = int(20 * FS)
    rec = wfdb.rdrecord(str(path), sampto=n)
    ann = wfdb.rdann(str(path), "atr", sampto=n)
    ref = np.array([s for s, y in zip(ann.sample, ann.symbol) if y in BEATS])
    return rec.p_signal, ref, np.array([y for y in ann.symbol if y in BEATS])


def test_every_reference_beat_found_and_no_extra(rec100):
    x, ref, _ = rec100
    r = detect_rpeaks(ecg_clean(x, FS), FS)
    assert r.dtype == np.int64 and np.all(np.diff(r) > 0)
    tol = int(0.150 * FS)
    inner = ref[(ref > FS) & (ref < len(x) - FS)]
    dist = np.abs(r[:, None] - inner[None, :]).min(axis=0)
    assert np.all(dist <= tol)
    # no extra peaks: as many detections as beats in the excerpt (edges included)
    assert len(r) == len(ref)
    # refined onto the R extremum: within a few ms of the annotation
    d_all = np.abs(r[:, None] - ref[None, :]).min(axis=1)
    assert np.median(d_all) <= 0.010 * FS


def test_single_lead_gives_same_beats(rec100):
    x, ref, _ = rec100
    r1 = detect_rpeaks(ecg_clean(x[:, 0], FS), FS)
    assert len(r1) == len(ref)


def test_baseline_drift_removed(rec100):
    x, _, _ = rec100
    t = np.arange(len(x)) / FS
    drifted = x[:, 0] + 1.0 * np.sin(2 * np.pi * 0.3 * t)  # 1 mV at 0.3 Hz
    clean = ecg_clean(drifted, FS)
    w = int(2 * FS)
    med = np.array([np.median(clean[i:i + w]) for i in range(0, len(clean) - w + 1, w)])
    assert np.max(np.abs(med[1:-1])) < 0.08  # mV; raw drift spans +-1 mV
    raw_med = np.array([np.median(drifted[i:i + w]) for i in range(0, len(drifted) - w + 1, w)])
    assert np.ptp(raw_med) > 1.0


def test_powerline_removed(rec100):
    x, _, _ = rec100
    t = np.arange(len(x)) / FS
    hum = 0.5 * np.sin(2 * np.pi * 60.0 * t)
    clean_plain = ecg_clean(x[:, 0], FS)
    clean_hum = ecg_clean(x[:, 0] + hum, FS)
    residual = clean_hum - clean_plain
    core = slice(int(2 * FS), -int(2 * FS))
    assert np.mean(residual[core] ** 2) / np.mean(hum[core] ** 2) < 1e-3


def test_clean_keeps_shape_and_rejects_nan(rec100):
    x, _, _ = rec100
    assert ecg_clean(x, FS).shape == x.shape
    assert ecg_clean(x[:, 0], FS).shape == (len(x),)
    bad = x[:, 0].copy()
    bad[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ecg_clean(bad, FS)
    with pytest.raises(ValueError, match="lead 5"):
        detect_rpeaks(x, FS, lead=5)


def test_windows_centred_shape_and_mask(rec100):
    x, _, symbols = rec100
    clean = ecg_clean(x, FS)
    r = detect_rpeaks(clean, FS)
    w, inside = beat_windows(clean[:, 0], r, FS)
    assert w.shape == (len(r), config.BEAT_WINDOW) and w.dtype == np.float32
    half = config.BEAT_WINDOW // 2
    expected_inside = (r - half >= 0) & (r - half + config.BEAT_WINDOW <= len(x))
    np.testing.assert_array_equal(inside, expected_inside)
    assert not inside[0]  # first beat of record 100 is within 0.5 s of the start
    k = int(half - r[0])  # zero padding before the record's first sample
    assert np.all(w[0, :k] == 0) and w[0, k] != 0
    normal = inside & (symbols[: len(r)] == "N")
    peak_at = np.abs(w[normal]).argmax(axis=1)
    assert np.all(np.abs(peak_at - half) <= 3)


def test_windows_resampled_from_250_hz(rec100):
    x, _, _ = rec100
    lead = ecg_clean(x[:, 0], FS)
    x250 = sps.resample_poly(lead, 25, 36)  # 360 -> 250 Hz
    r250 = detect_rpeaks(x250, 250.0)
    r360 = detect_rpeaks(lead, FS)
    assert len(r250) == len(r360)
    w, inside = beat_windows(x250, r250, 250.0)
    assert w.shape == (len(r250), config.BEAT_WINDOW)
    peak_at = np.abs(w[inside]).argmax(axis=1)
    assert np.median(np.abs(peak_at - config.BEAT_WINDOW // 2)) <= 2
    w360, _ = beat_windows(lead, r360, FS)
    # same beats at the model rate, whatever the input rate
    assert np.corrcoef(w[inside].ravel(), w360[inside].ravel())[0, 1] > 0.95


def test_record_scale_and_normalise(rec100):
    x, _, _ = rec100
    clean = ecg_clean(x[:, 0], FS)
    r = detect_rpeaks(clean, FS)
    s = record_scale(clean, r)
    assert 0.5 < s < 3.0  # MLII R waves of record 100 are about 1-1.5 mV
    assert record_scale(2 * clean, r) == pytest.approx(2 * s)
    w, _ = beat_windows(clean, r, FS)
    n = normalise_windows(w, s)
    assert n.dtype == np.float32
    np.testing.assert_allclose(n * s, w, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        normalise_windows(w, 0.0)
    assert record_scale(np.zeros(100), np.array([], np.int64)) == 1.0


def test_extract_beats_pipeline(rec100):
    x, ref, _ = rec100
    b = extract_beats(Record(name="100", signal=x, fs=FS, lead_names=["MLII", "V5"]))
    assert isinstance(b, BeatSet)
    assert len(b.rpeaks) == len(ref) == len(b.windows) == len(b.features)
    assert b.windows.shape[1:] == (2, config.BEAT_WINDOW) and b.lead_names == ["MLII", "V5"]
    assert np.median(np.abs(b.windows[1:-1, 0, config.BEAT_WINDOW // 2])) == pytest.approx(1.0, rel=0.2)


def _excerpt(mitdb_dir, name, start_s, stop_s):
    """Raw signal (mV) of ``name`` between two times and its annotations, samples relative to start."""
    path = mitdb_dir / name
    if not path.with_suffix(".dat").is_file():
        pytest.skip(f"record {name} not found")
    a, b = int(start_s * FS), int(stop_s * FS)
    rec = wfdb.rdrecord(str(path), sampfrom=a, sampto=b)
    ann = wfdb.rdann(str(path), "atr", sampfrom=a, sampto=b)
    return rec.p_signal, np.asarray(ann.sample) - a, np.asarray(ann.symbol)


def test_vf_episode_found_in_207_flutter(mitdb_dir):
    # 207, 25:30-26:30: sinus/IVR until ventricular flutter starts at 25:40.8 ('[' marker)
    x, samples, symbols = _excerpt(mitdb_dir, "207", 1530.0, 1590.0)
    onset = samples[symbols == "["][0]
    clean = ecg_clean(x, FS)
    eps = detect_vf_episodes(clean, FS)
    assert len(eps) == 1
    start, stop = eps[0]
    assert abs(start - onset) <= 1.0 * FS  # onset found within 1 s
    assert stop >= len(x) - 3 * FS  # and the episode lasts to the end of the excerpt
    r = detect_rpeaks(clean, FS)
    assert not np.any((r >= start) & (r < stop))  # no beats counted on flutter waves
    beats_before = samples[np.isin(symbols, list(BEATS)) & (samples > FS) & (samples < start)]
    assert np.all(np.abs(r[:, None] - beats_before[None, :]).min(axis=0) <= 0.150 * FS)
    r2, eps2 = ecg_peaks(clean, FS)  # one detector run gives both
    assert eps2 == eps and np.array_equal(r2, r)
    b = extract_beats(Record(name="207", signal=x[:, :1], fs=FS, lead_names=["MLII"]))
    assert b.vf_episodes == eps and np.array_equal(b.rpeaks, detect_rpeaks(ecg_clean(x[:, :1], FS), FS))


@pytest.mark.parametrize("name, start_s, stop_s", [
    ("200", 935.0, 960.0),  # VT run 15:45.4-15:48.2
    ("205", 1455.0, 1485.0),  # VT at ~210/min, 24:20.5-24:34.5: the most flutter-like VT in DS1
])
def test_vf_detector_keeps_ventricular_tachycardia(mitdb_dir, name, start_s, stop_s):
    x, samples, symbols = _excerpt(mitdb_dir, name, start_s, stop_s)
    clean = ecg_clean(x, FS)
    assert detect_vf_episodes(clean, FS) == []
    r = detect_rpeaks(clean, FS)
    v = samples[(symbols == "V") & (samples > FS) & (samples < len(x) - FS)]
    assert len(v) >= 8
    found = np.abs(r[:, None] - v[None, :]).min(axis=0) <= 0.150 * FS
    # VT beats are kept; 205 has two wide beats that the QRS detector places > 150 ms off anyway
    assert found.sum() >= len(v) - 2


def test_vf_detector_on_synthetic_signals(rec100):
    t = np.arange(int(12 * FS)) / FS
    flutter = 0.8 * np.sin(2 * np.pi * 4.0 * t)  # 240/min sinusoid, the textbook flutter shape
    eps = detect_vf_episodes(flutter, FS)
    assert len(eps) == 1 and eps[0][1] - eps[0][0] >= 8 * FS
    x, _, _ = rec100
    assert detect_vf_episodes(ecg_clean(x, FS), FS) == []  # sinus rhythm
    assert detect_vf_episodes(flutter[: int(3 * FS)], FS) == []  # shorter than one window
    with pytest.raises(ValueError, match="lead 3"):
        detect_vf_episodes(x, FS, lead=3)


@pytest.mark.slow
def test_mitdb_gross_se_ppv(mitdb_dir):
    from scripts.eval_rpeaks import PACED, evaluate, gross

    records = [r for r in (mitdb_dir / "RECORDS").read_text().split() if r not in PACED]
    rows = evaluate(mitdb_dir, records, workers=2)
    assert len(rows) == 44
    se, ppv = gross(rows)
    assert se >= 0.995
    assert ppv >= 0.995


def test_second_opinion_port_equals_neurokit2():
    """The bSQI second detector is a port of neurokit2.ecg_findpeaks(method='neurokit'): same peaks."""
    nk = pytest.importorskip("neurokit2")
    import warnings

    from core.io import read_record
    from core.signal.clean import ecg_clean
    from core.signal.peaks import _second_opinion

    rec = read_record(config.EXAMPLES_DIR / "noisy_105" / "noisy_105.hea")
    clean = ecg_clean(rec.signal, rec.fs)
    for k in range(clean.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.sort(np.asarray(nk.ecg_findpeaks(clean[:, k], sampling_rate=360, method="neurokit")["ECG_R_Peaks"], np.int64))
        assert _second_opinion(clean[:, k], rec.fs).tolist() == ref.tolist()


def test_clipped_spans_are_runs_at_the_rail_not_clipped_r_peaks():
    from core.signal.clipping import detect_clipped_spans

    fs = 360.0
    t = np.arange(int(10 * fs)) / fs
    x = 0.1 * np.sin(2 * np.pi * 1.0 * t)
    x[100:110] = 1.0  # an R peak over the range: 28 ms at the rail, still a visible beat
    x[1000:1180] = 1.0  # 0.5 s pinned at the top
    x[2000:2100] = -0.5  # 0.28 s pinned at the bottom
    assert detect_clipped_spans(x, fs) == [(1000 / fs, 1180 / fs), (2000 / fs, 2100 / fs)]
    assert detect_clipped_spans(0.1 * np.sin(2 * np.pi * t), fs) == []
