"""Attention and integrated gradients on the bundled referral notes: the words that carry the facts
get more attention and more attribution per word than filler words (measured ratio, issue 11)."""
from __future__ import annotations

import numpy as np
import pytest

from core import config
from core.explain.facts import fact_gradients, fact_word_mask, word_ratio
from core.explain.note import note_attention
from core.text.bank import TERMS
from core.text.facts import FACTS

#: Words that state a fact: the paraphrase bank's terms, the fact descriptions and the drug names.
LEXICON = [t for terms in TERMS.values() for t in terms] + [f.description for f in FACTS] + [
    "atrial fibrillation", "pacemaker", "heart block", "AV block", "sick sinus", "pauses", "loose lead", "artefact",
    "palpitations", "dizzy", "methyldopa", "propranolol", "procainamide", "quinidine", "digoxin", "Aldomet", "Inderal",
    "Pronestyl"]


@pytest.fixture(scope="module")
def notes():
    return {p.parent.name: p.read_text(encoding="utf-8").strip() for p in sorted(config.EXAMPLES_DIR.glob("*/note.txt"))}


@pytest.mark.slow
def test_fact_words_get_more_attention_and_attribution_than_filler(notes, text_encoder, v2_bundle):
    att, ig = [], []
    for note in notes.values():
        a = note_attention(note, text_encoder)
        att.append((a["normalised"].to_numpy(), fact_word_mask(a["word"], LEXICON)))
        g = fact_gradients(note, v2_bundle.recognizer, text_encoder, text_encoder.embed_cached, v2_bundle.config.fact_tau)
        ig.append((g["total"].to_numpy(), fact_word_mask(g["word"], LEXICON)))
    ratio = {name: word_ratio(np.concatenate([s for s, _ in rows]), np.concatenate([m for _, m in rows]))
             for name, rows in (("attention", att), ("integrated gradients", ig))}
    print("fact-word / filler-word ratio:", ratio)
    assert ratio["attention"] > 1.5 and ratio["integrated gradients"] > 1.5, ratio
