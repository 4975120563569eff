"""The record verdict as a short, clinically ordered statement list: the underlying rhythm(s) with rate and
share of the recording first, then tachycardia runs, conduction, pauses, ectopic patterns, ectopic beat
counts, and unreadable time last -- the order of a Holter summary (e.g. Kennedy 2004, Holter report
conventions; the 'rhythm, then conduction, then ectopy' reading order of the AHA/ACC/HRS 2009 statements).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.rhythm.episodes import ABNORMAL_KINDS, RHYTHM_NAMES, Episode
from core.rhythm.sinus import NO_P_SVT, NOT_SINUS

__all__ = ["write_statements"]

_UNDERLYING = ("AF", "AFL", "PACED", "SR", "SBR", "STACH")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rate(t: np.ndarray, eps: list[Episode], lost: Sequence[Episode] = ()) -> float:
    """Mean ventricular rate (bpm) over the RR intervals inside the episodes, leaving out those that span unreadable
    signal (``lost``: beats there were not counted, so such an interval is not one RR)."""
    n, secs = 0, 0.0
    for e in eps:
        b = t[(t >= e.start_s) & (t <= e.end_s)]
        ok = np.ones(max(len(b) - 1, 0), bool)
        for u in lost:
            ok &= ~((b[:-1] < u.end_s) & (b[1:] > u.start_s))
        n, secs = n + int(ok.sum()), secs + float(np.diff(b)[ok].sum())
    return 60.0 * n / secs if secs > 0 else float("nan")


def write_statements(episodes: list[Episode], beat_time_s: np.ndarray, duration_s: float, *,
                     n_atrial_premature: int = 0, n_ventricular_premature: int = 0, n_unclear_abnormal: int = 0,
                     n_confident_abnormal: int = 0) -> tuple[list[str], bool]:
    """(statements, abnormal). ``duration_s`` is the recording length (s); counts are beats outside runs;
    ``n_unclear_abnormal``: abnormal beats that are neither premature nor ventricular-looking nor paced-flagged.
    Abnormal when any episode is of an abnormal kind (``ABNORMAL_KINDS``) or at least one beat is
    confidently abnormal (``n_confident_abnormal``, counted by the caller)."""
    t = np.asarray(beat_time_s, float)
    dur = max(float(duration_s), 1e-9)
    by = {k: [e for e in episodes if e.kind == k] for k in RHYTHM_NAMES}
    out: list[str] = []
    under = sorted((k for k in _UNDERLYING if by[k]), key=lambda k: -sum(e.duration_s for e in by[k]))
    covered = sum(e.duration_s for k in under for e in by[k])
    for k in under:
        share = 100.0 * sum(e.duration_s for e in by[k]) / dur
        rate = _rate(t, by[k], by["UNREADABLE"])
        unestablished = k in ("SR", "SBR", "STACH") and all(e.detail.endswith(NOT_SINUS) for e in by[k])
        text = "Underlying rhythm" if unestablished else RHYTHM_NAMES[k]  # its rate follows; the origin is open
        if k in ("AF", "AFL"):
            text += f", mean ventricular rate {rate:.0f} bpm"
        elif np.isfinite(rate):
            text += f" {rate:.0f} bpm"
        # the share is said when the rhythm is not the whole recording; beats span less than the recording by
        # about one RR at each end, which on a 3 s strip is 20 % (it read "Sinus rhythm 75 bpm, 80 % of the recording")
        if len(under) > 1 or covered < 0.9 * (float(t[-1] - t[0]) if len(t) > 1 else dur):
            text += f", {share:.0f} % of the recording"
        if unestablished:
            text += f", {NOT_SINUS}"
        out.append(text)
    regular_svt = [e for e in by["SVT"] if e.detail.endswith(NO_P_SVT)]
    if regular_svt:  # a rhythm of its own, said where the underlying rhythm is
        share = 100.0 * sum(e.duration_s for e in regular_svt) / dur
        out.append(f"Regular narrow-complex tachycardia {_rate(t, regular_svt):.0f} bpm, P waves not seen: "
                   f"supraventricular tachycardia (sinus tachycardia and atrial flutter with 2:1 conduction not "
                   f"excluded)" + (f", {share:.0f} % of the recording" if share < 90 else ""))
        by["SVT"] = [e for e in by["SVT"] if e not in regular_svt]
    for k in ("VT", "SVT"):
        if by[k]:
            longest = max(by[k], key=lambda e: e.duration_s)
            out.append(f"{RHYTHM_NAMES[k]}: {_plural(len(by[k]), 'run')}, longest {longest.detail}")
    if by["AVB1"]:
        out.append(f"{RHYTHM_NAMES['AVB1']} ({by['AVB1'][0].detail})")
    if by["PAUSE"]:
        longest = max(e.duration_s for e in by["PAUSE"])
        out.append(f"{_plural(len(by['PAUSE']), 'pause')} of 2 s or more, longest {longest:.1f} s")
    for k in ("BIGEMINY", "TRIGEMINY"):
        if by[k]:
            origin = "Ventricular" if sum("ventricular," in e.detail for e in by[k]) * 2 >= len(by[k]) else "Atrial"
            share = 100.0 * sum(e.duration_s for e in by[k]) / dur
            out.append(f"{origin} {k.lower()}, {_plural(len(by[k]), 'episode')}, {share:.0f} % of the recording")
    if n_atrial_premature:
        out.append(_plural(n_atrial_premature, "atrial premature beat"))
    if n_ventricular_premature:
        out.append(_plural(n_ventricular_premature, "ventricular premature beat"))
    if n_unclear_abnormal:
        verb = "is" if n_unclear_abnormal == 1 else "are"
        out.append(f"{_plural(n_unclear_abnormal, 'abnormal beat')} that {verb} not premature, origin unclear (a paced "
                   "rhythm without visible spikes? review the morphology)")
    if by["UNREADABLE"]:
        secs = sum(e.duration_s for e in by["UNREADABLE"])
        causes = {"noise or possible ventricular flutter/fibrillation" if "fibrillation" in c else c
                  for e in by["UNREADABLE"] for c in e.detail.split("; ")}
        if any("fibrillation" in c for c in causes):
            causes.discard("noise")  # said already
        cause = "; ".join(sorted(causes))
        out.append(f"Unreadable signal {secs:.0f} s ({100 * secs / dur:.0f} %): {cause}, review the trace")
    if not out:
        out.append("Rhythm not determined (too few beats)")
    abnormal = any(e.kind in ABNORMAL_KINDS for e in episodes) or n_confident_abnormal > 0
    return out, bool(abnormal)
