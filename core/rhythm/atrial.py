"""Atrial activity per beat from the cleaned lead: P waves, fibrillatory (f) waves and flutter (F) waves.

Methods (all on the cleaned primary lead in mV, any fs, R-peak times in s):

- P-wave presence: each beat's P segment (``p_window_s``, default 250 to 80 ms before R), linearly
  detrended, is correlated (Pearson r) with a running median P-segment template of the surrounding beats
  (``template_beats``, ventricular-like beats left out). Sinus beats share one P wave, so r is high and the
  template has a P deflection; in atrial fibrillation the segment holds f waves that are not locked to the
  QRS, r is near zero and the template flattens (template matching of the P wave as in Ladavich & Ghoraani
  2015; P-wave absence is the ECG definition of AF, Kirchhof et al. 2016 ESC guideline).
- f/F-wave activity: QRST cancellation by average beat subtraction (ABS, Slocum et al. 1992; Stridh &
  Soernmo 2001 refine it spatiotemporally) with the same running median beat template over -250..+400 ms,
  band-pass 4-9 Hz (the AF f-wave band, Stridh & Soernmo 2001) and the RMS of the residual in each TQ
  stretch (300 ms after the previous R to 80 ms before this one), relative to the record's median R
  amplitude, so that it does not depend on gain.
- Dominant atrial frequency: spectrum of the QRS-blanked residual over ``spectrum_s`` long blocks (Hann
  window); the peak in 3-10 Hz and its concentration (power within +-0.5 Hz of the peak over power in
  2-12 Hz). Atrial flutter gives a sharp peak at 4-6 Hz (240-360 /min); fibrillation a broad 4-9 Hz hump
  (Stridh & Soernmo 2001; Slocum 1992 used the same atrial spectral band).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

__all__ = ["AtrialActivity", "measure_atrial_activity"]


@dataclass(frozen=True)
class AtrialActivity:
    """Per-beat atrial measures (NaN where not measurable).

    ``p_corr`` Pearson r of the beat's P segment with the running template (unitless, -1..1);
    ``p_template_mv`` peak-to-peak of that template in the P segment (mV); ``f_rel`` 4-9 Hz RMS of the
    QRST-cancelled residual in the TQ stretch before the beat over the median R amplitude (unitless);
    ``dom_hz`` dominant atrial frequency (Hz) and ``dom_conc`` its spectral concentration (0..1) of the block
    the beat lies in."""

    p_corr: np.ndarray
    p_template_mv: np.ndarray
    f_rel: np.ndarray
    dom_hz: np.ndarray
    dom_conc: np.ndarray


#: 10 s spectrum blocks transformed at once (bounds the FFT's memory on long records).
_SPECTRUM_BLOCKS = 256


def _filtfilt_long(sos: np.ndarray, x: np.ndarray, fs: float, chunk_s: float = 600.0, pad_s: float = 20.0) -> np.ndarray:
    """``sosfiltfilt`` in ``chunk_s`` pieces with ``pad_s`` of signal either side (bounded memory on 24 h
    records). The 4-9 Hz band-pass's impulse response has died out long before ``pad_s``, so the result
    equals one pass to rounding; records up to one chunk take the single pass."""
    n, c, p = len(x), int(chunk_s * fs), int(pad_s * fs)
    if n <= c + 2 * p:
        return sosfiltfilt(sos, x)
    out = np.empty_like(x)
    for a in range(0, n, c):
        b = min(n, a + c)
        lo, hi = max(0, a - p), min(n, b + p)
        out[a:b] = sosfiltfilt(sos, x[lo:hi])[a - lo:a - lo + (b - a)]
    return out


def _segments(x: np.ndarray, r: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows x[r + a : r + b] for every R sample r whose window lies inside x, and the mask of those r."""
    ok = (r + a >= 0) & (r + b <= len(x))
    idx = r[ok, None] + np.arange(a, b)[None, :]
    return x[idx], ok


