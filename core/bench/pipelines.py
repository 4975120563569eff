"""The two pipelines the benchmark compares, on the same cases: ours (what the app does) and a naive one
(models loaded per request, one model forward per beat, KernelSHAP). See ``core.bench`` for the method.
"""
from __future__ import annotations

import contextlib
import logging
import time
import warnings
from pathlib import Path

import numpy as np


#: The bundled 10 s case (CSV, 360 Hz, with note.txt) used for (a) and (c).
SHORT_CASE = "short_10s_csv"
#: Background rows of the naive KernelSHAP (the exact enumeration uses the bundle's own rows).
NAIVE_BACKGROUND_ROWS = 500
#: Targets of the brief, in seconds.
class Stages:
    """Wall-clock time of named stages of one run (``with stages('name'): ...``)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t[name] = self.t.get(name, 0.0) + time.perf_counter() - t0

    @property
    def total(self) -> float:
        return sum(self.t.values())


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))


# ---- models ----------------------------------------------------------------------------------------
def resolve_model(path: str | None, tmp: str) -> tuple[str, bool]:
    """The bundle folder to use and whether it is a random stand-in (no trained bundle found)."""
    from core.model.bundle import model_dir

    if path:
        return path, False
    shipped = model_dir()
    if (shipped / "config.json").is_file() and (shipped / "weights.pt").is_file():
        return str(shipped), False
    return str(_random_bundle(Path(tmp) / "random-bundle")), True


def _random_bundle(folder: Path) -> Path:
    """A randomly initialised bundle of the default architecture with a 100-row SHAP background."""
    import torch

    from core.model.nets import CardioLensModel
    from core.model.config import ModelConfig
    from core.model.bundle import save_bundle

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CardioLensModel(ModelConfig(version="bench-random"))
    save_bundle(model.eval(), folder)
    n_f = len(model.config.features)
    np.savez_compressed(folder / "explain_assets.npz",
                        background_features=(rng.normal(size=(100, n_f)) * 10 + 100).astype(np.float32),
                        index_z=rng.normal(size=(200, 128)).astype(np.float16),
                        index_record=np.array(["101"] * 200), index_sample=np.arange(200),
                        index_symbol=np.array(["N"] * 200), index_window=np.zeros((200, 360), np.float16))
    return folder


class Models:
    """What the app keeps per process: the bundle, the note encoder and the prompt bank."""

    def __init__(self, model_path: str):
        from core import config
        from core.model.bundle import load_bundle
        from core.text.encoder import load_text_encoder
        from core.zeroshot import load_prompts

        self.path = model_path
        self.bundle = load_bundle(model_path)
        self.enc = load_text_encoder(self.bundle.config.text_model, self.bundle.config.pooling)
        self.prompts = load_prompts(config.DEFAULT_PROMPT_BANK)


def short_case() -> tuple[Path, str]:
    from core import config

    folder = config.EXAMPLES_DIR / SHORT_CASE
    return folder / "ecg.csv", (folder / "note.txt").read_text(encoding="utf-8")


# ---- our pipeline ----------------------------------------------------------------------------------
def ours_all(m: Models, path: Path, note: str, st: Stages | None = None) -> dict:
    """The 10 s case to all results, the way the pages compute them (models already loaded)."""
    from core import explain
    from core.io import read_record
    from core.predict import analyse_case
    from core.zeroshot import score_case

    st = st or Stages()
    with st("read"):
        rec = read_record(path)
    with st("beats+predict"):
        case = analyse_case(rec, note, m.bundle, m.enc)
    with st("zero-shot"):
        zs = score_case(case, m.prompts, m.bundle, m.enc)
    top = int(np.nanargmax(case.table["p_abnormal"].to_numpy(float)))
    with st("SHAP top beat"):  # exact up to MAX_EXACT_FEATURES, permutation sampling above (v2)
        sh = explain.shap_features(case, m.bundle, top)
    with st("note attention"):
        att = explain.note_attention(note, m.enc)
    with st("note IG"):
        ig = note_ig(note, case, m.bundle, m.enc)
    return {"case": case, "zs": zs, "shap": sh, "att": att, "ig": ig, "top": top, "stages": st.t}


def note_ig(note: str, case, bundle, enc, cached: bool = True):
    """The note's integrated gradients the pages show: per recognised fact for a fact-gated (v2)
    bundle (``core.explain.facts.fact_gradients``), on the fused record probability otherwise."""
    from core import explain

    if getattr(bundle, "recognizer", None) is not None:
        from core.explain.facts import fact_gradients

        return fact_gradients(note, bundle.recognizer, enc, enc.embed_cached if cached else enc.embed,
                              threshold=bundle.config.fact_tau)
    return explain.note_gradients(note, case, bundle, enc)


def v2_steps(m: "Models", case, note: str, cached: bool = True) -> dict:
    """Zero-argument callables of the v2 steps measured on their own (they also run inside analyse_case):
    the fact recognizer on the note (cached sentence embeddings as the app, or BERT again) and the rhythm reading."""
    from core.predict import read_rhythm

    out = {}
    if getattr(m.bundle, "recognizer", None) is not None:
        embed = m.enc.embed_cached if cached else m.enc.embed
        out["fact recognizer"] = lambda: m.bundle.recognizer.note_facts(note, embed)
    out["rhythm reading"] = lambda: read_rhythm(case.beats, case.table, case.threshold)
    return out


def ours_holter(m: Models, hea: Path, st: Stages | None = None):
    """A 30-min record to every beat scored (ECG-only head; the record has no note), batched."""
    return _holter(m.bundle, hea, st or Stages(), batch_size=2048)


def _holter(bundle, hea: Path, st: Stages, batch_size: int):
    from core.io import read_record
    from core.predict import analyse_case
    from core.signal.beats import extract_beats

    with st("read"):
        rec = read_record(hea)
    with st("beats"):
        beats = extract_beats(rec)
    with st("predict"):
        case = analyse_case(rec, None, bundle, None, beats=beats, batch_size=batch_size)
    return case, st.t


# ---- the naive pipeline ----------------------------------------------------------------------------
def naive_background(bundle, n: int = NAIVE_BACKGROUND_ROWS) -> np.ndarray:
    """``n`` background rows drawn with replacement from the bundle's own SHAP background (seeded)."""
    from core.explain.head import _background

    bg = _background(bundle, None)
    return bg[np.random.default_rng(0).integers(0, len(bg), n)]


