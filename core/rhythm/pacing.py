"""Paced rhythm from a per-beat pacing flag (a pacemaker spike detected before the QRS by the caller).

Method: fraction of paced beats in a centred window of ``window_beats`` beats; beats where it is at least
``min_fraction`` form PACED episodes, merged over gaps below ``max_gap_s`` and kept when at least
``min_duration_s`` long (or most of a short strip). Without pacing flags nothing is reported: spike
detection needs the unfiltered signal (spikes are < 2 ms wide), which this package does not see.
"""
from __future__ import annotations

import numpy as np

from core.rhythm.episodes import Episode, episodes_from_mask

__all__ = ["detect_paced"]


def detect_paced(beat_time_s: np.ndarray, paced: np.ndarray | None, *, window_beats: int = 10,
                 min_fraction: float = 0.5, min_duration_s: float = 10.0, max_gap_s: float = 10.0) -> list[Episode]:
    """PACED episodes (s); confidence is the mean paced fraction over the episode."""
    if paced is None:
        return []
    t = np.asarray(beat_time_s, float)
    p = np.asarray(paced, bool).astype(float)
    if len(t) < 3 or not p.any():
        return []
    w = min(window_beats, len(t))
    frac = np.convolve(p, np.ones(w) / w, mode="same")
    min_dur = min(min_duration_s, 0.6 * (t[-1] - t[0]))
    return episodes_from_mask(t, frac >= min_fraction, "PACED", min_duration_s=min_dur, max_gap_s=max_gap_s,
                              score=frac)
