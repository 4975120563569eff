"""Zero-shot beat classification from text prompts in the shared ECG-text space.

A label is scored without a classifier trained on it: each prompt goes through the frozen BERT and the
model's text projection, a beat's ECG embedding is compared with the label's text embedding by cosine
similarity, and a softmax over labels (scaled by the model's zero-shot temperature) turns similarities
into probabilities, as in CLIP (Radford et al. 2021) and MERL (Liu et al. 2024, seed 002).

Prompts of one label are combined by *prompt ensembling* (CLIP): their unit text embeddings are
averaged and the mean re-normalised (``ensemble='mean'``, the default). ``ensemble='max'`` is the
FG-CLEP ensemble inference (seed 003): a label's similarity is the highest over its prompts.

*Normal gate* (generalised zero-shot with a seen-class detector, after Socher et al. 2013): when the prompt
table has a normal label (``NORMAL_LABELS``) and the beats' calibrated ECG-only abnormal probability is
given, the similarity softmax is multiplied by that trained detector's normal-vs-abnormal opinion (a product
of experts, Hinton 2002) and re-normalised. Normal is a class the model was trained on; which abnormal type a
beat is (V and F were never trained in the zero-shot bundle) still comes from the prompts only: the detector's
factor is the same for every non-normal label, so the V-vs-S ratio P(V) / (P(V) + P(S)) is the same with and
without the gate. ``gate=False`` gives the plain similarity softmax of CLIP and seed 001.

Example
-------
>>> prompts = load_prompts("assets/prompts/bank.csv")
>>> res = score_case(case, prompts, bundle, text_encoder)      # case from core.predict.analyse_case
>>> res.record_probs.sort_values(ascending=False).head(3)
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


__all__ = [
    "PromptError",
    "ZeroShotResult",
    "load_prompts",
    "prompt_vectors",
    "zero_shot_logits",
    "label_probs",
    "score_beats",
    "score_case",
    "score_embeddings",
    "gate_normal",
    "NORMAL_LABELS",
]

#: Ways to combine the prompts of one label (see module docstring).
ENSEMBLES = ("mean", "max")
#: Prompt labels that mean "normal beat" to the normal gate (compared without case).
NORMAL_LABELS = ("n", "normal")


class PromptError(ValueError):
    """A prompt file or table that cannot be used; the message says what to fix."""


# ---- prompts -------------------------------------------------------------------------------------
def load_prompts(path_or_df) -> pd.DataFrame:
    """Read and check a prompt table: columns ``label, prompt`` (``kind``, ``source`` optional).

    ``path_or_df`` is a CSV path, a file-like object or bytes (an upload), or a DataFrame. Labels and
    prompts are stripped; rows with an empty label or prompt are dropped. Raises ``PromptError`` with a
    one-sentence message when the file is missing, empty, not UTF-8, lacks a column, names fewer
    than two labels (a softmax over one label is always 1), has labels that differ only in case
    (``N`` and ``n`` would be scored as two classes), or a label starting with ``=``, ``+`` or ``@``
    (``FORMULA_STARTS``: a spreadsheet would run that column name of the output CSV as a formula).
    """
    if isinstance(path_or_df, pd.DataFrame):
        df, where = path_or_df.copy(), "The prompt table"
    else:
        df, where = _read_prompt_csv(path_or_df)
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("label", "prompt") if c not in df.columns]
    if missing:
        raise PromptError(
            f"{where} has no {' or '.join(repr(c) for c in missing)} column (found: {', '.join(map(str, df.columns)) or 'none'}); "
            "give a CSV with a header line 'label,prompt'."
        )
    for c in ("label", "prompt", "kind", "source"):
        if c in df.columns:
            df[c] = df[c].fillna("").astype(str).str.strip()
    df = df[(df["label"] != "") & (df["prompt"] != "")].reset_index(drop=True)
    if "kind" not in df.columns:
        df["kind"] = ""
    if "source" not in df.columns:
        df["source"] = ""
    labels = list(dict.fromkeys(df["label"]))
    if len(labels) < 2:
        found = f"only the label {labels[0]!r}" if labels else "no label with a non-empty prompt"
        raise PromptError(f"{where} has {found}; zero-shot needs prompts for at least two labels to compare.")
    _refuse_case_duplicates(labels, where)
    _refuse_formula_labels(labels, where)
    return df[["label", "prompt", "kind", "source"] + [c for c in df.columns if c not in ("label", "prompt", "kind", "source")]]


def _refuse_case_duplicates(labels: list[str], where: str) -> None:
    """Raise ``PromptError`` naming the labels that differ only in case (``N`` and ``n``): one class, not two."""
    groups: dict[str, list[str]] = {}
    for name in labels:
        groups.setdefault(name.casefold(), []).append(name)
    clashes = [g for g in groups.values() if len(g) > 1]
    if clashes:
        named = "; ".join(" and ".join(repr(x) for x in g) for g in clashes)
        raise PromptError(f"{where} has labels that differ only in case ({named}); "
                          "spell each label one way so that its prompts score one class.")


#: First characters that make a spreadsheet read a cell as a formula (CSV injection). A label becomes a column name
#: of the zero-shot CSV, which clinicians open in Excel ('-' too: ``-2+3`` is a formula; no class name needs it). Tab
#: and CR never survive the label's strip in ``load_prompts``; they are listed should that strip ever go.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _refuse_formula_labels(labels: list[str], where: str) -> None:
    """Raise ``PromptError`` naming the first label that a spreadsheet would run as a formula (``=cmd|...``)."""
    bad = [name for name in labels if name.startswith(FORMULA_STARTS)]
    if bad:
        raise PromptError(f"{where} has the label {bad[0]!r}, which starts with {bad[0][0]!r}: labels become column "
                          "names of the output CSV, and a spreadsheet would run it as a formula; rename that label.")


def _read_prompt_csv(src) -> tuple[pd.DataFrame, str]:
    if isinstance(src, (bytes, bytearray)):
        raw, where = bytes(src), "The prompt file"
    elif hasattr(src, "read"):
        raw = src.read()
        raw = raw.encode() if isinstance(raw, str) else raw
        where = f"The prompt file {getattr(src, 'name', '')}".rstrip()
    else:
        p = Path(src)
        where = f"The prompt file {p}"
        if not p.is_file():
            raise PromptError(f"{where} does not exist; give the path of a CSV with columns label,prompt.")
        raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PromptError(f"{where} is not UTF-8 text; save it as UTF-8 CSV and try again.") from None
    if not text.strip():
        raise PromptError(f"{where} is empty; it needs a header line 'label,prompt' and one row per prompt.")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise PromptError(f"{where} is not a readable CSV ({str(e).splitlines()[0]}); quote prompts that contain commas.") from None
    return df, where


def prompt_vectors(prompts: pd.DataFrame, bundle, text_encoder) -> np.ndarray:
    """Unit shared-space vectors ``[n_prompts, proj_dim]`` of each prompt row (BERT -> text projection)."""
    import torch  # here, not at import: checking a prompt file (``load_prompts``) should not wait for torch

    bert = text_encoder.embed_cached(list(prompts["prompt"]))
    with torch.no_grad():
        tz = bundle.model.encode_text(torch.from_numpy(bert.astype(np.float32)))
        tz = torch.nn.functional.normalize(tz, dim=-1)
    return tz.numpy().astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def zero_shot_logits(z: np.ndarray, prompt_z: np.ndarray, prompt_labels, labels: list[str], ensemble: str = "mean") -> np.ndarray:
    """Cosine similarity of each beat to each label ``[n, L]`` (before the temperature).

    ``ensemble='mean'``: against the re-normalised mean of the label's prompt vectors (CLIP);
    ``'max'``: the highest similarity over the label's prompts (FG-CLEP ensemble inference, seed 003).
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"Unknown prompt ensemble {ensemble!r}; use one of {', '.join(ENSEMBLES)}.")
    z = _unit(np.atleast_2d(z))
    lab = np.asarray(prompt_labels)
    if ensemble == "mean":
        return z @ _unit(np.stack([prompt_z[lab == name].mean(0) for name in labels])).T
    cos = z @ _unit(prompt_z).T
    return np.stack([cos[:, lab == name].max(1) for name in labels], 1)


