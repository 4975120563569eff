"""ECG cleaning, R-peak detection and beat windows.

Signals are numpy arrays in mV, either 1-D ``[n]`` or 2-D ``[n, leads]``; sampling rates ``fs`` are
in Hz; R peaks are int64 sample indices at the rate of the signal they were found in.

Pipeline used by the app and the CLI::

    clean = ecg_clean(record.signal, record.fs)             # mV, [n, leads]
    rpeaks = detect_rpeaks(clean, record.fs, lead=k)        # samples at record.fs
    windows, inside = beat_windows(clean[:, k], rpeaks, record.fs)   # [beats, 360] at 360 Hz
    windows = normalise_windows(windows, record_scale(clean[:, k], rpeaks))

or in one call ``ecg_beats(record.signal, record.fs, lead=k) -> Beats``.

The detector follows Pan & Tompkins (1985) and Hamilton & Tompkins (1986): band-pass, derivative,
squaring and moving-window integration, then adaptive signal/noise thresholds with a 200 ms
refractory period, T-wave discrimination and search-back after a missed beat. With two or more
leads, each 10 s segment is taken from the lead with the best beat-agreement quality (bSQI, Li,
Clark & Clifford 2008); see :func:`detect_rpeaks`. Beats are not reported inside episodes of
ventricular flutter/fibrillation, which :func:`detect_vf_episodes` finds (Kuo & Dillman 1978 VF-filter
leakage, Arafat et al. 2009 threshold-crossing sample count).
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
THR_FRAC = 0.45  # threshold = noise + THR_FRAC x (signal - noise) on the sqrt feature
T_WAVE_RATIO = 0.7  # within 360 ms, a peak under 0.7 x the last beat's height is a T wave
SEARCHBACK_FRAC = 0.5  # search-back accepts peaks above half the threshold
SEGMENT_S = 10.0  # lead choice is made per 10 s segment
BSQI_TOL_S = 0.100  # two detectors agree on a beat within 100 ms
BSQI_MARGIN = 0.05  # another lead replaces the chosen one only if its bSQI is this much higher
REFINE_S = 0.075  # half-width of the window in which a detection is moved to the R extremum

#: Ventricular flutter/fibrillation episode detector (see :func:`detect_vf_episodes`). Thresholds
#: were calibrated on the de Chazal DS1 training records only (VFL in 207; VT in 203, 205, 207, 223).
VF_WINDOW_S = 4.0  # analysis window (Amann et al. 2005 compare VF features on 4-8 s windows)
VF_STEP_S = 0.5  # windows start every 0.5 s
VF_BAND_HZ = (1.0, 30.0)  # pre-filter of Amann et al. 2005 (drift and EMG suppression)
VF_TAPER_S = 0.25  # cosine taper at each window edge before TCSC (Arafat et al. 2009)
VF_TCSC_LEVEL = 0.2  # TCSC counts samples above 0.2 x the window's max |x| (Arafat et al. 2009)
VF_SEED_TCSC = 0.45  # a window seeds an episode if TCSC > 0.45 ...
VF_SEED_LEAK = 0.40  # ... and VF-filter leakage < 0.40 (VFL median 0.37; sinus > 0.65; VT in DS1 >= 0.48)
VF_SEED_RUN = 3  # ... in at least 3 consecutive windows (1 s)
VF_KEEP_TCSC = 0.30  # an episode extends over windows with TCSC > 0.30 ...
VF_KEEP_LEAK = 0.60  # ... and either leakage < 0.60 ...
VF_KEEP_FREQ_HZ = 2.5  # ... or a dominant frequency >= 2.5 Hz (150/min; coarse, irregular VF)
VF_MIN_S = 3.0  # shortest episode reported


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
    """Pan & Tompkins (1985) feature per lead, (mV/s)^2: 5-15 Hz band-pass, derivative, square,
    150 ms centred moving-window integration."""
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
    return np.maximum((c[hi_i] - c[lo]) / w, 0.0)  # cumsum round-off can dip below 0


def detect_rpeaks(signal: np.ndarray, fs: float, lead: int = 0) -> np.ndarray:
    """Detect R peaks; with several leads, take each 10 s segment from the lead of best quality.

    Method
    ------
    1. Per lead, the Pan & Tompkins (1985) feature: 5-15 Hz band-pass (zero-phase), derivative,
       square, 150 ms moving-window integration; its square root is thresholded, so the feature
       scales linearly with QRS amplitude and small normal beats between large ectopic beats are
       not lost.
    2. Adaptive signal/noise levels (Pan & Tompkins 1985; Hamilton & Tompkins 1986): threshold =
       noise + 0.45 x (signal - noise), 200 ms refractory period, a candidate within 360 ms of the
       last beat and under 0.7 x its height is taken for a T wave, search-back at half threshold
       after 1.66 x the mean of the last 8 RR intervals.
    3. Lead choice by beat-agreement quality, bSQI (Li, Clark & Clifford 2008): in each 10 s
       segment, the F1 agreement (100 ms) between this detector and a second, differently built
       one (NeuroKit2 gradient detector, Makowski et al. 2021) on the same lead. Noise and large
       P/T waves make the two detectors disagree, so the segment is taken from the lead where
       they agree best; ``lead`` wins unless another lead is better by more than 0.05.
    4. Each detection is moved to the R extremum of ``lead`` within +-75 ms (polarity-aware:
       the record's dominant deflection unless the opposite one is clearly larger), and
       detections closer than 200 ms are merged.
    5. Detections inside ventricular flutter/fibrillation episodes of ``lead``
       (:func:`detect_vf_episodes`) are dropped: during VF/VFL there are no discrete QRS
       complexes to count, only flutter waves, so CardioLens reports the episode instead of beats
       (ANSI/AAMI EC57 also excludes VF episodes from beat-by-beat scoring). The episodes
       themselves are in :attr:`Beats.vf_episodes` (:func:`ecg_beats`).

    Parameters
    ----------
    signal : ECG in mV, ``[n]`` or ``[n, leads]``, preferably from :func:`ecg_clean`.
    fs : sampling rate in Hz.
    lead : column whose R extrema the peaks are placed on (the lead shown and windowed).

    Returns
    -------
    Sorted, unique int64 sample indices at ``fs``, none inside a VF/VFL episode.

    Examples
    --------
    >>> clean = ecg_clean(record.signal, 360.0)          # doctest: +SKIP
    >>> rpeaks = detect_rpeaks(clean, 360.0, lead=0)      # doctest: +SKIP
    """
    fs = _check_fs(fs, "detect_rpeaks")
    arr = _as_2d(signal, "detect_rpeaks")
    return _detect(arr, fs, lead)[0]


def _detect(arr: np.ndarray, fs: float, lead: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`detect_rpeaks` on a checked 2-D array; also returns the VF/VFL episodes of ``lead``."""
    if not 0 <= lead < arr.shape[1]:
        raise ValueError(f"detect_rpeaks: lead {lead} does not exist; the signal has {arr.shape[1]} lead(s).")
    if arr.shape[0] < int(2 * fs):
        raise ValueError(f"detect_rpeaks: the signal lasts {arr.shape[0] / fs:.2f} s; give at least 2 s of ECG.")
    feat = np.sqrt(_qrs_energy(arr, fs))
    per_lead = [_threshold(feat[:, k], fs)[0] for k in range(arr.shape[1])]
    if arr.shape[1] == 1:
        beats = per_lead[0]
    else:
        seg = int(SEGMENT_S * fs)
        n_seg = int(np.ceil(arr.shape[0] / seg))
        quality = np.vstack([_bsqi(b, _second_opinion(arr[:, k], fs), seg, n_seg, int(BSQI_TOL_S * fs))
                             for k, b in enumerate(per_lead)])
        best = np.full(n_seg, lead)
        rival = quality.copy()
        rival[lead] = -np.inf
        other = rival.argmax(axis=0)
        switch = rival[other, np.arange(n_seg)] > quality[lead] + BSQI_MARGIN
        best[switch] = other[switch]
        beats = np.sort(np.concatenate(
            [b[best[np.minimum(b // seg, n_seg - 1)] == k] for k, b in enumerate(per_lead)]))
    r = _refine(arr[:, lead], beats, fs)
    if len(r) > 1:  # a beat at a segment border may come from both leads
        r = r[np.r_[True, np.diff(r) > int(REFRACTORY_S * fs)]]
    episodes = detect_vf_episodes(arr, fs, lead=lead)
    for start, stop in episodes:
        r = r[(r < start) | (r >= stop)]
    return r, episodes


def detect_vf_episodes(clean: np.ndarray, fs: float, lead: int = 0) -> list[tuple[int, int]]:
    """Find episodes of ventricular flutter or fibrillation (VFL/VF), as sample ranges.

    During VF/VFL the heart has no discrete QRS complexes: the ECG is a fast (about 3-8 Hz),
    nearly sinusoidal or irregular oscillation without an isoelectric baseline. A QRS detector
    calls every flutter wave a beat, so :func:`detect_rpeaks` drops its detections inside these
    episodes and CardioLens reports the episode instead (ANSI/AAMI EC57 likewise excludes VF
    episodes from beat-by-beat scoring).

    Method (features compared by Amann, Tratnig & Unterkofler 2005), on the lead band-passed
    1-30 Hz and cut into 4 s windows every 0.5 s:

    - TCSC, threshold-crossing sample count (Arafat, Chowdhury & Hasan 2009): the fraction of
      samples whose magnitude exceeds 0.2 x the window's maximum, after a 0.25 s cosine taper.
      Narrow QRS complexes on a flat baseline give low values (sinus: about 0.03-0.3); VF/VFL,
      which never returns to baseline, gives high ones (about 0.4-0.7).
    - VF-filter leakage (Kuo & Dillman 1978): the window's mean period ``T`` is estimated from
      the ratio of its mean magnitude to its mean slope, and the signal is added to itself
      delayed by ``T / 2``; a sinusoid cancels (leakage near 0), a QRS train does not (> 0.7).
    - Dominant frequency (Barro et al. 1989) of the Hann-windowed spectrum in 0.5-9 Hz.

    A window *seeds* an episode when TCSC > 0.45 and leakage < 0.40 for at least 3 consecutive
    windows; the episode then extends over neighbouring windows with TCSC > 0.30 and either
    leakage < 0.60 or a dominant frequency >= 2.5 Hz (hysteresis, so coarse, irregular stretches
    of an episode are not split off), and is kept if it lasts at least 3 s. Thresholds were set
    on the de Chazal DS1 training records of MIT-BIH only; they leave monomorphic ventricular
    tachycardia (discrete wide QRS complexes, leakage >= 0.5) alone.

    Parameters
    ----------
    clean : ECG in mV, ``[n]`` or ``[n, leads]``, preferably from :func:`ecg_clean`.
    fs : sampling rate in Hz.
    lead : the column analysed when ``clean`` has several leads.

    Returns
    -------
    Sorted, non-overlapping ``(start, stop)`` sample ranges at ``fs`` (stop exclusive); empty
    when there is no episode or the signal is shorter than one 4 s window.
    """
    fs = _check_fs(fs, "detect_vf_episodes")
    arr = _as_2d(clean, "detect_vf_episodes")
    if not 0 <= lead < arr.shape[1]:
        raise ValueError(f"detect_vf_episodes: lead {lead} does not exist; the signal has {arr.shape[1]} lead(s).")
    feats = _vf_features(arr[:, lead], fs)
    if feats is None:
        return []
    centres, tcsc, leak, freq = feats
    seed = _runs_at_least((tcsc > VF_SEED_TCSC) & (leak < VF_SEED_LEAK), VF_SEED_RUN)
    keep = (tcsc > VF_KEEP_TCSC) & ((leak < VF_KEEP_LEAK) | (freq >= VF_KEEP_FREQ_HZ)) | seed
    episodes: list[tuple[int, int]] = []
    for a, b in _runs(keep):
        if seed[a:b].any():
            # From the centre of the first to the centre of the last VF-like window: a 4 s window
            # turns VF-like once about half of it is VF, so its centre is close to the onset.
            start, stop = int(centres[a]), int(centres[b - 1]) + 1
            if stop - start >= VF_MIN_S * fs:
                episodes.append((start, stop))
    return episodes


def _vf_features(x: np.ndarray, fs: float) -> tuple[np.ndarray, ...] | None:
    """Per 4 s window: centre (samples at ``fs``), TCSC, VF-filter leakage, dominant frequency (Hz)."""
    dec = max(1, int(fs // 100))  # ~100-125 Hz is plenty below the 30 Hz band edge
    f = fs / dec
    hi = min(VF_BAND_HZ[1], 0.45 * fs)
    sos = sps.butter(2, (VF_BAND_HZ[0], hi), btype="bandpass", fs=fs, output="sos")
    y = sps.sosfiltfilt(sos, x, padlen=min(len(x) - 1, int(2 * fs)))[::dec]
    n, step = int(round(VF_WINDOW_S * f)), int(round(VF_STEP_S * f))
    if len(y) < n:
        return None
    w = np.lib.stride_tricks.sliding_window_view(y.astype(np.float32), n)[::step]
    w = w - w.mean(axis=1, keepdims=True)  # float32: ~3600 x 480 values per 30 min, halves the time
    centres = (np.arange(len(w)) * step + n // 2) * dec
    # TCSC (Arafat et al. 2009)
    t = max(1, int(round(VF_TAPER_S * f)))
    taper = np.ones(n, np.float32)
    ramp = 0.5 * (1.0 - np.cos(np.pi * np.arange(t) / t))
    taper[:t], taper[-t:] = ramp, ramp[::-1]
    a = np.abs(w * taper)
    tcsc = (a > VF_TCSC_LEVEL * np.maximum(a.max(axis=1, keepdims=True), 1e-12)).mean(axis=1)
    # Leakage and frequency only matter where TCSC is high enough to keep an episode going
    # (typically a few % of windows): computing them there alone keeps the detector fast.
    cand = np.flatnonzero(tcsc > VF_KEEP_TCSC)
    leak = np.ones(len(w))
    freq = np.zeros(len(w))
    if len(cand):
        wc = w[cand]
        # VF-filter leakage (Kuo & Dillman 1978): half-period N = pi * sum|x| / sum|dx| + 1/2.
        slope = np.maximum(np.abs(np.diff(wc, axis=1)).sum(axis=1), 1e-12)
        period = np.clip(np.floor(np.pi * np.abs(wc).sum(axis=1) / slope + 0.5), 1, n // 2).astype(int)
        lk = np.ones(len(wc))
        for p in np.unique(period):  # few distinct delays: vectorise per delay
            k = period == p
            s, d = wc[k, p:], wc[k, :-p]
            lk[k] = np.abs(s + d).sum(axis=1) / np.maximum((np.abs(s) + np.abs(d)).sum(axis=1), 1e-12)
        leak[cand] = lk
        # Dominant frequency of the Hann-windowed amplitude spectrum in 0.5-9 Hz (Barro et al. 1989).
        spec = np.abs(np.fft.rfft(wc * np.hanning(n).astype(np.float32), axis=1))
        fr = np.fft.rfftfreq(n, 1.0 / f)
        band = (fr >= 0.5) & (fr <= 9.0)
        freq[cand] = fr[band][spec[:, band].argmax(axis=1)]
    return centres, tcsc, leak, freq


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the runs of True in a boolean array (stop exclusive)."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _runs_at_least(mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` with its runs of True shorter than ``k`` cleared."""
    out = np.zeros(len(mask), bool)
    for a, b in _runs(mask):
        if b - a >= k:
            out[a:b] = True
    return out


def _second_opinion(x: np.ndarray, fs: float) -> np.ndarray:
    """R peaks from NeuroKit2's gradient detector (Makowski et al. 2021), used only for bSQI."""
    import warnings

    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peaks = nk.ecg_findpeaks(x, sampling_rate=int(round(fs)), method="neurokit")["ECG_R_Peaks"]
    return np.sort(np.asarray(peaks, dtype=np.int64))


def _bsqi(a: np.ndarray, b: np.ndarray, seg: int, n_seg: int, tol: int) -> np.ndarray:
    """Per-segment F1 agreement of two beat lists (Li, Clark & Clifford 2008); 1.0 = identical."""
    # Nearest neighbour of each beat of ``a`` in ``b``.
    if len(b):
        j = np.clip(np.searchsorted(b, a), 1, len(b) - 1) if len(b) > 1 else np.zeros(len(a), int)
        d = np.abs(b[j] - a)
        if len(b) > 1:
            d = np.minimum(d, np.abs(b[j - 1] - a))
        hit = d <= tol
    else:
        hit = np.zeros(len(a), bool)
    n_a = np.bincount(np.minimum(a // seg, n_seg - 1), minlength=n_seg)
    n_b = np.bincount(np.minimum(b // seg, n_seg - 1), minlength=n_seg)
    n_hit = np.bincount(np.minimum(a[hit] // seg, n_seg - 1), minlength=n_seg)
    tot = n_a + n_b
    return np.where(tot > 0, 2.0 * n_hit / np.maximum(tot, 1), 0.0)


def _threshold(feat: np.ndarray, fs: float) -> np.ndarray:
    """Adaptive signal/noise-level thresholding (Pan & Tompkins 1985; Hamilton & Tompkins 1986).

    Returns (beats, candidate peaks, signal-to-noise level ratio at each candidate)."""
    refr = int(REFRACTORY_S * fs)
    cand, _ = sps.find_peaks(feat, distance=refr)
    h = feat[cand]
    if len(cand) == 0:
        return np.zeros(0, np.int64), cand, np.zeros(0)
    # Initial levels from the first 10 s (Pan & Tompkins use 2 s; 10 s is steadier).
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


@dataclass(frozen=True)
class Beats:
    """Beats of one lead: R peaks at the record's rate, windows at the model's rate.

    rpeaks : int64 sample indices at ``fs`` (Hz).
    windows : float32 ``[n_beats, window]`` at ``fs_model`` (Hz), divided by ``scale``.
    inside : bool ``[n_beats]``, True where the window lies fully inside the record.
    scale : the record scale in mV that the windows were divided by (:func:`record_scale`).
    vf_episodes : ``(start, stop)`` sample ranges at ``fs`` of ventricular flutter/fibrillation,
        where no beats are reported (:func:`detect_vf_episodes`); empty when there is none.
    """

    rpeaks: np.ndarray
    windows: np.ndarray
    inside: np.ndarray
    fs: float
    fs_model: float
    scale: float
    vf_episodes: tuple[tuple[int, int], ...] = ()


def beat_windows(
    x: np.ndarray,
    rpeaks: np.ndarray,
    fs: float,
    window: int = config.BEAT_WINDOW,
    fs_model: float = config.MODEL_FS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one window per beat, centred on its R peak, at the model's sampling rate.

    The lead is first resampled from ``fs`` to ``fs_model`` (polyphase, ``resample_poly``) when the
    rates differ, and R peaks are mapped to the new rate. Window ``i`` holds samples
    ``r - window // 2 ... r + window - window // 2 - 1``, so the R peak sits at index
    ``window // 2``; samples beyond the record are zeros.

    Parameters
    ----------
    x : one lead in mV, ``[n]``.
    rpeaks : R-peak sample indices at ``fs``.
    fs : sampling rate of ``x`` in Hz.
    window : window length in samples at ``fs_model`` (default 360 = 1 s at 360 Hz).
    fs_model : rate the windows are cut at, Hz.

    Returns
    -------
    (windows float32 ``[n_beats, window]`` in mV, inside bool ``[n_beats]`` = window fully in record)
    """
    fs = _check_fs(fs, "beat_windows")
    fs_model = _check_fs(fs_model, "beat_windows")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"beat_windows: expected one lead as a 1-D array, got shape {arr.shape}; pass signal[:, lead].")
    r = np.asarray(rpeaks, dtype=np.int64).ravel()
    if len(r) and (r.min() < 0 or r.max() >= len(arr)):
        raise ValueError("beat_windows: some R peaks lie outside the signal; detect them on this same signal.")
    if window < 1:
        raise ValueError(f"beat_windows: window must be a positive number of samples, got {window}.")
    if abs(fs - fs_model) > 1e-9:
        ratio = Fraction(fs_model / fs).limit_denominator(1000)
        arr = sps.resample_poly(arr, ratio.numerator, ratio.denominator)
        r = np.clip(np.round(r * fs_model / fs).astype(np.int64), 0, len(arr) - 1)
    half = window // 2
    start = r - half
    idx = start[:, None] + np.arange(window)[None, :]
    inside = (start >= 0) & (start + window <= len(arr))
    valid = (idx >= 0) & (idx < len(arr))
    out = np.where(valid, arr[np.clip(idx, 0, max(len(arr) - 1, 0))], 0.0) if len(arr) else np.zeros(idx.shape)
    return out.astype(np.float32).reshape(len(r), window), inside


def record_scale(x_clean_lead: np.ndarray, rpeaks: np.ndarray) -> float:
    """Robust amplitude of a record in mV: the median absolute value at the R peaks.

    ``x_clean_lead`` must be baseline-corrected (:func:`ecg_clean`) so that values are deflections
    from the isoelectric line. Falls back to the 99th percentile of ``|x|`` when there are no R
    peaks, and to 1.0 for a flat signal, so the result is always a positive number.
    """
    x = np.asarray(x_clean_lead, dtype=np.float64).ravel()
    r = np.asarray(rpeaks, dtype=np.int64).ravel()
    r = r[(r >= 0) & (r < len(x))]
    scale = float(np.median(np.abs(x[r]))) if len(r) else 0.0
    if not np.isfinite(scale) or scale <= 1e-6:
        scale = float(np.percentile(np.abs(x), 99)) if len(x) else 0.0
    return scale if np.isfinite(scale) and scale > 1e-6 else 1.0


def normalise_windows(windows: np.ndarray, scale: float) -> np.ndarray:
    """Divide beat windows by one record-wide scale (mV -> multiples of the typical R amplitude).

    The scale is per record, not per beat, on purpose: dividing each beat by its own peak would
    erase the amplitude differences between beats (a tall ventricular ectopic beat next to small
    normal ones), which are diagnostic, while a record scale still removes gain differences between
    devices and patients.
    """
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"normalise_windows: scale must be a positive number of mV, got {scale}; use record_scale().")
    return (np.asarray(windows, dtype=np.float32) / np.float32(scale)).astype(np.float32)


def ecg_beats(signal: np.ndarray, fs: float, lead: int = 0) -> Beats:
    """Whole pipeline on a raw record: clean, detect R peaks and VF/VFL episodes, cut and normalise
    windows of ``lead``."""
    clean = ecg_clean(signal, fs)
    clean2 = clean if clean.ndim == 2 else clean[:, None]
    rpeaks, episodes = _detect(_as_2d(clean2, "ecg_beats"), _check_fs(fs, "ecg_beats"), lead)
    windows, inside = beat_windows(clean2[:, lead], rpeaks, fs)
    scale = record_scale(clean2[:, lead], rpeaks)
    return Beats(rpeaks, normalise_windows(windows, scale), inside, float(fs), config.MODEL_FS, scale,
                 tuple(episodes))
