"""core.features: exact RR arithmetic on synthetic peak trains, clinical plausibility on real
MIT-BIH beats (3-min MLII excerpts, reference R peaks, 0.5-40 Hz zero-phase band-pass applied
here so the test does not depend on core.signal)."""
from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
import pytest

from core import config
from core.signal.features import (
    FEATURE_DESCRIPTIONS,
    FEATURE_UNITS,
    RECORD_FEATURE_DESCRIPTIONS,
    beat_features,
    record_features,
)
from core.signal.delineate import delineate_beats

COLUMNS = [
    "rr_pre_ms", "rr_post_ms", "rr_local_ms", "rr_record_ms", "rr_pre_local_ratio",
    "rr_pre_record_ratio", "rr_pre_sinus_ratio", "rr_post_pre_ratio", "hr_bpm", "pr_ms", "p_amp_mv", "qrs_ms",
    "qrs_amp_mv", "t_amp_mv", "t_inverted", "hrv_sdnn_ms", "hrv_rmssd_ms",
]


# ---- synthetic ---------------------------------------------------------------------------------
def test_columns_units_and_descriptions_agree():
    assert list(FEATURE_UNITS) == COLUMNS
    assert set(FEATURE_DESCRIPTIONS) == set(COLUMNS)
    assert set(FEATURE_UNITS.values()) <= {"ms", "bpm", "mV", "ratio", "flag"}
    assert all(len(d) > 20 for d in FEATURE_DESCRIPTIONS.values())


def test_rr_features_exact_on_known_train():
    fs = 1000.0
    r = np.array([0, 1000, 2000, 3000, 3600, 5000, 6000])   # beat 4 is 400 ms early, then a pause
    f = beat_features(np.zeros(7000), fs, r, hrv_window_s=100.0)
    assert list(f.columns) == COLUMNS and len(f) == 7
    np.testing.assert_array_equal(f.rr_pre_ms, [np.nan, 1000, 1000, 1000, 600, 1400, 1000])
    # underlying cycle = 90th percentile of the six RRs (linear interpolation) = 1200 ms
    np.testing.assert_allclose(f.rr_pre_sinus_ratio, [np.nan, 1000 / 1200, 1000 / 1200, 1000 / 1200, 0.5, 1400 / 1200, 1000 / 1200])
    np.testing.assert_array_equal(f.rr_post_ms, [1000, 1000, 1000, 600, 1400, 1000, np.nan])
    # Local reference excludes rr_pre itself: beat 1 has nothing before its RR.
    np.testing.assert_array_equal(f.rr_local_ms, [np.nan, np.nan, 1000, 1000, 1000, 1000, 1000])
    assert (f.rr_record_ms == 1000).all()
    assert f.rr_pre_local_ratio[4] == pytest.approx(0.6)
    assert f.rr_pre_record_ratio[5] == pytest.approx(1.4)
    assert f.rr_post_pre_ratio[4] == pytest.approx(1400 / 600)
    assert f.hr_bpm[4] == pytest.approx(100.0)
    rr = np.diff(r).astype(float)
    assert f.hrv_sdnn_ms[3] == pytest.approx(rr.std(ddof=1))            # 252.98 ms
    assert f.hrv_rmssd_ms[3] == pytest.approx(np.sqrt(np.mean(np.diff(rr) ** 2)))  # 438.18 ms
    # A flat line has no QRS, P or T to measure.
    assert f[["qrs_ms", "pr_ms", "p_amp_mv"]].isna().all().all()


def test_rr_local_uses_only_the_ten_preceding_intervals():
    rr = [500] * 5 + [1000] * 10 + [700]
    r = np.concatenate([[0], np.cumsum(rr)])
    f = beat_features(np.zeros(r[-1] + 1), 1000.0, r)
    assert f.rr_local_ms.iloc[-1] == 1000.0                # the five 500-ms intervals are out of reach
    assert f.rr_pre_local_ratio.iloc[-1] == pytest.approx(0.7)


def test_hrv_window_edges_are_nan_when_too_few_intervals():
    r = np.arange(0, 10_000, 1000)
    f = beat_features(np.zeros(10_000), 1000.0, r, hrv_window_s=2.5)  # +/-1.25 s: at most 2 intervals
    assert f.hrv_sdnn_ms.isna().all()
    f = beat_features(np.zeros(10_000), 1000.0, r, hrv_window_s=4.5)  # 4 intervals inside, 2 at the ends
    assert np.isnan(f.hrv_sdnn_ms[0]) and f.hrv_sdnn_ms[5] == pytest.approx(0.0)
    assert f.hrv_rmssd_ms[5] == pytest.approx(0.0)


