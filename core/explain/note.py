"""Note attributions: last-layer BERT attention from [CLS] averaged over heads (seed 000, table 5), and
Integrated Gradients (Sundararajan et al. 2017) on the BERT embedding layer against a [PAD] baseline for
the fused head's record probability; word pieces are merged back to words with character offsets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from core.explain.head import _build_head, _note_part, _scaled
from core.model.inference import feature_matrix
from core.text.encoder import MAX_NOTE_TOKENS


# ---- notes: attention and integrated gradients ---------------------------------------------------
_WORD_COLUMNS = ["word", "start", "end", "n_pieces"]


def _encode(note: str, text_encoder):
    enc = text_encoder.tokenizer(note, truncation=True, max_length=MAX_NOTE_TOKENS, return_offsets_mapping=True,
                                 return_tensors="pt")
    n_full = len(text_encoder.tokenizer(note, add_special_tokens=True, truncation=False)["input_ids"])
    return enc, n_full > MAX_NOTE_TOKENS


def _merge_words(note: str, enc, scores: dict[str, np.ndarray], drop_punctuation: bool) -> pd.DataFrame:
    """Sum token scores over the word pieces of each word (fast tokenizer ``word_ids``); drop special tokens."""
    word_ids = enc.word_ids(0)
    offsets = enc["offset_mapping"][0].tolist()
    groups: dict[int, list[int]] = {}
    for t, w in enumerate(word_ids):
        if w is not None:  # None = [CLS] / [SEP]
            groups.setdefault(w, []).append(t)
    rows = []
    for w, toks in groups.items():
        start, end = min(offsets[t][0] for t in toks), max(offsets[t][1] for t in toks)
        word = note[start:end]
        if drop_punctuation and not any(ch.isalnum() for ch in word):
            continue
        row = {"word": word, "start": start, "end": end, "n_pieces": len(toks)}
        row.update({k: float(v[toks].sum()) for k, v in scores.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=_WORD_COLUMNS + list(scores))


def note_attention(note: str, text_encoder, drop_punctuation: bool = True) -> pd.DataFrame:
    """Attention paid to each word of a note (seed 000, table 5): last BERT layer, mean over heads.

    Columns: ``word, start, end`` (character offsets in ``note``), ``n_pieces``, ``raw`` (attention
    from [CLS], summed over the word's pieces), ``normalised`` (``raw`` / sum over words; sums to 1),
    ``mean_query`` and ``normalised_mean_query`` (attention received averaged over all query tokens,
    the reading that matches mean pooling). Special tokens and (by default) punctuation-only tokens are
    left out; only the first ``MAX_NOTE_TOKENS`` word pieces are read (``df.attrs['truncated']``).
    """
    note = note or ""
    if not note.strip():
        return pd.DataFrame(columns=_WORD_COLUMNS + ["raw", "normalised", "mean_query", "normalised_mean_query"])
    enc, truncated = _encode(note, text_encoder)
    with torch.no_grad():
        out = text_encoder.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_attentions=True)
    att = out.attentions[-1][0].mean(0).float().numpy()  # [T, T], rows = queries
    df = _merge_words(note, enc, {"raw": att[0], "mean_query": att.mean(0)}, drop_punctuation)
    for col in ("raw", "mean_query"):
        total = df[col].sum()
        df[f"normalised{'' if col == 'raw' else '_' + col}"] = df[col] / total if total > 0 else np.nan
    df = df[_WORD_COLUMNS + ["raw", "normalised", "mean_query", "normalised_mean_query"]]
    df.attrs.update(truncated=truncated, layer=len(out.attentions) - 1, pooling=text_encoder.pooling)
    return df


def _note_target(case, bundle, max_beats: int = 400):
    """f(BERT sentence vectors [B, d]) -> fused calibrated record probability [B].

    Record probability here = sigmoid(a * mean over beats of the lead-averaged fused logit + b); beats
    beyond ``max_beats`` are sampled (seeded) to bound the cost on long records.
    """
    n = len(case.beats)
    if n == 0:
        raise ValueError("The case has no beats, so the note's effect on the fused prediction cannot be measured.")
    idx = np.arange(n) if n <= max_beats else np.sort(np.random.default_rng(0).choice(n, max_beats, replace=False))
    head = _build_head(case, bundle, "fused", idx)
    model = bundle.model
    feats = _scaled(model, feature_matrix(case.beats.features.iloc[idx], bundle.config.features))
    fixed = head.ecg_pre + (feats @ head.w_feat.T)[:, None, :] + head.bias  # [n, L, H]

    def f(bert: torch.Tensor) -> torch.Tensor:
        note_pre = _note_part(model, bert) @ head.w_note.T  # [B, H]
        logits = head.logits(fixed[None] + note_pre[:, None, None, :])  # [B, n]
        return head.prob(logits.mean(1))

    return f


#: IG steps for the note (Gauss-Legendre nodes, as captum's default). Chosen by the completeness check
#: of :func:`ig_completeness` on the 7 bundled example notes (v1 bundle): the smallest count whose error
#: |sum of attributions - (f(x) - f(baseline))| is below ``IG_TOLERANCE`` on every note. Worst error
#: over the notes: 2 steps 6.1e-2, 8: 1.2e-2, 12: 1.3e-2, 16: 8.9e-3, 32: 4.1e-3 (the integrand is
#: not smooth, so it is not monotone); table in docs/bench_results.md.
NOTE_IG_STEPS = 16
#: Completeness tolerance in probability units (1 percentage point).
IG_TOLERANCE = 1e-2


def path_rule(n_steps: int, rule: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolation points ``alpha`` in (0, 1) and their quadrature weights (sum 1), ``[n_steps]`` each.

    'gausslegendre' (captum's default for IG) or 'midpoint' (Riemann midpoint sum)."""
    if rule == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n_steps)
        return torch.from_numpy(0.5 * (1 + x)), torch.from_numpy(0.5 * w)
    if rule == "midpoint":
        return (torch.arange(n_steps, dtype=torch.float64) + 0.5) / n_steps, torch.full((n_steps,), 1.0 / n_steps, dtype=torch.float64)
    raise ValueError(f"path_rule: unknown rule {rule!r}; use 'gausslegendre' or 'midpoint'.")


