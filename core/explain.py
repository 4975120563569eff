"""Why the model said what it said: feature attributions, note attributions, saliency, similar beats.

Everything here returns plain data (DataFrames, arrays, small dataclasses); drawing is the pages' job.

- ``shap_features``: exact Shapley values (Shapley 1953; interventional SHAP, Lundberg & Lee 2017) of
  the shown probability of one beat over the clinical features, by enumeration of all 2^F coalitions
  against a background of training beats; the waveform embedding and the note are held fixed.
- ``note_attention``: last-layer BERT attention averaged over heads, from [CLS] (seed 000, table 5),
  merged back from word pieces to words with character offsets.
- ``note_gradients``: Integrated Gradients (Sundararajan et al. 2017) on the BERT embedding layer
  against a [PAD] baseline, for the fused head's record probability.
- ``beat_saliency``: Integrated Gradients of the shown head's logit over the primary-lead window.
- ``similar_cases``: nearest training beats / records in the shared 128-d space (cosine distance).
- ``deletion_test`` / ``note_deletion_test``: faithfulness checks (delete the top attributed inputs,
  compare with deleting random ones; Samek et al. 2017).

The shown probability of a beat is ``sigmoid(a * mean_over_leads(head logit) + b)`` with the head of
``case.view`` ('fused' with a note, else 'ecg') and its Platt calibration ``(a, b)`` from the bundle;
this module rebuilds it from the head's first linear layer so that thousands of feature coalitions
cost one small matrix product.
"""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core import config
from core.features import FEATURE_UNITS
from core.models import feature_matrix
from core.text import MAX_NOTE_TOKENS

__all__ = [
    "ExplainAssets",
    "FeatureExplanation",
    "RecordExplanation",
    "explain_assets",
    "load_explain_assets",
    "shap_features",
    "shap_record",
    "note_attention",
    "note_gradients",
    "attention_vs_gradient",
    "beat_saliency",
    "similar_cases",
    "deletion_test",
    "note_deletion_test",
]

#: Exact enumeration costs 2^F model calls per background row; above this many features it is refused.
MAX_EXACT_FEATURES = 16
#: Coalitions evaluated per chunk in ``shap_features`` (bounds memory: chunk x background x leads x hidden).
_COALITION_CHUNK = 256


@contextlib.contextmanager
def _one_thread():
    """Run many tiny tensor ops on one intra-op thread: with 2 threads each op waits for both to be
    scheduled, which on a busy 2-core machine made SHAP ~10x slower (1.3 s vs 0.1-0.2 s per beat)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# ---- assets shipped with a bundle ----------------------------------------------------------------
@dataclass(frozen=True)
class ExplainAssets:
    """``explain_assets.npz`` of a bundle: SHAP background and the similar-beat index (training beats)."""

    background_features: np.ndarray  # [B, F] raw feature units
    index_z: np.ndarray  # [m, 128] unit float32
    index_record: np.ndarray  # [m] str
    index_sample: np.ndarray  # [m] int, at the record's fs
    index_symbol: np.ndarray  # [m] MIT-BIH beat symbol
    index_window: np.ndarray  # [m, 360] primary-lead window (record-normalised)

    @property
    def index_aami(self) -> np.ndarray:
        return np.array([config.AAMI_CLASS.get(s, "") for s in self.index_symbol], dtype=object)


@functools.lru_cache(maxsize=8)
def load_explain_assets(path: str) -> ExplainAssets:
    """Read ``<bundle>/explain_assets.npz`` once per bundle folder (cached on the path string)."""
    f = Path(path) / "explain_assets.npz"
    with np.load(f, allow_pickle=False) as d:
        z = d["index_z"].astype(np.float32)
        z /= np.clip(np.linalg.norm(z, axis=1, keepdims=True), 1e-12, None)
        return ExplainAssets(
            background_features=d["background_features"].astype(np.float32),
            index_z=z,
            index_record=d["index_record"].astype(str),
            index_sample=d["index_sample"].astype(np.int64),
            index_symbol=d["index_symbol"].astype(str),
            index_window=d["index_window"].astype(np.float32),
        )


def explain_assets(bundle) -> ExplainAssets | None:
    """The bundle's explanation assets, or None when the bundle has none (e.g. built in memory)."""
    if bundle.path is None or not (Path(bundle.path) / "explain_assets.npz").is_file():
        return None
    return load_explain_assets(str(Path(bundle.path).resolve()))


