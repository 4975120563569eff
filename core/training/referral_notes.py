"""Referral notes for training and test records, and their fact probabilities.

Each record gets notes assembled by ``core.text.referral`` from the facts a referring clinician would
plausibly know (``core.text.facts.record_facts``: header demographics and medications, documented
diagnoses in the header remarks, the MIT-BIH list of paced records, and the REFERENCE rhythm annotation
for rhythms covering >= 5 % of the record, labelled so on the model card). Training records get several
paraphrased variants (irrelevant sentences, negations, typos, dropout); test records get one fixed note
built the same way with a per-record seed. Beat labels are never read.
"""
from __future__ import annotations

import numpy as np

from core.text.facts import record_facts
from core.text.recognizer import FactRecognizer
from core.text.referral import referral_note

#: Offset of the per-record seed of test notes (training variants use the training seed instead).
TEST_NOTE_SEED = 11_000


def _record_seed(record: str) -> int:
    digits = "".join(ch for ch in str(record) if ch.isdigit())
    return int(digits or 0)


def record_fact_list(table, record: str):
    """(facts, demographics) of one record of a ``BeatTable`` (see the module docstring for the sources)."""
    return record_facts(table.comments.get(record, []), record, table.database.get(record, "mitdb"),
                        rhythm_fractions=table.rhythm_fractions.get(record))


def training_notes(table, records, n_variants: int, seed: int, dropout: float = 0.2) -> dict[str, list[str]]:
    """``n_variants`` referral notes per training record (seeded); a share ``dropout`` of them empty."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in sorted(set(records)):
        facts, demo = record_fact_list(table, r)
        out[r] = [referral_note(facts, demo, rng, dropout=dropout) for _ in range(n_variants)]
    return out


def test_note(table, record: str) -> str:
    """The one referral note of a test record: same generator, no dropout, seed from the record name."""
    facts, demo = record_fact_list(table, record)
    return referral_note(facts, demo, np.random.default_rng(TEST_NOTE_SEED + _record_seed(record)))


def note_fact_matrix(notes: dict[str, list[str]], recognizer: FactRecognizer, embed) -> dict[str, np.ndarray]:
    """``{record: [n_variants, K]}`` p(stated) per fact of each note (one embedding call for all clauses)."""
    from core.text.recognizer import split_clauses

    clauses = sorted({c for vs in notes.values() for v in vs for c in split_clauses(v)})
    vec = dict(zip(clauses, embed(clauses))) if clauses else {}
    k = len(recognizer.facts)
    out = {}
    for r, variants in notes.items():
        rows = []
        for v in variants:
            cs = split_clauses(v)
            rows.append(recognizer.clause_probs(np.stack([vec[c] for c in cs]))[..., 1].max(0) if cs else np.zeros(k))
        out[r] = np.asarray(rows, np.float32)
    return out
