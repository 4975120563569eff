"""Predictions page: record verdict, ECG-only / note-only / fused heads, per-beat table, zero-shot."""
from __future__ import annotations

import logging

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core import config
from pages import _state as state
from pages._state import Key
from core.report import figures as figs
from core.report.tables import beat_table, reference_confusion
from pages._common import (beat_label, get_bundle, get_text_encoder, memo, require_case, run_page, selected_beat,
                           teaching_gate)

_PROMPT_COLUMNS = ["label", "prompt", "kind", "source"]

log = logging.getLogger(__name__)


def _disagreement(case, thresholds: dict) -> str | None:
    """A plain sentence when the note and the ECG point different ways, else None."""
    p = case.p_record
    if case.note is None or not np.isfinite(p.get("note", np.nan)):
        return None
    ecg_abn = p["ecg"] >= thresholds.get("ecg", 0.5)
    note_abn = p["note"] >= thresholds.get("note", 0.5)
    parts = []
    if ecg_abn != note_abn:
        parts.append(f"the note alone reads **{'abnormal' if note_abn else 'normal'}** "
                     f"(p {p['note']:.2f}) while the ECG alone reads **{'abnormal' if ecg_abn else 'normal'}** (p {p['ecg']:.2f})")
    if case.agreement is not None and case.agreement < 0:
        parts.append(f"the note and the ECG point in opposite directions in the shared space (agreement {case.agreement:+.2f})")
    if not parts:
        return None
    return ("Note and ECG disagree: " + "; ".join(parts) + ". Check the note belongs to this recording and "
            "read the strip yourself; the fused result leans on both.")


def _verdict(case, bundle) -> None:
    table = case.table
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Record verdict", case.verdict)
    c2.metric(f"Record p(abnormal), {'fused' if case.view == 'fused' else 'ECG only'}",
              "–" if not np.isfinite(case.p_record["shown"]) else f"{case.p_record['shown']:.2f}")
    c3.metric("Beats flagged abnormal", f"{case.n_flagged} / {len(table)}")
    c4.metric("ECG–note agreement", "no note" if case.agreement is None else f"{case.agreement:+.2f}",
              help="Cosine similarity of the record's mean ECG embedding and the note embedding in the shared space "
                   "(+1 same direction, 0 unrelated, −1 opposite).")
    st.caption(f"Verdict rule: abnormal when at least max(3, 1 % of beats) beats reach the beat threshold "
               f"{case.threshold:.2f}; record probability = mean of the top 5 % of beat probabilities.")
    if case.verdict == "not enough beats":
        st.warning("Fewer than two beats were found, so no record verdict is given: upload a longer or cleaner recording.")

    st.subheader("ECG only, note only, fused")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figs.head_comparison(case.p_record, bundle.config.thresholds), width="stretch")
    with right:
        th = bundle.config.thresholds
        heads = pd.DataFrame({
            "head": ["ECG only", "note only", "fused"],
            "p record": [case.p_record.get(k, np.nan) for k in ("ecg", "note", "fused")],
            "threshold": [th.get(k, np.nan) for k in ("ecg", "note", "fused")],
            "flagged": [int((table[c] >= th.get(k, 0.5)).sum()) if table[c].notna().any() else None
                              for c, k in (("p_ecg", "ecg"), ("p_note", "note"), ("p_fused", "fused"))],
        })
        st.dataframe(heads, hide_index=True, width="stretch",
                     column_config={"p record": st.column_config.NumberColumn(format="%.2f"),
                                    "threshold": st.column_config.NumberColumn(format="%.2f")})
        if case.note is None:
            st.info("No note was given: only the ECG-only head was run.")
        msg = _disagreement(case, th)
        if msg:
            st.warning(msg, icon=":material/warning:")


def _beats(case) -> None:
    table = case.table
    st.subheader("Beats")
    counts = table["predicted"].map({0: "normal", 1: "abnormal"}).value_counts().reindex(["normal", "abnormal"], fill_value=0)
    c1, c2 = st.columns([1, 2])
    with c1:
        st.dataframe(counts.rename("beats").rename_axis("predicted").reset_index(), hide_index=True)
        conf = reference_confusion(table)
        if conf is not None:
            st.markdown("**Reference (file annotations) vs predicted**")
            st.dataframe(conf, width="stretch")
            st.caption("Rows: AAMI class of the reference annotation (N normal, S supraventricular, V ventricular, "
                       "F fusion, Q paced/unknown). The model was trained on N vs S and Q; V and F were never shown to it.")
    with c2:
        sel = selected_beat(case)
        st.plotly_chart(figs.probability_timeline(table, case.threshold,
                                                  selected_time_s=None if sel is None else float(table["time_s"].iloc[sel])),
                        width="stretch")
    st.dataframe(beat_table(table), hide_index=True, width="stretch", height=320,
                 column_config={"p_abnormal": st.column_config.ProgressColumn("p_abnormal", min_value=0.0, max_value=1.0,
                                                                              format="%.2f"),
                                "time_s": st.column_config.NumberColumn("time (s)", format="%.2f"),
                                "rr_pre_ms": st.column_config.NumberColumn("RR before (ms)", format="%.0f"),
                                "qrs_ms": st.column_config.NumberColumn("QRS (ms)", format="%.0f"),
                                "pr_ms": st.column_config.NumberColumn("PR (ms)", format="%.0f")})


