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

- With the cleaned lead (``core.rhythm.atrial``), P-wave absence is measured directly instead: the window
  median of the beats' P-segment correlation with the running P template is below ``p_corr_max`` or the
  template's peak-to-peak in the P segment is below ``p_template_min_mv`` (a flat template: no P locked to
  the QRS). Sinus rhythm with frequent atrial or ventricular ectopy keeps its P waves and is not AF.

RR intervals that touch a V-like beat are left out before the window measures (ventricular ectopy makes sinus
rhythm irregular too; Dash 2009 remove ectopic intervals likewise); ``core.rhythm.analyse`` passes the beats
the classifier flagged as premature supraventricular as 'V' here too. A beat is AF when COSEn > ``cosen_min``,
normalised RMSSD > ``nrmssd_min`` and the window has no consistent P; AF beats then form episodes, merged
across gaps below ``max_gap_s`` and kept when at least ``min_duration_s`` long (or the whole strip for short
ECGs). Thresholds were chosen on the MIT-BIH training records (DS1 + 102, 104) only: without the cleaned
lead COSEn > -1.2, nRMSSD > 0.15, PR SD > 30 ms; with it (grid over P correlation, template mV, COSEn and
nRMSSD, leave-one-record-out selection; AF duration Se 0.944, PPV 0.973 out of record) P correlation < 0.6 or
template < 0.03 mV, COSEn > -1.4, nRMSSD > 0.10. The older PR-based defaults apply when ``atrial`` is None
(callers pass ``cosen_min``/``nrmssd_min`` explicitly then, see ``core.rhythm.analyse``).
"""
from __future__ import annotations

import numpy as np

import pandas as pd

from core.rhythm.atrial import AtrialActivity
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


def _cosen_rows(x: np.ndarray) -> np.ndarray:
    """COSEn (Lake & Moody 2010) of every row of ``x`` (RR in s, NaN = left out) at once; same result as
    running the short-series definition row by row on the row's finite values, in their order."""
    n, w = x.shape
    order = np.argsort(~np.isfinite(x), axis=1, kind="stable")  # finite values first, order kept
    x = np.take_along_axis(x, order, 1)
    length = np.isfinite(x).sum(1)
    d = np.abs(x[:, :, None] - x[:, None, :])
    pos = np.arange(w - 1)
    ok = (pos[None, :] < (length - 1)[:, None])
    pair = ok[:, :, None] & ok[:, None, :] & np.triu(np.ones((w - 1, w - 1), bool), 1)[None]
    out = np.full(n, np.nan)
    todo = length >= 6
    a_fin, b_fin, r_fin = np.zeros(n), np.zeros(n), np.zeros(n)
    for r in np.round(np.arange(0.03, 0.3001, 0.01), 10):  # widen r until at least 5 length-2 matches
        rows = np.flatnonzero(todo)  # only the rows that still need a wider r
        close = d[rows] <= r
        c1 = close[:, :-1, :-1] & pair[rows]
        b = c1.sum((1, 2))
        a = (c1 & close[:, 1:, 1:]).sum((1, 2))
        done = (a >= 5) | (r >= 0.3 - 1e-9)
        a_fin[rows[done]], b_fin[rows[done]], r_fin[rows[done]] = a[done], b[done], r
        todo[rows[done]] = False
        if not todo.any():
            break
    m = length >= 6
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(np.isfinite(x), x, np.nan)[m], 1)
        out[m] = (-np.log(np.maximum(a_fin[m], 0.5) / np.maximum(b_fin[m], 1)) + np.log(2 * r_fin[m])
                  - np.log(mean))
    return out


def _window_measures(t: np.ndarray, origin: np.ndarray, pr_ms: np.ndarray, p_found: np.ndarray,
                     w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(t)
    rr = np.r_[np.nan, np.diff(t)]
    is_v = origin == "V"
    bad = is_v | np.r_[False, is_v[:-1]]  # RR ending on a V beat, and the one after it
    rr[bad] = np.nan
    h = w // 2
    i = np.arange(n)
    lo, hi = np.maximum(0, i - h), np.minimum(n, i + h)
    short = hi - lo < w  # at the ends of the record: keep the window full-length when possible
    lo2 = np.maximum(0, np.minimum(lo, hi - w))
    hi2 = np.minimum(n, np.maximum(hi, lo2 + w))
    lo, hi = np.where(short, lo2, lo), np.where(short, hi2, hi)
    idx = lo[:, None] + np.arange(w)[None, :]
    inwin = idx < hi[:, None]
    idx = np.minimum(idx, n - 1)
    seg = np.where(inwin, rr[idx], np.nan)
    fin = np.isfinite(seg)
    cnt = fin.sum(1)
    valid = cnt >= 6
    cos = np.where(valid, _cosen_rows(seg), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(seg, 1) / cnt
        dx = np.diff(seg, axis=1)  # successive differences only between adjacent valid intervals
        dfin = np.isfinite(dx)
        nrm = np.sqrt(np.nansum(dx ** 2, 1) / dfin.sum(1)) / mean
        nrm[~valid | (dfin.sum(1) == 0)] = np.nan
        keep = ~is_v[idx] & inwin
        pfr = (p_found[idx] & keep).sum(1) / keep.sum(1)
        prw = np.where(keep & np.isfinite(pr_ms[idx]), pr_ms[idx], np.nan)
        npr = np.isfinite(prw).sum(1)
        prm = np.nansum(prw, 1) / npr
        prsd = np.sqrt(np.nansum((prw - prm[:, None]) ** 2, 1) / npr)
    prsd[npr < 4] = np.nan
    pfr[~valid | (keep.sum(1) == 0)] = np.nan
    for a in (cos, nrm, prsd):
        a[~valid] = np.nan
    return cos, nrm, prsd, pfr


def detect_af(beat_time_s: np.ndarray, origin: np.ndarray | None = None, pr_ms: np.ndarray | None = None,
              p_amp_mv: np.ndarray | None = None, *, window_beats: int = 16, cosen_min: float = -1.4,
              nrmssd_min: float = 0.10, pr_sd_ms: float = 30.0, min_p_fraction: float = 0.3,
              min_duration_s: float = 30.0, max_gap_s: float = 20.0, smooth_beats: int = 9,
              exclude: np.ndarray | None = None, atrial: AtrialActivity | None = None,
              p_corr_max: float = 0.6, p_template_min_mv: float = 0.03) -> list[Episode]:
    """Atrial fibrillation episodes ('AF') from beat times (s), beat origin ('N'/'S'/'V'), PR (ms) and
    P amplitude (mV, NaN when no P wave was found). ``exclude`` (bool per beat) marks beats that cannot be AF
    (paced, unreadable); ``atrial`` per-beat atrial measures from the cleaned lead (P correlation, template
    mV), used for P absence when given. Confidence: fraction of the episode's beats whose own window passed all criteria.
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
    if atrial is not None and np.isfinite(atrial.p_corr).sum() >= 8:
        keep = org != "V"
        roll = lambda a: pd.Series(np.where(keep, a, np.nan)).rolling(w, center=True, min_periods=4).median().to_numpy()  # noqa: E731
        pc, pt = roll(atrial.p_corr), roll(atrial.p_template_mv)
        no_p = (np.nan_to_num(pc, nan=0.0) < p_corr_max) | (np.nan_to_num(pt, nan=0.0) < p_template_min_mv)
    elif p_amp_mv is None and pr_ms is None:
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
