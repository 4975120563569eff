"""Fact recognizer over a frozen sentence encoder: clause split -> pooled vector -> per-fact probes.

Each fact has a 3-class multinomial logistic probe (absent / stated / denied) on the standardised
pooled BERT vector of one clause (Alain & Bengio 2016, linear probes). The denied class lets
"no pacemaker" sit far from "pacemaker in situ" without firing the fact. Note-level probability of a
fact = max over the note's clauses of p(stated). The encoder is any ``embed(list[str]) ->
np.ndarray [n, d]``; the recognizer itself is a small npz (weights) + json (vocabulary, version).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["RECOGNIZER_VERSION", "FactRecognizer", "split_clauses", "labels_matrix", "fit_recognizer",
           "save_recognizer", "load_recognizer"]

RECOGNIZER_VERSION = "fact-probe-1"
Embed = Callable[[list[str]], np.ndarray]

# Sentence ends, semicolons and line breaks; a '.' inside a number (0.25 mg) is kept.
_SPLIT = re.compile(r"\.(?!\d)|[;!?\n]+")


def split_clauses(note: str) -> list[str]:
    """Clauses of a note: split on sentence ends, ';' and line breaks; empty pieces dropped."""
    parts = [p.strip(" ,:-\t") for p in _SPLIT.split(note or "")]
    return [p for p in parts if re.search(r"[A-Za-z0-9]", p)]


def labels_matrix(units, facts: Sequence[str]) -> np.ndarray:
    """``[n, K]`` int labels (0 absent, 1 stated, 2 denied) from ``referral.Unit`` objects."""
    return np.array([[u.labels.get(f, 0) for f in facts] for u in units], dtype=np.int64).reshape(len(units), len(facts))


@dataclass
class FactRecognizer:
    """Per-fact 3-class probes on standardised clause vectors: logits = W[k] @ ((x - mean) / std) + b[k]."""

    facts: tuple[str, ...]
    mean: np.ndarray   # [d]
    std: np.ndarray    # [d]
    weight: np.ndarray  # [K, 3, d]
    bias: np.ndarray   # [K, 3]
    version: str = RECOGNIZER_VERSION
    encoder: str = ""

    def clause_probs(self, vectors: np.ndarray) -> np.ndarray:
        """``[n, K, 3]`` probabilities (absent, stated, denied) for clause vectors ``[n, d]``."""
        z = (np.asarray(vectors, np.float64) - self.mean) / self.std
        logits = np.einsum("nd,kcd->nkc", z, self.weight) + self.bias
        logits -= logits.max(-1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(-1, keepdims=True)

    def torch_stated(self, vectors: torch.Tensor) -> torch.Tensor:
        """Differentiable p(stated) ``[n, K]`` (for integrated gradients through the encoder)."""
        mean, std = torch.as_tensor(self.mean, dtype=vectors.dtype), torch.as_tensor(self.std, dtype=vectors.dtype)
        w, b = torch.as_tensor(self.weight, dtype=vectors.dtype), torch.as_tensor(self.bias, dtype=vectors.dtype)
        logits = torch.einsum("nd,kcd->nkc", (vectors - mean) / std, w) + b
        return torch.softmax(logits, -1)[..., 1]

    def note_facts(self, note: str, embed: Embed) -> dict:
        """Fact probabilities of a note: ``{'clauses': [...], 'stated': {fact: p}, 'denied': {fact: p},
        'clause_stated': [n, K] array, 'argmax_clause': {fact: index or None}}``; an empty note -> all 0."""
        clauses = split_clauses(note)
        if not clauses:
            zero = dict.fromkeys(self.facts, 0.0)
            return {"clauses": [], "stated": zero, "denied": dict(zero), "clause_stated": np.zeros((0, len(self.facts))),
                    "argmax_clause": dict.fromkeys(self.facts)}
        p = self.clause_probs(embed(clauses))
        stated, denied = p[..., 1], p[..., 2]
        return {"clauses": clauses, "stated": dict(zip(self.facts, stated.max(0).tolist())),
                "denied": dict(zip(self.facts, denied.max(0).tolist())), "clause_stated": stated,
                "argmax_clause": dict(zip(self.facts, stated.argmax(0).tolist()))}

    def note_vector(self, note: str, embed: Embed) -> np.ndarray:
        """``[K]`` note-level p(stated), in ``facts`` order."""
        return np.array([self.note_facts(note, embed)["stated"][f] for f in self.facts])


def fit_recognizer(vectors: np.ndarray, labels: np.ndarray, facts: Sequence[str], l2: float = 1e-3,
                   max_iter: int = 300, encoder: str = "", seed: int = 0, class_weight: bool = False) -> FactRecognizer:
    """Fit the per-fact probes by full-batch L-BFGS on softmax cross-entropy + ``l2`` * ||W||^2.

    ``vectors`` ``[n, d]`` clause vectors, ``labels`` ``[n, K]`` in {0, 1, 2}. ``class_weight=True``
    weights classes by inverse frequency per fact; off by default because it pulls the absent class
    toward a 1/3 prior, and irrelevant text then fires facts (held-out nonsense max p 0.68 vs 0.12).
    """
    torch.manual_seed(seed)
    x = np.asarray(vectors, np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = torch.from_numpy((x - mean) / std)
    y = torch.from_numpy(np.asarray(labels, np.int64))
    n, d = z.shape
    k = len(facts)
    w = torch.zeros(k, 3, d, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, 3, dtype=torch.float64, requires_grad=True)
    counts = torch.stack([torch.bincount(y[:, j], minlength=3) for j in range(k)]).double()  # [K, 3]
    cw = n / (3 * counts.clamp(min=1)) if class_weight else torch.ones_like(counts)  # [K, 3]
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = torch.einsum("nd,kcd->nkc", z, w) + b  # [n, K, 3]
        logp = torch.log_softmax(logits, -1)
        nll = -logp.gather(-1, y[..., None])[..., 0]  # [n, K]
        wt = cw.gather(1, y.T).T  # [n, K]
        loss = (wt * nll).sum() / wt.sum() * k + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return FactRecognizer(tuple(facts), mean, std, w.detach().numpy(), b.detach().numpy(), encoder=encoder)


def save_recognizer(rec: FactRecognizer, folder: str | Path, metrics: dict | None = None) -> Path:
    """``fact_recognizer.npz`` (mean, std, weight, bias; float32) + ``fact_recognizer.json`` (facts, version, encoder, metrics)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "fact_recognizer.npz", mean=rec.mean.astype(np.float32), std=rec.std.astype(np.float32),
                        weight=rec.weight.astype(np.float32), bias=rec.bias.astype(np.float32))
    meta = {"version": rec.version, "facts": list(rec.facts), "encoder": rec.encoder, "classes": ["absent", "stated", "denied"],
            "metrics": metrics or {}}
    (folder / "fact_recognizer.json").write_text(json.dumps(meta, indent=2, default=float))
    return folder


def load_recognizer(folder: str | Path) -> FactRecognizer:
    """Load what ``save_recognizer`` wrote; a clear message if files are missing or do not match."""
    folder = Path(folder)
    npz, js = folder / "fact_recognizer.npz", folder / "fact_recognizer.json"
    if not npz.is_file() or not js.is_file():
        raise FileNotFoundError(f"No fact recognizer in {folder}: expected fact_recognizer.npz and fact_recognizer.json.")
    meta = json.loads(js.read_text())
    arr = np.load(npz)
    rec = FactRecognizer(tuple(meta["facts"]), arr["mean"].astype(np.float64), arr["std"].astype(np.float64),
                         arr["weight"].astype(np.float64), arr["bias"].astype(np.float64), meta.get("version", ""),
                         meta.get("encoder", ""))
    if rec.weight.shape[:2] != (len(rec.facts), 3):
        raise ValueError(f"Fact recognizer in {folder} is inconsistent: weight {rec.weight.shape} for {len(rec.facts)} facts.")
    return rec
