"""Process-wide caches of the app: the model and BERT (``st.cache_resource``, loaded once per process)
and analysed cases (``st.cache_data``, keyed by the case's content hash, note and model version), so
ten people opening the same example compute it once."""
from __future__ import annotations

import streamlit as st


@st.cache_resource(show_spinner="Loading the model…")
def load_bundle(path: str | None):
    from core.model.bundle import load_bundle as _load

    return _load(path)


@st.cache_resource(show_spinner="Loading the note encoder (BERT)…")
def load_text_encoder(name: str, pooling: str):
    from core.text.encoder import load_text_encoder as _load

    return _load(name, pooling)


@st.cache_data(show_spinner=False, max_entries=16)
def analyse(content_hash: str, note: str | None, model_version: str, model_path: str | None, _record):
    """``analyse_case`` of one record + note, cached by content: ``content_hash`` already covers the
    signal, fs, leads and note; ``model_version`` and ``model_path`` the model (``_record`` is not hashed)."""
    from core.predict import analyse_case

    bundle = load_bundle(model_path)
    enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling) if note and note.strip() else None
    return analyse_case(_record, note, bundle, enc)


@st.cache_data(show_spinner=False, max_entries=32)
def fact_gradients(note: str, model_version: str, model_path: str | None, n_steps: int | None = None):
    """Integrated gradients of the recognised facts over the note's words (``core.explain.facts``), cached
    by note and model: the attribution depends on nothing else (not on the ECG)."""
    from core.explain.facts import FACT_IG_STEPS, fact_gradients as _ig

    bundle = load_bundle(model_path)
    enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    return _ig(note, bundle.recognizer, enc, enc.embed_cached, threshold=bundle.config.fact_tau, n_steps=n_steps or FACT_IG_STEPS)
