"""Fit the note's fact recognizer (``core.text.recognizer``) on generated referral-note clauses.

1. Split model: probes fit on the 'train' templates of ``core.text.bank`` and measured on the held-out
   templates (every fourth frame, never seen in fitting): per-fact precision / recall at p >= 0.5, the
   false-fire rate on denied clauses, the largest p on clauses that state no fact and on nonsense text.
2. ``fact_tau`` (the fused head's gate) = the smallest p above every held-out no-fact clause's largest
   fact probability, so no held-out irrelevant clause can move a beat (chosen on generator material,
   never on test records).
3. Shipped model: the same probes fit on all templates. L2 strength chosen on an inner split of the
   training templates (macro F1 minus false fires).
"""
from __future__ import annotations

import numpy as np

from core.text.bank import IRRELEVANT
from core.text.facts import FACT_NAMES
from core.text.recognizer import fit_recognizer, labels_matrix, split_clauses
from core.text.referral import in_split, training_units

NONSENSE = ["The quick brown fox jumps over the lazy dog", "Lorem ipsum dolor sit amet, consectetur adipiscing elit",
            "Insurance pre-authorisation pending, please call the billing office", "Please fax the signed form back to reception",
            "Appointment moved to 3 pm on Thursday", "asdf qwerty zxcv", "Patient parked in bay 4",
            "Colourless green ideas sleep furiously", "Meeting notes from the quality committee", "Invoice number 4471 attached",
            "The weather was sunny and warm", "Knee replacement 2019, allergic to penicillin"]
L2_GRID = (1e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def _clauses(units):
    texts, keep = [], []
    for u in units:
        c = split_clauses(u.text)
        if len(c) == 1:
            texts.append(c[0])
            keep.append(u)
    return texts, labels_matrix(keep, FACT_NAMES)


def measure_recognizer(rec, embed, texts, y) -> dict:
    """Per-fact precision / recall at p >= 0.5 and false fires on denied and no-fact clauses."""
    p = rec.clause_probs(embed(texts))[..., 1]
    out = {}
    for k, f in enumerate(FACT_NAMES):
        pred, pos, den = p[:, k] >= 0.5, y[:, k] == 1, y[:, k] == 2
        tp = int((pred & pos).sum())
        out[f] = {"precision": tp / max(int(pred.sum()), 1), "recall": tp / max(int(pos.sum()), 1),
                  "denied_false_fire": float((p[den, k] >= 0.5).mean()) if den.any() else None}
    none = (y == 0).all(1)
    out["_no_fact_clauses"] = {"n": int(none.sum()), "max_p": float(p[none].max()),
                               "frac_any_ge_0.5": float((p[none].max(1) >= 0.5).mean())}
    out["_denied_all"] = {"false_fire": float((p[y == 2] >= 0.5).mean())}
    return out


def _choose_l2(embed, seed: int) -> float:
    texts, y = _clauses(training_units(np.random.default_rng(seed + 3), 800, "train"))
    uniq = list(dict.fromkeys(texts[i] for i in np.random.default_rng(seed + 4).permutation(len(texts))))
    fit_set = set(uniq[: len(uniq) * 2 // 3])
    fi = [i for i, t in enumerate(texts) if t in fit_set]
    vi = [i for i, t in enumerate(texts) if t not in fit_set]
    scores = {}
    for l2 in L2_GRID:
        m = measure_recognizer(fit_recognizer(embed([texts[i] for i in fi]), y[fi], FACT_NAMES, l2=l2), embed,
                               [texts[i] for i in vi], y[vi])
        f1 = np.mean([2 * m[f]["precision"] * m[f]["recall"] / max(m[f]["precision"] + m[f]["recall"], 1e-9) for f in FACT_NAMES])
        scores[l2] = f1 - m["_no_fact_clauses"]["frac_any_ge_0.5"] - m["_denied_all"]["false_fire"]
    return max(scores, key=scores.get)


def fit_fact_recognizer(embed, seed: int = 0, encoder_name: str = ""):
    """(shipped recognizer, metrics with the held-out measurements, the chosen ``fact_tau`` and l2)."""
    tr_t, tr_y = _clauses(training_units(np.random.default_rng(seed), 1500, "train"))
    ho_t, ho_y = _clauses(training_units(np.random.default_rng(seed + 1), 600, "heldout"))
    seen = set(tr_t)
    keep = [i for i, t in enumerate(ho_t) if t not in seen]
    ho_t, ho_y = [ho_t[i] for i in keep], ho_y[keep]
    l2 = _choose_l2(embed, seed)
    split = fit_recognizer(embed(tr_t), tr_y, FACT_NAMES, l2=l2, encoder=encoder_name)
    held = measure_recognizer(split, embed, ho_t, ho_y)
    probe = NONSENSE + [s for i, s in enumerate(IRRELEVANT) if in_split(i, "heldout")]
    held["_nonsense_admin"] = {"max_p": float(split.clause_probs(embed(probe))[..., 1].max())}
    tau = float(min(0.95, max(0.5, np.ceil(100 * max(held["_no_fact_clauses"]["max_p"], held["_nonsense_admin"]["max_p"])) / 100 + 0.01)))
    full_t, full_y = _clauses(training_units(np.random.default_rng(seed + 2), 2000, "all"))
    final = fit_recognizer(embed(full_t), full_y, FACT_NAMES, l2=l2, encoder=encoder_name)
    return final, {"heldout_templates": held, "l2": l2, "fact_tau": tau, "n_train_clauses": len(full_t)}