def integrate_path(run, x: torch.Tensor, base: torch.Tensor, n_steps: int, rule: str = "gausslegendre"):
    """Integrated Gradients (Sundararajan et al. 2017) of ``run`` along the straight path base -> x,
    all steps in ONE batched forward and backward.

    ``run(path [B, T, d]) -> outputs [B]`` or ``[B, K]`` (K targets share the forward; one backward
    each, graph retained). The batch also carries alpha = 1 and alpha = 0, so f(x) and f(base) come
    from the same forward. Returns ``(attr [K, T, d], f_x [K], f_base [K])`` (K = 1 for a 1-D output).
    """
    alphas, weights = path_rule(n_steps, rule)
    alphas = torch.cat([alphas, torch.tensor([1.0, 0.0], dtype=torch.float64)]).to(x.dtype)
    diff = (x - base).detach()
    path = (base.detach() + alphas[:, None, None] * diff).requires_grad_(True)  # [n+2, T, d]
    with torch.enable_grad():
        out = run(path)
        out = out[:, None] if out.ndim == 1 else out
        attrs = []
        for k in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:n_steps, k].sum(), path, retain_graph=k + 1 < out.shape[1])
            attrs.append(diff * torch.einsum("s,std->td", weights.to(g.dtype), g[:n_steps]).to(diff.dtype))
    out = out.detach()
    return torch.stack(attrs), out[n_steps], out[n_steps + 1]


