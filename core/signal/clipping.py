"""Stretches where a lead is pinned at its rail: the amplifier or the ADC saturated (baseline wander or a large
artefact pushed the signal out of range), so whatever the heart did there is not in the record.

Method: runs of identical consecutive samples at the lead's highest or lowest value lasting at least
``min_duration_s``. A real ECG reaches its extreme for a sample or two at an R or S peak; a saturated one stays
there. A clipped R peak alone (a tall QRS over the range, the beat still visible) lasts a few tens of ms and
is left alone; a QRS complex (about 100 ms) can hide inside a longer run.
"""
from __future__ import annotations

import numpy as np

__all__ = ["detect_clipped_spans"]

#: Shortest run at the rail (s) read as saturation: longer than a clipped R peak, shorter than a hidden QRS + T.
MIN_CLIPPED_S = 0.15


def detect_clipped_spans(lead_mv: np.ndarray, fs: float, min_duration_s: float = MIN_CLIPPED_S) -> list[tuple[float, float]]:
    """(start_s, end_s) of every run of identical samples at the highest or lowest value of one raw lead (mV, any
    scale) sampled at ``fs`` Hz, lasting at least ``min_duration_s`` (s); sorted by start."""
    x = np.asarray(lead_mv).ravel()  # its own dtype: a 24 h float32 lead is not copied to float64
    finite = np.isfinite(x)
    if len(x) < 2 or not fs > 0 or not finite.any():
        return []
    spans: list[tuple[float, float]] = []
    for rail in {float(np.max(x[finite])), float(np.min(x[finite]))}:
        at = x == rail
        edges = np.flatnonzero(np.diff(np.r_[0, at.astype(np.int8), 0]))
        starts, stops = edges[::2], edges[1::2]
        keep = (stops - starts) / fs >= min_duration_s
        spans += [(float(a / fs), float(b / fs)) for a, b in zip(starts[keep], stops[keep])]
    return sorted(spans)