def kernel_shap(case, bundle, beat_index: int, background: np.ndarray) -> np.ndarray:
    """KernelSHAP (``shap.KernelExplainer``) of the beat's shown probability over the clinical features.

    Same value function as ``core.explain.shap_features``: raw feature rows in, the calibrated shown
    probability out (waveform embedding per lead and the note fixed); model forward per call.
    """
    import shap
    import torch

    from core.model.inference import blend_booster, feature_matrix

    model, conf = bundle.model, bundle.config
    win = torch.from_numpy(np.ascontiguousarray(case.beats.windows[beat_index], np.float32))  # [L, 360]
    # fact-gated (v2) models: the ECG-only reading is explained, as core.explain.shap_features does
    view = "ecg" if conf.fusion == "fact_gated" else case.view
    nv = None
    if view == "fused":
        nv = torch.from_numpy(np.asarray(case.note.vector, np.float32))[None]
    a, b = conf.calibration.get(view, [1.0, 0.0])

    def f(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            fs = model.scale_features(torch.from_numpy(np.asarray(x, np.float32)))
            emb, z = model.encode_ecg(win)
            n = fs.shape[0]
            logits = []
            for k in range(win.shape[0]):
                e, zk = emb[k : k + 1].expand(n, -1), z[k : k + 1].expand(n, -1)
                if nv is None:
                    logits.append(model.logit_ecg(e, zk, fs))
                else:
                    ntz = model.encode_text(nv)
                    logits.append(model.logit_fused(e, zk, nv.expand(n, -1), ntz.expand(n, -1), fs))
            return torch.sigmoid(a * blend_booster(model, torch.stack(logits, 1).mean(1), x) + b).double().numpy()

    x = feature_matrix(case.beats.features.iloc[[beat_index]], conf.features)
    # The model imputes NaN with the training median; give KernelSHAP the imputed row (same output).
    fill = np.asarray(conf.feature_fill or [0.0] * x.shape[1], np.float32)
    x = np.where(np.isnan(x), fill, x)
    bg = np.where(np.isnan(background), fill, background)
    logging.getLogger("shap").setLevel(logging.ERROR)  # its "500 background samples" advice is the point here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.KernelExplainer(f, bg)
        vals = explainer.shap_values(x, silent=True)
    return np.asarray(vals, float).reshape(-1)


def naive_all(model_path: str, path: Path, note: str, st: Stages | None = None) -> dict:
    """The 10 s case to all results, naively: load per request, per-beat inference, KernelSHAP."""
    from core import config, explain
    from core.io import read_record
    from core.model.bundle import load_bundle
    from core.predict import analyse_case
    from core.text.encoder import load_text_encoder
    from core.zeroshot import load_prompts, score_case

    st = st or Stages()
    with st("load models"):
        bundle = load_bundle(model_path)
        enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
        prompts = load_prompts(config.DEFAULT_PROMPT_BANK)
    with st("read"):
        rec = read_record(path)
    with st("beats+predict"):
        case = analyse_case(rec, note, bundle, enc, batch_size=1)  # one model forward per beat
    with st("zero-shot"):
        zs = score_case(case, prompts, bundle, enc)
    top = int(np.nanargmax(case.table["p_abnormal"].to_numpy(float)))
    with st("SHAP top beat"):
        sh = kernel_shap(case, bundle, top, naive_background(bundle))
    with st("note attention"):
        att = explain.note_attention(note, enc)
    with st("note IG"):
        ig = note_ig(note, case, bundle, enc, cached=False)
    return {"case": case, "zs": zs, "shap": sh, "att": att, "ig": ig, "top": top, "stages": st.t}


def naive_holter(model_path: str, hea: Path, st: Stages | None = None):
    """The same record naively: the model loaded for the request, one model forward per beat."""
    from core.model.bundle import load_bundle

    st = st or Stages()
    with st("load model"):
        bundle = load_bundle(model_path)
    return _holter(bundle, hea, st, batch_size=1)


def _stage_fn(name: str, m: Models, path: Path, note: str, case, top: int, hea: Path):
    """A zero-argument callable that runs just the named stage (for the profiler)."""
    from core import explain
    from core.signal.beats import extract_beats
    from core.io import read_record
    from core.predict import analyse_case
    from core.zeroshot import score_case

    stage = name.split(": ", 1)[1]
    if name.startswith("10 s"):
        rec = read_record(path)
        return {
            "read": lambda: read_record(path),
            "beats+predict": lambda: analyse_case(rec, note, m.bundle, m.enc),
            "zero-shot": lambda: score_case(case, m.prompts, m.bundle, m.enc),
            "SHAP top beat": lambda: explain.shap_features(case, m.bundle, top),
            "note attention": lambda: explain.note_attention(note, m.enc),
            "note IG": lambda: note_ig(note, case, m.bundle, m.enc),
        }[stage]
    rec = read_record(hea)
    beats = extract_beats(rec) if stage == "predict" else None
    return {
        "read": lambda: read_record(hea),
        "beats": lambda: extract_beats(rec),
        "predict": lambda: analyse_case(rec, None, m.bundle, None, beats=beats),
    }[stage]
