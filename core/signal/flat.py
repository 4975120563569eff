"""Stretches where a lead's samples do not change at all: the signal was lost (lead off, recorder stuck at its rail,
sample-and-hold after a dropout), not a heart without beats.
"""
from __future__ import annotations

import numpy as np

__all__ = ["detect_flat_spans"]

#: Shortest run of identical samples (s) read as lost signal. Real ECG, even in asystole, moves by at least one
#: ADC step within a second (noise, baseline); a recorder that lost the signal holds one value.
MIN_FLAT_S = 1.0


def detect_flat_spans(lead_mv: np.ndarray, fs: float, min_duration_s: float = MIN_FLAT_S) -> list[tuple[float, float]]:
    """(start_s, end_s) of every run of identical consecutive samples lasting at least ``min_duration_s`` (s)
    in one raw lead (mV, any scale) sampled at ``fs`` Hz."""
    x = np.asarray(lead_mv, dtype=float).ravel()
    if len(x) < 2 or not fs > 0:
        return []
    same = np.r_[False, x[1:] == x[:-1]]  # sample i repeats sample i - 1
    edges = np.flatnonzero(np.diff(np.r_[0, same.astype(np.int8), 0]))
    starts, stops = edges[::2] - 1, edges[1::2]  # each run begins at the sample before its first repeat
    keep = (stops - starts) / fs >= min_duration_s
    return [(float(a / fs), float(b / fs)) for a, b in zip(starts[keep], stops[keep])]
