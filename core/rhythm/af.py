"""Atrial fibrillation from RR irregularity and atrial activity, over a sliding window of beats.

Methods, per window of ``window_beats`` RR intervals centred on each beat:

- Coefficient of sample entropy, COSEn (Lake & Moody 2010): sample entropy of the RR series (m = 1,
  tolerance r starting at 30 ms and widened in 10 ms steps until at least 5 matches of length 2 are found)
  plus ln(2r) minus ln(mean RR), r and RR in s. High in AF (random RR), low in sinus rhythm and in the
  regular patterns of bigeminy.
- Normalised RMSSD, RMSSD / mean RR (Dash et al. 2009; Sarkar, Ritscher & Mehra 2008 use the same
  successive-difference irregularity).
- Atrial activity: in AF there is no organised P wave. The delineator still finds a "P" in part of the
  beats (a fibrillatory wave); what gives it away is that its PR interval is not fixed. A window counts as
  "no consistent P" when the standard deviation of PR (ms) over beats with a P is above ``pr_sd_ms`` or
  P is found in fewer than ``min_p_fraction`` of the beats.

RR intervals that touch a V-like beat are left out before the window measures (ventricular ectopy makes sinus
rhythm irregular too; Dash 2009 remove ectopic intervals likewise). A beat is AF when COSEn > ``cosen_min``,
normalised RMSSD > ``nrmssd_min`` and the window has no consistent P; AF beats then form episodes, merged
across gaps below ``max_gap_s`` and kept when at least ``min_duration_s`` long (or the whole strip for short
ECGs). Thresholds were chosen on the MIT-BIH training records (DS1 + 102, 104) only.
"""
from __future__ import annotations

import numpy as np

from core.rhythm.episodes import Episode, episodes_from_mask

__all__ = ["detect_af"]


def _cosen(rr_s: np.ndarray) -> float:
    """COSEn (Lake & Moody 2010) of one short RR series in s."""
    x = rr_s[np.isfinite(rr_s)]
    if len(x) < 6:
        return np.nan
    d = np.abs(x[:, None] - x[None, :])
    iu = np.triu_indices(len(x) - 1, 1)
    r = 0.03
    while True:
        close = d <= r
        b = close[:-1, :-1][iu].sum()
        a = (close[:-1, :-1] & close[1:, 1:])[iu].sum()
        if a >= 5 or r >= 0.3:
            break
        r += 0.01
    a, b = max(a, 0.5), max(b, 1)
    return float(-np.log(a / b) + np.log(2 * r) - np.log(np.mean(x)))


def _window_measures(t: np.ndarray, origin: np.ndarray, pr_ms: np.ndarray, p_found: np.ndarray,
                     w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(t)
    rr = np.r_[np.nan, np.diff(t)]
    is_v = origin == "V"
    bad = is_v | np.r_[False, is_v[:-1]]  # RR ending on a V beat, and the one after it
    rr[bad] = np.nan
    cos, nrm, prsd, pfr = (np.full(n, np.nan) for _ in range(4))
    h = w // 2
    for i in range(n):
        lo, hi = max(0, i - h), min(n, i + h)
        if hi - lo < w:  # at the ends of the record: keep the window full-length when possible
            lo, hi = max(0, min(lo, hi - w)), min(n, max(hi, lo + w))
        x = rr[lo:hi]
        x = x[np.isfinite(x)]
        if len(x) < 6:
            continue
        cos[i] = _cosen(x)
        # successive differences only between adjacent valid intervals
        seg = rr[lo:hi]
        dx = np.diff(seg)
        dx = dx[np.isfinite(dx)]
        nrm[i] = np.sqrt(np.mean(dx ** 2)) / np.mean(x) if len(dx) else np.nan
        keep = ~is_v[lo:hi]
        pf = p_found[lo:hi][keep]
        pfr[i] = pf.mean() if len(pf) else np.nan
        pr = pr_ms[lo:hi][keep]
        pr = pr[np.isfinite(pr)]
        prsd[i] = np.std(pr) if len(pr) >= 4 else np.nan
    return cos, nrm, prsd, pfr


def detect_af(beat_time_s: np.ndarray, origin: np.ndarray | None = None, pr_ms: np.ndarray | None = None,
              p_amp_mv: np.ndarray | None = None, *, window_beats: int = 16, cosen_min: float = -1.2,
              nrmssd_min: float = 0.15, pr_sd_ms: float = 30.0, min_p_fraction: float = 0.3,
              min_duration_s: float = 30.0, max_gap_s: float = 20.0, smooth_beats: int = 9,
              exclude: np.ndarray | None = None) -> list[Episode]:
    """Atrial fibrillation episodes ('AF') from beat times (s), beat origin ('N'/'S'/'V'), PR (ms) and
    P amplitude (mV, NaN when no P wave was found). ``exclude`` (bool per beat) marks beats that cannot be AF
    (paced, unreadable). Confidence: fraction of the episode's beats whose own window passed all criteria.
    """
    t = np.asarray(beat_time_s, float)
    n = len(t)
    if n < 8:
        return []
    org = np.asarray(origin if origin is not None else np.full(n, "N"), dtype="<U1")
    pr = np.asarray(pr_ms, float) if pr_ms is not None else np.full(n, np.nan)
    p_found = np.isfinite(np.asarray(p_amp_mv, float)) if p_amp_mv is not None else np.zeros(n, bool)
    w = min(window_beats, n - 1)
    cos, nrm, prsd, pfr = _window_measures(t, org, pr, p_found, w)
    no_p = (np.nan_to_num(prsd, nan=np.inf) > pr_sd_ms) | (np.nan_to_num(pfr, nan=0.0) < min_p_fraction)
    if p_amp_mv is None and pr_ms is None:
        no_p[:] = True  # no atrial information: RR irregularity alone decides
    hit = (np.nan_to_num(cos, nan=-np.inf) > cosen_min) & (np.nan_to_num(nrm) > nrmssd_min) & no_p
    if exclude is not None:
        hit &= ~np.asarray(exclude, bool)
    score = hit.astype(float)
    if smooth_beats > 1 and n >= smooth_beats:
        k = np.ones(smooth_beats) / smooth_beats
        score = np.convolve(hit.astype(float), k, mode="same")
        hit = score >= 0.5
    min_dur = min(min_duration_s, 0.6 * (t[-1] - t[0]))
    eps = episodes_from_mask(t, hit, "AF", min_duration_s=min_dur, max_gap_s=max_gap_s, score=score)
    out = []
    for e in eps:
        sel = (t >= e.start_s) & (t <= e.end_s)
        rate = 60.0 / np.mean(np.diff(t[sel])) if sel.sum() > 1 else np.nan
        out.append(Episode("AF", e.start_s, e.end_s, e.confidence, f"mean ventricular rate {rate:.0f} bpm"))
    return out
