"""Explanations page: why one beat was called what it was (SHAP, similar beats, saliency) and what in
the note the model read (BERT attention, integrated gradients)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import streamlit as st

from pages import _state as state
from core.report import figures as figs
from core.report import figures_explain as xfigs
from core.report.tables import note_highlight_html, reference_frame, shap_table
from pages import _cache
from core.explain.facts import FACT_IG_STEPS as IG_STEPS  # chosen by a completeness check (core.bench --ig-convergence)
from pages._common import (beat_label, context_reason, explain_module, get_bundle, get_text_encoder, is_fact_gated, memo,
                           model_dir, most_abnormal_beat, on_demand, require_case, run_page, selected_beat, teaching_gate)

log = logging.getLogger(__name__)


def _section(title: str, fn, *args) -> None:
    """One section; its failure is shown in place and does not hide the others."""
    try:
        fn(*args)
    except FileNotFoundError as exc:
        log.exception("%s: not available", title)
        st.info(f"{title} is not available for this model: {exc}")
    except Exception as exc:  # noqa: BLE001 - section boundary
        log.exception("%s could not be computed", title)
        st.error(f"{title} could not be computed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                 "Pick another beat or analyse the case again.")


def _pick_beat(case) -> int:
    table = case.table
    only_flagged = st.toggle("List flagged beats only", value=bool(case.n_flagged), key="expl_only_flagged")
    opts = np.flatnonzero(table["predicted"].to_numpy(int) == 1) if only_flagged and case.n_flagged else np.arange(len(table))
    opts = opts.tolist()
    cur = selected_beat(case)
    if cur not in opts:
        cur = most_abnormal_beat(case) if most_abnormal_beat(case) in opts else opts[0]
    # default: the most abnormal *readable* beat (pages._common.most_abnormal_beat); unreadable beats are
    # listed as 'unreadable signal, not called' and are never that default
    i = st.selectbox("Beat to explain (default: the most abnormal readable beat)", opts, index=opts.index(cur),
                     format_func=lambda k: beat_label(case, k), key=f"expl_beat_{only_flagged}")
    state.set_beat(i)
    return int(i)


def _beat_view(case, bundle, ex, i: int) -> None:
    row = case.table.iloc[i]
    rec = case.record
    left, right = st.columns([3, 2])
    with left:
        st.subheader("The beat")
        c1, c2, c3 = st.columns(3)
        c1.metric("p(abnormal) shown", f"{row['p_abnormal']:.2f}", help=f"head: {case.view}")
        c2.metric("ECG only", f"{row['p_ecg']:.2f}")
        c3.metric("fused", "no note" if not np.isfinite(row["p_fused"]) else f"{row['p_fused']:.2f}")
        if "call" in row and row["call"] == "unreadable":
            st.warning("This beat lies in a stretch too noisy to read: the model did not call it (not normal, not "
                       "abnormal); its probabilities are shown for completeness only.", icon=":material/blur_on:")
        why = context_reason(case, i)
        if why:
            st.info(f"Rhythm context: {why}.", icon=":material/info:")
        t = float(row["time_s"])
        t0 = min(max(0.0, t - 2.0), max(0.0, rec.duration_s - 4.0))  # 4 s around the beat, inside the record
        t1 = min(rec.duration_s, t0 + 4.0)
        li = rec.lead_names.index(case.beats.lead_names[0]) if case.beats.lead_names else 0
        st.plotly_chart(figs.ecg_strip(rec.signal[:, li], rec.fs, t0=t0, t1=t1, beats=case.table,
                                       reference=None if state.answers_hidden() else reference_frame(rec), lead_name=rec.lead_names[li],
                                       highlight_time_s=t, width_px=760), width="stretch")
    with right:
        st.subheader("Similar known beats")
        sim = memo((state.case_hash(), "similar", i), lambda: ex.similar_cases(case, bundle, i, k=5))
        assets = ex.explain_assets(bundle)
        if assets is not None and "index" in sim:
            labels = [f"{r.record}:{r.symbol} ({r.aami}), d={r.distance:.2f}" for r in sim.itertuples()]
            st.plotly_chart(xfigs.similar_beats(case.beats.windows[i, 0], [assets.index_window[j] for j in sim["index"]], labels),
                            width="stretch")
        st.dataframe(sim.drop(columns=["index"], errors="ignore").round(3), hide_index=True, width="stretch")
        st.caption("Nearest training beats (MIT-BIH DS1 + 102, 104; SVDB records 8xx) in the shared ECG–text space; "
                   "distance = 1 − cosine. "
                   "If the neighbours are mostly of one class, the model sees this beat as that kind of beat.")


def _shap_beat(case, bundle, ex, i: int) -> None:
    st.subheader("Which measurements pushed this beat's probability (SHAP)")
    e = memo((state.case_hash(), "shap", i), lambda: ex.shap_features(case, bundle, i))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(xfigs.shap_waterfall(e.feature_names, e.values, e.base_value, e.data, e.units),
                        width="stretch")
    with right:
        st.markdown(f"**base value {e.base_value:.3f} + contributions {np.sum(e.values):+.3f} = "
                    f"probability {e.base_value + np.sum(e.values):.3f}** (model output {e.prediction:.3f})")
        st.dataframe(shap_table(e.feature_names, e.values, e.base_value, e.data, e.units), hide_index=True,
                     width="stretch")
        method = e.meta.get("method", "exact enumeration")
        how = "Exact Shapley values" if method == "exact enumeration" else f"Shapley values estimated by {method}"
        st.caption(f"{how} over the clinical features against training beats; the waveform "
                   "shape and the note are held fixed. Red raises, blue lowers the abnormal probability.")


def _shap_record(case, bundle, ex) -> None:
    st.subheader("Across the record")
    r = on_demand((state.case_hash(), "shap_record"), lambda: ex.shap_record(case, bundle),
                  "Compute the record-level SHAP summary",
                  "SHAP of up to 40 beats of the record: about half a minute on a 2-core machine.")
    if r is None:
        return
    vals = pd.DataFrame(r.values, columns=r.feature_names)
    data = pd.DataFrame(r.data, columns=r.feature_names)
    st.plotly_chart(xfigs.shap_summary(vals, data), width="stretch")
    st.caption(f"{len(r.beat_index)} beats explained (flagged beats first, then a sample of the others).")


def _note(case, bundle, ex) -> None:
    st.subheader("What the model read in the note")
    note = state.case_note()
    if case.note is None or not note.strip():
        st.info("No note was given for this case, so there is nothing to explain here.")
        return
    enc = get_text_encoder()
    h = state.case_hash()
    att = memo((h, "attention"), lambda: ex.note_attention(note, enc))
    if is_fact_gated(case):
        _note_facts(case, bundle, ex, note, att)
        return
    c1, c2 = st.columns(2)
    with c1:
        _attention_column(note, att, "**BERT attention** (last layer, from [CLS])")
    with c2:
        st.markdown("**Integrated gradients** (effect on the fused probability)")
        grad = on_demand((h, "gradients"), lambda: ex.note_gradients(note, case, bundle, enc),
                         "Compute integrated gradients for the note",
                         "Integrated gradients run BERT once over 16 interpolation steps (forward and backward).")
        if grad is None:
            return
        st.markdown(note_highlight_html(note, grad, "normalised", color="213,94,0"), unsafe_allow_html=True)
        g = grad[["word", "attribution", "normalised", "sign"]]
        st.dataframe(g.reindex(g["attribution"].abs().sort_values(ascending=False).index).round(4),
                     hide_index=True, width="stretch", height=260)
    both = ex.attention_vs_gradient(att, grad)
    agree = both[both["agree"]]
    st.markdown("**Where they agree** (word in the top 5 of both): "
                + (", ".join(f"`{w}`" for w in agree["word"].astype(str)) if len(agree) else "no word is in both top 5s."))
    st.caption("Attention shows where BERT looked, not what changed the answer; integrated gradients measure what "
               "changed the fused probability. Words that rank high in both are the safest reading.")


def _attention_column(note: str, att: pd.DataFrame, title: str) -> None:
    """The note highlighted by last-layer attention, and the words ranked by it."""
    st.markdown(title)
    st.markdown(note_highlight_html(note, att, "normalised", color="0,114,178"), unsafe_allow_html=True)
    st.dataframe(att[["word", "raw", "normalised"]].sort_values("normalised", ascending=False).round(4),
                 hide_index=True, width="stretch", height=260)


def _note_facts(case, bundle, ex, note: str, att: pd.DataFrame) -> None:
    """v2 notes: last-layer attention beside integrated gradients of the recognised facts."""
    import hashlib

    st.markdown("**Attention is not an attribution.** The attention map shows where BERT looked; integrated "
                "gradients attribute each recognised fact, the only thing the model takes from the note, to the "
                "words that made it.")
    c1, c2 = st.columns(2)
    with c1:
        _attention_column(note, att, "**(a) BERT attention** (last layer, from [CLS])")
    with c2:
        st.markdown("**(b) Integrated gradients of the recognised facts**")
        key = (hashlib.sha1(note.encode("utf-8")).hexdigest()[:16], "fact_gradients")  # cached by note
        grad = on_demand(key, lambda: _cache.fact_gradients(note, bundle.version, model_dir(), IG_STEPS),
                         "Compute integrated gradients for the note",
                         f"Integrated gradients of each recognised fact's p(stated) over the word embeddings "
                         f"({IG_STEPS} steps per fact; a few seconds on a 2-core machine).")
        if grad is None:
            return
        facts = [c for c in grad.columns if c not in ("word", "start", "end", "clause", "total")]
        if not facts:
            st.info(f"No fact reached p(stated) ≥ {bundle.config.fact_tau:.2f} in this note, so the note changed "
                    "nothing and there is nothing to attribute.")
            return
        g = grad.copy()
        tot = g["total"].sum()
        g["normalised"] = g["total"] / tot if tot > 0 else 0.0
        net = g[facts].sum(axis=1)
        g["sign"] = np.where(net >= 0, "+", "−")
        st.markdown(note_highlight_html(note, g, "normalised", color="213,94,0"), unsafe_allow_html=True)
        p = case.note.facts
        st.caption("Recognised facts: " + ", ".join(f"**{f}** (p {p.get(f, float('nan')):.2f}, from "
                                                  f"“{case.note.fact_clauses.get(f, '')}”)" for f in facts))
        show = g[["word"] + facts + ["total"]]
        st.dataframe(show.reindex(show["total"].sort_values(ascending=False).index).round(4),
                     hide_index=True, width="stretch", height=260)
    both = ex.attention_vs_gradient(att, g)
    agree = both[both["agree"]]
    st.markdown("**Where they agree** (word in the top 5 of both): "
                + (", ".join(f"`{w}`" for w in agree["word"].astype(str)) if len(agree) else "no word is in both top 5s."))
    st.caption("Attribution per fact in probability units (sums over a clause's words to about p(clause) − p(baseline)); "
               "total = sum of |attribution| over the facts. Words outside the clause that carried a fact get 0 for it.")


def _saliency(case, bundle, ex, i: int) -> None:
    st.subheader("Where on the beat the ECG head looked (integrated gradients)")
    s = memo((state.case_hash(), "saliency", i), lambda: ex.beat_saliency(case, bundle, i))
    st.plotly_chart(xfigs.beat_saliency(case.beats.windows[i, 0], s), width="stretch")
    st.caption("Orange band and marker colour: |attribution| of each sample of the 1 s window (R peak at 0 ms), "
               "relative to a flat line.")


def body() -> None:
    st.title("Explanations")
    case = require_case()
    if case is None:
        return
    if not len(case.table):
        st.warning("No beats were found in this record, so there is nothing to explain.")
        return
    if not teaching_gate(case, "Explanations"):
        return
    ex = explain_module()
    if ex is None:
        st.info("Explanations are not available in this build (core.explain is missing).")
        return
    bundle = get_bundle()
    i = _pick_beat(case)
    with st.spinner("Explaining the beat…"):
        _section("Similar beats", _beat_view, case, bundle, ex, i)
        _section("SHAP for the beat", _shap_beat, case, bundle, ex, i)
        _section("Beat saliency", _saliency, case, bundle, ex, i)
    with st.spinner("Explaining the record and the note…"):
        _section("Record-level SHAP", _shap_record, case, bundle, ex)
        _section("Note explanation", _note, case, bundle, ex)


run_page(body)
