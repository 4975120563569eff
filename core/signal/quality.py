"""Per-beat signal quality and the `unreadable` call.

Quality indices of Li, Clifford & Mark (2008) and Clifford et al. (2012), each computed on the
4 s of signal around the beat (grid of 4 s windows every 2 s; the beat takes the nearest):

- ``bsqi``: agreement (F1, 150 ms tolerance) between the given R peaks and a second, independent
  detector (band-passed slope envelope peaks, this module) over +/- 5 s; noise makes detectors
  disagree.
- ``ksqi``: kurtosis of the cleaned lead (clean ECG is peaky, kurtosis > 5; Gaussian noise ~ 3).
- ``psqi``: power 5-15 Hz / 5-40 Hz of the raw lead (QRS energy share; ~0.5-0.8 in clean ECG).
- ``bassqi``: 1 - power 0-1 Hz / 0-40 Hz of the raw lead (baseline wander share).
- ``amp_rel``: the window's robust amplitude (max - min of the cleaned lead) over the
  record's median window (bursts of motion artefact are large; lead-off is flat).
- ``hf_rel``, ``hf_snr``: the median |raw lead above 40 Hz| (50/60 Hz notched; muscle noise) in the
  window over the record's median (``hf_rel``) and over the record's median window amplitude (``hf_snr``).
- ``p_noise``: the learned noise index of ``core.signal.noise_model`` (logistic regression on the indices
  above and their 7-beat medians, fitted on the training records' '~' signal-quality annotations).

``unreadable`` is true where either test holds:

- shape: bSQI < 0.7 and (kSQI < 4 or amp_rel outside 0.25..3) (``UNREADABLE_RULE``, fixed in advance);
- the noise index: ``p_noise`` >= the model's threshold (chosen on record-grouped out-of-fold predictions
  of the training records, whole and cut into 10 s, 1 min and 5 min pieces: at most 1 % of their clean beats
  called unreadable at each length).

It replaced two hand-set tests (muscle noise, baseline wander) chosen on DS1 alone, which called 41 % of
DS1's in-noise beats unreadable but 11 % of the test records' (105: 5 %). Figures: ``python -m
scripts.noise_table`` and the README.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.signal as sps

from core.signal.noise_model import NoiseModel, load_noise_model, noise_probability

WINDOW_S = 4.0
HOP_S = 2.0
BSQI_HALF_S = 5.0
MATCH_S = 0.15
WORK_FS = 120.0  # indices are computed on a decimated copy (all bands are < 40 Hz)

#: The shape test of the `unreadable` call; its four thresholds also define ``sqi`` (a model input).
UNREADABLE_RULE = {"bsqi_below": 0.7, "amp_rel_above": 3.0, "amp_rel_below": 0.25, "ksqi_below": 4.0}
HF_CUTOFF_HZ = 40.0  # muscle noise extends above the ECG band (Li, Clifford & Mark 2008 use 40 Hz)
MAINS_HZ = (50.0, 60.0)  # notched out first: mains hum is removed by cleaning, it does not hide beats

COLUMNS = {"bsqi": "1", "ksqi": "1", "psqi": "1", "bassqi": "1", "amp_rel": "1", "hf_rel": "1", "hf_snr": "1",
           "p_noise": "1", "sqi": "1", "unreadable": "bool"}


def _decimate(x: np.ndarray, fs: float) -> tuple[np.ndarray, float, int]:
    q = max(1, int(fs // WORK_FS))
    if q == 1:
        return x, fs, 1
    return sps.resample_poly(x, 1, q), fs / q, q


def _second_detector(x: np.ndarray, fs: float) -> np.ndarray:
    """R peaks from the 5-20 Hz slope envelope (Pan & Tompkins 1985 style, adaptive 8 s threshold)."""
    sos = sps.butter(2, [5.0, min(20.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    e = np.abs(np.gradient(sps.sosfiltfilt(sos, x)))
    e = np.convolve(e, np.ones(max(1, int(0.08 * fs))) / max(1, int(0.08 * fs)), mode="same")
    seg = max(1, int(8 * fs))
    n_seg = max(1, len(e) // seg)
    lvl = np.array([np.percentile(e[i * seg:(i + 1) * seg] if i < n_seg - 1 else e[i * seg:], 98) for i in range(n_seg)])
    thr = 0.35 * np.repeat(lvl, seg)[: len(e)]
    thr = np.concatenate([thr, np.full(len(e) - len(thr), lvl[-1] * 0.35)])
    peaks, _ = sps.find_peaks(e, height=thr, distance=max(1, int(0.25 * fs)))
    return peaks


def _window_stats(x: np.ndarray, raw: np.ndarray, fs: float, centres: np.ndarray) -> dict[str, np.ndarray]:
    half = int(WINDOW_S * fs / 2)
    idx = np.clip(centres[:, None] + np.arange(-half, half)[None, :], 0, len(x) - 1)
    w = x[idx]
    m = w - w.mean(1, keepdims=True)
    v = (m ** 2).mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ksqi = np.where(v > 0, (m ** 4).mean(1) / v ** 2, 0.0)
    wr = raw[idx]
    wr = (wr - wr.mean(1, keepdims=True)) * np.hanning(2 * half)[None, :]
    p = np.abs(np.fft.rfft(wr, axis=1)) ** 2
    f = np.fft.rfftfreq(2 * half, 1.0 / fs)
    band = lambda a, b: p[:, (f >= a) & (f < b)].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        psqi = band(5, 15) / band(5, 40)
        bassqi = 1.0 - band(0, 1) / band(0, 40)
    amp = w.max(1) - w.min(1)
    return {"ksqi": ksqi, "psqi": np.nan_to_num(psqi), "bassqi": np.nan_to_num(bassqi), "amp": amp}


def _hf_floor(raw: np.ndarray, fs: float, centres: np.ndarray, half: int) -> np.ndarray:
    """Median |raw lead high-passed at 40 Hz| (mV) in each window: the muscle-noise floor.

    The median, not the mean, so that the QRS (about 10 % of a window, also rich above 40 Hz)
    does not count (cf. the high-frequency noise index of Clifford et al. 2012). NaN when
    ``fs`` < 100 Hz (no band above 40 Hz to measure).
    """
    if fs < 100.0:
        return np.full(len(centres), np.nan)
    y = raw
    for f0 in MAINS_HZ:
        if f0 < 0.45 * fs:
            b, a = sps.iirnotch(f0, 30.0, fs=fs)
            y = sps.filtfilt(b, a, y)
    sos = sps.butter(4, HF_CUTOFF_HZ, btype="highpass", fs=fs, output="sos")
    hp = np.abs(sps.sosfiltfilt(sos, y))
    out = np.empty(len(centres))
    for i, c in enumerate(centres):  # one window at a time: bounded memory on long records
        out[i] = np.median(hp[max(0, c - half):min(len(hp), c + half)])
    return out


def _bsqi_per_beat(r: np.ndarray, other: np.ndarray, fs: float) -> np.ndarray:
    tol = int(MATCH_S * fs)
    if len(other) == 0 or len(r) == 0:
        return np.zeros(len(r))
    j = np.clip(np.searchsorted(other, r), 1, max(1, len(other) - 1))
    d = np.abs(other[np.minimum(j, len(other) - 1)] - r)
    d = np.minimum(d, np.abs(other[j - 1] - r))
    hit = (d <= tol).astype(float)
    half = int(BSQI_HALF_S * fs)
    lo_r, hi_r = np.searchsorted(r, r - half), np.searchsorted(r, r + half, side="right")
    lo_o, hi_o = np.searchsorted(other, r - half), np.searchsorted(other, r + half, side="right")
    ch = np.concatenate([[0.0], np.cumsum(hit)])
    n_hit = ch[hi_r] - ch[lo_r]
    return np.minimum(2.0 * n_hit / np.maximum((hi_r - lo_r) + (hi_o - lo_o), 1), 1.0)


def _hf_indices(raw: np.ndarray, fs: float, q: int, grid: np.ndarray, gi: np.ndarray,
                amp_ref: float) -> tuple[np.ndarray, np.ndarray]:
    """Per beat: the HF noise floor over the record's median floor (``hf_rel``, unitless) and over
    the record's median window amplitude (``hf_snr``, noise-to-signal, unitless)."""
    floor = _hf_floor(np.nan_to_num(raw - np.nanmedian(raw)), fs, grid * q, int(WINDOW_S * fs / 2))
    ref = float(np.nanmedian(floor)) if np.isfinite(floor).any() else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        hf_rel = floor[gi] / max(ref, 1e-9)
        hf_snr = floor[gi] / max(amp_ref, 1e-6)
    return hf_rel, hf_snr


