"""Sinus rhythm and its rate class: sinus rhythm 60-100 bpm (SR), bradycardia < 60 bpm (SBR), tachycardia
> 100 bpm (STACH) (AHA/ACC/HRS 2009 standard rate limits).

Method: over the beats not already in another rhythm episode, the rate is 60 / median NN interval (s) of the
``window_beats`` surrounding intervals whose two beats are both normal ('N'), so that ectopic beats and their
compensatory pauses do not move it. Each beat takes the class of its running rate; runs shorter than
``min_duration_s`` are absorbed into the neighbouring class so a 30 min Holter gives a few episodes, not
hundreds; a short strip gets one episode for its whole length.

Above ``sinus_max_bpm`` (150 bpm) a regular narrow-complex rhythm is called sinus tachycardia only when P waves
were found before most of its beats: otherwise it is reported as supraventricular tachycardia ('SVT', "P waves
not seen"), since at such rates sinus tachycardia, atrial tachycardia, AV re-entry and atrial flutter with 2:1
conduction look alike on the QRS sequence and a clinician names it only with visible P waves (the regular
narrow-complex tachycardia approach of the 2015 ACC/AHA/HRS SVT guideline, Page et al. 2016).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.rhythm.episodes import Episode

__all__ = ["classify_sinus", "NO_P_SVT", "NOT_SINUS"]

#: Detail ending of an SVT episode that was a regular rhythm too fast for sinus without P waves (not a run of S beats).
NO_P_SVT = "regular, P waves not seen"
#: Detail ending of an SR/SBR/STACH episode most of whose beats the model calls abnormal but not premature (MIT-BIH 107:
#: a paced rhythm whose spikes the recorder filtered away): its rate is measured, that it is sinus is not.
NOT_SINUS = "sinus not established: most beats abnormal, not premature"


def classify_sinus(beat_time_s: np.ndarray, origin: np.ndarray | None = None, *, exclude: np.ndarray | None = None,
                   brady_bpm: float = 60.0, tachy_bpm: float = 100.0, window_beats: int = 15,
                   min_duration_s: float = 30.0, p_found: np.ndarray | None = None, sinus_max_bpm: float = 150.0,
                   min_p_fraction: float = 0.5, min_svt_beats: int = 20) -> list[Episode]:
    """SR / SBR / STACH episodes (s) with the mean rate in the detail; ``exclude`` (bool per beat) marks
    beats in other rhythms (AF, paced, VT, SVT, unreadable). ``p_found`` (bool per beat, a P wave delineated
    before it; None: not known) decides whether a segment faster than ``sinus_max_bpm`` (bpm) is sinus: it is
    when at least ``min_p_fraction`` of its beats have one, else it is an 'SVT' episode if it has at least
    ``min_svt_beats`` beats (shorter fast stretches, often between noisy ones, stay STACH)."""
    t = np.asarray(beat_time_s, float)
    n = len(t)
    if n < 3:
        return []
    org = np.asarray(origin if origin is not None else np.full(n, "N"), dtype="<U1")
    ex = np.zeros(n, bool) if exclude is None else np.asarray(exclude, bool)
    nn = np.r_[np.nan, np.diff(t)]
    normal = (org == "N") & ~ex
    nn[~(normal & np.r_[False, normal[:-1]])] = np.nan
    med = pd.Series(nn).rolling(window_beats, center=True, min_periods=3).median().to_numpy()
    if np.isfinite(nn).sum() >= 2:  # a short strip: whole-strip median where the window is too short
        med = np.where(np.isfinite(med), med, np.nanmedian(nn))
    else:
        return []
    rate = 60.0 / med
    cls = np.where(rate < brady_bpm, "SBR", np.where(rate > tachy_bpm, "STACH", "SR")).astype(object)
    cls[ex] = None
    # segments of equal class among consecutive sinus beats
    segs: list[list] = []
    for i in range(n):
        if cls[i] is None:
            continue
        if segs and segs[-1][0] == cls[i] and segs[-1][2] == i - 1:
            segs[-1][2] = i
        else:
            segs.append([cls[i], i, i])
    dur = lambda s: t[s[2]] - t[s[1]]  # noqa: E731
    changed = True
    while changed and len(segs) > 1:  # absorb the shortest too-short segment into its longer neighbour
        changed = False
        short = [k for k, s in enumerate(segs) if dur(s) < min_duration_s]
        if not short:
            break
        k = min(short, key=lambda k: dur(segs[k]))
        nb = [j for j in (k - 1, k + 1) if 0 <= j < len(segs) and abs(segs[j][2 if j < k else 1] - segs[k][1 if j < k else 2]) == 1]
        if nb:
            j = max(nb, key=lambda j: dur(segs[j]))
            segs[j][1], segs[j][2] = min(segs[j][1], segs[k][1]), max(segs[j][2], segs[k][2])
            del segs[k]
            changed = True
            # merge equal neighbours
            m = [segs[0]]
            for s in segs[1:]:
                if s[0] == m[-1][0] and s[1] == m[-1][2] + 1:
                    m[-1][2] = s[2]
                else:
                    m.append(s)
            segs = m
    out = []
    for kind, a, b in segs:
        if b - a < 2:
            continue
        r = 60.0 / np.nanmedian(nn[a + 1:b + 1]) if np.isfinite(nn[a + 1:b + 1]).any() else float(np.nanmean(rate[a:b + 1]))
        p_share = 0.0 if p_found is None else float(np.mean(np.asarray(p_found, bool)[a:b + 1]))
        if kind == "STACH" and r > sinus_max_bpm and p_share < min_p_fraction and b - a + 1 >= min_svt_beats:
            out.append(Episode("SVT", float(t[a]), float(t[b]), 1.0,
                               f"{b - a + 1} beats, {r:.0f} bpm, {NO_P_SVT}"))
            continue
        out.append(Episode(kind, float(t[a]), float(t[b]), 1.0, f"{r:.0f} bpm"))
    return out