def _require_assets(bundle, what: str) -> ExplainAssets:
    assets = explain_assets(bundle)
    if assets is None:
        raise FileNotFoundError(
            f"The model bundle at {bundle.path} has no explain_assets.npz, which {what} needs; retrain it with core.train to write one."
        )
    return assets


# ---- the shown head, rebuilt from its first linear layer -----------------------------------------
@dataclass
class _Head:
    """One classifier head split at its first linear layer: pre-activation = ecg + note + features + bias."""

    view: str
    rest: torch.nn.Module  # the head after its first linear layer
    w_ecg: torch.Tensor  # [H, d_ecg]
    w_note: torch.Tensor | None  # [H, d_note] (fused head only)
    w_feat: torch.Tensor  # [H, F]
    bias: torch.Tensor  # [H]
    ecg_pre: torch.Tensor  # [n_beats, L, H] ECG-part contribution per lead
    note_pre: torch.Tensor  # [H] note contribution (zeros for the ECG head or without a note)
    calib: tuple[float, float]

    def logits(self, pre: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``[..., L, H]`` -> lead-averaged logits ``[...]``."""
        return self.rest(pre).squeeze(-1).mean(-1)

    def prob(self, logits: torch.Tensor) -> torch.Tensor:
        a, b = self.calib
        return torch.sigmoid(a * logits + b)


def _ecg_parts(model, windows: np.ndarray) -> torch.Tensor:
    """ECG part of the head input per beat and lead ``[n, L, d]`` (shared-space z, or the raw embedding)."""
    n, n_leads = windows.shape[:2]
    with torch.no_grad():
        emb, z = model.encode_ecg(torch.from_numpy(np.ascontiguousarray(windows, np.float32)).reshape(n * n_leads, -1))
        part = model._ecg_part(emb, z)
    return part.reshape(n, n_leads, -1)


def _note_part(model, bert: torch.Tensor) -> torch.Tensor:
    return model._note_part(bert, model.encode_text(bert))


def _build_head(case, bundle, view: str, beat_idx: np.ndarray) -> _Head:
    model = bundle.model
    model.eval()
    head = model.head_fused if view == "fused" else model.head_ecg
    first = head[0]
    if not isinstance(first, torch.nn.Linear):
        raise TypeError("core.explain expects each classifier head to start with a linear layer (see core.models._head).")
    n_f = len(bundle.config.features)
    ecg = _ecg_parts(model, case.beats.windows[beat_idx])
    d_e = ecg.shape[-1]
    w = first.weight.detach()
    with torch.no_grad():
        ecg_pre = ecg @ w[:, :d_e].T
        w_note = None
        note_pre = torch.zeros(w.shape[0])
        if view == "fused":
            w_note = w[:, d_e : w.shape[1] - n_f]
            if case.note is not None and case.note.vector is not None:
                note_pre = _note_part(model, torch.from_numpy(np.asarray(case.note.vector, np.float32))[None])[0] @ w_note.T
    calib = tuple(float(v) for v in bundle.config.calibration.get(view, [1.0, 0.0]))
    return _Head(view=view, rest=head[1:], w_ecg=w[:, :d_e], w_note=w_note, w_feat=w[:, w.shape[1] - n_f :], bias=first.bias.detach(),
                 ecg_pre=ecg_pre, note_pre=note_pre, calib=calib)


def _scaled(model, raw: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.scale_features(torch.from_numpy(np.asarray(raw, np.float32)))


def _check_beat(case, beat_index: int) -> int:
    n = len(case.beats)
    if not -n <= int(beat_index) < n:
        raise IndexError(f"Beat {beat_index} does not exist: this case has {n} beats (0 to {n - 1}).")
    return int(beat_index) % n


def _background(bundle, background: np.ndarray | None) -> np.ndarray:
    if background is not None:
        return np.atleast_2d(np.asarray(background, np.float32))
    assets = explain_assets(bundle)
    if assets is not None:
        return assets.background_features
    # No training sample shipped: explain against the training median beat (the imputation values).
    return np.asarray(bundle.config.feature_fill or [0.0] * len(bundle.config.features), np.float32)[None]


# ---- SHAP over clinical features -----------------------------------------------------------------
@dataclass
class FeatureExplanation:
    """Shapley values of one beat's shown probability over the clinical features (probability units).

    ``base_value + values.sum() == prediction``; ``data`` are the beat's raw feature values (NaN = not
    measured, the model then uses the training median), ``units`` their units.
    """

    feature_names: list[str]
    values: np.ndarray
    base_value: float
    prediction: float
    data: np.ndarray
    units: list[str]
    beat_index: int = -1
    view: str = "ecg"

    def to_frame(self) -> pd.DataFrame:
        """``feature, value, unit, shap`` sorted by ``|shap|`` (largest first)."""
        df = pd.DataFrame({"feature": self.feature_names, "value": self.data, "unit": self.units, "shap": self.values})
        return df.reindex(df["shap"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def _coalition_masks(n_f: int) -> np.ndarray:
    """All 2^F coalitions as a bool matrix; row s has feature j on iff bit j of s is set."""
    s = np.arange(2**n_f, dtype=np.int64)
    return ((s[:, None] >> np.arange(n_f)) & 1).astype(bool)


def _shapley_from_values(v: np.ndarray, n_f: int) -> np.ndarray:
    """Exact Shapley values from the value of every coalition ``v[2^F]`` (bit-indexed)."""
    s = np.arange(2**n_f, dtype=np.int64)
    size = np.array([bin(i).count("1") for i in range(2**n_f)])
    weight = np.array([math.factorial(k) * math.factorial(n_f - k - 1) / math.factorial(n_f) for k in range(n_f)])
    phi = np.zeros(n_f)
    for j in range(n_f):
        without = s[(s >> j) & 1 == 0]
        phi[j] = np.sum(weight[size[without]] * (v[without | (1 << j)] - v[without]))
    return phi


def _coalition_values(head: _Head, row: int, s_x: torch.Tensor, s_bg: torch.Tensor, masks: np.ndarray) -> np.ndarray:
    """Mean shown probability over the background for every coalition (features on = the beat's)."""
    base = head.ecg_pre[row] + head.note_pre + head.bias  # [L, H]
    out = np.empty(len(masks))
    m_all = torch.from_numpy(masks)
    with torch.no_grad():
        for i in range(0, len(masks), _COALITION_CHUNK):
            m = m_all[i : i + _COALITION_CHUNK]  # [C, F]
            mixed = torch.where(m[:, None, :], s_x, s_bg[None])  # [C, B, F] scaled features
            pre = base + (mixed @ head.w_feat.T)[:, :, None, :]  # [C, B, L, H]
            out[i : i + len(m)] = head.prob(head.logits(pre)).double().mean(1).numpy()
    return out


def shap_features(case, bundle, beat_index: int, background: np.ndarray | None = None) -> FeatureExplanation:
    """Exact Shapley values of the probability shown for one beat, over the model's clinical features.

    The value of a coalition is the mean calibrated probability when the coalition's features take
    the beat's values and the others take each background row's (interventional SHAP, Lundberg & Lee
    2017), enumerated over all 2^F coalitions; the beat's waveform embedding and the note stay fixed.
    ``background``: rows of raw features; default the bundle's ``explain_assets.npz`` training rows
    (else the training medians). Returns values in probability units (0-1).
    """
    with _one_thread():
        return _shap_features(case, bundle, beat_index, background)


def _shap_features(case, bundle, beat_index: int, background: np.ndarray | None) -> FeatureExplanation:
    i = _check_beat(case, beat_index)
    model, names = bundle.model, list(bundle.config.features)
    n_f = len(names)
    if n_f > MAX_EXACT_FEATURES:
        raise ValueError(f"Exact Shapley values over {n_f} features are too costly; use at most {MAX_EXACT_FEATURES} features.")
    head = _build_head(case, bundle, case.view, np.array([i]))
    raw = feature_matrix(case.beats.features.iloc[[i]], names)[0]
    bg = _background(bundle, background)
    s_x, s_bg = _scaled(model, raw[None])[0], _scaled(model, bg)
    masks = _coalition_masks(n_f)
    v = _coalition_values(head, 0, s_x, s_bg, masks)
    phi = _shapley_from_values(v, n_f)
    return FeatureExplanation(
        feature_names=names, values=phi, base_value=float(v[0]), prediction=float(v[-1]), data=raw.astype(float),
        units=[FEATURE_UNITS.get(c, "") for c in names], beat_index=i, view=case.view,
    )


@dataclass
class RecordExplanation:
    """SHAP over several beats of a case: ``summary`` (per feature) and the raw per-beat matrices."""

    summary: pd.DataFrame  # feature, unit, mean_abs_shap, mean_shap (sorted by mean_abs_shap)
    values: np.ndarray  # [n, F] SHAP (probability units)
    data: np.ndarray  # [n, F] raw feature values
    beat_index: np.ndarray  # [n] rows of case.table explained
    feature_names: list[str]
    base_value: float
    predictions: np.ndarray  # [n]


def _pick_beats(case, max_beats: int, seed: int = 0) -> np.ndarray:
    """All flagged beats first (most probable first), then a seeded sample of the others, up to ``max_beats``."""
    n = len(case.beats)
    p = case.table["p_abnormal"].to_numpy(float)
    flagged = np.flatnonzero(case.table["predicted"].to_numpy() == 1)
    flagged = flagged[np.argsort(-p[flagged], kind="stable")][:max_beats]
    rest = np.setdiff1d(np.arange(n), flagged)
    k = min(len(rest), max_beats - len(flagged))
    extra = np.sort(np.random.default_rng(seed).choice(rest, k, replace=False)) if k > 0 else np.array([], int)
    return np.concatenate([flagged, extra]).astype(int)


def shap_record(case, bundle, max_beats: int = 40, background: np.ndarray | None = None) -> RecordExplanation:
    """SHAP of up to ``max_beats`` beats (all flagged first, then a sample) for a bar / beeswarm summary."""
    names = list(bundle.config.features)
    idx = _pick_beats(case, max_beats)
    exps = [shap_features(case, bundle, int(i), background) for i in idx]
    vals = np.stack([e.values for e in exps]) if exps else np.zeros((0, len(names)))
    data = np.stack([e.data for e in exps]) if exps else np.zeros((0, len(names)))
    summary = pd.DataFrame({
        "feature": names, "unit": [FEATURE_UNITS.get(c, "") for c in names],
        "mean_abs_shap": np.abs(vals).mean(0) if len(vals) else np.nan, "mean_shap": vals.mean(0) if len(vals) else np.nan,
    }).sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    return RecordExplanation(summary=summary, values=vals, data=data, beat_index=idx, feature_names=names,
                             base_value=exps[0].base_value if exps else float("nan"),
                             predictions=np.array([e.prediction for e in exps]))


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


def note_gradients(note: str, case, bundle, text_encoder, n_steps: int = 16, drop_punctuation: bool = True) -> pd.DataFrame:
    """Integrated Gradients (Sundararajan et al. 2017) of the fused record probability over the note's words.

    Target: the fused head's calibrated probability of the mean fused logit over the case's beats,
    with the ECG and features of the case fixed. Attributions are taken at the output of BERT's
    embedding layer (captum ``LayerIntegratedGradients``) against a baseline where every word piece is
    [PAD] ([CLS]/[SEP] kept), summed over the embedding dimension and over each word's pieces.
    Columns: ``word, start, end, n_pieces, attribution`` (probability units; over all tokens they sum
    to p(note) - p(baseline)), ``normalised`` (|attribution| / sum, sums to 1), ``sign`` (+1 / -1 / 0).
    ``df.attrs``: ``p`` , ``p_baseline``, ``convergence_delta``, ``truncated``.
    """
    from captum.attr import LayerIntegratedGradients

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

    def forward(input_ids, attention_mask):
        hidden = bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return target(text_encoder.pool(hidden, attention_mask))

    with torch.enable_grad():
        lig = LayerIntegratedGradients(forward, bert.embeddings)
        attr, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=(mask,), n_steps=n_steps,
                                    internal_batch_size=min(n_steps, 64), return_convergence_delta=True)
    tok = attr.sum(-1)[0].detach().double().numpy()
    with torch.no_grad():
        p, p0 = forward(ids, mask).item(), forward(baseline, mask).item()
    df = _merge_words(note, enc, {"attribution": tok}, drop_punctuation)
    total = df["attribution"].abs().sum()
    df["normalised"] = df["attribution"].abs() / total if total > 0 else np.nan
    df["sign"] = np.sign(df["attribution"]).astype(int)
    df.attrs.update(p=p, p_baseline=p0, convergence_delta=float(delta.item()), sum_all_tokens=float(tok.sum()),
                    truncated=truncated, target="fused record probability (calibrated mean fused logit over beats)")
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


