"""Beat features measured against the record itself: its own rhythm and its dominant morphology.

A clinician reads each beat against the patient's own sinus cycle and dominant QRS; so do these
features. They use the whole record (all its beats) but never its labels:

- Rhythm (de Chazal et al. 2004 used local and average RR; Llamedo & Martinez 2011 normalised RR
  by the record's own rate): pre-RR against the mean of the previous 10 RR, against the record's
  sinus cycle (median of *regular* RR intervals, those within 15 % of both neighbours, over
  +/- 60 beats; falls back to the record median in irregular rhythms), (post-RR / pre-RR is ``core.signal.features``'s ``rr_post_pre_ratio``).
- Morphology (Hamilton & Tompkins 1986 template matching): Pearson correlation and relative RMS
  distance of the beat's QRS (-100..+100 ms) and whole window (-250..+450 ms) to the dominant
  template of ``template.build_record_templates``, best over shifts of +/- 8 ms; the size of the
  beat's own cluster; QRS width and R amplitude relative to the record's median.
- P wave: correlation and energy of the beat's P segment (-280..-60 ms) against the dominant
  template's P segment (premature atrial beats carry a different or hidden P wave).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.signal.template import build_record_templates, gather_windows

PREV_RR_BEATS = 10
SINUS_HALF_BEATS = 60
REGULAR_TOL = 0.15
SHIFT_MS = 8.0
SEGMENTS_MS = {"qrs": (-100.0, 100.0), "win": (-250.0, 450.0), "p": (-280.0, -60.0), "t": (120.0, 400.0)}

COLUMNS = {
    "rr_pre_prev10_ratio": "1", "rr_post_prev10_ratio": "1", "rr_pre_regular_ratio": "1",
    "rr_post_regular_ratio": "1", "rr_regular_ms": "ms",
    "template_corr": "1", "template_dist": "1", "window_template_corr": "1", "window_template_dist": "1",
    "cluster_frac": "1", "qrs_width_rel": "1", "r_amp_rel": "1",
    "p_template_corr": "1", "p_energy_rel": "1", "t_template_corr": "1",
}


def _ms(v: float, fs: float) -> int:
    return int(round(v * fs / 1000.0))


def _rhythm(r: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    n = len(r)
    rr = np.diff(r) * (1000.0 / fs)  # rr[j] = interval ending at beat j + 1 (ms)
    pre, post = np.full(n, np.nan), np.full(n, np.nan)
    pre[1:], post[:-1] = rr, rr
    prev10 = np.full(n, np.nan)  # mean of the (up to) 10 intervals before the beat's pre-RR
    if rr.size >= 2:
        c = np.concatenate([[0.0], np.cumsum(rr)])
        j = np.arange(1, rr.size)  # pre-RR of beat j + 1 is rr[j]; previous intervals rr[j-10 .. j-1]
        lo = np.maximum(0, j - PREV_RR_BEATS)
        prev10[j + 1] = (c[j] - c[lo]) / (j - lo)
    # Regular intervals: within REGULAR_TOL of both neighbouring intervals.
    reg = np.zeros(rr.size, bool)
    if rr.size >= 3:
        a, b, cc = rr[:-2], rr[1:-1], rr[2:]
        reg[1:-1] = (np.abs(b / a - 1) < REGULAR_TOL) & (np.abs(cc / b - 1) < REGULAR_TOL)
    rr_reg = pd.Series(np.where(reg, rr, np.nan))
    local = rr_reg.rolling(2 * SINUS_HALF_BEATS + 1, center=True, min_periods=5).median().to_numpy()
    fallback = np.nanmedian(rr[reg]) if reg.sum() >= 5 else (np.median(rr) if rr.size else np.nan)
    local = np.where(np.isfinite(local), local, fallback)
    sinus = np.full(n, fallback)
    sinus[1:] = local  # beat j + 1 uses the local cycle around its pre-RR
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "rr_pre_prev10_ratio": pre / prev10, "rr_post_prev10_ratio": post / prev10,
            "rr_pre_regular_ratio": pre / sinus, "rr_post_regular_ratio": post / sinus,
            "rr_regular_ms": sinus,
        }


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the vector ``b``."""
    a0 = a - a.mean(1, keepdims=True)
    b0 = b - b.mean()
    den = np.sqrt((a0 ** 2).sum(1) * (b0 ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (a0 @ b0) / den, 0.0)


def _template(w: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Sample-wise median of the dominant cluster's windows (all beats when the cluster is empty)."""
    return np.median(w[members] if members.any() else w, 0)


def _match(x: np.ndarray, r: np.ndarray, members: np.ndarray, seg: tuple[int, int], shift: int):
    """Best-shift Pearson correlation and relative RMS distance of each beat's segment to the
    dominant cluster's median segment; also the best-shift windows and the shift (samples)."""
    lo, hi = seg
    wide, _ = gather_windows(x, r, lo - shift, hi + shift)
    m = hi - lo
    tmpl = _template(wide[:, shift:shift + m], members)
    tn = np.sqrt((tmpl ** 2).sum()) + 1e-9
    cs = np.stack([_corr_rows(wide[:, s:s + m], tmpl) for s in range(2 * shift + 1)], 1)
    best = cs.argmax(1)
    rows = np.arange(len(r))[:, None]
    w = wide[rows, best[:, None] + np.arange(m)[None, :]]
    dist = np.sqrt(((w - tmpl) ** 2).sum(1)) / tn
    return cs[np.arange(len(r)), best], dist, w, best - shift


def _qrs_width_ms(qrs: np.ndarray, fs: float) -> np.ndarray:
    """Span (ms) where the absolute slope exceeds 25 % of the beat's maximum slope."""
    d = np.abs(np.diff(qrs, axis=1))
    above = d >= 0.25 * d.max(1, keepdims=True)
    first = above.argmax(1)
    last = d.shape[1] - 1 - above[:, ::-1].argmax(1)
    return (last - first + 1) * (1000.0 / fs)


def compute_record_relative_features(clean_mv: np.ndarray, fs: float, rpeaks: np.ndarray, *,
                                     seed: int = 0) -> pd.DataFrame:
    """Record-relative rhythm and morphology features of every beat of one lead.

    Parameters
    ----------
    clean_mv : one cleaned lead in mV (baseline wander and mains removed), 1-D.
    fs : sampling rate in Hz (any; windows are set in ms).
    rpeaks : R-peak sample indices, ascending (the whole record's beats, unlabeled).
    seed : seed of the template clustering.

    Returns
    -------
    DataFrame, one row per beat, columns ``COLUMNS`` (ratios are unitless, ``rr_sinus_ms`` in ms;
    correlations in -1..1; distances relative to the template's RMS). NaN where undefined
    (first/last beat RR, beats whose window runs off the signal keep edge-padded values).
    """
    x = np.asarray(clean_mv, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"compute_record_relative_features: expected one lead (1-D), got shape {x.shape}.")
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"compute_record_relative_features: fs must be a positive number of Hz, got {fs}.")
    r = np.asarray(rpeaks, dtype=np.int64)
    if r.size and (np.any(np.diff(r) <= 0) or r[0] < 0 or r[-1] >= len(x)):
        raise ValueError("compute_record_relative_features: rpeaks must be ascending sample indices inside the signal.")
    feats = _rhythm(r, fs)
    if r.size == 0:
        return pd.DataFrame({c: np.zeros(0) for c in COLUMNS})
    # Morphology at ~180 Hz: QRS content of a 40 Hz low-passed lead survives, and it is 2x faster.
    q = max(1, int(fs // 180.0))
    xd, fsd = x[::q], fs / q
    rd = np.minimum(np.round(r / q).astype(np.int64), len(xd) - 1)
    tp = build_record_templates(xd, fsd, rd, seed=seed)
    members = tp.dominant_members
    shift = max(1, _ms(SHIFT_MS, fsd))
    seg = {k: (_ms(a, fsd), _ms(b, fsd)) for k, (a, b) in SEGMENTS_MS.items()}
    c, d, qrs, best = _match(xd, rd, members, seg["qrs"], shift)
    feats["template_corr"], feats["template_dist"] = c, d
    rs = rd + best  # R re-aligned on the dominant QRS
    w, _ = gather_windows(xd, rs, *seg["win"])
    w_t = _template(w, members)
    feats["window_template_corr"] = _corr_rows(w, w_t)
    feats["window_template_dist"] = np.sqrt(((w - w_t) ** 2).sum(1)) / (np.sqrt((w_t ** 2).sum()) + 1e-9)
    feats["cluster_frac"] = tp.cluster_frac
    width = _qrs_width_ms(qrs, fsd)
    feats["qrs_width_rel"] = width / max(float(np.median(width[members] if members.any() else width)), 1e-9)
    amp = x[r]
    ref_a = float(np.median(amp[members] if members.any() else amp))
    feats["r_amp_rel"] = amp / (ref_a if abs(ref_a) > 1e-6 else 1e-6)
    # P and T segments follow the re-aligned R; mean removed before comparing shapes.
    p, _ = gather_windows(xd, rs, *seg["p"])
    p = p - p.mean(1, keepdims=True)
    p_t = _template(p, members)
    feats["p_template_corr"] = _corr_rows(p, p_t)
    feats["p_energy_rel"] = p.std(1) / max(float(p_t.std()), 1e-6)
    t, _ = gather_windows(xd, rs, *seg["t"])
    feats["t_template_corr"] = _corr_rows(t, _template(t, members))
    return pd.DataFrame({c: np.asarray(feats[c], float) for c in COLUMNS})