def test_edge_cases_and_errors():
    empty = beat_features(np.zeros(100), 360.0, np.array([], dtype=int))
    assert list(empty.columns) == COLUMNS and len(empty) == 0
    one = beat_features(np.zeros(100), 360.0, np.array([50]))
    assert len(one) == 1 and one[["rr_pre_ms", "rr_post_ms", "hr_bpm"]].isna().all().all()
    with pytest.raises(ValueError, match="1-D"):
        beat_features(np.zeros((100, 2)), 360.0, np.array([50]))
    with pytest.raises(ValueError, match="increasing"):
        beat_features(np.zeros(100), 360.0, np.array([60, 50]))
    with pytest.raises(ValueError, match="outside"):
        beat_features(np.zeros(100), 360.0, np.array([50, 100]))
    with pytest.raises(ValueError, match="NaN"):
        beat_features(np.full(100, np.nan), 360.0, np.array([50]))


def test_synthetic_beat_is_delineated():
    """A Gaussian P-QRS-T template at 360 Hz: widths and amplitudes come back close to truth."""
    fs = 360.0
    t = np.arange(int(10 * fs)) / fs
    x = np.zeros_like(t)
    r_times = np.arange(0.5, 9.5, 0.8)
    for rt in r_times:
        x += 0.15 * np.exp(-0.5 * ((t - rt + 0.16) / 0.02) ** 2)    # P, 160 ms before R
        x += 1.0 * np.exp(-0.5 * ((t - rt) / 0.012) ** 2)           # QRS, ~70 ms wide at the base
        x += 0.3 * np.exp(-0.5 * ((t - rt - 0.3) / 0.04) ** 2)      # T, 300 ms after R
    f = beat_features(x, fs, np.round(r_times * fs).astype(int))
    inner = f.iloc[1:-1]
    assert inner.qrs_ms.between(50, 90).all()
    assert inner.p_amp_mv.between(0.12, 0.16).all()
    assert inner.pr_ms.between(100, 200).all()
    assert inner.t_amp_mv.between(0.25, 0.31).all()
    assert (inner.t_inverted == 0).all()
    assert inner.qrs_amp_mv.between(0.95, 1.05).all()
    d = delineate_beats(x, fs, np.round(r_times * fs).astype(int))
    assert ((d.t_peak - np.round(r_times * fs)) / fs).iloc[1:-1].between(0.29, 0.31).all()


# ---- real MIT-BIH beats -----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _excerpt(record: str, minutes: float = 3.0, start_min: float = 0.0):
    """MLII excerpt band-passed 0.5-40 Hz (zero-phase), reference beats, their symbols."""
    wfdb = pytest.importorskip("wfdb")
    from scipy.signal import butter, sosfiltfilt

    path = str(config.MITDB_DIR / record)
    s0 = int(start_min * 60 * 360)
    s1 = min(s0 + int(minutes * 60 * 360), wfdb.rdheader(path).sig_len)
    rec = wfdb.rdrecord(path, sampfrom=s0, sampto=s1, channel_names=["MLII"])
    sos = butter(2, [0.5, 40.0], btype="band", fs=rec.fs, output="sos")
    x = sosfiltfilt(sos, rec.p_signal[:, 0])
    ann = wfdb.rdann(path, "atr", sampfrom=s0, sampto=s1 - 1, shift_samps=True)
    sym = np.array(ann.symbol)
    beat = np.isin(sym, list(config.AAMI_CLASS))
    return x, float(rec.fs), ann.sample[beat], sym[beat]


@pytest.fixture
def feats(mitdb_dir):
    def get(record: str, **kw) -> tuple[pd.DataFrame, np.ndarray]:
        x, fs, r, sym = _excerpt(record, **kw)
        return beat_features(x, fs, r), sym
    return get


def test_record_100_normal_beats_are_clinically_normal(feats):
    f, sym = feats("100")
    n = f[sym == "N"]
    assert 60 <= n.qrs_ms.median() < 110          # measured 83 ms
    assert 120 <= n.pr_ms.median() <= 220         # measured ~178 ms
    assert 60 <= n.hr_bpm.median() <= 100         # ~75 bpm
    assert n.t_amp_mv.median() > 0 and n.t_inverted.mean() < 0.2   # upright T
    assert np.isfinite(n.p_amp_mv).mean() > 0.7 and n.p_amp_mv.median() > 0.05
    assert 0.9 < n.rr_pre_local_ratio.median() < 1.1
    rec = record_features(f)
    assert set(rec) == set(RECORD_FEATURE_DESCRIPTIONS)
    assert 60 <= rec["mean_hr_bpm"] <= 100 and rec["premature_fraction"] < 0.05
    assert rec["wide_qrs_fraction"] < 0.05 and rec["n_beats"] == len(f)


