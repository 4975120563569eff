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

__all__ = ["clause_spans", "fact_word_mask", "fact_gradients", "word_ratio"]


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


def _ig_clause(clause: str, fact_index: int, rec: FactRecognizer, encoder, n_steps: int) -> pd.DataFrame:
    tok = encoder.tokenizer(clause, return_offsets_mapping=True, return_tensors="pt", truncation=True, max_length=256)
    ids, mask = tok["input_ids"], tok["attention_mask"]
    emb_layer = encoder.model.embeddings.word_embeddings
    x = emb_layer(ids).detach()
    special = torch.tensor([w is None for w in tok.word_ids(0)])[None, :, None]
    base = torch.where(special, x, emb_layer.weight[encoder.tokenizer.pad_token_id].detach().expand_as(x))
    alphas = (torch.arange(n_steps, dtype=x.dtype) + 0.5) / n_steps  # midpoint Riemann sum
    path = (base + alphas[:, None, None] * (x - base)).requires_grad_(True)
    with torch.enable_grad():
        hidden = encoder.model(inputs_embeds=path, attention_mask=mask.expand(n_steps, -1)).last_hidden_state
        p = rec.torch_stated(encoder.pool(hidden, mask.expand(n_steps, -1)).double())[:, fact_index]
        (grad,) = torch.autograd.grad(p.sum(), path)
    attr = ((x - base) * grad.mean(0, keepdim=True)).sum(-1)[0].detach().numpy()
    rows, offs = {}, tok["offset_mapping"][0].tolist()
    for t, w in enumerate(tok.word_ids(0)):
        if w is not None:
            r = rows.setdefault(w, [offs[t][0], offs[t][1], 0.0])
            r[1], r[2] = offs[t][1], r[2] + attr[t]
    return pd.DataFrame([{"start": s, "end": e, "word": clause[s:e], "attribution": a} for s, e, a in rows.values()])


def fact_gradients(note: str, rec: FactRecognizer, encoder, embed, threshold: float = 0.5, n_steps: int = 24) -> pd.DataFrame:
    """IG attribution of every recognised fact (note-level p >= ``threshold``) over the note's words.

    Columns: ``word, start, end`` (offsets in ``note``), ``clause`` (index), one column per recognised
    fact (attribution in probability units; sums over a clause's words to about p(clause) - p(baseline)),
    and ``total`` (sum of |attribution| over facts). Words of non-argmax clauses get 0.
    """
    res = rec.note_facts(note, embed)
    spans = clause_spans(note)
    frames = []
    for ci, (s, e) in enumerate(spans):
        frames.append(_ig_clause(note[s:e], 0, rec, encoder, 1).assign(clause=ci, start=lambda d, s=s: d.start + s,
                                                                     end=lambda d, s=s: d.end + s)[["word", "start", "end", "clause"]])
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["word", "start", "end", "clause"])
    df["total"] = 0.0
    for f, p in res["stated"].items():
        if p < threshold:
            continue
        ci, k = res["argmax_clause"][f], rec.facts.index(f)
        s, e = spans[ci]
        a = _ig_clause(note[s:e], k, rec, encoder, n_steps)
        col = np.zeros(len(df))
        col[np.flatnonzero(df["clause"].to_numpy() == ci)] = a["attribution"].to_numpy()
        df[f] = col
        df["total"] += np.abs(col)
    df = df[df["word"].str.contains(r"[A-Za-z0-9]", regex=True)].reset_index(drop=True)
    return df


def word_ratio(scores: np.ndarray, is_fact: np.ndarray) -> float:
    """Mean score of fact words / mean score of filler words (NaN when either group is empty)."""
    scores, is_fact = np.asarray(scores, float), np.asarray(is_fact, bool)
    if not is_fact.any() or is_fact.all():
        return float("nan")
    filler = scores[~is_fact].mean()
    return float(scores[is_fact].mean() / filler) if filler > 0 else float("inf")
