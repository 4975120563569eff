"""core.explain on a real 10 s case (bundled example from MIT-BIH 213: N, S, V and F beats) and its note.

Runs against a randomly initialised bundle written to a tmp folder (with explain assets cut from a
real example record) and, when present, the shipped bundle in assets/models/v1; nothing here depends
on the model being accurate.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core import config, explain
from core.signal.beats import extract_beats
from core.signal.features import FEATURE_UNITS
from core.io import Record, read_record
from core.model.config import MODEL_FEATURES, ModelConfig
from core.model.nets import CardioLensModel
from core.model.inference import feature_matrix
from core.model.bundle import load_bundle, save_bundle
from core.predict import analyse_case
from core.text.encoder import load_text_encoder
from core.model.inference import predict_logits

SHORT = config.EXAMPLES_DIR / "short_10s_csv"
SHIPPED = config.MODELS_DIR / "v1"
CLINICAL_NOTE = "Palpitations and chest pain; on metoprolol for atrial fibrillation with intermittent tachycardia."
SHORT_NOTE = "Irregular heartbeat and fibrillation on metoprolol"


def build_random_bundle(folder: Path) -> Path:
    """A random model whose scaling and explain assets come from 20 s of a real example (MIT-BIH 200)."""
    torch.manual_seed(0)
    src = read_record(config.EXAMPLES_DIR / "pvc_bigeminy_200" / "pvc_bigeminy_200.hea")
    cut = Record(name="200", signal=src.signal[: int(20 * src.fs)], fs=src.fs, lead_names=src.lead_names)
    beats = extract_beats(cut)
    feats = feature_matrix(beats.features, list(MODEL_FEATURES))
    fill = np.nanmedian(feats, 0)
    f = np.where(np.isnan(feats), fill, feats)
    conf = ModelConfig(version="test-random", feature_fill=fill.tolist(), feature_mean=f.mean(0).tolist(),
                       feature_std=np.maximum(f.std(0), 1e-3).tolist(),
                       calibration={"ecg": [1.3, -0.2], "note": [1.0, 0.0], "fused": [0.8, 0.1]})
    model = CardioLensModel(conf).eval()
    save_bundle(model, folder)
    z = predict_logits(model, beats.windows, feats, None)["z"]
    n = len(z)
    np.savez_compressed(
        folder / "explain_assets.npz", background_features=feats[:100].astype(np.float32), index_z=z.astype(np.float16),
        index_record=np.array(["200a"] * (n // 2) + ["200b"] * (n - n // 2)), index_sample=beats.rpeaks,
        index_symbol=np.array(["N", "V"] * (n // 2) + ["N"] * (n % 2)), index_window=beats.windows[:, 0].astype(np.float16),
    )
    return folder


@pytest.fixture(scope="module")
def text_encoder():
    return load_text_encoder()


@pytest.fixture(scope="module", params=["random", "shipped"])
def bundle(request, tmp_path_factory):
    if request.param == "shipped":
        if not (SHIPPED / "config.json").is_file():
            pytest.skip("no shipped model in assets/models/v1 yet")
        return load_bundle(SHIPPED)
    return load_bundle(build_random_bundle(tmp_path_factory.mktemp("bundle")))


@pytest.fixture(scope="module")
def note() -> str:
    return (SHORT / "note.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def record():
    return read_record(SHORT / "ecg.csv")


@pytest.fixture(scope="module")
def case(record, note, bundle, text_encoder):
    return analyse_case(record, note, bundle, text_encoder)


@pytest.fixture(scope="module")
def case_ecg(record, bundle):
    return analyse_case(record, None, bundle, None)


# ---- SHAP --------------------------------------------------------------------------------------
def test_shap_additivity_and_prediction_is_the_shown_probability(case, case_ecg, bundle):
    assert case.view == "fused" and case_ecg.view == "ecg"
    for c in (case, case_ecg):
        assert len(c.beats) >= 8
        for i in (0, 3, len(c.beats) // 2, len(c.beats) - 1):
            e = explain.shap_features(c, bundle, i)
            assert e.base_value + e.values.sum() == pytest.approx(e.prediction, abs=1e-3)
            # the value function is the model itself: all features present = the probability shown
            assert e.prediction == pytest.approx(c.table["p_abnormal"].iloc[i], abs=1e-4)
            assert e.values.shape == (len(bundle.config.features),) and np.isfinite(e.values).all()


def test_shap_background_equal_to_beat_gives_zero_values(case, bundle):
    raw = feature_matrix(case.beats.features.iloc[[2]], bundle.config.features)
    e = explain.shap_features(case, bundle, 2, background=raw)
    np.testing.assert_allclose(e.values, 0.0, atol=1e-6)
    assert e.base_value == pytest.approx(e.prediction, abs=1e-6)


def test_shap_single_feature_background_moves_only_that_feature(case, bundle):
    """Background equal to the beat except one feature: all credit goes to that feature."""
    raw = feature_matrix(case.beats.features.iloc[[1]], bundle.config.features)
    raw = np.where(np.isnan(raw), np.asarray(bundle.config.feature_fill, np.float32), raw)
    bg = raw.copy()
    j = bundle.config.features.index("qrs_ms")
    bg[0, j] += 80.0
    e = explain.shap_features(case, bundle, 1, background=bg)
    others = np.delete(e.values, j)
    np.testing.assert_allclose(others, 0.0, atol=1e-6)
    assert e.values[j] == pytest.approx(e.prediction - e.base_value, abs=1e-6)


def test_shap_frame_sorted_with_units(case, bundle):
    df = explain.shap_features(case, bundle, 0).to_frame()
    assert list(df.columns) == ["feature", "value", "unit", "shap"]
    assert (np.diff(df["shap"].abs().to_numpy()) <= 1e-12).all()
    assert all(FEATURE_UNITS[f] == u for f, u in zip(df["feature"], df["unit"]))
    assert dict(zip(df["feature"], df["unit"]))["qrs_ms"] == "ms"


def test_shap_record_summary(case, bundle):
    rec = explain.shap_record(case, bundle, max_beats=6)
    flagged = np.flatnonzero(case.table["predicted"].to_numpy() == 1)
    assert len(rec.beat_index) == 6 and rec.values.shape == (6, len(bundle.config.features))
    assert set(rec.beat_index[: min(6, len(flagged))]) <= set(flagged)  # flagged beats come first
    np.testing.assert_allclose(rec.summary.set_index("feature").loc[rec.feature_names, "mean_abs_shap"],
                               np.abs(rec.values).mean(0))
    assert rec.summary["mean_abs_shap"].is_monotonic_decreasing


def test_bad_beat_index_says_how_many_beats(case, bundle):
    with pytest.raises(IndexError, match=f"has {len(case.beats)} beats"):
        explain.shap_features(case, bundle, 10_000)


# ---- notes -------------------------------------------------------------------------------------
def test_note_attention_words_and_normalisation(text_encoder):
    pieces = {w: text_encoder.tokenizer.tokenize(w) for w in ("fibrillation", "tachycardia", "metoprolol")}
    assert any(len(p) > 1 for p in pieces.values())  # the tokenizer really splits clinical words
    df = explain.note_attention(CLINICAL_NOTE, text_encoder)
    words = list(df["word"])
    for w in pieces:
        assert words.count(w) == 1
        assert int(df.loc[df["word"] == w, "n_pieces"].iloc[0]) == len(pieces[w])
    assert not {"[CLS]", "[SEP]", "[PAD]", ";", "."} & set(words)
    assert df["normalised"].sum() == pytest.approx(1.0, abs=1e-6)
    assert df["normalised_mean_query"].sum() == pytest.approx(1.0, abs=1e-6)
    assert (df["raw"] > 0).all()
    assert all(CLINICAL_NOTE[s:e] == w for w, s, e in zip(df["word"], df["start"], df["end"]))


def test_note_attention_html_is_plain_words(text_encoder):
    df = explain.note_attention("<script>alert(1)</script> chest pain", text_encoder)
    assert list(df["word"]) == ["script", "alert", "1", "script", "chest", "pain"]
    assert df["normalised"].sum() == pytest.approx(1.0)


def test_note_attention_long_note_is_truncated(text_encoder):
    long = " ".join(["sinus rhythm with occasional premature beats"] * 60)
    df = explain.note_attention(long, text_encoder)
    assert df.attrs["truncated"] and len(df) < 6 * 60
    assert explain.note_attention("   ", text_encoder).empty


def test_note_gradients_words_and_completeness(case, bundle, text_encoder):
    from core.explain.note import _note_target

    # IG's integrand jumps at every ReLU kink of the heads along the path, so the Riemann error falls
    # only ~1/n_steps: 64 steps on a short note keeps the test fast and the error well under 10 %.
    g = explain.note_gradients(SHORT_NOTE, case, bundle, text_encoder, n_steps=64, drop_punctuation=False)
    att = explain.note_attention(SHORT_NOTE, text_encoder, drop_punctuation=False)
    assert list(g["word"]) == list(att["word"])  # one row per word, same merging as attention
    diff = g.attrs["p"] - g.attrs["p_baseline"]
    # completeness of IG: attributions sum to f(note) - f([PAD] note), within 10 % (or 1e-4 when f barely moves)
    assert abs(g["attribution"].sum() - diff) <= max(0.1 * abs(diff), 1e-4)
    assert g["normalised"].sum() == pytest.approx(1.0, abs=1e-6)
    assert set(g["sign"]) <= {-1, 0, 1}
    assert g.attrs["p"] == pytest.approx(_note_target(case, bundle)(
        torch.from_numpy(text_encoder.embed([SHORT_NOTE]))).item(), abs=1e-5)


def test_attention_vs_gradient_agree_flag(case, bundle, text_encoder):
    att = explain.note_attention(CLINICAL_NOTE, text_encoder)
    grad = explain.note_gradients(CLINICAL_NOTE, case, bundle, text_encoder, n_steps=8)
    cmp = explain.attention_vs_gradient(att, grad, k=3)
    assert len(cmp) == len(att)
    top_a = set(att.nlargest(3, "normalised")["start"])
    top_g = set(grad.nlargest(3, "normalised")["start"])
    assert set(cmp.loc[cmp["agree"], "start"]) == top_a & top_g


# ---- waveform, neighbours, faithfulness --------------------------------------------------------
def test_beat_saliency_shape_and_completeness(case, bundle):
    i = 4
    s = explain.beat_saliency(case, bundle, i, n_steps=64)
    assert s.shape == (config.BEAT_WINDOW,) and np.isfinite(s).all() and np.abs(s).sum() > 0
    w = case.beats.windows[[i]].copy()
    feats = feature_matrix(case.beats.features.iloc[[i]], bundle.config.features)
    nv = case.note.vector
    full = predict_logits(bundle.model, w, feats, nv)["fused"][0]
    w[:, 0] = 0.0
    flat = predict_logits(bundle.model, w, feats, nv)["fused"][0]
    assert float(s.sum()) == pytest.approx(float(full - flat), abs=float(max(0.1 * abs(full - flat), 1e-3)))


def test_similar_cases_beats_and_records(case, bundle):
    df = explain.similar_cases(case, bundle, beat_index=2, k=5)
    assert len(df) == 5 and df["distance"].is_monotonic_increasing
    assert ((df["distance"] >= -1e-5) & (df["distance"] <= 2 + 1e-5)).all()
    assets = explain.explain_assets(bundle)
    assert (assets.index_record[df["index"]] == df["record"]).all()
    assert set(df["aami"]) <= {"N", "S", "V", "F", "Q"}
    recs = explain.similar_cases(case, bundle, k=2)
    assert recs["record"].is_unique and recs["distance"].is_monotonic_increasing and len(recs) <= 2
    assert explain.explain_assets(bundle) is assets  # cached per bundle path


def test_deletion_tests(case, bundle, text_encoder):
    res = explain.deletion_test(case, bundle, k=3, n_random=10, max_beats=8)
    assert res["n_beats"] == 8 and np.isfinite(res["delta_top_k"]) and np.isfinite(res["delta_random"])
    assert 0 <= res["delta_top_k"] <= 1
    # faithfulness (Samek et al. 2017): deleting the 3 features SHAP ranks highest moves the output more
    # than deleting 3 random ones
    assert res["delta_top_k"] > res["delta_random"], res
    nd = explain.note_deletion_test(CLINICAL_NOTE, case, bundle, text_encoder, k=2, n_random=2, n_steps=8)
    assert len(nd["words_attention"]) == 2 and len(nd["words_gradient"]) == 2
    assert all(0 <= nd[k] <= 1 for k in ("delta_attention", "delta_gradient", "delta_random"))


def test_timing_on_10s_case(case, bundle, text_encoder, note):
    """Budget guards, generous for a shared 2-core machine (targets: SHAP 0.3 s / beat)."""
    t = time.perf_counter()
    explain.shap_features(case, bundle, 1)
    t_shap = time.perf_counter() - t
    t = time.perf_counter()
    explain.note_attention(note, text_encoder)
    t_att = time.perf_counter() - t
    assert t_shap < 3.0 and t_att < 3.0, (t_shap, t_att)


# ---- integrated gradients: batched implementation against the reference (captum / per-step loop) --
def test_note_gradients_batched_matches_captum(case, bundle, text_encoder):
    """One batched forward/backward gives captum's LayerIntegratedGradients (same Gauss-Legendre steps)."""
    from captum.attr import LayerIntegratedGradients

    from core.explain.note import _encode, _note_target

    n = 8
    enc, _ = _encode(SHORT_NOTE, text_encoder)
    target, bert = _note_target(case, bundle), text_encoder.model
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = torch.tensor([w is None for w in enc.word_ids(0)])[None]
    base = torch.where(special, ids, torch.full_like(ids, text_encoder.tokenizer.pad_token_id))

    def forward(i, m):
        return target(text_encoder.pool(bert(input_ids=i, attention_mask=m).last_hidden_state, m))

    ref = LayerIntegratedGradients(forward, bert.embeddings).attribute(
        ids, baselines=base, additional_forward_args=(mask,), n_steps=n, internal_batch_size=1)  # one step at a time
    calls = []
    hook = bert.register_forward_hook(lambda *_: calls.append(1))
    try:
        g = explain.note_gradients(SHORT_NOTE, case, bundle, text_encoder, n_steps=n, drop_punctuation=False)
    finally:
        hook.remove()
    assert len(calls) == 1  # every step, f(x) and f(baseline) in one BERT pass
    tok = ref.sum(-1)[0].detach().double().numpy()
    assert g["attribution"].sum() == pytest.approx(tok[[w is not None for w in enc.word_ids(0)]].sum(), abs=1e-6)
    assert g.attrs["sum_all_tokens"] == pytest.approx(tok.sum(), abs=1e-6)