def note_gradients(note: str, case, bundle, text_encoder, n_steps: int = NOTE_IG_STEPS, drop_punctuation: bool = True) -> pd.DataFrame:
    """Integrated Gradients (Sundararajan et al. 2017) of the fused record probability over the note's words.

    Target: the fused head's calibrated probability of the mean fused logit over the case's beats,
    with the ECG and features of the case fixed. Attributions are taken at the output of BERT's
    embedding layer (as captum's ``LayerIntegratedGradients`` on ``bert.embeddings``, Gauss-Legendre
    steps) against a baseline where every word piece is [PAD] ([CLS]/[SEP] kept), summed over the
    embedding dimension and over each word's pieces. All steps go through BERT as one batch.
    Columns: ``word, start, end, n_pieces, attribution`` (probability units; over all tokens they sum
    to p(note) - p(baseline)), ``normalised`` (|attribution| / sum, sums to 1), ``sign`` (+1 / -1 / 0).
    ``df.attrs``: ``p`` , ``p_baseline``, ``convergence_delta``, ``truncated``, ``n_steps``.
    """
    cols = _WORD_COLUMNS + ["attribution", "normalised", "sign"]
    note = note or ""
    if not note.strip():
        return pd.DataFrame(columns=cols)
    enc, truncated = _encode(note, text_encoder)
    target = _note_target(case, bundle)
    bert = text_encoder.model
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = torch.tensor([w is None for w in enc.word_ids(0)])[None]
    baseline = torch.where(special, ids, torch.full_like(ids, text_encoder.tokenizer.pad_token_id))
    with torch.no_grad():
        e_x, e_b = bert.embeddings(input_ids=ids)[0], bert.embeddings(input_ids=baseline)[0]

    def run(path: torch.Tensor) -> torch.Tensor:
        m = mask.expand(len(path), -1)
        # The embedding layer's output is replaced by the path point (what LayerIntegratedGradients does).
        hook = bert.embeddings.register_forward_hook(lambda _mod, _inp, _out: path)
        try:
            hidden = bert(input_ids=ids.expand(len(path), -1), attention_mask=m).last_hidden_state
        finally:
            hook.remove()
        return target(text_encoder.pool(hidden, m))

    attr, fx, fb = integrate_path(run, e_x, e_b, n_steps)
    tok = attr[0].sum(-1).detach().double().numpy()
    p, p0 = float(fx[0]), float(fb[0])
    df = _merge_words(note, enc, {"attribution": tok}, drop_punctuation)
    total = df["attribution"].abs().sum()
    df["normalised"] = df["attribution"].abs() / total if total > 0 else np.nan
    df["sign"] = np.sign(df["attribution"]).astype(int)
    df.attrs.update(p=p, p_baseline=p0, convergence_delta=float(tok.sum() - (p - p0)), sum_all_tokens=float(tok.sum()),
                    truncated=truncated, n_steps=n_steps,
                    target="fused record probability (calibrated mean fused logit over beats)")
    return df[cols]


def attention_vs_gradient(att: pd.DataFrame, grad: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Attention and IG score of each word side by side; ``agree`` when the word is in both top-k.

    Both frames must come from the same note (words are matched on their character offsets).
    Columns: ``word, start, end, attention, gradient, sign, attention_rank, gradient_rank, agree``.
    """
    a = att[["word", "start", "end", "normalised"]].rename(columns={"normalised": "attention"})
    g = grad[["start", "end", "normalised", "sign"]].rename(columns={"normalised": "gradient"})
    df = a.merge(g, on=["start", "end"], how="outer").sort_values("start", kind="stable").reset_index(drop=True)
    df["attention_rank"] = df["attention"].rank(ascending=False, method="first")
    df["gradient_rank"] = df["gradient"].rank(ascending=False, method="first")
    df["agree"] = (df["attention_rank"] <= k) & (df["gradient_rank"] <= k)
    return df


def ig_completeness(note: str, case, bundle, text_encoder, steps=(2, 4, 6, 8, 12, 16, 32)) -> pd.DataFrame:
    """Completeness error of :func:`note_gradients` per step count (Sundararajan et al. 2017, axiom 'completeness').

    Columns: ``n_steps``, ``error`` = |sum of token attributions - (f(x) - f(baseline))| (probability
    units), ``f_x_minus_f_base``. Used to choose ``NOTE_IG_STEPS`` (smallest count under ``IG_TOLERANCE``).
    """
    rows = []
    for n in steps:
        a = note_gradients(note, case, bundle, text_encoder, n_steps=n).attrs
        rows.append({"n_steps": n, "error": abs(a["convergence_delta"]), "f_x_minus_f_base": a["p"] - a["p_baseline"]})
    return pd.DataFrame(rows)
