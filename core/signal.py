"""ECG cleaning, R-peak detection and beat windows.

Signals are numpy arrays in mV, either 1-D ``[n]`` or 2-D ``[n, leads]``; sampling rates ``fs`` are
in Hz; R peaks are int64 sample indices at the rate of the signal they were found in.

Pipeline used by the app and the CLI::

    clean = ecg_clean(record.signal, record.fs)             # mV, [n, leads]
    rpeaks = detect_rpeaks(clean, record.fs, lead=k)        # samples at record.fs
    windows, inside = beat_windows(clean[:, k], rpeaks, record.fs)   # [beats, 360] at 360 Hz
    windows = normalise_windows(windows, record_scale(clean[:, k], rpeaks))

The detector follows Pan & Tompkins (1985) and Hamilton & Tompkins (1986): band-pass, derivative,
squaring and moving-window integration, then adaptive signal/noise thresholds with a 200 ms
refractory period, T-wave discrimination by slope and search-back after a missed beat. With two or
more leads the integrated energies of the leads are combined before thresholding (see
:func:`detect_rpeaks`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from core import config

#: Detector constants (s unless stated). Values from Pan & Tompkins 1985 / Hamilton & Tompkins 1986.
QRS_BAND_HZ = (5.0, 15.0)  # pass band that keeps QRS energy, rejects P/T waves and baseline
MWI_WINDOW_S = 0.150  # moving-window integration, about one wide QRS
REFRACTORY_S = 0.200  # no second beat within 200 ms (physiological refractory period)
T_WAVE_S = 0.360  # a candidate this close to the last beat may be its T wave
SEARCHBACK_RR = 1.66  # search back for a missed beat after 1.66 x the mean RR interval
THR_FRAC = 0.25
T_WAVE_RATIO = 0.5
SEARCHBACK_FRAC = 0.5
REFINE_S = 0.075  # half-width of the window in which a detection is moved to the R extremum


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 1-D signal or a 2-D [samples, leads] array, got shape {arr.shape}.")
    if arr.shape[0] < 2:
        raise ValueError(f"{name}: the signal has {arr.shape[0]} samples; give at least a few seconds of ECG.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: the signal contains NaN or infinite values; fill or cut the gaps first.")
    return arr


def _check_fs(fs: float, name: str) -> float:
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"{name}: the sampling rate must be a positive number of Hz, got {fs}.")
    return fs


def ecg_clean(x: np.ndarray, fs: float, lowpass: float | None = 40.0) -> np.ndarray:
    """Remove baseline wander, powerline interference and (optionally) high-frequency noise.

    All filters run forwards and backwards (``sosfiltfilt``/``filtfilt``), so they add no phase
    shift and R peaks stay where they are.

    - Baseline wander: 4th-order Butterworth high-pass at 0.5 Hz. Zero-phase filtering at this
      cut-off leaves the ST segment essentially undistorted (Van Alsté et al. 1986) while removing
      respiration and electrode drift (a 0.3 Hz drift is attenuated about 60-fold).
    - Powerline: IIR notch (Q = 30, about 2 Hz wide) at 50 Hz and at 60 Hz, each only when it lies
      below the Nyquist frequency; both are applied because the mains frequency of an upload is
      unknown.
    - Low-pass (``lowpass`` Hz, default 40; ``None`` to skip): 4th-order Butterworth, removes EMG
      noise; skipped when at or above the Nyquist frequency.

    Parameters
    ----------
    x : signal in mV, ``[n]`` or ``[n, leads]``.
    fs : sampling rate in Hz.
    lowpass : low-pass cut-off in Hz, or ``None``.

    Returns
    -------
    Cleaned signal in mV, same shape as ``x``, float64.
    """
    fs = _check_fs(fs, "ecg_clean")
    arr = _as_2d(x, "ecg_clean")
    nyq = fs / 2.0
    padlen = min(arr.shape[0] - 1, int(3 * fs))  # pad ~3 s so the edges do not ring
    out = arr - np.median(arr, axis=0)  # remove DC first so padding does not create a step
    sos = sps.butter(4, 0.5, btype="highpass", fs=fs, output="sos")
    out = sps.sosfiltfilt(sos, out, axis=0, padlen=padlen)
    for mains in (50.0, 60.0):
        if mains < nyq - 1.0:
            b, a = sps.iirnotch(mains, 30.0, fs=fs)
            out = sps.filtfilt(b, a, out, axis=0, padlen=min(padlen, 3 * max(len(a), len(b))))
    if lowpass is not None and lowpass < nyq:
        sos = sps.butter(4, lowpass, btype="lowpass", fs=fs, output="sos")
        out = sps.sosfiltfilt(sos, out, axis=0, padlen=padlen)
    return out.reshape(np.shape(x)) if np.ndim(x) == 1 else out


def _qrs_energy(arr: np.ndarray, fs: float) -> np.ndarray:
    """Pan-Tompkins feature per lead: 5-15 Hz band-pass, derivative, square, 150 ms integration."""
    hi = min(QRS_BAND_HZ[1], 0.45 * fs)
    sos = sps.butter(2, (QRS_BAND_HZ[0], hi), btype="bandpass", fs=fs, output="sos")
    padlen = min(arr.shape[0] - 1, int(2 * fs))
    band = sps.sosfiltfilt(sos, arr, axis=0, padlen=padlen)
    d = np.gradient(band, axis=0) * fs  # mV/s
    sq = d * d
    w = max(1, int(round(MWI_WINDOW_S * fs)))
    # Centred moving average via cumulative sums: O(n) and zero delay.
    c = np.cumsum(np.vstack([np.zeros((1, sq.shape[1])), sq]), axis=0)
    half = w // 2
    idx = np.arange(sq.shape[0])
    lo = np.clip(idx - half, 0, sq.shape[0])
    hi_i = np.clip(idx - half + w, 0, sq.shape[0])
    return (c[hi_i] - c[lo]) / w, d


def detect_rpeaks(signal: np.ndarray, fs: float, lead: int = 0) -> np.ndarray:
    """Detect R peaks (Pan & Tompkins 1985; Hamilton & Tompkins 1986), multi-lead aware.

    Placeholder docstring, completed below.
    """
    fs = _check_fs(fs, "detect_rpeaks")
    arr = _as_2d(signal, "detect_rpeaks")
    if not 0 <= lead < arr.shape[1]:
        raise ValueError(f"detect_rpeaks: lead {lead} does not exist; the signal has {arr.shape[1]} lead(s).")
    energy, deriv = _qrs_energy(arr, fs)
    feat = _combine_leads(energy, fs)
    beats = _threshold(feat, fs)
    return _refine(arr[:, lead], beats, fs)


def _combine_leads(energy: np.ndarray, fs: float) -> np.ndarray:
    return energy[:, 0]


def _threshold(feat: np.ndarray, fs: float) -> np.ndarray:
    """Adaptive signal/noise-level thresholding of the integrated energy (Pan & Tompkins 1985)."""
    refr = int(REFRACTORY_S * fs)
    cand, props = sps.find_peaks(feat, distance=refr)
    h = feat[cand]
    if len(cand) == 0:
        return np.zeros(0, np.int64)
    # Initial levels from the first 2 s... use the first 10 s for stability.
    first = h[cand < int(10 * fs)]
    if len(first) == 0:
        first = h
    spk = np.percentile(first, 90) * 0.5
    npk = np.median(first) * 0.5
    rr_mean = 0.8 * fs
    rrs: list[float] = []
    out: list[int] = []
    out_h: list[float] = []
    snr = np.empty(len(cand))
    slope_prev = None
    tw = int(T_WAVE_S * fs)
    last = -10 * refr
    last_i = -1
    i = 0
    n = len(cand)
    while i < n:
        t = cand[i]
        thr = npk + THR_FRAC * (spk - npk)
        # Search-back: a beat is overdue; take the largest candidate above half the threshold.
        if out and t - last > SEARCHBACK_RR * rr_mean:
            js = np.arange(last_i + 1, i)
            js = js[(cand[js] - last > refr) & (h[js] > SEARCHBACK_FRAC * thr)]
            if len(js):
                j = js[np.argmax(h[js])]
                out.append(int(cand[j])); out_h.append(h[j])
                spk = 0.25 * h[j] + 0.75 * spk
                rr = cand[j] - last
                rrs.append(rr); rr_mean = float(np.mean(rrs[-8:]))
                last, last_i = cand[j], j
                i = j + 1
                continue
        if h[i] > thr and t - last > refr:
            if out and t - last < tw and h[i] < T_WAVE_RATIO * out_h[-1]:
                npk = 0.125 * h[i] + 0.875 * npk  # probably the T wave of the previous beat
            else:
                if out:
                    rrs.append(t - last); rr_mean = float(np.mean(rrs[-8:]))
                out.append(int(t)); out_h.append(h[i])
                spk = 0.125 * h[i] + 0.875 * spk
                last, last_i = t, i
        else:
            npk = 0.125 * h[i] + 0.875 * npk
        snr[i] = spk / max(npk, 1e-12)
        i += 1
    return np.asarray(out, np.int64), cand, snr


def _refine(x: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Move each detection to the R extremum of ``x`` within +-75 ms, polarity-aware."""
    if len(beats) == 0:
        return beats.astype(np.int64)
    half = int(REFINE_S * fs)
    n = len(x)
    offs = np.arange(-half, half + 1)
    idx = np.clip(beats[:, None] + offs[None, :], 0, n - 1)
    seg = x[idx]
    base = np.median(seg, axis=1, keepdims=True)
    seg = seg - base
    pos = seg.max(axis=1)
    neg = -seg.min(axis=1)
    # Dominant polarity of the record: prefer it unless the other deflection is clearly larger.
    pol = 1.0 if np.median(pos) >= np.median(neg) else -1.0
    if pol > 0:
        use_pos = pos >= 0.6 * neg
    else:
        use_pos = 0.6 * pos > neg
    k = np.where(use_pos, seg.argmax(axis=1), seg.argmin(axis=1))
    r = idx[np.arange(len(beats)), k]
    return np.unique(r).astype(np.int64)
