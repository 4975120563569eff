"""Clinical text built from real record information, for pairing beats with notes.

MIMIC notes are not available, so CardioLens constructs its text, and each function says where
its words come from:

- :func:`header_note` - the record header only (age, sex, medications): patient context a
  clinician would know before reading the ECG. Safe as model input.
- :func:`rhythm_note` - the database's REFERENCE rhythm annotations. Callers must label it as
  such ("annotated rhythm"); it is not a model output.
- :func:`beat_finding` / :func:`beat_attributes` - the beat's REFERENCE label plus attributes read
  from its measured features (``core.features``).

WARNING: a beat finding names the annotated beat class, so it is label-derived text. Use it to
TRAIN the ECG-text alignment (contrastive pairs) and for documentation; never feed it to the
classifier at evaluation or inference, where it would leak the answer. The header free-text
remarks of MIT-BIH (``PatientInfo.other``) were written by the annotators and name arrhythmias
too: they are kept out of :func:`header_note` for the same reason.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.features import LATE_RATIO, NARROW_QRS_MS, PREMATURE_RATIO, WIDE_QRS_MS

__all__ = [
    "PatientInfo",
    "parse_header_comments",
    "header_note",
    "RHYTHM_NAMES",
    "rhythm_durations",
    "rhythm_note",
    "record_note",
    "BEAT_NAMES",
    "BEAT_ORIGIN",
    "SYNONYMS",
    "beat_attributes",
    "beat_finding",
]

#: rr_post / rr_pre above this after a premature beat is called a compensatory pause.
COMPENSATORY_RATIO = 1.3
#: Normal PR interval (ms): shorter suggests an ectopic atrial or junctional origin, longer AV delay.
PR_NORMAL_MS = (120.0, 220.0)


# ---- header --------------------------------------------------------------------------------------
@dataclass
class PatientInfo:
    """Patient context from a record header; ``None`` / empty where unknown."""

    age: int | None = None
    sex: str | None = None            # 'male' or 'female'
    medications: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)   # free-text remarks, one sentence each


_UNKNOWN = {"?", "-1", "n/a", "na", "unknown", "none", ""}
_SEX = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}
# MIT-BIH first comment line: '<age> <sex> <tape ids ...>', e.g. '69 M 1085 1629 x1', '? ? x1'.
_MITDB_DEMO = re.compile(r"^\s*(-?\d{1,3}|\?)\s+([MF?])(?:\s+.*)?$", re.IGNORECASE)
_AGE_KV = re.compile(r"<?\bage\b>?\s*[:=]?\s*(-?\d{1,3}|\?|n/?a|unknown)", re.IGNORECASE)
_SEX_KV = re.compile(r"<?\b(?:sex|gender)\b>?\s*[:=]?\s*(male|female|man|woman|m|f|\?|n/?a|unknown)\b", re.IGNORECASE)
_MEDS_KV = re.compile(r"^\s*<?(?:medications?|meds|drugs)>?\s*[:=]\s*(.*)$", re.IGNORECASE)


def _age(token: str) -> int | None:
    if token.strip().lower() in _UNKNOWN:
        return None
    try:
        age = int(token)
    except ValueError:
        return None
    return age if 0 <= age <= 120 else None


def _sex(token: str) -> str | None:
    return _SEX.get(token.strip().lower())


def _medications(text: str) -> list[str]:
    items = [m.strip(" .;") for m in re.split(r"[,;]|\band\b", text)]
    return [m for m in items if m and m.lower() not in _UNKNOWN]


def _sentences(lines: Sequence[str]) -> list[str]:
    """Join wrapped comment lines and split them into sentences."""
    text = " ".join(line.strip() for line in lines if line.strip())
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def parse_header_comments(comments: Sequence[str]) -> PatientInfo:
    """Patient context from WFDB header comments (``wfdb.rdheader(path).comments``).

    MIT-BIH layout: line 1 ``'69 M 1085 1629 x1'`` (age, sex, then tape identifiers, ignored),
    line 2 the medications (``'Aldomet, Inderal'``; ``'None'`` means none), further lines free
    text. Also reads key-value forms (``'age: 50'``, ``'sex: F'``, ``'<age>: 62 <sex>: M'``,
    ``'medications: ...'``). ``'?'``, ``'-1'`` and ``'N/A'`` mean unknown.
    """
    lines = [str(c).lstrip("#").strip() for c in comments]
    lines = [c for c in lines if c]
    info = PatientInfo()
    free: list[str] = []
    i = 0
    if lines and (m := _MITDB_DEMO.match(lines[0])):
        info.age, info.sex = _age(m.group(1)), _sex(m.group(2))
        i = 1
        # The medications line follows; a line that reads like a sentence is free text instead.
        if len(lines) > 1 and not _MEDS_KV.match(lines[1]) and not re.search(r"[.!?]\s*$", lines[1]) \
                and len(lines[1].split()) <= 12:
            info.medications = _medications(lines[1])
            i = 2
    for line in lines[i:]:
        matched = False
        if line.strip(" .").lower() == "none":      # a bare medications line
            info.medications = []
            continue
        if mm := _MEDS_KV.match(line):
            info.medications = _medications(mm.group(1))
            continue
        if (ma := _AGE_KV.search(line)) and info.age is None:
            info.age, matched = _age(ma.group(1)), True
        if (ms := _SEX_KV.search(line)) and info.sex is None:
            info.sex, matched = _sex(ms.group(1)), True
        if not matched:
            free.append(line)
    info.other = _sentences(free)
    return info


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def header_note(info: PatientInfo, *, recording: str | None = "Ambulatory ECG recording.") -> str:
    """Record-level note from the header only, in a clinician's register.

    E.g. ``"69-year-old man on Aldomet and Inderal. Ambulatory ECG recording."`` No rhythm or
    beat words: the header's free-text remarks (``info.other``) are left out because they were
    written by the annotators and describe the arrhythmias. ``recording`` is the closing sentence
    (MIT-BIH records are Holter recordings); ``None`` drops it.
    """
    noun = {"male": "man", "female": "woman"}.get(info.sex or "", "patient")
    if info.age is not None:
        who = f"{info.age}-year-old {noun}"
    elif noun == "patient":
        who = "Patient of unknown age and sex"
    else:
        who = f"{noun.capitalize()} of unknown age"
    meds = f" on {_join(info.medications)}" if info.medications else ", no medications listed"
    parts = [f"{who}{meds}."]
    if recording:
        parts.append(recording)
    return " ".join(parts)


# ---- rhythm --------------------------------------------------------------------------------------
#: Rhythm annotation codes (the ``aux_note`` of '+' annotations) -> words. The first 15 are every
#: code in MIT-BIH (PhysioNet's mitdb table); the last three occur in other PhysioNet databases.
RHYTHM_NAMES: dict[str, str] = {
    "(N": "sinus rhythm",
    "(SBR": "sinus bradycardia",
    "(AFIB": "atrial fibrillation",
    "(AFL": "atrial flutter",
    "(AB": "atrial bigeminy",
    "(SVTA": "supraventricular tachyarrhythmia",
    "(NOD": "nodal (AV junctional) rhythm",
    "(PREX": "pre-excitation (WPW)",
    "(BII": "second-degree heart block",
    "(B": "ventricular bigeminy",
    "(T": "ventricular trigeminy",
    "(VT": "ventricular tachycardia",
    "(IVR": "idioventricular rhythm",
    "(VFL": "ventricular flutter",
    "(P": "paced rhythm",
    "(BI": "first-degree heart block",
    "(BIII": "third-degree heart block",
    "(SAB": "sinoatrial block",
}


def _rhythm_name(code: str) -> str:
    return RHYTHM_NAMES.get(code, f"rhythm '{code.lstrip('(')}'")


def _largest_remainder(fractions: np.ndarray) -> np.ndarray:
    """Whole percentages that sum to exactly 100 (Hamilton's method)."""
    raw = fractions * 100.0
    pct = np.floor(raw).astype(int)
    short = 100 - pct.sum()
    pct[np.argsort(-(raw - pct), kind="stable")[:short]] += 1
    return pct


def rhythm_durations(sample: np.ndarray, aux_note: Sequence[str], n_samples: int) -> dict[str, int]:
    """Samples spent in each rhythm (code -> samples), from rhythm-change annotations.

    A change at a negative sample (before an excerpt) counts from 0; time before the first change
    is not annotated and not counted.
    """
    sample = np.asarray(sample, dtype=np.int64)
    if sample.size != len(aux_note):
        raise ValueError(f"rhythm_note: {sample.size} samples but {len(aux_note)} aux notes; pass matching arrays from the same annotation.")
    codes = [(int(s), str(a).strip().strip("\x00").strip()) for s, a in zip(sample, aux_note)]
    changes = sorted((max(s, 0), a) for s, a in codes if a.startswith("(") and s < n_samples)
    # Several changes clipped to 0: the last one before the excerpt holds at its start.
    out: dict[str, int] = {}
    for k, (s, code) in enumerate(changes):
        end = changes[k + 1][0] if k + 1 < len(changes) else n_samples
        if end > s:
            out[code] = out.get(code, 0) + (end - s)
    return out


def rhythm_note(sample: np.ndarray, aux_note: Sequence[str], n_samples: int, fs: float) -> str:
    """One sentence on the rhythm from REFERENCE rhythm annotations (label them as such).

    ``sample`` / ``aux_note`` are the annotation samples and aux strings (``wfdb.rdann``); rhythm
    changes are the aux strings starting with '(' (``RHYTHM_NAMES``). ``n_samples`` is the record
    length and ``fs`` its rate in Hz (used to give the duration of brief episodes, in s).
    Percentages are of the annotated time and sum to 100, largest first, e.g.
    ``"Rhythm: sinus rhythm (62% of the recording), atrial fibrillation (38%)."``. Returns
    ``"Rhythm: not annotated."`` when there is no rhythm annotation.
    """
    if n_samples <= 0 or fs <= 0:
        raise ValueError(f"rhythm_note: n_samples and fs must be positive, got {n_samples!r} and {fs!r}.")
    dur = rhythm_durations(sample, aux_note, n_samples)
    if not dur:
        return "Rhythm: not annotated."
    codes = sorted(dur, key=lambda c: -dur[c])
    total = sum(dur.values())
    if len(codes) == 1:
        return f"Rhythm: {_rhythm_name(codes[0])} throughout."
    pct = _largest_remainder(np.array([dur[c] / total for c in codes]))
    parts = []
    for k, (code, p) in enumerate(zip(codes, pct)):
        share = f"{p}%" if p >= 1 else f"<1%, {dur[code] / fs:.0f} s"
        if k == 0:
            share += " of the recording"
        parts.append(f"{_rhythm_name(code)} ({share})")
    return "Rhythm: " + ", ".join(parts) + "."


def record_note(info: PatientInfo, rhythm: str | None = None, *, include_remarks: bool = False) -> str:
    """Header note, then the rhythm sentence if given (from :func:`rhythm_note`).

    ``include_remarks`` appends the header's free-text remarks; they are annotator text naming
    arrhythmias (label-derived), so leave them out of anything the classifier sees.
    """
    parts = [header_note(info)]
    if rhythm:
        parts.append(rhythm.strip())
    if include_remarks and info.other:
        parts.extend(info.other)
    return " ".join(parts)


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