def assess_beat_quality(clean_mv: np.ndarray, raw_mv: np.ndarray, fs: float, rpeaks: np.ndarray,
                        noise_model: NoiseModel | None = None) -> pd.DataFrame:
    """Signal-quality indices of every beat and the `unreadable` call.

    Parameters
    ----------
    clean_mv : the cleaned lead in mV (baseline and mains removed, 40 Hz low-pass), 1-D.
    raw_mv : the same lead unfiltered, in mV, same length and rate.
    fs : sampling rate in Hz.
    rpeaks : R-peak sample indices at ``fs`` (ascending).
    noise_model : the noise index to apply (default: the shipped ``noise_model.json``).

    Returns
    -------
    DataFrame, one row per beat: ``bsqi``, ``ksqi``, ``psqi``, ``bassqi``, ``amp_rel`` (unitless),
    ``hf_rel``, ``hf_snr`` (unitless), ``p_noise`` (0..1, ``core.signal.noise_model``), ``sqi`` (0..1, the
    fraction of the four checks of ``UNREADABLE_RULE`` passed) and ``unreadable`` (bool).
    """
    x, raw = np.asarray(clean_mv, dtype=float), np.asarray(raw_mv, dtype=float)
    if x.ndim != 1 or raw.shape != x.shape:
        raise ValueError(f"assess_beat_quality: clean and raw must be one lead each, same length; got {x.shape}, {raw.shape}.")
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"assess_beat_quality: fs must be a positive number of Hz, got {fs}.")
    r = np.asarray(rpeaks, dtype=np.int64)
    if len(r) == 0:
        return pd.DataFrame({c: np.zeros(0, bool if c == "unreadable" else float) for c in COLUMNS})
    xd, fsd, q = _decimate(np.nan_to_num(x), fs)
    rawd, _, _ = _decimate(np.nan_to_num(raw - np.nanmedian(raw)), fs)
    rd = np.minimum(r // q, len(xd) - 1)
    # Window statistics on a grid (hop HOP_S), each beat takes its nearest grid window: same
    # answer within 1 s, several times cheaper than one window per beat.
    hop = int(HOP_S * fsd)
    grid = np.arange(0, len(xd), hop) + hop // 2
    g = _window_stats(xd, rawd, fsd, grid)
    gi = np.minimum(rd // hop, len(grid) - 1)
    st = {k: v[gi] for k, v in g.items()}
    amp_ref = float(np.median(g["amp"]))
    bsqi = _bsqi_per_beat(rd, _second_detector(xd, fsd), fsd)
    amp_rel = st["amp"] / max(amp_ref, 1e-6)
    rule = UNREADABLE_RULE
    checks = np.stack([bsqi >= rule["bsqi_below"], amp_rel <= rule["amp_rel_above"],
                       amp_rel >= rule["amp_rel_below"], st["ksqi"] >= rule["ksqi_below"]], 1)
    hf_rel, hf_snr = _hf_indices(raw, fs, q, grid, gi, amp_ref)
    out = pd.DataFrame({"bsqi": bsqi, "ksqi": st["ksqi"], "psqi": st["psqi"], "bassqi": st["bassqi"],
                        "amp_rel": amp_rel, "hf_rel": hf_rel, "hf_snr": hf_snr})
    model = noise_model or load_noise_model()
    out["p_noise"] = noise_probability(out, model)
    out["sqi"] = checks.mean(1)
    # unreadable: not ECG-shaped where the detectors disagree, or the learned index reads the stretch as noise
    out["unreadable"] = fails_shape_test(out) | (out["p_noise"].to_numpy() >= model.threshold)
    return out


def fails_shape_test(q: pd.DataFrame) -> np.ndarray:
    """The shape test of ``UNREADABLE_RULE`` on quality indices ``q`` (``bsqi``, ``ksqi``, ``amp_rel``): the
    detectors disagree AND the window does not look like ECG (not peaky, or a burst, or flat)."""
    r = UNREADABLE_RULE
    b, k, a = (q[c].to_numpy(float) for c in ("bsqi", "ksqi", "amp_rel"))
    # negated passes, as in ``sqi``: a NaN index fails its check
    return ~(b >= r["bsqi_below"]) & (~(k >= r["ksqi_below"]) | ~(a <= r["amp_rel_above"]) | ~(a >= r["amp_rel_below"]))
