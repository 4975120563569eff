"""One entry point: the rhythm reading of a record from its beat sequence (plain arrays, one entry per beat).

Order of the reading: unreadable stretches, paced rhythm, atrial fibrillation, ectopic runs and patterns,
pauses, first-degree AV block, then sinus rhythm with its rate over what is left; beat labels are then put
in the rhythm's context (``core.rhythm.context``) and the statements written (``core.rhythm.statements``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core.rhythm.af import detect_af
from core.rhythm.atrial import measure_atrial_activity
from core.rhythm.conduction import detect_av_block_1
from core.rhythm.context import adjust_for_rhythm
from core.rhythm.episodes import Episode, episodes_from_mask
from core.rhythm.origin import classify_origin
from core.rhythm.pacing import detect_paced
from core.rhythm.pauses import detect_pauses
from core.rhythm.runs import detect_runs
from core.rhythm.sinus import NOT_SINUS, classify_sinus
from core.rhythm.statements import write_statements

__all__ = ["RhythmResult", "analyse_rhythm"]


#: Each unreadable beat stands for this much signal (s) either side of it in the UNREADABLE episodes.
UNREADABLE_HALF_S = 1.0
#: What an unreadable span given without its cause (``unreadable`` pairs) is: core.signal.vf's spans.
VF_OR_NOISE = "noise or ventricular flutter/fibrillation"


@dataclass
class RhythmResult:
    """Rhythm reading of one record.

    ``episodes`` sorted by start (s); ``statements`` clinically ordered; ``abnormal`` the record verdict;
    ``mean_rate_bpm`` over the whole record and ``rates_bpm`` per underlying rhythm kind; ``beat_class`` the
    per-beat classes after the rhythm context ('N','S','V','Q','U'), ``p_abnormal`` likewise (None when not
    given), ``context_reason`` per beat ('' where unchanged); ``origin_source`` 'classifier', 'timing'
    (derived by ``core.rhythm.origin`` from RR and QRS) or 'morphology' (also the dominant-beat template)."""

    episodes: list[Episode]
    statements: list[str]
    abnormal: bool
    mean_rate_bpm: float
    rates_bpm: dict[str, float] = field(default_factory=dict)
    beat_class: np.ndarray | None = None
    p_abnormal: np.ndarray | None = None
    context_reason: np.ndarray | None = None
    origin_source: str = "timing"
    n_confident_abnormal: int = 0
    #: calibrated p at which one beat alone made the verdict abnormal (the caller's ``p_threshold``)
    confident_p: float = 0.5


def _opt(x, n: int, name: str, dtype=float):
    if x is None:
        return None
    a = np.asarray(x, dtype=dtype)
    if a.shape != (n,):
        raise ValueError(f"{name} has {a.shape[0] if a.ndim else 0} entries but there are {n} beats")
    return a


def _inside(t: np.ndarray, eps: list[Episode], kinds: tuple[str, ...]) -> np.ndarray:
    m = np.zeros(len(t), bool)
    for e in eps:
        if e.kind in kinds:
            m |= (t >= e.start_s) & (t <= e.end_s)
    return m


def _unreadable_stretches(t: np.ndarray, u_beats: np.ndarray, dur: float, episodes: list[Episode]) -> list[Episode]:
    """``episodes`` with the stretches of unreadable beats added as UNREADABLE episodes, merged with those given
    (ventricular flutter/fibrillation or lost-signal spans; a merged episode keeps every cause, '; '-joined).
    A beat's quality is read from the 4 s around it (``core.signal.quality``), so each unreadable beat stands
    for the 2 s centred on it (s)."""
    spans = [(e.start_s, e.end_s, e.detail) for e in episodes if e.kind == "UNREADABLE"]
    spans += [(max(0.0, a - UNREADABLE_HALF_S), min(max(dur, b), b + UNREADABLE_HALF_S), "noise")
              for a, b in ((e.start_s, e.end_s) for e in episodes_from_mask(t, u_beats, "UNREADABLE",
                                                                              max_gap_s=2 * UNREADABLE_HALF_S))]
    merged: list[list] = []
    for a, b, d in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            merged[-1][2].update(d.split("; "))
        else:
            merged.append([a, b, set(d.split("; "))])
    return [e for e in episodes if e.kind != "UNREADABLE"] + [Episode("UNREADABLE", a, b, 1.0, "; ".join(sorted(d)))
                                                              for a, b, d in merged]


#: Share of a sinus-rate episode's readable beats called abnormal-not-premature ('Q') from which it is not called sinus.
NOT_SINUS_SHARE = 0.5


def _mark_unestablished_sinus(t: np.ndarray, episodes: list[Episode], eff: np.ndarray, unread: np.ndarray) -> list[Episode]:
    """SR / SBR / STACH episodes in which at least ``NOT_SINUS_SHARE`` of the readable beats are abnormal but not
    premature ('Q') get ``NOT_SINUS`` in their detail: the rate is real, the sinus origin is not shown."""
    unclear = np.asarray(eff) == "Q"
    out = []
    for e in episodes:
        if e.kind in ("SR", "SBR", "STACH"):
            inside = (t >= e.start_s) & (t <= e.end_s) & ~unread
            if inside.sum() >= 3 and unclear[inside].mean() >= NOT_SINUS_SHARE:
                e = replace(e, detail=f"{e.detail}; {NOT_SINUS}")
        out.append(e)
    return out


def analyse_rhythm(beat_time_s, duration_s: float | None = None, beat_class=None, p_abnormal=None, pr_ms=None,
                   p_amp_mv=None, qrs_ms=None, paced=None, unreadable=None, fs: float | None = None, *,
                   qrs_amp_mv=None, p_s=None, p_threshold: float = 0.5, clean_mv=None,
                   clean_fs: float | None = None, ventricular_like=None) -> RhythmResult:
    """Read the rhythm of one record.

    ``beat_time_s`` R-peak times (s, increasing); ``duration_s`` record length (s; default last beat);
    ``beat_class`` predicted 'N','S','V','Q','U' per beat (None: derived from timing and QRS width);
    ``p_abnormal`` per-beat abnormality probability and ``p_threshold`` the caller's confident-abnormal
    threshold; ``pr_ms``, ``qrs_ms`` in ms, ``p_amp_mv`` / ``qrs_amp_mv`` in mV (NaN where not found);
    ``paced`` bool per beat; ``unreadable`` [(start_s, end_s)] of noise or ventricular flutter/fibrillation, or
    [(start_s, end_s, cause)] (e.g. "signal lost (flat line)");
    ``fs`` (Hz) is accepted for provenance only (all inputs are already in s/ms); ``p_s`` optional P(S);
    ``clean_mv`` the cleaned primary lead (mV) at ``clean_fs`` Hz (default 360, CardioLens' model rate), from
    which P waves, f waves (``core.rhythm.atrial``) and the dominant-beat morphology (``core.rhythm.origin``)
    are measured; without it only RR, PR and QRS measures are used. ``ventricular_like`` (bool per beat)
    marks further beats whose RR intervals the AF measures leave out as ectopic (Dash 2009), without
    counting them as ventricular beats anywhere else.
    """
    t = np.asarray(beat_time_s, float).ravel()
    if t.size and (not np.isfinite(t).all() or np.any(np.diff(t) <= 0)):
        raise ValueError("beat_time_s must be finite and strictly increasing (seconds)")
    n = len(t)
    dur = float(duration_s) if duration_s is not None else (float(t[-1]) if n else 0.0)
    cls = _opt(beat_class, n, "beat_class", dtype=object)
    p = _opt(p_abnormal, n, "p_abnormal")
    pr, pa, q = _opt(pr_ms, n, "pr_ms"), _opt(p_amp_mv, n, "p_amp_mv"), _opt(qrs_ms, n, "qrs_ms")
    qa, pc = _opt(qrs_amp_mv, n, "qrs_amp_mv"), _opt(paced, n, "paced", dtype=bool)
    ps = _opt(p_s, n, "p_s")
    bad = sorted((float(u[0]), float(u[1]), str(u[2]) if len(u) > 2 else VF_OR_NOISE)
                 for u in (unreadable or []) if u[1] > u[0])
    episodes: list[Episode] = [Episode("UNREADABLE", a, b, 1.0, d) for a, b, d in bad]
    if n < 3:
        st, ab = write_statements(episodes, t, dur)
        return RhythmResult(episodes, st, ab, float("nan"), beat_class=cls, p_abnormal=p, confident_p=float(p_threshold))
    atrial = None
    # dtype kept (float32 from core.signal): the measures convert what they need, so a 24 h lead is not copied twice
    x = None if clean_mv is None else np.asarray(clean_mv).ravel()
    cfs = float(clean_fs) if clean_fs else 360.0
    if x is not None and x.size:
        if not np.isfinite(x).all():
            raise ValueError("clean_mv must be finite (mV)")
        if t[-1] > len(x) / cfs + 1.0:
            raise ValueError(f"clean_mv lasts {len(x) / cfs:.1f} s at {cfs:g} Hz but beats run to {t[-1]:.1f} s")
        atrial = measure_atrial_activity(x, cfs, t, classify_origin(t, q, qa))
    if cls is not None:
        origin = np.array([c if c in ("N", "S", "V") else "Q" for c in cls], dtype="<U1")
        source = "classifier"
    else:
        origin = classify_origin(t, q, qa, clean_mv=x if atrial is not None else None, fs=cfs,
                                 p_corr=atrial.p_corr if atrial is not None else None)
        source = "timing" if atrial is None else "morphology"
    unread = _inside(t, episodes, ("UNREADABLE",))
    if cls is not None:
        u_beats = np.isin(cls.astype(str), ["U"])
        unread |= u_beats
        episodes = _unreadable_stretches(t, u_beats, dur, episodes)
    # a "spike" in noise is not a pacing spike
    episodes += detect_paced(t, None if pc is None else pc & ~unread)
    paced_m = _inside(t, episodes, ("PACED",))
    # thresholds per evidence: with the cleaned lead P absence is measured, so RR may be less irregular
    af_kw = dict(cosen_min=-1.4, nrmssd_min=0.10) if atrial is not None else dict(cosen_min=-1.2, nrmssd_min=0.15)
    vl = _opt(ventricular_like, n, "ventricular_like", dtype=bool)
    # The AF measures leave out RR intervals that touch an ectopic beat (Dash 2009): V-like beats, and with
    # classifier labels also the beats the model flagged as premature supraventricular ('S'). Ventricular beats
    # the morphology calls 'S' kept bigeminy looking irregular; on the training records (DS1 + 102, 104) this
    # took AF duration PPV from 0.949 to 0.976 at the same Se 0.979. Timing-derived 'S' (no classifier) is
    # every early beat, AF's own irregularity, so it stays in.
    ectopic = np.zeros(n, bool) if vl is None else vl.copy()
    if cls is not None:
        ectopic |= origin == "S"
    af_origin = np.where(ectopic & (origin != "Q"), "V", origin)
    episodes += detect_af(t, af_origin, pr, pa, exclude=unread | paced_m, atrial=atrial, **af_kw)
    af_m = _inside(t, episodes, ("AF", "AFL"))
    runs = detect_runs(t, np.where(unread, "Q", origin), exclude_svt=af_m | paced_m)
    episodes += runs
    # a missed beat in noise or lost signal is not a pause
    episodes += detect_pauses(t, unreadable=[(e.start_s, e.end_s) for e in episodes if e.kind == "UNREADABLE"])
    episodes += detect_av_block_1(t, pr, origin, exclude=af_m | paced_m | unread)
    other = unread | paced_m | af_m | _inside(t, episodes, ("VT", "SVT"))
    episodes += classify_sinus(t, origin, exclude=other, p_found=None if pa is None else np.isfinite(pa))
    episodes.sort(key=lambda e: (e.start_s, e.kind))
    adj = adjust_for_rhythm(t, episodes, cls if cls is not None else None, p, ps)
    eff = adj.beat_class if adj.beat_class is not None else origin.astype(object)
    if cls is None:
        eff = eff.copy()
        eff[af_m & (eff == "S")] = "N"  # same context rule for the derived origin
    episodes = _mark_unestablished_sinus(t, episodes, eff, unread)
    in_run = _inside(t, episodes, ("VT", "SVT"))
    n_s = int(((eff == "S") & ~in_run & ~unread).sum())
    n_v = int(((eff == "V") & ~in_run & ~unread).sum())
    spiked = pc if pc is not None else np.zeros(n, bool)
    n_q = int(((eff == "Q") & ~in_run & ~unread & ~paced_m & ~spiked).sum()) if cls is not None else 0
    if adj.p_abnormal is not None:
        n_conf = int((adj.p_abnormal[~unread] >= p_threshold).sum())
    else:
        n_conf = n_s + n_v  # no probabilities: every counted ectopic beat is the evidence
    st, ab = write_statements(episodes, t, dur, n_atrial_premature=n_s, n_ventricular_premature=n_v,
                              n_unclear_abnormal=n_q, n_confident_abnormal=n_conf)
    rates = {}
    for k in ("SR", "SBR", "STACH", "AF", "AFL", "PACED"):
        sel = _inside(t, episodes, (k,))
        if sel.sum() > 1:
            rates[k] = float(60.0 / np.median(np.diff(t)[sel[1:] & sel[:-1]])) if (sel[1:] & sel[:-1]).any() else float("nan")
    mean_rate = 60.0 * (n - 1) / (t[-1] - t[0]) if t[-1] > t[0] else float("nan")
    return RhythmResult(episodes, st, ab, float(mean_rate), rates, eff, adj.p_abnormal, adj.reason, source, n_conf,
                        float(p_threshold))
