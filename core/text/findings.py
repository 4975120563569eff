"""Beat findings: a beat's REFERENCE label plus attributes read from its measured features.

WARNING: a beat finding names the annotated beat class, so it is label-derived text. Use it to
TRAIN the ECG-text alignment (contrastive pairs) and for documentation; never feed it to the
classifier at evaluation or inference, where it would leak the answer.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.signal.features import LATE_RATIO, NARROW_QRS_MS, PREMATURE_RATIO, WIDE_QRS_MS


#: rr_post / rr_pre above this after a premature beat is called a compensatory pause.
COMPENSATORY_RATIO = 1.3
#: Normal PR interval (ms): shorter suggests an ectopic atrial or junctional origin, longer AV delay.
PR_NORMAL_MS = (120.0, 220.0)


# ---- beats ---------------------------------------------------------------------------------------
#: MIT-BIH beat symbols -> clinical words (the 15 AAMI-mapped beat classes).
BEAT_NAMES: dict[str, str] = {
    "N": "normal beat",
    "L": "left bundle branch block beat",
    "R": "right bundle branch block beat",
    "A": "atrial premature beat",
    "a": "aberrated atrial premature beat",
    "J": "junctional premature beat",
    "S": "supraventricular premature beat",
    "e": "atrial escape beat",
    "j": "junctional escape beat",
    "/": "paced beat",
    "f": "fusion of paced and normal beat",
    "Q": "unclassifiable beat",
    "V": "premature ventricular contraction",
    "E": "ventricular escape beat",
    "F": "fusion of ventricular and normal beat",
}

#: Where the beat starts, from its annotation (not from the measurements).
BEAT_ORIGIN: dict[str, str] = {
    **dict.fromkeys("N L R A a J S e j".split(), "supraventricular"),
    **dict.fromkeys("V E".split(), "ventricular"),
    "F": "fusion",
    "/": "paced",
    "f": "paced",
    "Q": "unknown",
}

#: Phrases per attribute value; the first is the deterministic wording, the rest paraphrases.
SYNONYMS: dict[str, list[str]] = {
    "premature": ["premature", "early"],
    "late": ["late", "delayed"],
    "regular": ["regular timing", "on time for the underlying rhythm"],
    "compensatory": ["followed by a compensatory pause", "with a compensatory pause after it"],
    "narrow": ["narrow QRS", "normal-width QRS"],
    "borderline": ["borderline QRS width", "borderline-wide QRS"],
    "wide": ["wide QRS", "broad QRS"],
    "p_normal": ["normal P wave", "upright P wave before the QRS"],
    "p_absent": ["no visible P wave", "P wave not seen"],
    "p_abnormal": ["abnormal P wave", "atypical P wave"],
    "pr_prolonged": ["prolonged PR interval", "long PR interval"],
    "pr_short": ["short PR interval", "shortened PR interval"],
    "t_inverted": ["inverted T wave", "T-wave inversion"],
    "paced": ["ventricular pacemaker stimulus", "ventricular pacing spike"],
    "origin_supraventricular": ["supraventricular origin", "conducted from above the ventricles"],
    "origin_paced": ["ventricular activation from the pacing lead", "ventricular paced complex"],
    "bbb": ["abnormal intraventricular conduction", "delayed ventricular conduction"],
}
_TEMPLATES = ["{Name}: {attrs}.", "{Name}; {attrs}.", "{Name}. Findings: {attrs}."]


def _f(feats: Mapping[str, float], key: str) -> float:
    try:
        v = float(feats.get(key, np.nan))
    except (TypeError, ValueError):
        return float("nan")
    return v


def beat_attributes(symbol: str, feats: Mapping[str, float]) -> dict[str, str]:
    """Structured attributes of one beat: its annotated name and origin, and timing, QRS, P, PR,
    T and pause read from its measured features (a row of ``core.features.beat_features``).

    Values: ``timing`` premature / late / regular / unknown (rr_pre_local_ratio < 0.85, > 1.15);
    ``pause`` compensatory / none (premature and rr_post_pre_ratio > 1.3); ``qrs`` narrow
    (< 110 ms) / borderline / wide (>= 120 ms) / unknown; ``p_wave`` normal / abnormal (inverted,
    or PR < 120 ms) / absent / unknown (QRS not delineated); ``pr`` normal / short / prolonged
    (> 220 ms) / unknown; ``t_wave`` inverted / not inverted / unknown; ``origin`` from the
    annotation (``BEAT_ORIGIN``). P polarity assumes a lead where the sinus P is upright (MLII).
    """
    if symbol not in BEAT_NAMES:
        raise ValueError(f"beat_attributes: unknown beat symbol {symbol!r}; expected one of {''.join(BEAT_NAMES)}.")
    ratio, post = _f(feats, "rr_pre_local_ratio"), _f(feats, "rr_post_pre_ratio")
    qrs, pr, p_amp = _f(feats, "qrs_ms"), _f(feats, "pr_ms"), _f(feats, "p_amp_mv")
    t_inv = _f(feats, "t_inverted")

    if np.isnan(ratio):
        timing = "unknown"
    elif ratio < PREMATURE_RATIO:
        timing = "premature"
    elif ratio > LATE_RATIO:
        timing = "late"
    else:
        timing = "regular"
    pause = "compensatory" if timing == "premature" and post > COMPENSATORY_RATIO else "none"

    if np.isnan(qrs):
        qrs_cls = "unknown"
    elif qrs < NARROW_QRS_MS:
        qrs_cls = "narrow"
    elif qrs >= WIDE_QRS_MS:
        qrs_cls = "wide"
    else:
        qrs_cls = "borderline"

    if np.isnan(p_amp):
        p_wave = "unknown" if np.isnan(qrs) else "absent"
    elif p_amp < 0 or (not np.isnan(pr) and pr < PR_NORMAL_MS[0]):
        p_wave = "abnormal"
    else:
        p_wave = "normal"
    if np.isnan(pr):
        pr_cls = "unknown"
    elif pr < PR_NORMAL_MS[0]:
        pr_cls = "short"
    elif pr > PR_NORMAL_MS[1]:
        pr_cls = "prolonged"
    else:
        pr_cls = "normal"
    t_wave = "unknown" if np.isnan(t_inv) else ("inverted" if t_inv >= 0.5 else "not inverted")

    return {
        "name": BEAT_NAMES[symbol],
        "origin": BEAT_ORIGIN[symbol],
        "timing": timing,
        "pause": pause,
        "qrs": qrs_cls,
        "p_wave": p_wave,
        "pr": pr_cls,
        "t_wave": t_wave,
    }


def beat_finding(symbol: str, feats: Mapping[str, float], rng: np.random.Generator | None = None) -> str:
    """One sentence describing a beat: its ANNOTATED name plus attributes from its MEASURED
    features (:func:`beat_attributes`), with the measured values in ms.

    Label-derived text: for training the ECG-text alignment only, never as classifier input at
    evaluation. Without ``rng`` the wording is deterministic (first phrase in ``SYNONYMS``); with
    it, phrases and sentence template vary among paraphrases while the attributes stay the same.
    E.g. ``"Atrial premature beat: premature (RR 560 ms, local 800 ms), followed by a compensatory
    pause, narrow QRS (84 ms), abnormal P wave."``
    """
    at = beat_attributes(symbol, feats)

    def say(key: str) -> str:
        options = SYNONYMS[key]
        return options[0] if rng is None else options[int(rng.integers(len(options)))]

    rr_pre, rr_local, qrs, pr = (_f(feats, k) for k in ("rr_pre_ms", "rr_local_ms", "qrs_ms", "pr_ms"))
    attrs: list[str] = []
    # Origin words (from the annotation) let the text side learn "ventricular" with wide complexes
    # (paced, bundle branch block) and "supraventricular" with narrow ones, without any V beat.
    if at["origin"] == "paced":
        attrs += [say("paced"), say("origin_paced")]
    elif at["origin"] == "supraventricular":
        attrs.append(say("origin_supraventricular"))
    if symbol in ("L", "R"):
        attrs.append(say("bbb"))
    if at["timing"] != "unknown":
        phrase = say(at["timing"])
        if at["timing"] != "regular" and np.isfinite(rr_pre) and np.isfinite(rr_local):
            phrase += f" (RR {rr_pre:.0f} ms, local {rr_local:.0f} ms)"
        attrs.append(phrase)
    if at["pause"] == "compensatory":
        attrs.append(say("compensatory"))
    if at["qrs"] != "unknown":
        attrs.append(f"{say(at['qrs'])} ({qrs:.0f} ms)")
    if at["p_wave"] != "unknown":
        attrs.append(say("p_" + at["p_wave"]))
    if at["pr"] in ("short", "prolonged"):
        attrs.append(f"{say('pr_' + at['pr'])} ({pr:.0f} ms)")
    if at["t_wave"] == "inverted":
        attrs.append(say("t_inverted"))
    name = at["name"]
    if not attrs:
        return f"{name[0].upper()}{name[1:]}."
    template = _TEMPLATES[0] if rng is None else _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    return template.format(Name=f"{name[0].upper()}{name[1:]}", attrs=", ".join(attrs))
