"""R-peak detection: Pan & Tompkins (1985) / Hamilton & Tompkins (1986) with bSQI lead choice.

Band-pass, derivative, squaring and moving-window integration, then adaptive signal/noise thresholds
with a 200 ms refractory period, T-wave discrimination and search-back after a missed beat. With two
or more leads, each 10 s segment is taken from the lead with the best beat-agreement quality (bSQI,
Li, Clark & Clifford 2008). Beats are not reported inside episodes of ventricular flutter/fibrillation
(:mod:`core.signal.vf`). R peaks are int64 sample indices at the rate of the signal they were found in.
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps

from core.signal.clean import _as_2d, _check_fs
from core.signal.vf import detect_vf_episodes


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


def _second_opinion(x: np.ndarray, fs: float) -> np.ndarray:
    """R peaks from NeuroKit2's gradient detector (Makowski et al. 2021), used only for bSQI.

    A line-for-line port of ``neurokit2.ecg_findpeaks(method="neurokit")`` (default parameters:
    100 ms gradient smoothing, 750 ms average, threshold 1.5 x average, QRS shorter than 0.4 x the
    mean QRS dropped, 300 ms minimum delay): importing neurokit2 costs ~1 s per process and pulls in
    matplotlib and sklearn, and this one function is all the hot path used of it
    (``tests/test_signal.py`` checks the port against neurokit2 itself).
    """
    from scipy.ndimage import uniform_filter1d

    sr = int(round(fs))
    x = np.array(x)
    absgrad = np.abs(np.gradient(x))
    smooth = uniform_filter1d(absgrad, int(np.rint(0.1 * sr)), mode="nearest")
    thr = 1.5 * uniform_filter1d(smooth, int(np.rint(0.75 * sr)), mode="nearest")
    mindelay = int(np.rint(sr * 0.3))
    qrs = smooth > thr
    beg = np.where(~qrs[:-1] & qrs[1:])[0]
    end = np.where(qrs[:-1] & ~qrs[1:])[0]
    if len(beg) == 0:
        return np.zeros(0, np.int64)
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    min_len = np.mean(end[:n] - beg[:n]) * 0.4
    peaks = [0]
    for b, e in zip(beg[:n].tolist(), end[:n].tolist()):
        if e - b < min_len:
            continue
        locmax, props = sps.find_peaks(x[b:e], prominence=(None, None))
        if locmax.size > 0:
            peak = b + int(locmax[np.argmax(props["prominences"])])
            if peak - peaks[-1] > mindelay:
                peaks.append(peak)
    return np.sort(np.asarray(peaks[1:], dtype=np.int64))


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


def ecg_peaks(clean: np.ndarray, fs: float, lead: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """R peaks (as :func:`detect_rpeaks`) and the VF/VFL episodes of ``lead`` from one detector run.

    The episodes are found once and used both to drop detections and to report them, so a caller
    that needs both never runs :func:`core.signal.vf.detect_vf_episodes` a second time.
    """
    fs = _check_fs(fs, "ecg_peaks")
    return _detect(_as_2d(clean, "ecg_peaks"), fs, lead)