# ---- ECG waveform saliency -----------------------------------------------------------------------
def beat_saliency(case, bundle, beat_index: int, n_steps: int = 32) -> np.ndarray:
    """Integrated Gradients of the shown head's logit w.r.t. the primary-lead window ``[360]``.

    Baseline: a flat (all-zero) window; the other leads, the features and the note stay fixed, so the
    attributions sum to logit(beat) - logit(primary lead flat). Units: logit per sample (360 Hz).
    """
    from captum.attr import IntegratedGradients

    i = _check_beat(case, beat_index)
    model = bundle.model
    model.eval()
    win = case.beats.windows[i]  # [L, 360]
    head = _build_head(case, bundle, case.view, np.array([i]))
    feats = _scaled(model, feature_matrix(case.beats.features.iloc[[i]], bundle.config.features))[0]
    fixed_pre = head.note_pre + feats @ head.w_feat.T + head.bias  # [H]
    others = head.ecg_pre[0, 1:] + fixed_pre  # leads after the primary, held fixed [L-1, H]

    def forward(x):  # x [B, 360]
        emb, z = model.encode_ecg(x)
        pre0 = model._ecg_part(emb, z) @ head.w_ecg.T + fixed_pre  # [B, H]
        pre = torch.cat([pre0[:, None], others[None].expand(len(x), -1, -1)], 1)  # [B, L, H]
        return head.logits(pre)

    x = torch.from_numpy(np.ascontiguousarray(win[0], np.float32))[None]
    with torch.enable_grad(), _one_thread():
        attr = IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps)
    return attr[0].detach().numpy().astype(np.float32)