def test_path_rule_weights_sum_to_one():
    from core.explain.note import path_rule

    for rule in ("gausslegendre", "midpoint"):
        a, w = path_rule(7, rule)
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-12) and bool(((a > 0) & (a < 1)).all())
    with pytest.raises(ValueError, match="unknown rule"):
        path_rule(4, "simpson")


def test_fact_gradients_batched_matches_per_fact_loop(text_encoder):
    """Facts sharing a clause share one batched pass; the result equals one IG run per fact."""
    from core.explain.facts import _ig_clause
    from core.explain.note import path_rule

    bundle = load_bundle(config.MODELS_DIR / "v2") if (config.MODELS_DIR / "v2" / "config.json").is_file() else None
    if bundle is None or bundle.recognizer is None:
        pytest.skip("no v2 bundle with a fact recognizer")
    rec, enc = bundle.recognizer, text_encoder
    clause = "known atrial fibrillation on digoxin and a pacemaker"
    _, both, err = _ig_clause(clause, [0, 1], rec, enc, 6)
    tok = enc.tokenizer(clause, return_offsets_mapping=True, return_tensors="pt")
    emb = enc.model.embeddings.word_embeddings
    x = emb(tok["input_ids"]).detach()[0]
    special = torch.tensor([w is None for w in tok.word_ids(0)])[:, None]
    base = torch.where(special, x, emb.weight[enc.tokenizer.pad_token_id].detach().expand_as(x))
    alphas, weights = path_rule(6, "midpoint")
    for j, k in enumerate([0, 1]):
        grads = []
        for a in alphas.tolist():  # unbatched: one forward/backward per step
            p = (base + a * (x - base)).requires_grad_(True)
            with torch.enable_grad():
                h = enc.model(inputs_embeds=p[None], attention_mask=tok["attention_mask"]).last_hidden_state
                out = rec.torch_stated(enc.pool(h, tok["attention_mask"]).double())[0, k]
                grads.append(torch.autograd.grad(out, p)[0])
        attr = ((x - base) * torch.stack(grads).mean(0)).sum(-1).double().numpy()
        words = [w for w in tok.word_ids(0) if w is not None]
        per_word = np.zeros(len(set(words)))
        for t, w in enumerate(tok.word_ids(0)):
            if w is not None:
                per_word[w] += attr[t]
        np.testing.assert_allclose(both[j], per_word, atol=1e-5)  # fp32 BERT: batch order moves the 6th digit
    assert err.shape == (2,) and np.all(err >= 0)
