"""Runs of ectopic beats and regular ectopic patterns from the per-beat origin sequence.

- VT / SVT: at least ``min_run`` (3) consecutive V-like / S-like beats at a mean rate of at least
  ``min_rate_bpm`` (100 bpm) -- the usual Holter definition of a ventricular / supraventricular tachycardia
  run (e.g. Zipes et al., ACC/AHA/ESC 2006 guideline: >= 3 consecutive beats at > 100 bpm).
- Bigeminy / trigeminy: a normal beat followed by one ectopic beat (N X), or two normal beats followed by one
  (N N X), repeated for at least ``min_cycles`` cycles in a row (ventricular or supraventricular; the
  episode detail says which).
Episode times (s): a run from its first beat to the beat after its last (where the next rhythm
begins, as MIT-BIH marks rhythm changes); a pattern from its first to its last beat.
"""
from __future__ import annotations

import numpy as np

from core.rhythm.episodes import Episode

__all__ = ["detect_runs"]


def _consecutive(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    if not mask.any():
        return []
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def _patterns(t: np.ndarray, org: np.ndarray, period: int, kind: str, min_cycles: int,
              skip: np.ndarray) -> list[Episode]:
    """Stretches where every ``period``-th beat is ectopic and the others are normal."""
    n = len(org)
    ect = np.isin(org, ["S", "V"])
    out: list[Episode] = []
    i = 0
    while i < n:
        if not ect[i] or skip[i]:
            i += 1
            continue
        j = i
        while (j + period < n and ect[j + period] and not skip[j + period]
               and not ect[j + 1:j + period].any()):
            j += period
        cycles = (j - i) // period + 1
        if cycles >= min_cycles:
            start = max(i - period + 1, 0)
            v = int((org[i:j + 1:period] == "V").sum())
            origin = "ventricular" if v * 2 >= cycles else "supraventricular"
            conf = float(min(1.0, cycles / (2 * min_cycles)))
            out.append(Episode(kind, float(t[start]), float(t[j]), conf, f"{origin}, {cycles} cycles"))
            i = j + 1
        else:
            i += 1
    return out


def detect_runs(beat_time_s: np.ndarray, origin: np.ndarray, *, min_run: int = 3, min_rate_bpm: float = 100.0,
                min_cycles: int = 4, exclude_svt: np.ndarray | None = None) -> list[Episode]:
    """VT, SVT, BIGEMINY and TRIGEMINY episodes. ``origin`` per beat 'N'/'S'/'V' (other letters count as
    neither); ``exclude_svt`` (bool per beat) marks beats where S runs are not called (inside AF/AFL the
    irregular RR alone makes beats look premature)."""
    t = np.asarray(beat_time_s, float)
    org = np.asarray(origin, dtype="<U1")
    n = len(t)
    if n < min_run:
        return []
    skip = np.zeros(n, bool) if exclude_svt is None else np.asarray(exclude_svt, bool)
    out: list[Episode] = []
    in_run = np.zeros(n, bool)  # the run's own beats (its episode also reaches the next beat)
    for code, kind in (("V", "VT"), ("S", "SVT")):
        mask = org == code
        if kind == "SVT":
            mask &= ~skip
        for a, b in _consecutive(mask):
            if b - a + 1 < min_run:
                continue
            lo = max(a - 1, 0)  # the run's rate includes the RR into its first beat
            rate = 60.0 * (b - lo) / (t[b] - t[lo]) if t[b] > t[lo] else 0.0
            if rate < min_rate_bpm:
                continue
            conf = float(min(1.0, 0.5 + (b - a + 1 - min_run) / 10 + (rate - min_rate_bpm) / 200))
            # the run lasts until the next beat starts the following rhythm (as MIT-BIH marks rhythm changes)
            end = float(t[b + 1]) if b + 1 < n else float(t[b])
            out.append(Episode(kind, float(t[a]), end, conf, f"{b - a + 1} beats, {rate:.0f} bpm"))
            in_run[a:b + 1] = True
    out += _patterns(t, org, 2, "BIGEMINY", min_cycles, skip | in_run)
    out += _patterns(t, org, 3, "TRIGEMINY", min_cycles, skip | in_run)
    return sorted(out, key=lambda e: e.start_s)
