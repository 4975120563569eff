"""Tests of the staged note modules (fast; the BERT-based measurement lives in the slow test)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch


from core.text.facts import FACT_NAMES, FACTS, AssignedFact, record_facts  # noqa: E402
from core.model.fusion import FactGatedHead  # noqa: E402
from core.text.recognizer import fit_recognizer, labels_matrix, load_recognizer, save_recognizer, split_clauses  # noqa: E402
from core.text.referral import referral_note, training_units  # noqa: E402

H_201 = ["68 M 1960 2851 x1", "Digoxin, Hydrochlorthiazide, Inderal, KCl", "The PVCs are uniform and late-cycle."]
H_207 = ["89 F 859 694 x1", "Digoxin, Quinaglute",
         "The predominant rhythm is normal sinus with first degree AV block and left bundle branch block."]
H_113 = ["24 F 1240 2851 x1", "None", "The variation in the rate ... due to a wandering atrial pacemaker."]


def test_record_facts_from_documented_diagnoses():
    names = {f.name: f.source for f in record_facts(H_207, "207")[0]}
    assert names == {"BBB": "header remark", "AV_BLOCK": "header remark", "DIGOXIN": "header medications",
                     "ANTIARRHYTHMIC": "header medications"}
    assert [f.name for f in record_facts(H_113, "113")[0]] == []  # wandering atrial pacemaker is no device
    paced = {f.name: f.source for f in record_facts(["65 M 2450 653 x1", "Digoxin"], "217")[0]}
    assert paced["PACEMAKER"] == "database description"
    af = {f.name: f.source for f in record_facts(H_201, "201", rhythm_fractions={"(N": 0.6, "(AFIB": 0.4})[0]}
    assert af["AF_FLUTTER"] == "reference rhythm annotation"
    sv = record_facts([], "800", "svdb")[0]
    assert [(f.name, f.source) for f in sv] == [("REASON_PALPITATIONS", "database purpose (assumption)")]


def test_notes_seeded_and_per_record_distinct():
    f, d = record_facts(H_201, "201")
    a = referral_note(f, d, np.random.default_rng(11201))
    assert a == referral_note(f, d, np.random.default_rng(11201))
    assert a != referral_note(f, d, np.random.default_rng(11202))  # 201 and 202 share a header
    assert referral_note(f, d, np.random.default_rng(0), dropout=1.0) == ""
    assert "PVC" not in a  # remark beat descriptions never enter the note


def test_units_are_single_clauses_with_consistent_labels():
    units = training_units(np.random.default_rng(0), 50, "train")
    single = [u for u in units if len(split_clauses(u.text)) == 1]
    assert len(single) / len(units) > 0.99
    y = labels_matrix(units, FACT_NAMES)
    assert set(np.unique(y)) <= {0, 1, 2} and (y == 1).any() and (y == 2).any()


def _bow_embed(texts):  # deterministic hashed bag of words: a stand-in encoder for fast tests
    out = np.zeros((len(texts), 64), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, hash(w) % 64 if False else sum(map(ord, w)) % 64] += 1
    return out


def test_recognizer_fit_save_load_roundtrip(tmp_path):
    units = training_units(np.random.default_rng(0), 100, "train")
    texts = [u.text for u in units]
    rec = fit_recognizer(_bow_embed(texts), labels_matrix(units, FACT_NAMES), FACT_NAMES, max_iter=50)
    save_recognizer(rec, tmp_path)
    back = load_recognizer(tmp_path)
    v = _bow_embed(texts[:20])
    assert np.allclose(rec.clause_probs(v), back.clause_probs(v), atol=1e-4)
    assert back.note_facts("", _bow_embed)["stated"] == dict.fromkeys(FACT_NAMES, 0.0)
    with pytest.raises(FileNotFoundError, match="expected fact_recognizer.npz"):
        load_recognizer(tmp_path / "nowhere")


FEATS = ["rr_pre_ms", "rr_pre_local_ratio", "pr_ms", "qrs_ms", "hrv_rmssd_ms"]


def _head(**kw):
    torch.manual_seed(0)
    head = FactGatedHead(FACT_NAMES, FEATS, {f.name: f.ecg_inputs for f in FACTS}, **kw)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 3.0)  # large weights: the bound must still hold
    return head


def test_zero_facts_leave_logits_identical():
    head = _head()
    ecg, x = torch.randn(50), torch.randn(50, len(FEATS))
    x[3, 2] = float("nan")
    assert torch.equal(head(ecg, x, torch.zeros(len(FACT_NAMES))), ecg)
    assert torch.equal(head(ecg, x, torch.full((len(FACT_NAMES),), 0.49)), ecg)  # below tau: nothing recognised
    one = torch.zeros(len(FACT_NAMES))
    one[FACT_NAMES.index("BBB")] = 1.0
    assert not torch.equal(head(ecg, x, one), ecg)


def test_residual_bounded_and_reads_declared_inputs_only():
    head = _head(max_residual=1.5)
    ecg, x = torch.randn(200), 10 * torch.randn(200, len(FEATS))
    out = head(ecg, x, torch.ones(len(FACT_NAMES)))
    assert torch.isfinite(out).all()
    assert float((out - ecg).abs().max()) <= 1.5 * len(FACT_NAMES) + 1e-5
    av = torch.zeros(len(FACT_NAMES))
    av[FACT_NAMES.index("AV_BLOCK")] = 1.0  # reads pr_ms, rr_pre_local_ratio (and rr_post_pre_ratio: absent)
    x2 = x.clone()
    x2[:, FEATS.index("qrs_ms")] += 5.0  # not an AV-block input
    assert torch.equal(head(ecg, x, av), head(ecg, x2, av))
    x2[:, FEATS.index("pr_ms")] += 5.0
    assert not torch.equal(head(ecg, x, av), head(ecg, x2, av))
    assert float((head(ecg, x, av) - ecg).abs().max()) <= 1.5 + 1e-5


def test_fact_gate_learns_where_it_matters():
    """Synthetic: with BBB stated, a wide QRS (feature qrs_ms) is not evidence; the head learns to lower
    the logit of wide beats only under the fact, and leaves fact-free notes alone."""
    torch.manual_seed(0)
    n = 2000
    x = torch.randn(n, len(FEATS))
    wide = x[:, FEATS.index("qrs_ms")] > 0.5
    ecg = torch.where(wide, torch.tensor(2.0), torch.tensor(-2.0))  # ECG head calls every wide beat positive
    y = torch.zeros(n)  # ... but in BBB patients wide beats are normal
    head = FactGatedHead(FACT_NAMES, FEATS, {f.name: f.ecg_inputs for f in FACTS}, max_residual=4.0)
    p = torch.zeros(len(FACT_NAMES))
    p[FACT_NAMES.index("BBB")] = 1.0
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(ecg, x, p), y)
        loss.backward()
        opt.step()
    fused = head(ecg, x, p).detach()
    assert float(fused[wide].mean()) < float(ecg[wide].mean()) - 2.0
    assert torch.equal(head(ecg, x, torch.zeros(len(FACT_NAMES))), ecg)


def test_fact_directions_pacemaker_only_raises_known_af_only_lowers():
    directions = {f.name: f.direction for f in FACTS}
    assert directions["PACEMAKER"] == 1 and directions["AF_FLUTTER"] == -1 and directions["BBB"] == -1
    torch.manual_seed(3)
    head = FactGatedHead(FACT_NAMES, FEATS, {f.name: f.ecg_inputs for f in FACTS}, max_residual=2.0, directions=directions)
    for net in head.residual.values():  # whatever the weights learn, the sign is fixed by the fact
        for prm in net.parameters():
            torch.nn.init.normal_(prm, std=3.0)
    ecg, x = torch.randn(300), 5 * torch.randn(300, len(FEATS))
    for name, sign in (("PACEMAKER", 1), ("AF_FLUTTER", -1), ("BBB", -1)):
        one = torch.zeros(len(FACT_NAMES))
        one[FACT_NAMES.index(name)] = 1.0
        moved = head(ecg, x, one) - ecg
        assert float((sign * moved).min()) >= 0.0 and float(moved.abs().max()) > 0.0
