"""Adapter from a beat-extraction result to ``analyse_rhythm``'s plain arrays (duck-typed, so this package
does not depend on where the beat code lives)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # only for readers and type checkers; never imported at run time
    from core.signal.beats import BeatSet  # noqa: F401

__all__ = ["rhythm_inputs_from_beats"]


def _col(features: Any, name: str, n: int) -> np.ndarray | None:
    if features is None or name not in getattr(features, "columns", []):
        return None
    a = np.asarray(features[name], dtype=float)
    return a if a.shape == (n,) else None


def rhythm_inputs_from_beats(beats: Any, duration_s: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``analyse_rhythm`` from an object with ``rpeaks`` (samples at ``fs``, Hz),
    ``fs``, ``features`` (DataFrame with pr_ms, p_amp_mv, qrs_ms, qrs_amp_mv in ms / mV) and optionally
    ``vf_episodes`` [(start, stop)] in samples and ``paced`` (bool per beat). ``duration_s`` defaults to the
    length of ``beats.clean`` when present (it is at 360 Hz in CardioLens, so its own ``clean_fs`` or 360);
    ``beats.clean`` (mV) is passed on as ``clean_mv`` for the atrial-activity and morphology measures."""
    for attr in ("rpeaks", "fs"):
        if not hasattr(beats, attr):
            raise TypeError(f"rhythm_inputs_from_beats needs an object with .{attr}; got {type(beats).__name__}")
    fs = float(beats.fs)
    if not fs > 0:
        raise ValueError(f"fs must be positive, got {fs}")
    t = np.asarray(beats.rpeaks, dtype=float) / fs
    n = len(t)
    f = getattr(beats, "features", None)
    if duration_s is None:
        clean = getattr(beats, "clean", None)
        if clean is not None and len(clean):
            duration_s = len(clean) / float(getattr(beats, "clean_fs", 360.0))
        else:
            duration_s = float(t[-1]) if n else 0.0
    vf = getattr(beats, "vf_episodes", None) or []
    clean = getattr(beats, "clean", None)
    clean = None if clean is None or not len(clean) else np.asarray(clean).ravel()  # dtype kept (see analyse)
    return dict(beat_time_s=t, duration_s=float(duration_s), pr_ms=_col(f, "pr_ms", n),
                p_amp_mv=_col(f, "p_amp_mv", n), qrs_ms=_col(f, "qrs_ms", n), qrs_amp_mv=_col(f, "qrs_amp_mv", n),
                paced=getattr(beats, "paced", None), unreadable=[(a / fs, b / fs) for a, b in vf], fs=fs,
                clean_mv=clean, clean_fs=float(getattr(beats, "clean_fs", 360.0)))
