"""Ventricular flutter/fibrillation episodes (Kuo & Dillman 1978 VF-filter leakage, Arafat et al. 2009
threshold-crossing sample count, Barro et al. 1989 dominant frequency), as sample ranges.
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps

from core.signal.clean import _as_2d, _check_fs


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
    seed = runs_at_least((tcsc > VF_SEED_TCSC) & (leak < VF_SEED_LEAK), VF_SEED_RUN)
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


def runs_at_least(mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` with its runs of True shorter than ``k`` cleared (also used by the rhythm reading for VT runs)."""
    out = np.zeros(len(mask), bool)
    for a, b in _runs(mask):
        if b - a >= k:
            out[a:b] = True
    return out