# ---- similar training beats ----------------------------------------------------------------------
def similar_cases(case, bundle, beat_index: int | None = None, k: int = 5) -> pd.DataFrame:
    """Nearest training beats (or records) in the shared space, by cosine distance (1 - cos).

    With ``beat_index``: the ``k`` nearest training beats, columns ``index`` (row of the bundle's
    index, for ``ExplainAssets.index_window``), ``record, sample, symbol, aami, distance``.
    With ``beat_index=None``: the query is the mean embedding of the case's flagged beats (all beats
    when none is flagged) and the ``k`` nearest training RECORDS are returned: ``record, distance``
    (nearest beat), ``sample, symbol`` (of that beat), ``dominant_class`` and ``class_share`` among the
    record's 10 nearest beats, ``n_index_beats``.
    """
    assets = _require_assets(bundle, "similar cases")
    if len(case.beats) == 0:
        raise ValueError("The case has no beats, so there is nothing to compare with training beats.")
    if beat_index is not None:
        q = case.z[_check_beat(case, beat_index)]
    else:
        flagged = case.table["predicted"].to_numpy() == 1
        q = case.z[flagged].mean(0) if flagged.any() else case.z.mean(0)
    q = np.asarray(q, np.float32) / max(float(np.linalg.norm(q)), 1e-12)
    dist = 1.0 - assets.index_z @ q
    aami = assets.index_aami
    if beat_index is not None:
        top = np.argsort(dist, kind="stable")[:k]
        return pd.DataFrame({"index": top, "record": assets.index_record[top], "sample": assets.index_sample[top],
                             "symbol": assets.index_symbol[top], "aami": aami[top], "distance": dist[top]})
    rows = []
    for rec in np.unique(assets.index_record):
        sel = np.flatnonzero(assets.index_record == rec)
        near = sel[np.argsort(dist[sel], kind="stable")[:10]]
        classes, counts = np.unique(aami[near], return_counts=True)
        rows.append({"record": rec, "distance": float(dist[near[0]]), "sample": int(assets.index_sample[near[0]]),
                     "symbol": assets.index_symbol[near[0]], "dominant_class": classes[np.argmax(counts)],
                     "class_share": float(counts.max() / len(near)), "n_index_beats": len(sel)})
    return pd.DataFrame(rows).sort_values("distance", kind="stable").head(k).reset_index(drop=True)


