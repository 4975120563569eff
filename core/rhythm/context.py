"""Beat labels in the context of the rhythm: inside atrial fibrillation or flutter the RR intervals are
irregular by definition, so a beat is not an atrial premature beat (S) because it came early.

Rule (as a Holter reader applies it; e.g. the AAMI EC57 / ANSI 2012 convention that S beats are not scored in
AF): S beats inside AF/AFL become N; their abnormality probability loses the part that came from the S class
(``p_abnormal * (1 - p_s)`` when the caller passes P(S)) or, without class probabilities, is capped at
``cap``. V-like beats (wide, abnormal morphology) stay abnormal: they are abnormal beyond the AF.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.rhythm.episodes import Episode

__all__ = ["ContextAdjustment", "adjust_for_rhythm"]

AF_REASON = ("inside {name}: an irregular RR is the rhythm itself, so this beat is not called an atrial "
             "premature beat (S) for its timing")


@dataclass(frozen=True)
class ContextAdjustment:
    """Adjusted per-beat classes and probabilities; ``reason`` is '' where nothing changed."""

    beat_class: np.ndarray | None
    p_abnormal: np.ndarray | None
    reason: np.ndarray
    n_changed: int


def adjust_for_rhythm(beat_time_s: np.ndarray, episodes: list[Episode], beat_class: np.ndarray | None = None,
                      p_abnormal: np.ndarray | None = None, p_s: np.ndarray | None = None, *,
                      cap: float = 0.2) -> ContextAdjustment:
    """Apply the AF/AFL context to per-beat classes ('N','S','V','Q','U') and abnormality probabilities.

    Without ``beat_class``, every beat inside AF/AFL whose probability is above ``cap`` and that has no
    V evidence is treated as S-like (timing is all the model can have used)."""
    t = np.asarray(beat_time_s, float)
    n = len(t)
    inside = np.zeros(n, bool)
    name = np.full(n, "", dtype=object)
    for e in episodes:
        if e.kind in ("AF", "AFL"):
            m = (t >= e.start_s) & (t <= e.end_s)
            inside |= m
            name[m] = "atrial fibrillation" if e.kind == "AF" else "atrial flutter"
    cls = None if beat_class is None else np.asarray(beat_class, dtype=object).copy()
    p = None if p_abnormal is None else np.asarray(p_abnormal, float).copy()
    target = inside & (cls == "S") if cls is not None else inside.copy()
    if cls is None and p is not None:
        target &= p > cap
    reason = np.full(n, "", dtype=object)
    if cls is not None:
        cls[target] = "N"
    if p is not None:
        if p_s is not None:
            p[target] = p[target] * (1.0 - np.clip(np.asarray(p_s, float)[target], 0, 1))
        else:
            p[target] = np.minimum(p[target], cap)
    for i in np.flatnonzero(target):
        reason[i] = AF_REASON.format(name=name[i])
    return ContextAdjustment(cls, p, reason, int(target.sum()))