def _running_median(seg: np.ndarray, use: np.ndarray, template_beats: int, block: int = 32) -> np.ndarray:
    """Median template per beat from ``template_beats`` neighbours (computed once per ``block`` beats)."""
    n = len(seg)
    out = np.full_like(seg, np.nan)
    h = template_beats // 2
    for s in range(0, n, block):
        lo, hi = max(0, s + block // 2 - h), min(n, s + block // 2 + h)
        sel = seg[lo:hi][use[lo:hi]]
        if len(sel) >= 3:
            # contiguous along the reduced axis: numpy's partition is several times faster that way
            out[s:s + block] = np.median(np.ascontiguousarray(sel.T), axis=1)
    return out


def _row_nanmean(a: np.ndarray) -> np.ndarray:
    """Mean of each row over its non-NaN values; NaN for a row with none (a template with too few beats),
    without numpy's 'Mean of empty slice' warning."""
    out = np.full(len(a), np.nan)
    has = ~np.isnan(a).all(1)
    out[has] = np.nanmean(a[has], 1)
    return out


def _row_nanptp(a: np.ndarray) -> np.ndarray:
    """Peak-to-peak of each row over its non-NaN values; NaN for a row with none (no all-NaN warning)."""
    out = np.full(len(a), np.nan)
    has = ~np.isnan(a).all(1)
    out[has] = np.nanmax(a[has], 1) - np.nanmin(a[has], 1)
    return out


def _detrend_rows(seg: np.ndarray) -> np.ndarray:
    k = np.arange(seg.shape[1], dtype=float)
    k -= k.mean()
    slope = (seg * k).sum(1, keepdims=True) / (k ** 2).sum()
    return seg - seg.mean(1, keepdims=True) - slope * k


def measure_atrial_activity(clean_mv: np.ndarray, fs: float, beat_time_s: np.ndarray,
                            origin: np.ndarray | None = None, *, p_window_s: tuple[float, float] = (-0.25, -0.08),
                            template_beats: int = 64, spectrum_s: float = 10.0) -> AtrialActivity:
    """Per-beat atrial activity measures (see module docstring). ``clean_mv`` the cleaned lead (mV) at
    ``fs`` (Hz); ``beat_time_s`` R-peak times (s); ``origin`` 'N'/'S'/'V' per beat (V beats are left out of
    the templates)."""
    x = np.array(clean_mv, float).ravel()  # our own copy: it becomes the QRST-cancelled residual in place
    t = np.asarray(beat_time_s, float)
    n = len(t)
    nan = np.full(n, np.nan)
    if n < 3 or len(x) < int(fs):
        return AtrialActivity(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy())
    r = np.clip(np.round(t * fs).astype(int), 0, len(x) - 1)
    use = np.ones(n, bool) if origin is None else np.asarray(origin).astype(str) != "V"
    # P segments against the running template
    a, b = int(round(p_window_s[0] * fs)), int(round(p_window_s[1] * fs))
    seg, ok = _segments(x, r, a, b)
    seg = _detrend_rows(seg)
    tpl = _running_median(seg, use[ok], template_beats)
    sc, tc = seg - seg.mean(1, keepdims=True), tpl - _row_nanmean(tpl)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (sc * tc).sum(1) / np.sqrt((sc ** 2).sum(1) * (tc ** 2).sum(1))
    p_corr, p_tpl = nan.copy(), nan.copy()
    p_corr[ok] = corr
    p_tpl[ok] = _row_nanptp(tpl)
    # QRST cancellation by average beat subtraction
    a2, b2 = int(round(-0.25 * fs)), int(round(0.40 * fs))
    bseg, bok = _segments(x, r, a2, b2)
    btpl = _running_median(bseg, use[bok], template_beats)
    r_amp = float(np.median(np.abs(x[r]))) or 1.0
    res = x  # in place: the segments above are copies, and x itself is not needed any more
    rr_prev = np.r_[np.inf, np.diff(r)]
    rr_next = np.r_[np.diff(r), np.inf]
    for k, i in enumerate(np.flatnonzero(bok)):
        if not np.isfinite(btpl[k, 0]):
            continue
        lo = int(min(-a2, 0.4 * rr_prev[i]))
        hi = int(min(b2, 0.6 * rr_next[i]))
        res[r[i] - lo:r[i] + hi] -= btpl[k, -a2 - lo:-a2 + hi]
    del bseg, btpl  # memory: on a 24 h record these are ~200 MB each, and the filter below needs room
    sos = butter(2, [4.0, 9.0], btype="band", fs=fs, output="sos")
    band = _filtfilt_long(sos, res, fs)
    np.square(band, out=band)
    c = np.concatenate([[0.0], np.cumsum(band)])
    del band
    lo = np.r_[0, r[:-1]] + int(0.30 * fs)
    hi = r - int(0.08 * fs)
    good = (np.arange(n) > 0) & (hi - lo >= int(0.08 * fs))
    f_rel = nan.copy()
    f_rel[good] = np.sqrt((c[hi[good]] - c[lo[good]]) / (hi[good] - lo[good])) / r_amp
    # dominant atrial frequency per block of the QRS-blanked residual
    blank = res  # the residual is not needed after the band filter: blank it in place (a 24 h lead is 250 MB)
    del res
    w = int(0.06 * fs)
    idx = (r[:, None] + np.arange(-w, w)[None, :]).ravel()
    blank[idx[(idx >= 0) & (idx < len(x))]] = 0.0
    L = int(spectrum_s * fs)
    dom, conc = nan.copy(), nan.copy()
    nb = len(x) // L
    if nb >= 1:
        nfft = 1 << int(np.ceil(np.log2(max(L, 4 * fs))))
        f = np.fft.rfftfreq(nfft, 1.0 / fs)
        band_m, tot_m = (f >= 3) & (f <= 10), (f >= 2) & (f <= 12)
        win = np.hanning(L)[None, :]
        pk, cc = np.empty(nb), np.empty(nb)
        for s in range(0, nb, _SPECTRUM_BLOCKS):  # bounded memory on 24 h records (8,640 blocks)
            e = min(nb, s + _SPECTRUM_BLOCKS)
            p = np.abs(np.fft.rfft(blank[s * L:e * L].reshape(e - s, L) * win, nfft, axis=1)) ** 2
            pk[s:e] = f[band_m][np.argmax(p[:, band_m], 1)]
            near = np.abs(f[None, :] - pk[s:e, None]) <= 0.5
            with np.errstate(invalid="ignore", divide="ignore"):
                cc[s:e] = (p * near).sum(1) / (p[:, tot_m]).sum(1)
        kb = np.minimum(r // L, nb - 1)
        dom, conc = pk[kb], cc[kb]
    return AtrialActivity(p_corr, p_tpl, f_rel, dom, conc)
