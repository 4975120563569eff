"""Which words drive the recognised facts: integrated gradients of the fact recognizer's p(stated)
w.r.t. the BERT input embeddings (Sundararajan et al. 2017), and a fact-word / filler-word ratio.

The encoder is duck-typed: ``tokenizer`` (fast, offsets), ``model`` (a BertModel with ``embeddings``
and ``inputs_embeds``), ``pool(hidden, mask)``. Each clause is attributed on its own (the recognizer
reads clauses); a fact's note-level probability is the max over clauses, so its attribution goes to
the argmax clause and every other clause gets exactly 0 for that fact.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

from core.text.recognizer import FactRecognizer, split_clauses

__all__ = ["FACT_IG_STEPS", "clause_spans", "fact_completeness", "fact_word_mask", "fact_gradients", "word_ratio"]


def clause_spans(note: str) -> list[tuple[int, int]]:
    """Character spans of ``split_clauses(note)`` in ``note``, in order."""
    spans, pos = [], 0
    for c in split_clauses(note):
        s = note.find(c, pos)
        spans.append((s, s + len(c)))
        pos = s + len(c)
    return spans


def fact_word_mask(words: Iterable[str], lexicon: Iterable[str]) -> np.ndarray:
    """True for words that belong to a fact term of ``lexicon`` (case-insensitive, word-level match)."""
    vocab = {w for term in lexicon for w in re.findall(r"[a-z0-9/:-]+", term.lower()) if len(w) > 1}
    vocab -= {"of", "the", "in", "on", "a", "an", "for", "from", "known", "with", "type", "ii", "1", "2", "0", "mg", "mcg"}
    return np.array([re.sub(r"[^a-z0-9/:-]", "", w.lower()) in vocab for w in words])


#: IG steps for the fact recognizer (midpoint rule), chosen by the completeness check of
#: :func:`fact_completeness` on the 7 bundled example notes (development v2 bundle): the smallest count
#: whose worst error over the recognised facts is below ``core.explain.note.IG_TOLERANCE`` (1e-2).
#: Worst error: 8 steps 1.7, 16: 0.38, 24 (the former default): 0.13, 32: 2.1e-2, 40: 8.0e-3,
#: 48: 3.6e-3, 64: 2.3e-4 (the recognizer's softmax makes p(stated) a steep function of alpha).
FACT_IG_STEPS = 40


def _clause_words(clause: str, encoder) -> tuple[dict, list[tuple[int, int, int]]]:
    """Tokenised clause and its words as ``(start, end, first token)`` rows (pieces merged, specials left out)."""
    tok = encoder.tokenizer(clause, return_offsets_mapping=True, return_tensors="pt", truncation=True, max_length=256)
    rows: dict[int, list[int]] = {}
    for t, (w, (s, e)) in enumerate(zip(tok.word_ids(0), tok["offset_mapping"][0].tolist())):
        if w is not None:
            r = rows.setdefault(w, [s, e])
            r[1] = e
    return tok, [tuple(r) for r in rows.values()]


def _ig_clause(clause: str, fact_indices: list[int], rec: FactRecognizer, encoder, n_steps: int):
    """IG of p(stated) of each fact in ``fact_indices`` over one clause's words: one batched forward
    through BERT for all steps and facts (one backward per fact).

    Returns ``(words [(start, end)], attributions [n_facts, n_words], completeness error [n_facts])``.
    """
    from core.explain.note import integrate_path

    tok, words = _clause_words(clause, encoder)
    ids, mask = tok["input_ids"], tok["attention_mask"]
    emb_layer = encoder.model.embeddings.word_embeddings
    with torch.no_grad():
        x = emb_layer(ids)[0]
        special = torch.tensor([w is None for w in tok.word_ids(0)])[:, None]
        base = torch.where(special, x, emb_layer.weight[encoder.tokenizer.pad_token_id].expand_as(x))

    def run(path: torch.Tensor) -> torch.Tensor:
        m = mask.expand(len(path), -1)
        hidden = encoder.model(inputs_embeds=path, attention_mask=m).last_hidden_state
        return rec.torch_stated(encoder.pool(hidden, m).double())[:, fact_indices]

    attr, fx, fb = integrate_path(run, x, base, n_steps, rule="midpoint")
    tok_attr = attr.sum(-1).double().numpy()  # [K, T]
    word_ids = tok.word_ids(0)
    out = np.zeros((len(fact_indices), len(words)))
    order = {w: i for i, w in enumerate(dict.fromkeys(w for w in word_ids if w is not None))}
    for t, w in enumerate(word_ids):
        if w is not None:
            out[:, order[w]] += tok_attr[:, t]
    err = np.abs(tok_attr.sum(1) - (fx - fb).double().numpy())
    return [(s, e) for s, e in words], out, err


def fact_gradients(note: str, rec: FactRecognizer, encoder, embed, threshold: float = 0.5,
                   n_steps: int = FACT_IG_STEPS) -> pd.DataFrame:
    """IG attribution of every recognised fact (note-level p >= ``threshold``) over the note's words.

    Columns: ``word, start, end`` (offsets in ``note``), ``clause`` (index), one column per recognised
    fact (attribution in probability units; sums over a clause's words to about p(clause) - p(baseline)),
    and ``total`` (sum of |attribution| over facts). Words of non-argmax clauses get 0.
    The facts whose argmax is the same clause share one batched BERT pass (all steps at once).
    ``df.attrs['completeness_error']``: {fact: |sum of attributions - (p(clause) - p(baseline))|}.
    """
    res = rec.note_facts(note, embed)
    spans = clause_spans(note)
    rows = []
    for ci, (s, e) in enumerate(spans):
        for ws, we in _clause_words(note[s:e], encoder)[1]:
            rows.append({"word": note[s + ws:s + we], "start": s + ws, "end": s + we, "clause": ci})
    df = pd.DataFrame(rows, columns=["word", "start", "end", "clause"])
    df["total"] = 0.0
    chosen = [f for f, p in res["stated"].items() if p >= threshold]
    by_clause: dict[int, list[str]] = {}
    for f in chosen:
        by_clause.setdefault(res["argmax_clause"][f], []).append(f)
    cols, errors = {}, {}
    for ci, facts in by_clause.items():
        s, e = spans[ci]
        _words, a, err = _ig_clause(note[s:e], [rec.facts.index(f) for f in facts], rec, encoder, n_steps)
        where = np.flatnonzero(df["clause"].to_numpy() == ci)
        for j, f in enumerate(facts):
            col = np.zeros(len(df))
            col[where] = a[j]
            cols[f], errors[f] = col, float(err[j])
    for f in chosen:  # columns in the recognizer's order of ``res['stated']``
        df[f] = cols[f]
        df["total"] += np.abs(cols[f])
    df = df[df["word"].str.contains(r"[A-Za-z0-9]", regex=True)].reset_index(drop=True)
    df.attrs["completeness_error"] = errors
    df.attrs["n_steps"] = n_steps
    return df


def fact_completeness(note: str, rec: FactRecognizer, encoder, embed, threshold: float = 0.5,
                      steps=(2, 4, 8, 12, 16, 24, 32)) -> pd.DataFrame:
    """Worst completeness error over the recognised facts of ``note`` per step count (probability units)."""
    out = []
    for n in steps:
        err = fact_gradients(note, rec, encoder, embed, threshold, n).attrs["completeness_error"]
        out.append({"n_steps": n, "error": max(err.values()) if err else 0.0, "n_facts": len(err)})
    return pd.DataFrame(out)


def word_ratio(scores: np.ndarray, is_fact: np.ndarray) -> float:
    """Mean score of fact words / mean score of filler words (NaN when either group is empty)."""
    scores, is_fact = np.asarray(scores, float), np.asarray(is_fact, bool)
    if not is_fact.any() or is_fact.all():
        return float("nan")
    filler = scores[~is_fact].mean()
    return float(scores[is_fact].mean() / filler) if filler > 0 else float("inf")