# ---- faithfulness --------------------------------------------------------------------------------
def deletion_test(case, bundle, k: int = 3, n_random: int = 20, seed: int = 0, max_beats: int = 40) -> dict:
    """Feature deletion test: set the top-k |SHAP| features of a beat to the background mean and measure
    |delta p| of the shown probability, against ``n_random`` draws of k random features.

    Over up to ``max_beats`` beats (flagged first, as ``shap_record``). A faithful explanation gives
    ``delta_top_k`` well above ``delta_random`` (ratio > 1).
    """
    n_f = len(bundle.config.features)
    k = max(1, min(int(k), n_f))
    bg = _background(bundle, None)
    with np.errstate(all="ignore"):
        fill = np.asarray(bundle.config.feature_fill or [0.0] * n_f, np.float32)
        bg_mean = np.where(np.isnan(np.nanmean(bg, 0)), fill, np.nanmean(bg, 0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    idx = _pick_beats(case, max_beats, seed)
    top_d, rnd_d = [], []
    with _one_thread():
        for i in idx:
            top, rnd = _deletion_one(case, bundle, int(i), k, n_random, bg_mean, rng)
            top_d.append(top)
            rnd_d.append(rnd)
    dt, dr = float(np.mean(top_d)) if top_d else float("nan"), float(np.mean(rnd_d)) if rnd_d else float("nan")
    return {"k": k, "n_beats": len(idx), "n_random": n_random, "delta_top_k": dt, "delta_random": dr,
            "ratio": dt / dr if dr > 0 else float("nan"), "view": case.view}


def _deletion_one(case, bundle, i: int, k: int, n_random: int, bg_mean: np.ndarray, rng) -> tuple[float, float]:
    """|delta p| of one beat when its top-k |SHAP| features, then k random ones, take the background mean."""
    model, n_f = bundle.model, len(bundle.config.features)
    exp = shap_features(case, bundle, i)
    head = _build_head(case, bundle, case.view, np.array([i]))
    base = head.ecg_pre[0] + head.note_pre + head.bias
    top = np.argsort(-np.abs(exp.values), kind="stable")[:k]
    rand = [rng.choice(n_f, k, replace=False) for _ in range(n_random)]
    rows = np.repeat(exp.data[None].astype(np.float32), 1 + n_random, 0)
    for r, cols in enumerate([top] + rand):
        rows[r, cols] = bg_mean[cols]
    with torch.no_grad():
        p = head.prob(head.logits(base + (_scaled(model, rows) @ head.w_feat.T)[:, None, :])).double().numpy()
    d = np.abs(p - exp.prediction)
    return float(d[0]), float(d[1:].mean()) if n_random else float("nan")


def _drop_words(note: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for s, e in sorted(spans):
        out.append(note[last:s])
        last = e
    out.append(note[last:])
    return " ".join("".join(out).split())


def note_deletion_test(note: str, case, bundle, text_encoder, k: int = 3, n_random: int = 10, seed: int = 0,
                       n_steps: int = 32) -> dict:
    """Delete the top-k attended words vs the top-k |IG| words (vs k random words) from the note and
    measure |delta p| of the fused record probability (the target of ``note_gradients``)."""
    att = note_attention(note, text_encoder)
    grad = note_gradients(note, case, bundle, text_encoder, n_steps=n_steps)
    if att.empty:
        raise ValueError("The note has no words to delete; give a non-empty note.")
    target = _note_target(case, bundle)
    k = max(1, min(int(k), len(att)))

    def p_of(text: str) -> float:
        with torch.no_grad():
            return float(target(torch.from_numpy(text_encoder.embed([text or "."]))).item())

    p_full = p_of(note)
    pick = {"attention": att.nlargest(k, "normalised"), "gradient": grad.nlargest(k, "normalised")}
    res: dict = {"k": k, "p_full": p_full}
    for name, sel in pick.items():
        p = p_of(_drop_words(note, list(zip(sel["start"], sel["end"]))))
        res[f"words_{name}"] = list(sel["word"])
        res[f"p_drop_{name}"] = p
        res[f"delta_{name}"] = abs(p - p_full)
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_random):
        rows = att.iloc[rng.choice(len(att), k, replace=False)]
        deltas.append(abs(p_of(_drop_words(note, list(zip(rows["start"], rows["end"])))) - p_full))
    res["delta_random"] = float(np.mean(deltas)) if deltas else float("nan")
    return res