def test_record_232_atrial_premature_beats_are_early_for_their_own_rhythm(feats):
    # 232 (sinus bradycardia, long pauses): the non-ectopic beats are labelled R (RBBB), not N.
    f, sym = feats("232")
    a, r = f[sym == "A"], f[sym == "R"]
    assert len(a) > 50 and len(r) > 20
    assert a.rr_pre_local_ratio.median() < 0.6 * r.rr_pre_local_ratio.median()
    assert a.rr_pre_record_ratio.median() < 0.6 * r.rr_pre_record_ratio.median()


def test_lbbb_beats_are_wide(feats):
    lbbb, sym = feats("214")
    normal, sym100 = feats("100")
    assert lbbb[sym == "L"].qrs_ms.median() > 120            # measured ~144 ms
    assert normal[sym100 == "N"].qrs_ms.median() < 110
    assert lbbb[sym == "L"].t_inverted.mean() > 0.8           # discordant T in LBBB


@pytest.mark.parametrize("record", ["200", "233"])
def test_ventricular_beats_are_wider_and_early(feats, record):
    f, sym = feats(record)
    v, n = f[sym == "V"], f[sym == "N"]
    assert v.qrs_ms.median() > n.qrs_ms.median() + 30
    assert v.qrs_ms.median() >= 120
    assert v.rr_pre_local_ratio.median() < n.rr_pre_local_ratio.median()
    assert v.t_inverted.mean() > 0.7                           # T opposite to the QRS
    assert np.isfinite(v.p_amp_mv).mean() < np.isfinite(n.p_amp_mv).mean()


def test_paced_beats_are_wide(feats):
    f, sym = feats("217")
    assert f[sym == "/"].qrs_ms.median() > 140                # measured ~200 ms


def test_atrial_fibrillation_has_higher_rmssd_and_fewer_p_waves(feats):
    af, sym_af = feats("219")                                 # AF for all but the first seconds
    sinus, sym_s = feats("100")
    assert np.nanmedian(af.hrv_rmssd_ms) > 2 * np.nanmedian(sinus.hrv_rmssd_ms)
    assert record_features(af)["rmssd_ms"] > 2 * record_features(sinus)["rmssd_ms"]
    assert np.isfinite(af[sym_af == "N"].p_amp_mv).mean() < np.isfinite(sinus[sym_s == "N"].p_amp_mv).mean()


def test_first_and_last_beats_have_nan_rr(feats):
    f, _ = feats("100")
    assert np.isnan(f.rr_pre_ms.iloc[0]) and np.isnan(f.rr_post_ms.iloc[-1])
    assert f.rr_pre_ms.iloc[1:].notna().all() and f.rr_post_ms.iloc[:-1].notna().all()


# ---- slow: agreement with neurokit2 dwt, speed on a whole record ------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("record,max_qrs,max_pr", [("100", 5.0, 20.0), ("103", 5.0, 20.0)])
def test_agrees_with_neurokit_dwt_on_clean_sinus_records(record, max_qrs, max_pr):
    nk = pytest.importorskip("neurokit2")
    x, fs, r, sym = _excerpt(record, minutes=2.0)
    _, waves = nk.ecg_delineate(x, r, sampling_rate=int(fs), method="dwt")
    f = beat_features(x, fs, r)
    ms = 1000.0 / fs
    nk_qrs = (np.asarray(waves["ECG_R_Offsets"], float) - np.asarray(waves["ECG_R_Onsets"], float)) * ms
    nk_pr = (np.asarray(waves["ECG_R_Onsets"], float) - np.asarray(waves["ECG_P_Onsets"], float)) * ms
    # Measured on 5-min excerpts: mean |difference| qrs 1.6 ms on both, pr 12 ms (100) and 5 ms (103).
    assert np.nanmean(np.abs(f.qrs_ms - nk_qrs)) < max_qrs
    assert np.nanmean(np.abs(f.pr_ms - nk_pr)) < max_pr


@pytest.mark.slow
def test_whole_record_under_one_second():
    x, fs, r, _ = _excerpt("100", minutes=30.1)
    assert x.size == 650_000 and len(r) > 2200
    beat_features(x, fs, r)                                  # warm caches
    best = min(_timed(beat_features, x, fs, r) for _ in range(3))
    assert best < 1.0, f"beat_features took {best:.2f} s on a 30-min record"


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t