def label_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` over labels, ``[n_beats, L]``, each row sums to 1 (``T`` > 0)."""
    if temperature <= 0:
        raise ValueError(f"label_probs: temperature must be > 0, got {temperature}.")
    return _softmax(np.asarray(logits).astype(np.float64) / float(temperature))


def score_beats(z: np.ndarray, prompts: pd.DataFrame, bundle, text_encoder, ensemble: str = "mean") -> tuple[list[str], np.ndarray]:
    """The one zero-shot scoring path: labels and ``[n, L]`` probabilities of beat embeddings ``z``.

    Prompts -> unit text vectors (``prompt_vectors``) -> cosine to each beat, combined per label
    (``zero_shot_logits``) -> softmax at ``bundle.config.zeroshot_temperature`` (``label_probs``).
    """
    labels = list(dict.fromkeys(prompts["label"]))
    if not len(z):
        return labels, np.zeros((0, len(labels)))
    pz = prompt_vectors(prompts, bundle, text_encoder)
    logits = zero_shot_logits(z, pz, prompts["label"].to_numpy(), labels, ensemble)
    return labels, label_probs(logits, float(bundle.config.zeroshot_temperature))


def gate_threshold(bundle) -> float:
    """Calibrated ECG-only probability at which the normal gate is even: ``config.zeroshot_gate`` (chosen on
    record-grouped OOF training predictions), else the bundle's beat threshold ``thresholds['ecg']``."""
    c = bundle.config
    return float(c.zeroshot_gate if c.zeroshot_gate is not None else c.thresholds["ecg"])


def gate_normal(probs: np.ndarray, labels: list[str], p_abnormal: np.ndarray, threshold: float) -> np.ndarray:
    """Product of experts (Hinton 2002) of the similarity softmax ``probs`` ``[n, L]`` and the trained detector:
    P(label) is proportional to probs(label) * (1 - g) for the normal label and probs(label) * g / (L - 1) for
    every other label, g = the calibrated ECG-only abnormal probability ``p_abnormal`` moved in log-odds so that
    g = 0.5 at ``threshold``. The detector's factor is the same for every non-normal label, so the ratios among
    them (which abnormal type) stay the prompts' alone. Rows sum to 1; ``probs`` is returned unchanged when no
    label is a normal label (``NORMAL_LABELS``).
    """
    probs = np.asarray(probs, np.float64)
    normal = [j for j, name in enumerate(labels) if str(name).strip().lower() in NORMAL_LABELS]
    if not normal or len(labels) < 2 or not len(probs):
        return probs
    logit = lambda x: np.log(x) - np.log1p(-x)  # noqa: E731
    eps = 1e-6
    p = np.clip(np.asarray(p_abnormal, np.float64), eps, 1 - eps)
    g = 1.0 / (1.0 + np.exp(-(logit(p) - logit(float(np.clip(threshold, eps, 1 - eps))))))
    n_other = max(len(labels) - len(normal), 1)
    factor = np.repeat((g / n_other)[:, None], len(labels), 1)
    factor[:, normal] = (1.0 - g)[:, None] / len(normal)
    out = probs * factor
    total = out.sum(1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1.0 / len(labels)), where=total > 0)


# ---- one case ------------------------------------------------------------------------------------
@dataclass
class ZeroShotResult:
    """Zero-shot scores of one case.

    ``beat_probs``: one row per beat, ``sample`` (at the record's fs), ``time_s`` (s) and one column
    per label (rows sum to 1). ``record_probs``: mean over beats per label. ``top_k``: one row per
    beat, ``sample, time_s, label_1, p_1, ..., label_k, p_k`` (most probable first).
    """

    labels: list[str]
    beat_probs: pd.DataFrame
    record_probs: pd.Series
    top_k: pd.DataFrame
    temperature: float
    ensemble: str = "mean"
    #: whether the trained detector's normal-vs-abnormal opinion weighed in (``gate_normal``), not the prompts alone
    gated: bool = False


def _top_k_columns(probs: np.ndarray, labels: list[str], top_k: int) -> dict[str, np.ndarray]:
    """``label_1, p_1, ..., label_k, p_k`` per row of ``probs`` ``[n, L]``, most probable first (``k <= L``)."""
    k = max(1, min(int(top_k), len(labels)))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    lab_arr = np.array(labels, dtype=object)
    cols: dict[str, np.ndarray] = {}
    for r in range(k):
        cols[f"label_{r + 1}"] = lab_arr[order[:, r]] if len(probs) else np.array([], dtype=object)
        cols[f"p_{r + 1}"] = np.take_along_axis(probs, order[:, r : r + 1], 1)[:, 0] if len(probs) else np.array([], float)
    return cols


def score_embeddings(z: np.ndarray, samples, times, prompts: pd.DataFrame, bundle, text_encoder, top_k: int = 3,
                     ensemble: str = "mean", p_abnormal: np.ndarray | None = None) -> ZeroShotResult:
    """``score_case`` on raw beat embeddings ``z`` ``[n, proj_dim]`` with their samples and times (s); with
    ``p_abnormal`` (calibrated ECG-only, per beat) the detector weighs in (``gate_normal``)."""
    labels, probs = score_beats(z, prompts, bundle, text_encoder, ensemble)
    gated = p_abnormal is not None and any(str(c).strip().lower() in NORMAL_LABELS for c in labels)
    if gated and len(probs):
        probs = gate_normal(probs, labels, p_abnormal, gate_threshold(bundle))
    temperature = float(bundle.config.zeroshot_temperature)
    n = len(z)
    when = {"sample": np.asarray(samples, np.int64), "time_s": np.asarray(times, float)}
    # every column at once: inserting one column per label fragments the frame (pandas PerformanceWarning)
    beat = pd.DataFrame({**when, **{name: probs[:, j] for j, name in enumerate(labels)}})
    record = pd.Series(probs.mean(0) if n else np.full(len(labels), np.nan), index=labels, name="p")
    top = pd.DataFrame({**when, **_top_k_columns(probs, labels, top_k)})
    return ZeroShotResult(labels=labels, beat_probs=beat, record_probs=record, top_k=top, temperature=temperature,
                          ensemble=ensemble, gated=gated)


def score_case(case, prompts: pd.DataFrame, bundle, text_encoder, top_k: int = 3, ensemble: str = "mean",
               gate: bool = True) -> ZeroShotResult:
    """Zero-shot probabilities of every beat of ``case`` (``core.predict.CaseResult``) for the prompt labels.

    Temperature: ``bundle.config.zeroshot_temperature``. ``gate``: the softmax also weighs the case's ECG-only
    abnormal probability (``p_ecg``, computed by ``bundle``), see ``gate_normal``. See ``ZeroShotResult``.
    """
    p = case.table["p_ecg"].to_numpy(float) if gate and "p_ecg" in case.table else None
    return score_embeddings(case.z, case.beats.rpeaks, case.beats.time_s, prompts, bundle, text_encoder, top_k,
                            ensemble, p_abnormal=p)
