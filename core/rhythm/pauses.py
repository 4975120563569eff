"""Pauses: RR intervals of at least ``min_pause_s`` (2.0 s, the usual Holter reporting limit; ACC/AHA 1999
ambulatory ECG guideline) between two detected beats, not counted where the signal is unreadable (a missed
beat in noise is not a pause)."""
from __future__ import annotations

import numpy as np

from core.rhythm.episodes import Episode

__all__ = ["detect_pauses"]


def detect_pauses(beat_time_s: np.ndarray, *, min_pause_s: float = 2.0,
                  unreadable: list[tuple[float, float]] | None = None) -> list[Episode]:
    """PAUSE episodes from the beat before to the beat after each long RR (s). Confidence rises from 0.5 at
    ``min_pause_s`` to 1 at 1.5 x ``min_pause_s``."""
    t = np.asarray(beat_time_s, float)
    if len(t) < 2:
        return []
    rr = np.diff(t)
    out = []
    for i in np.flatnonzero(rr >= min_pause_s):
        a, b = float(t[i]), float(t[i + 1])
        if any(min(b, e) - max(a, s) > 0 for s, e in (unreadable or [])):
            continue
        conf = float(np.clip(0.5 + (rr[i] - min_pause_s) / min_pause_s, 0.5, 1.0))
        out.append(Episode("PAUSE", a, b, conf, f"{rr[i]:.1f} s"))
    return out