# ---- zero-shot ---------------------------------------------------------------------------------

def _bank() -> pd.DataFrame:
    from core.zeroshot import load_prompts

    return load_prompts(config.DEFAULT_PROMPT_BANK)[_PROMPT_COLUMNS]


def _reset_prompts() -> None:
    bank = _bank()
    state.put(Key.PROMPT_BASE, bank)
    state.put(Key.PROMPTS, bank)
    state.put(Key.PROMPT_GEN, state.get(Key.PROMPT_GEN, 0) + 1)


def _table_key(df: pd.DataFrame) -> str:
    return hashlib.sha1(pd.util.hash_pandas_object(df.astype(str), index=False).values.tobytes()).hexdigest()[:16]


def _zeroshot(case, bundle) -> None:
    from core.zeroshot import PromptError, load_prompts, score_case

    st.subheader("Zero-shot labels from text prompts")
    st.caption("Each label is scored by how close the beat's ECG embedding is to the label's prompts in the shared "
               "ECG–text space (softmax over labels). Edit, add or remove prompts; the scores update.")
    if not state.has(Key.PROMPT_BASE):
        _reset_prompts()
    key = f"prompt_editor_{state.get(Key.PROMPT_GEN, 0)}"
    if not state.has(key):  # the editor's edits are dropped while another page shows: start from them
        state.put(Key.PROMPT_BASE, state.get(Key.PROMPTS))
    edited = st.data_editor(
        state.get(Key.PROMPT_BASE), num_rows="dynamic", key=key, width="stretch", height=300,
        column_config={"label": st.column_config.TextColumn("label", required=True),
                       "prompt": st.column_config.TextColumn("prompt", width="large", required=True),
                       "kind": st.column_config.SelectboxColumn("kind", options=["name", "descriptive", ""]),
                       "source": st.column_config.TextColumn("source")})
    state.put(Key.PROMPTS, edited)
    st.button("Reset to the prompt bank", on_click=_reset_prompts, icon=":material/restart_alt:")
    try:
        prompts = load_prompts(edited)
    except PromptError as exc:
        log.exception("prompt table refused")
        st.error(str(exc))
        return
    enc = get_text_encoder()
    res = memo((state.case_hash(), "zeroshot", _table_key(prompts)),
               lambda: score_case(case, prompts, bundle, enc))
    state.set_last_zeroshot(res)  # the Report page includes it
    if not len(res.beat_probs):
        st.info("No beats, so nothing to score.")
        return
    sel = selected_beat(case)
    beat_row = res.beat_probs.iloc[sel][res.labels].astype(float) if sel is not None else None
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figs.zeroshot_bars(res.record_probs, beat_row, beat_label="selected beat"),
                        width="stretch")
        if sel is not None:
            st.caption(f"Selected beat: {beat_label(case, sel)} (change it on the Waveform or Explanations page).")
    with right:
        st.markdown("**Names vs descriptions** (record probability per label, scored with only one kind of prompt)")
        comp = {"all": res.record_probs}
        for kind in ("name", "descriptive"):
            sub = prompts[prompts["kind"] == kind]
            if sub["label"].nunique() >= 2:
                r = memo((state.case_hash(), "zeroshot", _table_key(sub)), lambda sub=sub: score_case(case, sub, bundle, enc))
                comp["names" if kind == "name" else "descriptions"] = r.record_probs
        st.dataframe(pd.DataFrame(comp).reindex(res.labels).round(3), width="stretch")
        if "ref_class" in case.table:
            ref = case.table["ref_class"].replace("", np.nan).dropna()
            if len(ref):
                st.caption("Reference classes in this record: "
                           + ", ".join(f"{k} {v}" for k, v in ref.value_counts().items()))
    st.markdown("**Top-3 labels per beat**")
    st.dataframe(res.top_k.round(3), hide_index=True, width="stretch", height=240)


def body() -> None:
    st.title("Predictions")
    case = require_case()
    if case is None:
        return
    if not teaching_gate(case, "Predictions"):
        return
    bundle = get_bundle()
    _verdict(case, bundle)
    _beats(case)
    _zeroshot(case, bundle)


run_page(body)
