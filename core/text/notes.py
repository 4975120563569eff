"""Clinical text built from real record information, for pairing beats with notes.

MIMIC notes are not available, so CardioLens constructs its text, and each function says where
its words come from:

- :func:`header_note` - the record header only (age, sex, medications): patient context a
  clinician would know before reading the ECG. Safe as model input.
- :func:`rhythm_note` - the database's REFERENCE rhythm annotations. Callers must label it as
  such ("annotated rhythm"); it is not a model output.
- :func:`core.text.findings.beat_finding` / ``beat_attributes`` - the beat's REFERENCE label plus attributes read
  from its measured features (``core.signal.features``).

WARNING: a beat finding names the annotated beat class, so it is label-derived text. Use it to
TRAIN the ECG-text alignment (contrastive pairs) and for documentation; never feed it to the
classifier at evaluation or inference, where it would leak the answer. The header free-text
remarks of MIT-BIH (``PatientInfo.other``) were written by the annotators and name arrhythmias
too: they are kept out of :func:`header_note` for the same reason.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


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
