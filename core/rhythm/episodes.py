"""Rhythm episodes: the label set, the ``Episode`` record and turning per-beat masks into episodes.

Times are seconds from the start of the recording. Labels follow the CardioLens rhythm CLI contract
(``python -m core rhythm``): one of ``LABELS``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LABELS", "ABNORMAL_KINDS", "RHYTHM_NAMES", "Episode", "episodes_from_mask"]

#: Every rhythm label an episode can carry.
LABELS: tuple[str, ...] = ("SR", "SBR", "STACH", "AF", "AFL", "SVT", "VT", "BIGEMINY", "TRIGEMINY",
                           "PAUSE", "AVB1", "PACED", "UNREADABLE")
#: Labels that make a record abnormal by themselves. Sinus bradycardia/tachycardia are reported with their
#: rate but are left out on purpose: in short resting ECGs they are common in normal readings.
ABNORMAL_KINDS: frozenset[str] = frozenset({"AF", "AFL", "SVT", "VT", "BIGEMINY", "TRIGEMINY", "PAUSE",
                                            "AVB1", "PACED"})
#: Clinical wording of each label.
RHYTHM_NAMES: dict[str, str] = {
    "SR": "Sinus rhythm", "SBR": "Sinus bradycardia", "STACH": "Sinus tachycardia",
    "AF": "Atrial fibrillation", "AFL": "Atrial flutter", "SVT": "Supraventricular tachycardia",
    "VT": "Ventricular tachycardia", "BIGEMINY": "Bigeminy", "TRIGEMINY": "Trigeminy", "PAUSE": "Pause",
    "AVB1": "First-degree AV block", "PACED": "Paced rhythm", "UNREADABLE": "Unreadable signal",
}


@dataclass(frozen=True)
class Episode:
    """One rhythm episode.

    ``kind`` is one of ``LABELS``; ``start_s``/``end_s`` in s from the start of the record; ``confidence`` in
    [0, 1] (how far the evidence is past the detection threshold, see each detector); ``detail`` is a short
    human-readable note (rate in bpm, number of beats, PR in ms ...).
    """

    kind: str
    start_s: float
    end_s: float
    confidence: float = 1.0
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LABELS:
            raise ValueError(f"unknown rhythm label {self.kind!r}; expected one of {', '.join(LABELS)}")
        if not self.end_s >= self.start_s:
            raise ValueError(f"episode {self.kind} ends ({self.end_s} s) before it starts ({self.start_s} s)")

    @property
    def duration_s(self) -> float:
        return float(self.end_s - self.start_s)


def episodes_from_mask(t_s: np.ndarray, mask: np.ndarray, kind: str, *, min_duration_s: float = 0.0,
                       max_gap_s: float = 0.0, score: np.ndarray | None = None,
                       detail: str = "") -> list[Episode]:
    """Runs of consecutive ``True`` beats as episodes from the first to the last beat of each run.

    Runs separated by less than ``max_gap_s`` (s) are merged first, then runs shorter than
    ``min_duration_s`` (s) dropped. ``score`` (per beat, in [0, 1]) gives each episode its mean as confidence.
    """
    t = np.asarray(t_s, float)
    m = np.asarray(mask, bool)
    if len(t) == 0 or not m.any():
        return []
    idx = np.flatnonzero(m)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    runs: list[list[int]] = []
    for s, e in zip(starts, ends):
        if runs and t[s] - t[runs[-1][1]] < max_gap_s:
            runs[-1][1] = int(e)
        else:
            runs.append([int(s), int(e)])
    out = []
    for s, e in runs:
        if t[e] - t[s] < min_duration_s:
            continue
        conf = float(np.clip(np.nanmean(score[s:e + 1]), 0, 1)) if score is not None else 1.0
        out.append(Episode(kind, float(t[s]), float(t[e]), conf, detail))
    return out
