"""How sure a single beat must be before it alone makes a record abnormal, for a record of a given length.

A record of ``n`` normal beats shows at least one beat at or above level c with probability
1 - (1 - e(c))^n, where e(c) is the fraction of normal beats reaching c (the exceedance curve, measured on
record-grouped out-of-fold training predictions and stored in the bundle as ``normal_exceedance``). The level
used is the lowest c that keeps this below ``alpha`` (Šidák 1967: the per-beat rate 1 - (1 - alpha)^(1/n)),
never above ``cap``. So a 10 s strip with one clearly premature beat is abnormal, while a 24 h Holter still
needs a beat at the cap (0.9), where every abnormal rhythm episode and beat count is read anyway.
"""
from __future__ import annotations

import numpy as np

__all__ = ["exceedance_curve", "confident_level"]

#: Probability grid (calibrated p) of the stored curve.
GRID = tuple(np.round(np.arange(0.50, 0.9951, 0.005), 3).tolist())


def exceedance_curve(p_normal: np.ndarray, grid=GRID) -> list[list[float]]:
    """[[c, fraction of ``p_normal`` >= c], ...] over ``grid``: calibrated probabilities of normal beats
    (record-grouped OOF predictions, training records only)."""
    p = np.sort(np.asarray(p_normal, float))
    n = max(len(p), 1)
    return [[float(c), float((len(p) - np.searchsorted(p, c, side="left")) / n)] for c in grid]


def confident_level(n_beats: int, curve: list | None, *, alpha: float = 0.05, cap: float = 0.9,
                    floor: float = 0.0) -> float:
    """Calibrated p at which one beat makes a record of ``n_beats`` readable beats abnormal: the lowest grid
    level whose chance of arising among ``n_beats`` normal beats is <= ``alpha`` (Šidák), within
    [``floor``, ``cap``]; ``cap`` when the bundle has no curve."""
    if not curve or n_beats < 1:
        return max(cap, floor)
    per_beat = 1.0 - (1.0 - alpha) ** (1.0 / n_beats)
    ok = [c for c, e in curve if e <= per_beat]
    level = min(ok) if ok else cap
    return float(min(max(level, floor), cap))
