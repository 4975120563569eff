"""core.zeroshot: prompt loading and its messages, CLIP-style scoring, and the DS2 metrics.

The scoring tests run on a real 10 s case (bundled example from MIT-BIH 213) with a randomly
initialised model and, when present, the shipped bundle; they check the arithmetic, not accuracy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core import config, zeroshot
from core.io import read_record
from core.model.nets import CardioLensModel
from core.model.bundle import ModelBundle, load_bundle
from core.model.config import ModelConfig
from core.predict import analyse_case
from core.text.encoder import load_text_encoder
from core.training.evaluate import evaluate_zero_shot
from core.training.metrics import zero_shot_metrics
from core.zeroshot import PromptError

SHIPPED = config.MODELS_DIR / "v1"
TWO_LABELS = pd.DataFrame({"label": ["N", "V"], "prompt": ["This ECG shows a normal beat.", "This ECG shows a premature ventricular contraction."]})


@pytest.fixture(scope="module")
def text_encoder():
    return load_text_encoder()


@pytest.fixture(scope="module", params=["random", "shipped"])
def bundle(request):
    if request.param == "shipped":
        if not (SHIPPED / "config.json").is_file():
            pytest.skip("no shipped model in assets/models/v1 yet")
        return load_bundle(SHIPPED)
    torch.manual_seed(0)
    conf = ModelConfig(version="test-random", zeroshot_temperature=0.05)
    return ModelBundle(model=CardioLensModel(conf).eval(), config=conf)


@pytest.fixture(scope="module")
def bank() -> pd.DataFrame:
    return zeroshot.load_prompts(config.DEFAULT_PROMPT_BANK)


@pytest.fixture(scope="module")
def case(bundle):
    return analyse_case(read_record(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv"), None, bundle, None)


@pytest.fixture(scope="module")
def scored(case, bank, bundle, text_encoder):
    return zeroshot.score_case(case, bank, bundle, text_encoder, top_k=3, gate=False)


@pytest.fixture(scope="module")
def gated(case, bank, bundle, text_encoder):
    return zeroshot.score_case(case, bank, bundle, text_encoder, top_k=3)


# ---- load_prompts ------------------------------------------------------------------------------
def test_bank_loads_with_five_labels(bank):
    assert list(dict.fromkeys(bank["label"])) == ["N", "S", "V", "F", "Q"]
    assert set(bank["kind"]) == {"name", "descriptive"}
    assert (bank["prompt"].str.len() > 0).all()


def test_prompts_stripped_and_empty_rows_dropped(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("label,prompt\n N , a normal beat \nV,\n,orphan prompt\nV,a wide premature beat\n", encoding="utf-8")
    df = zeroshot.load_prompts(p)
    assert list(df["label"]) == ["N", "V"] and list(df["prompt"]) == ["a normal beat", "a wide premature beat"]
    assert list(df.columns[:4]) == ["label", "prompt", "kind", "source"]


@pytest.mark.parametrize("content, message", [
    ("label,text\nN,a normal beat\nV,a ventricular beat\n", "no 'prompt' column"),
    ("label,prompt\nN,a normal beat\nN,a sinus beat\n", "only the label 'N'"),
    ("", "is empty"),
    ("   \n\n", "is empty"),
    ("label,prompt\nN,a normal beat\nn,a sinus beat\nV,a ventricular beat\n", r"differ only in case \('N' and 'n'\)"),
])
def test_prompt_errors_are_one_sentence(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(PromptError, match=message) as exc:
        zeroshot.load_prompts(p)
    assert "\n" not in str(exc.value) and str(exc.value).endswith(".")


def test_prompt_errors_non_utf8_missing_file_and_bytes(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes("label,prompt\nN,battement normal \xe9\nV,extrasystole ventriculaire\n".encode("latin-1"))
    with pytest.raises(PromptError, match="not UTF-8"):
        zeroshot.load_prompts(p)
    with pytest.raises(PromptError, match="does not exist"):
        zeroshot.load_prompts(tmp_path / "nope.csv")
    df = zeroshot.load_prompts(b"label,prompt\nN,normal\nV,ventricular\n")  # an upload's bytes
    assert list(df["label"]) == ["N", "V"]


def test_labels_differing_only_in_case_are_refused_with_their_names():
    df = pd.DataFrame({"label": ["Normal", "V", "normal", "v", "S"], "prompt": ["a", "b", "c", "d", "e"]})
    with pytest.raises(PromptError, match=r"\('Normal' and 'normal'; 'V' and 'v'\)"):
        zeroshot.load_prompts(df)
    same = zeroshot.load_prompts(pd.DataFrame({"label": ["N", "N", "V"], "prompt": ["a", "b", "c"]}))
    assert list(same["label"]) == ["N", "N", "V"]  # several prompts of one label stay allowed


# ---- scoring -----------------------------------------------------------------------------------
def _probs(z, label_z, temperature):
    labels = ["a", "b", "c"]
    return zeroshot.label_probs(zeroshot.zero_shot_logits(z, label_z, np.array(labels), labels), temperature)


def test_label_probs_softmax_of_cosine():
    label_z = np.eye(3, 4, dtype=np.float32)
    z = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]], np.float32)
    p = _probs(z, label_z, temperature=0.1)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-9)
    e = np.exp(np.array([1.0, 0.0, 0.0]) / 0.1)  # row 0: cos = (1, 0, 0) whatever |z|
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-6)  # orthogonal to every label
    assert p[2, 0] == pytest.approx(p[2, 1]) and p[2, 0] > p[2, 2]
    assert _probs(z, label_z, 1.0)[0, 0] < p[0, 0]  # a higher temperature flattens
    with pytest.raises(ValueError, match="temperature"):
        _probs(z, label_z, 0.0)


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_mean_ensemble_averages_prompts_of_a_label(bundle, text_encoder):
    two = pd.concat([TWO_LABELS, pd.DataFrame({"label": ["V"], "prompt": ["A wide QRS complex without a P wave."]})], ignore_index=True)
    pv = zeroshot.prompt_vectors(two, bundle, text_encoder)
    assert pv.shape == (3, bundle.config.proj_dim)
    np.testing.assert_allclose(np.linalg.norm(pv, axis=1), 1.0, rtol=1e-5)
    z = np.random.default_rng(0).normal(size=(5, bundle.config.proj_dim))
    lg = zeroshot.zero_shot_logits(z, pv, two["label"].to_numpy(), ["N", "V"])
    np.testing.assert_allclose(lg[:, 0], _unit(z) @ pv[0], atol=1e-5)  # N: its one prompt
    np.testing.assert_allclose(lg[:, 1], _unit(z) @ _unit(pv[1:].mean(0)), atol=1e-5)  # V: re-normalised mean of two
    mx = zeroshot.zero_shot_logits(z, pv, two["label"].to_numpy(), ["N", "V"], ensemble="max")
    np.testing.assert_allclose(mx[:, 1], (_unit(z) @ pv[1:].T).max(1), atol=1e-5)


def test_score_case_tables(case, scored, bank, bundle, text_encoder):
    res = scored
    labels = ["N", "S", "V", "F", "Q"]
    assert res.labels == labels and res.temperature == bundle.config.zeroshot_temperature
    bp = res.beat_probs
    assert list(bp.columns) == ["sample", "time_s"] + labels and len(bp) == len(case.beats) >= 8
    np.testing.assert_array_equal(bp["sample"], case.beats.rpeaks)
    np.testing.assert_allclose(bp[labels].sum(1), 1.0, rtol=1e-9)
    pd.testing.assert_series_equal(res.record_probs, bp[labels].mean(), check_names=False)
    P = bp[labels].to_numpy()
    assert (res.top_k["label_1"].to_numpy() == np.array(labels)[P.argmax(1)]).all()
    np.testing.assert_allclose(res.top_k["p_1"], P.max(1))
    assert (res.top_k["p_1"] >= res.top_k["p_2"]).all() and (res.top_k["p_2"] >= res.top_k["p_3"]).all()
    # the definition written out: softmax over labels of cos(beat, unit mean of the label's prompts) / T
    pv, lab = zeroshot.prompt_vectors(bank, bundle, text_encoder), bank["label"].to_numpy()
    label_z = _unit(np.stack([pv[lab == c].mean(0) for c in labels]))
    e = np.exp(_unit(case.z) @ label_z.T / bundle.config.zeroshot_temperature)
    np.testing.assert_allclose(P, e / e.sum(1, keepdims=True), atol=1e-5)


def test_normal_gate_multiplies_by_the_detector_and_keeps_the_type_ratios(case, scored, gated, bundle):
    labels = ["N", "S", "V", "F", "Q"]
    assert gated.gated and not scored.gated
    G, P = gated.beat_probs[labels].to_numpy(), scored.beat_probs[labels].to_numpy()
    np.testing.assert_allclose(G.sum(1), 1.0, rtol=1e-9)
    p, t = case.table["p_ecg"].to_numpy(float), zeroshot.gate_threshold(bundle)
    lo = lambda x: np.log(x / (1 - x))  # noqa: E731
    g = 1 / (1 + np.exp(-(lo(np.clip(p, 1e-6, 1 - 1e-6)) - lo(t))))
    expect = P * np.c_[1 - g, np.repeat(g[:, None] / 4, 4, 1)]
    np.testing.assert_allclose(G, expect / expect.sum(1, keepdims=True), atol=1e-9)  # the product of experts written out
    # which abnormal type: the prompts alone, as without the gate
    np.testing.assert_allclose(G[:, 1:] / G[:, 1:].sum(1, keepdims=True), P[:, 1:] / P[:, 1:].sum(1, keepdims=True), rtol=1e-6)
    # a beat the detector calls more abnormal than another gets less P(N) relative to the prompts' own P(N)
    odds = (G[:, 0] / (1 - G[:, 0])) / (P[:, 0] / (1 - P[:, 0]))
    order = np.argsort(p)
    assert (np.diff(odds[order]) <= 1e-9).all()


def test_gate_normal_edge_cases():
    P = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    np.testing.assert_array_equal(zeroshot.gate_normal(P, ["S", "V", "F"], np.array([0.9, 0.1]), 0.5), P)  # no normal label
    G = zeroshot.gate_normal(P, ["s", "Normal", "v"], np.array([0.5, 0.5]), 0.5)  # even detector: N weighs 2x each other
    e = P * np.array([0.25, 0.5, 0.25])
    np.testing.assert_allclose(G, e / e.sum(1, keepdims=True), atol=1e-12)  # label matched without case
    G = zeroshot.gate_normal(np.array([[0.0, 1.0]]), ["V", "N"], np.array([0.9]), 0.1)  # prompts say only N
    np.testing.assert_allclose(G, [[0.0, 1.0]])  # the detector cannot create a label the prompts rule out
    conf = ModelConfig(thresholds={"ecg": 0.4, "note": 0.5, "fused": 0.4})
    bundle = ModelBundle(model=None, config=conf)
    assert zeroshot.gate_threshold(bundle) == 0.4
    conf.zeroshot_gate = 0.12
    assert zeroshot.gate_threshold(bundle) == 0.12


def test_max_ensemble_differs_and_sums_to_one(case, scored, bank, bundle, text_encoder):
    mean = scored.beat_probs
    mx = zeroshot.score_case(case, bank, bundle, text_encoder, ensemble="max", gate=False).beat_probs
    np.testing.assert_allclose(mx[["N", "S", "V", "F", "Q"]].sum(1), 1.0, rtol=1e-9)
    assert np.abs(mx["V"] - mean["V"]).max() > 1e-6


# ---- metrics -----------------------------------------------------------------------------------
def test_metrics_definitions_on_known_scores():
    labels = ["N", "S", "V", "F", "Q"]
    y = np.array(["N"] * 6 + ["S"] * 3 + ["V"] * 3 + ["F"] * 2 + ["Q"] * 2, dtype=object)
    P = np.full((len(y), 5), 0.05)
    P[np.arange(len(y)), [labels.index(c) for c in y]] = 0.8  # a perfect scorer
    perfect = zero_shot_metrics(y, P, labels)
    assert perfect["macro_auc"] == 1.0 and perfect["V_vs_S"] == 1.0 and perfect["F_vs_NV"] == 1.0
    assert perfect["balanced_acc"] == 1.0 and perfect["accuracy"] == 1.0
    # an abnormality score that cannot tell V from S: V_vs_S = 0.5 although V-vs-rest is high
    Q = np.full((len(y), 5), 0.1)
    Q[y != "N", 1] = Q[y != "N", 2] = 0.35
    m = zero_shot_metrics(y, Q, labels)
    assert m["V_vs_S"] == 0.5 and m["auc"]["V"] > 0.7
    assert m["balanced_acc"] == pytest.approx(np.mean([1, 1, 0, 0, 0]))  # argmax: N for N, S for the rest


@pytest.mark.slow
def test_evaluate_zero_shot_on_two_test_records(mitdb_dir, bundle, bank, text_encoder):
    res = evaluate_zero_shot(bundle, text_encoder, mitdb_dir, bank, records=("200", "232"))
    assert res["n_beats"] > 3000 and res["class_counts"]["V"] > 500 and res["class_counts"]["S"] > 500
    assert set(res["auc"]) >= {"N", "S", "V"} and all(0 <= v <= 1 for v in res["auc"].values())
    assert 0 <= res["V_vs_S"] <= 1 and 0 <= res["balanced_acc"] <= 1
    plain = evaluate_zero_shot(bundle, text_encoder, mitdb_dir, bank, records=("200", "232"), gate=False)
    assert res["gated"] and not plain["gated"] and plain["V_vs_S"] == pytest.approx(res["V_vs_S"], abs=1e-4)


def test_many_labels_build_the_tables_without_a_pandas_warning():
    """150 labels: the per-label columns are built at once, not inserted one by one (PerformanceWarning)."""
    import warnings
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    labels = [f"L{i}" for i in range(150)]
    prompts = zeroshot.load_prompts(pd.DataFrame({"label": labels, "prompt": [f"prompt {x}" for x in labels]}))
    encoder = SimpleNamespace(embed_cached=lambda texts: rng.normal(size=(len(texts), 8)))
    stub = SimpleNamespace(model=SimpleNamespace(encode_text=lambda t: t), config=SimpleNamespace(zeroshot_temperature=0.1))
    z = rng.normal(size=(20, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = zeroshot.score_embeddings(z, np.arange(20) * 100, np.arange(20) / 3.6, prompts, stub, encoder, top_k=5)
    assert list(res.beat_probs.columns) == ["sample", "time_s", *labels]
    np.testing.assert_allclose(res.beat_probs[labels].sum(1), 1.0, atol=1e-6)
    assert list(res.top_k.columns[:4]) == ["sample", "time_s", "label_1", "p_1"] and res.top_k.shape == (20, 12)
    best = res.beat_probs[labels].to_numpy().argmax(1)
    assert list(res.top_k["label_1"]) == [labels[j] for j in best]


@pytest.mark.parametrize("label", ["=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@HYPERLINK(\"http://x\")", "\t=1+1"],
                         ids=["equals", "plus", "minus", "at", "tab-equals"])
def test_labels_a_spreadsheet_would_run_as_formulas_are_refused(tmp_path, label):
    """Labels become column names of the zero-shot CSV: one starting with '=', '+', '-' or '@' is formula injection."""
    p = tmp_path / "p.csv"
    pd.DataFrame({"label": [label, "V"], "prompt": ["a normal beat", "a ventricular beat"]}).to_csv(p, index=False)
    with pytest.raises(PromptError, match="would run it as a formula") as exc:
        zeroshot.load_prompts(p)
    assert repr(label.strip()) in str(exc.value) and "\n" not in str(exc.value) and str(exc.value).endswith(".")
    ok = zeroshot.load_prompts(pd.DataFrame({"label": ["N", "S-like", "V+"], "prompt": ["a", "b", "c"]}))
    assert list(ok["label"]) == ["N", "S-like", "V+"]
