"""Fact-gated fused head: the note can move a beat's logit only through the facts it states, and only
by reading the ECG inputs each fact bears on.

    fused_logit = ecg_logit + sum_k g_k(note) * bound_k * tanh(r_k(x[inputs_k]))

- ``g_k = relu((p_k - tau) / (1 - tau))``: the recognizer's note-level p(stated) of fact k above the
  recognition threshold ``tau`` (0.5); below it the gate is exactly 0, so a note with no recognised
  fact leaves the ECG-only logit bit-identical, and irrelevant text cannot flip flags.
- ``r_k``: a small MLP over fact k's declared inputs only (``facts.Fact.ecg_inputs``, by feature name;
  ``"ecg_logit"`` may be declared to let a fact rescale the ECG evidence). A fact whose inputs are all
  missing from the model's feature list is a bounded per-record prior shift (a learned constant).
- ``bound_k = max_residual * sigmoid(s_k)`` < ``max_residual`` logits: a wrong note does bounded harm,
  |fused - ecg| <= sum over stated facts of ``max_residual``.
- a fact with a direction (``facts.Fact.direction``) uses ``sigmoid`` (+1: may only raise) or ``-sigmoid`` (-1: may
  only lower) instead of ``tanh``: "pacemaker" can never make a beat look less abnormal.

The head never sees the note's BERT vector, only K fact probabilities, so it cannot memorise patients.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["FactGatedHead", "fact_gate"]

log = logging.getLogger(__name__)


def fact_gate(p: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """Gate in [0, 1] from a fact probability: 0 below ``tau``, linear to 1 at p = 1."""
    return torch.relu((p - tau) / (1.0 - tau)).clamp(max=1.0)


class FactGatedHead(nn.Module):
    """Residual on the ECG-only logit, gated per fact; see the module docstring.

    ``facts``: fact names in the recognizer's order; ``feature_names``: columns of the feature matrix
    passed to ``forward`` (scaled, NaN allowed: imputed to 0 = the training mean after scaling);
    ``fact_inputs``: fact -> declared input names (``facts.FACTS``). ``max_residual`` in logits; ``directions``:
    fact -> +1 / -1 / 0 (``facts.Fact.direction``; absent = 0, as in bundles trained before it).
    """

    def __init__(self, facts: Sequence[str], feature_names: Sequence[str], fact_inputs: Mapping[str, Sequence[str]],
                 max_residual: float = 2.0, hidden: int = 8, tau: float = 0.5, directions: Mapping[str, int] | None = None):
        super().__init__()
        if not 0.0 <= tau < 1.0:
            raise ValueError(f"tau must be in [0, 1), not {tau}.")
        if max_residual <= 0:
            raise ValueError(f"max_residual must be > 0 logits, not {max_residual}.")
        self.facts, self.feature_names = tuple(facts), tuple(feature_names)
        self.max_residual, self.tau = float(max_residual), float(tau)
        self.directions = {f: int(np.sign((directions or {}).get(f, 0))) for f in self.facts}
        cols = {n: i for i, n in enumerate(self.feature_names)}
        self.inputs: dict[str, list[int]] = {}
        self.uses_logit: dict[str, bool] = {}
        nets = {}
        for f in self.facts:
            names = list(fact_inputs.get(f, ()))
            missing = [n for n in names if n not in cols and n != "ecg_logit"]
            if missing:
                log.info("FactGatedHead: fact %s declares inputs not in the feature list: %s", f, missing)
            self.inputs[f] = [cols[n] for n in names if n in cols]
            self.uses_logit[f] = "ecg_logit" in names
            d = len(self.inputs[f]) + int(self.uses_logit[f])
            nets[f] = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1)) if d else _Constant()
        self.residual = nn.ModuleDict(nets)
        self.bound_raw = nn.Parameter(torch.zeros(len(self.facts)))

    def bounds(self) -> torch.Tensor:
        """``[K]`` largest |residual| of each fact (logits)."""
        return self.max_residual * torch.sigmoid(self.bound_raw)

    def residuals(self, ecg_logit: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``[n, K]`` bounded residual of each fact for each beat (before gating)."""
        x = torch.nan_to_num(features, nan=0.0)
        out = []
        for f in self.facts:
            parts = []
            if self.inputs[f]:
                parts.append(x[:, self.inputs[f]])
            if self.uses_logit[f]:
                parts.append(ecg_logit.detach()[:, None])
            inp = torch.cat(parts, 1) if parts else x.new_zeros(len(x), 0)
            r = self.residual[f](inp)[:, 0]
            out.append(torch.tanh(r) if self.directions[f] == 0 else self.directions[f] * torch.sigmoid(r))
        return torch.stack(out, 1) * self.bounds()

    def forward(self, ecg_logit: torch.Tensor, features: torch.Tensor, fact_probs: torch.Tensor) -> torch.Tensor:
        """Fused logits ``[n]`` from ECG-only logits ``[n]``, scaled features ``[n, F]`` and the note's fact
        probabilities ``[K]`` (one note for the record) or ``[n, K]``."""
        if features.shape[1] != len(self.feature_names):
            raise ValueError(f"FactGatedHead expects {len(self.feature_names)} feature columns, got {features.shape[1]}.")
        g = fact_gate(fact_probs, self.tau)
        g = g.expand(len(ecg_logit), -1) if g.dim() == 1 else g
        if not bool((g > 0).any()):
            return ecg_logit  # exactly unchanged: no recognised fact
        return ecg_logit + (g * self.residuals(ecg_logit, features)).sum(1)


class _Constant(nn.Module):
    """A learned constant per beat: the prior shift of a fact that reads no ECG input."""

    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(x), 1)
