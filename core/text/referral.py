"""Referral notes in a clinician's register, assembled from facts (``facts.FACTS``) with a seeded RNG.

Every sentence is a *unit*: its text and its per-fact labels (1 = stated, 2 = denied). A note is the
units joined; the fact recognizer trains on units of the same generator. Paraphrase material lives in
``bank.py``; each frame and irrelevant sentence has an index, and ``split='train' | 'heldout'`` keeps
every fourth one (index % 4 == 3) out of training so held-out measurements use unseen templates.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.text.bank import DEMO_FRAMES, FRAMES, IRRELEVANT, NEG_FRAMES, NEUTRAL_RECORDING, NO_MEDS, TERM_GROUPS, TERMS
from core.text.facts import DRUG_CLASSES, FACT_NAMES, AssignedFact, Demographics

__all__ = ["Unit", "STATED", "DENIED", "in_split", "fact_unit", "demographics_unit", "irrelevant_unit",
           "note_units", "referral_note", "training_units", "add_typo", "hard_negative_unit"]

STATED, DENIED = 1, 2
#: Facts a note may deny ("no pacemaker", "denies palpitations"); drug classes are denied via "no meds".
_DENIABLE = ("PACEMAKER", "AF_FLUTTER", "BBB", "AV_BLOCK", "SICK_SINUS", "REASON_PALPITATIONS", "REASON_SYNCOPE",
             "RECORDING_PROBLEM", "DIGOXIN", "BETA_BLOCKER", "ANTIARRHYTHMIC")
_DRUG_FACTS = ("DIGOXIN", "BETA_BLOCKER", "ANTIARRHYTHMIC")


@dataclass
class Unit:
    """One sentence of a note and the facts it states (1) or denies (2)."""

    text: str
    labels: dict[str, int] = field(default_factory=dict)


def in_split(index: int, split: str) -> bool:
    """Template ``index`` belongs to ``split``: 'all', 'train' (index % 4 != 3) or 'heldout' (index % 4 == 3)."""
    if split == "all":
        return True
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'all', 'train' or 'heldout', not {split!r}.")
    return (index % 4 == 3) == (split == "heldout")


def _pick(rng: np.random.Generator, items: Sequence, split: str = "all"):
    pool = [x for i, x in enumerate(items) if in_split(i, split)] or list(items)
    return pool[int(rng.integers(len(pool)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _finish(s: str) -> str:
    s = re.sub(r"\s+", " ", s).strip(" ,")
    return _cap(s) + ("" if s.endswith((".", "!", "?")) else ".")


def _terms(name: str, evidence: str) -> list[str]:
    for pattern, terms in TERM_GROUPS.get(name, []):
        if evidence and re.search(pattern, evidence, re.I):
            return terms
    return TERMS[name]


def fact_unit(name: str, rng: np.random.Generator, negated: bool = False, split: str = "all", evidence: str = "") -> Unit:
    """A sentence stating (or denying) fact ``name``: a frame of the fact filled with one of its terms
    (the terms matching ``evidence``, e.g. the header remark, when ``TERM_GROUPS`` has a group for it)."""
    frames = (NEG_FRAMES if negated else FRAMES)[name]
    text = _pick(rng, frames, split).format(t=_pick(rng, _terms(name, evidence)))
    return Unit(_finish(text), {name: DENIED if negated else STATED})


def _drug_text(drug: str, rng: np.random.Generator) -> str:
    r = rng.random()
    return drug.lower() if r < 0.35 else drug if r < 0.9 else drug.upper()


def demographics_unit(demo: Demographics, rng: np.random.Generator, split: str = "all") -> Unit:
    """'76 y/o F on Aldomet, Inderal' in one of many forms; labels = the drug classes named (or denied)."""
    sex = demo.sex
    words = {"male": ("M", "male", "man", "gentleman"), "female": ("F", "female", "woman", "lady")}.get(sex or "", ("pt", "patient", "patient", "patient"))
    age = str(demo.age) if demo.age is not None else None
    frame = _pick(rng, DEMO_FRAMES, split)
    who = frame.format(age=age or "age unknown", s=words[0], sex=words[1], noun=words[2], polite=words[3])
    if age is None:
        who = who.replace("age unknown y/o", "age unknown").replace("age unknown-year-old", "").replace("age unknownyo", "age unknown")
    labels: dict[str, int] = {}
    if demo.medications:
        drugs = [_drug_text(d, rng) for d in demo.medications]
        rng.shuffle(drugs)
        sep = ", " if rng.random() < 0.7 else " + "
        meds = sep.join(drugs)
        joiner = _pick(rng, (" on ", ", meds: ", " taking ", ", current meds ", " on ", ", Rx: "))
        text = who + joiner + meds
        for d in demo.medications:
            for w in re.findall(r"[a-z]+", d.lower()):
                if (c := DRUG_CLASSES.get(w)):
                    labels[c] = STATED
    else:
        text = who + ", " + _pick(rng, NO_MEDS, split)
        labels = dict.fromkeys(_DRUG_FACTS, DENIED)
    return Unit(_finish(text), labels)


def irrelevant_unit(rng: np.random.Generator, split: str = "all") -> Unit:
    """Administrative text or unrelated history: no fact."""
    return Unit(_finish(_pick(rng, IRRELEVANT, split)), {})


def hard_negative_unit(rng: np.random.Generator, split: str = "all") -> Unit:
    """A fact frame filled with a non-fact term ("h/o asthma", "on ramipril", "referred for pre-op assessment"): no fact."""
    from .bank import OTHER_TERMS

    kind = _pick(rng, ("history", "drug", "reason", "recording"))
    fact = {"history": "AF_FLUTTER", "drug": "DIGOXIN", "reason": "REASON_SYNCOPE", "recording": "RECORDING_PROBLEM"}[kind]
    frames = FRAMES[fact] if rng.random() < 0.75 else NEG_FRAMES[fact]
    return Unit(_finish(_pick(rng, frames, split).format(t=_pick(rng, OTHER_TERMS[kind], split))), {})


def add_typo(text: str, rng: np.random.Generator) -> str:
    """One typo in a random word of >= 4 letters: swap, drop or double a letter."""
    words = text.split(" ")
    cand = [i for i, w in enumerate(words) if len(re.sub(r"\W", "", w)) >= 4]
    if not cand:
        return text
    i = cand[int(rng.integers(len(cand)))]
    w = words[i]
    j = int(rng.integers(1, len(w) - 2)) if len(w) > 3 else 1
    kind = rng.integers(3)
    words[i] = (w[:j] + w[j + 1] + w[j] + w[j + 2:]) if kind == 0 else (w[:j] + w[j + 1:]) if kind == 1 else (w[:j] + w[j] + w[j:])
    return " ".join(words)


def _merge(a: Unit, b: Unit, rng: np.random.Generator) -> Unit:
    glue = _pick(rng, (", ", " and ", ", also ", ", plus "))
    body_b = b.text.rstrip(".")
    body_b = body_b[:1].lower() + body_b[1:] if not body_b[:2].isupper() else body_b
    return Unit(a.text.rstrip(".") + glue + body_b + ".", {**a.labels, **b.labels})


def note_units(facts: Sequence[AssignedFact], demographics: Demographics | None, rng: np.random.Generator,
               irrelevant_rate: float = 0.3, negation_rate: float = 0.5, merge_rate: float = 0.2,
               typo_rate: float = 0.15, split: str = "all") -> list[Unit]:
    """The units of one referral note (see ``referral_note``)."""
    units = [fact_unit(f.name, rng, f.negated, split, f.evidence) for f in facts if f.name not in _DRUG_FACTS or f.negated]
    known = {f.name for f in facts}
    absent = [n for n in _DENIABLE if n not in known and n not in _DRUG_FACTS]
    for _ in range(int(rng.binomial(2, negation_rate))):
        if absent:
            units.append(fact_unit(absent.pop(int(rng.integers(len(absent)))), rng, True, split))
    if demographics is not None and (demographics.age is not None or demographics.sex or demographics.medications
                                     or rng.random() < 0.5):
        demo_unit = demographics_unit(demographics, rng, split)
    else:
        demo_unit = None
    stated_drugs = [f for f in facts if f.name in _DRUG_FACTS and not f.negated]
    if stated_drugs and (demographics is None or not demographics.medications):
        units += [fact_unit(f.name, rng, False, split) for f in stated_drugs]
    n_irr = int(rng.binomial(3, irrelevant_rate))
    units += [irrelevant_unit(rng, split) for _ in range(n_irr)]
    if rng.random() < 0.5:
        units.append(Unit(_finish(_pick(rng, NEUTRAL_RECORDING, split)), {}))
    order = rng.permutation(len(units))
    units = [units[i] for i in order]
    if len(units) >= 2 and rng.random() < merge_rate:
        k = int(rng.integers(len(units) - 1))
        units[k:k + 2] = [_merge(units[k], units[k + 1], rng)]
    if demo_unit is not None:
        units.insert(0 if rng.random() < 0.75 else int(rng.integers(len(units) + 1)), demo_unit)
    if units and rng.random() < typo_rate:
        k = int(rng.integers(len(units)))
        units[k] = Unit(add_typo(units[k].text, rng), units[k].labels)
    return units


def referral_note(facts: Sequence[AssignedFact], demographics: Demographics | None, rng: np.random.Generator,
                  irrelevant_rate: float = 0.3, dropout: float = 0.0, split: str = "all", **kwargs) -> str:
    """A referral note stating ``facts`` (denied where ``negated``), the demographics and medications,
    0-2 denials of facts the record does not have, irrelevant sentences (each of 3 slots with
    probability ``irrelevant_rate``), word-order and typo variation; ``""`` with probability ``dropout``.
    Deterministic for a given ``rng`` state; ``kwargs`` go to ``note_units``."""
    if rng.random() < dropout:
        return ""
    return " ".join(u.text for u in note_units(facts, demographics, rng, irrelevant_rate, split=split, **kwargs))


def training_units(rng: np.random.Generator, n_notes: int = 1500, split: str = "train") -> list[Unit]:
    """Units for the fact recognizer: notes over random fact sets and random demographics, plus
    single-fact units (stated and denied) so every frame and term is seen; all from ``split`` templates."""
    from core.text.bank import TRAIN_DRUGS

    units: list[Unit] = []
    for _ in range(n_notes):
        k = int(rng.integers(0, 4))
        names = list(rng.choice([n for n in FACT_NAMES if n not in _DRUG_FACTS], size=k, replace=False))
        facts = [AssignedFact(str(n), "synthetic") for n in names]
        n_drugs = int(rng.integers(0, 4))
        demo = Demographics(age=int(rng.integers(18, 95)) if rng.random() < 0.9 else None,
                            sex=[None, "male", "female"][int(rng.integers(3))] if rng.random() < 0.95 else None,
                            medications=list(rng.choice(TRAIN_DRUGS, size=n_drugs, replace=False)))
        units += note_units(facts, demo, rng, irrelevant_rate=0.5, merge_rate=0.3, split=split)
    for name in FACT_NAMES:
        for _ in range(60):
            units.append(fact_unit(name, rng, bool(rng.random() < 0.4), split))
    for _ in range(300):
        units.append(irrelevant_unit(rng, split))
    for _ in range(1200):
        units.append(hard_negative_unit(rng, split))
    return units
