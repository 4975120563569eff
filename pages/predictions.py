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
from core.predict import CONFIDENT_P, UNREADABLE_RECORD_SHARE
from core.report import figures as figs
from core.report.tables import beat_table, reference_confusion
from pages._common import (beat_label, context_reason, get_bundle, get_text_encoder, is_fact_gated, memo, require_case,
                           run_page, selected_beat, teaching_gate)

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


def _statements(case) -> None:
    """The record verdict as a clinician would write it (v2: the rhythm reading's statements)."""
    st.subheader("Record reading")
    lines = case.statements or ["No rhythm statement (too few beats to read a rhythm)."]
    level = case.rhythm.confident_p
    one_beat = (f"≥ {CONFIDENT_P:.2f} (lower on a short record, where a normal beat seldom gets that high)"
                if level >= CONFIDENT_P else f"≥ {level:.2f} for a record this short ({CONFIDENT_P:.2f} on a Holter)")
    badge = {"abnormal": ":red-badge[:material/warning: Abnormal]", "normal": ":green-badge[:material/check: Normal]",
             "unreadable": ":orange-badge[:material/blur_on: Unreadable]"}
    with st.container(border=True):
        st.markdown(badge.get(case.verdict, f":gray-badge[{case.verdict}]"))
        st.markdown("\n".join(f"- {s}" for s in lines))
    st.caption("Verdict rule: abnormal when the rhythm reading finds an abnormal rhythm episode (AF, flutter, SVT, VT, "
               "bigeminy, trigeminy, pause, first-degree AV block, pacing) or at least one beat with calibrated "
               f"p(abnormal) {one_beat}; sinus brady-/tachycardia are reported with their rate.")


def _verdict(case, bundle) -> None:
    table = case.table
    v2 = is_fact_gated(case)
    if v2:
        _statements(case)
    cols = st.columns(4)
    cols[0].metric("Record verdict", case.verdict)
    cols[1].metric(f"Record p(abnormal), {'fused' if case.view == 'fused' else 'ECG only'}",
                   "–" if not np.isfinite(case.p_record["shown"]) else f"{case.p_record['shown']:.2f}",
                   help="Mean of the top 5 % of the readable beats' probabilities (at least 3 beats): how abnormal the record's worst "
                        "beats look together. The verdict does not come from it: one confidently abnormal beat or one "
                        "abnormal rhythm episode is enough, so a strip with a single clear ectopic beat can read "
                        "abnormal at a low record probability." if v2 else None)
    n_unread = int(table["unreadable"].sum()) if "unreadable" in table else 0
    n_called = len(table) - n_unread
    cols[2].metric("Beats flagged abnormal", f"{case.n_flagged} / {n_called if v2 else len(table)}",
                   help="Out of the beats the model called (unreadable beats are counted apart)." if v2 else None)
    if v2:
        cols[3].metric("Unreadable beats", f"{n_unread} / {len(table)}",
                       help="Beats in stretches too noisy to read (signal-quality rule): not normal, not abnormal, "
                            "never flagged and left out of the counts above.")
    else:  # v1 only: v2 models have no ECG-note agreement (the note enters through its recognised facts)
        cols[3].metric("ECG–note agreement", "no note" if case.agreement is None else f"{case.agreement:+.2f}",
                       help="Cosine similarity of the record's mean ECG embedding and the note embedding in the shared space "
                            "(+1 same direction, 0 unrelated, −1 opposite).")
        st.caption(f"Verdict rule: abnormal when at least max(3, 1 % of beats) beats reach the beat threshold "
                   f"{case.threshold:.2f}; record probability = mean of the top 5 % of beat probabilities.")
    if case.verdict == "not enough beats":
        st.warning("Fewer than two beats were found, so no record verdict is given: upload a longer or cleaner recording.")
    if case.verdict == "unreadable":
        st.warning(f"{n_unread} of {len(table)} beats lie in stretches too noisy to read, so no record verdict is "
                   f"given (at least {UNREADABLE_RECORD_SHARE:.0%} unreadable): check the electrodes and record again, "
                   "or upload a cleaner stretch. The readable beats are still shown.")

    # v2: the note has no reading of its own, it acts only through the recognised facts (What the note changed)
    keys = (("ecg", "ECG only", "p_ecg"), ("fused", "fused", "p_fused")) if v2 else \
        (("ecg", "ECG only", "p_ecg"), ("note", "note only", "p_note"), ("fused", "fused", "p_fused"))
    st.subheader("ECG only and ECG + note (fused)" if v2 else "ECG only, note only, fused")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figs.head_comparison(case.p_record, bundle.config.thresholds, heads=tuple(k for k, _, _ in keys)),
                        width="stretch")
    with right:
        th = bundle.config.thresholds
        heads = pd.DataFrame({
            "head": [lab for _, lab, _ in keys],
            "p record": [case.p_record.get(k, np.nan) for k, _, _ in keys],
            "threshold": [th.get(k, np.nan) for k, _, _ in keys],
            "flagged": [int((table[c] >= th.get(k, 0.5)).sum()) if table[c].notna().any() else None
                        for k, _, c in keys],
        })
        if v2:  # unreadable beats are never flagged
            ok = table["unreadable"].to_numpy(int) == 0
            heads["flagged"] = [int(((table[c] >= th.get(k, 0.5)) & ok).sum()) if table[c].notna().any() else None
                                for k, _, c in keys]
        st.dataframe(heads, hide_index=True, width="stretch",
                     column_config={"p record": st.column_config.NumberColumn(format="%.2f"),
                                    "threshold": st.column_config.NumberColumn(format="%.2f")})
        if case.note is None:
            st.info("No note was given: only the ECG-only head was run.")
        msg = _disagreement(case, th) if not v2 else None
        if msg:
            st.warning(msg, icon=":material/warning:")
    if v2:
        _note_effect(case, bundle)


def _note_effect(case, bundle) -> None:
    """What the note changed (v2): record p without / with the note, the beats whose flag differs, the facts."""
    st.subheader("What the note changed")
    eff = case.note_effect or {}
    if case.note is None or not eff:
        st.info("No note was given: the reading is ECG-only, so the note changed nothing.")
        return
    table = case.table
    p0, p1 = float(eff.get("p_record_without_note", np.nan)), float(eff.get("p_record_with_note", np.nan))
    c1, c2, c3 = st.columns(3)
    c1.metric("Record p(abnormal) without the note", f"{p0:.2f}")
    c2.metric("with the note", f"{p1:.2f}", delta=f"{p1 - p0:+.2f}", delta_color="off")
    c3.metric("Beats whose flag changed", f"{eff.get('n_changed', 0)} / {len(table)}")
    tau = float(bundle.config.fact_tau)
    facts = case.note.facts or {}
    used = {f: p for f, p in facts.items() if p >= tau}
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Recognised facts** (p(stated) ≥ {tau:.2f}; only these can move a probability)")
        if used:
            st.dataframe(pd.DataFrame({"fact": list(used), "p(stated)": [round(p, 2) for p in used.values()],
                                       "clause that carried it": [case.note.fact_clauses.get(f, "") for f in used]}),
                         hide_index=True, width="stretch")
        else:
            st.caption("No fact was recognised in the note, so the fused reading is exactly the ECG-only one.")
        below = {f: p for f, p in facts.items() if 0.3 <= p < tau}
        if below:
            st.caption("Read but below the threshold (not used): "
                       + ", ".join(f"{f} {p:.2f}" for f, p in sorted(below.items(), key=lambda x: -x[1])))
    with right:
        changed = [int(i) for i in eff.get("changed_beats", [])]
        st.markdown("**Beats whose flag differs** between ECG-only and fused")
        if not changed:
            st.caption("None: every beat has the same flag with and without the note.")
        else:
            th = bundle.config.thresholds
            sub = table.iloc[changed]
            before = np.where(sub["p_ecg"] >= th.get("ecg", 0.5), "abnormal", "normal")
            after = sub["call"].to_numpy() if "call" in sub else np.where(sub["predicted"] == 1, "abnormal", "normal")
            st.dataframe(pd.DataFrame({
                "beat": changed, "time (s)": sub["time_s"].round(2).to_numpy(),
                "p ECG only": sub["p_ecg"].round(3).to_numpy(), "p fused": sub["p_fused"].round(3).to_numpy(),
                "flag: ECG only → fused": [f"{a} → {b}" for a, b in zip(before, after)]}),
                hide_index=True, width="stretch", height=min(36 * (len(changed) + 1) + 2, 300))
            st.caption(f"ECG-only threshold {th.get('ecg', 0.5):.2f}, fused threshold {th.get('fused', 0.5):.2f}.")


def _beats(case, bundle) -> None:
    table = case.table
    st.subheader("Beats")
    calls = table["call"] if "call" in table else table["predicted"].map({0: "normal", 1: "abnormal"})
    counts = calls.value_counts().reindex(["normal", "abnormal", "unreadable"], fill_value=0)
    if "call" not in table:
        counts = counts.drop("unreadable")
    c1, c2 = st.columns([1, 2])
    with c1:
        st.dataframe(counts.rename("beats").rename_axis("call").reset_index(), hide_index=True)
        if "call" in table:
            st.caption("Unreadable: beats in stretches too noisy to read; not normal, not abnormal, never flagged.")
        conf = reference_confusion(table)
        if conf is not None:
            st.markdown("**Reference (file annotations) vs predicted**")
            st.dataframe(conf, width="stretch")
            trained = list(bundle.config.abnormal_classes)
            unseen = [c for c in "SVFQ" if c not in trained]
            st.caption("Rows: AAMI class of the reference annotation (N normal, S supraventricular, V ventricular, "
                       f"F fusion, Q paced/unknown). The model was trained on N vs {', '.join(trained)}"
                       + (f"; {' and '.join(unseen)} {'was' if len(unseen) == 1 else 'were'} never shown to it." if unseen else "."))
    with c2:
        sel = selected_beat(case)
        st.plotly_chart(figs.probability_timeline(table, case.threshold,
                                                  selected_time_s=None if sel is None else float(table["time_s"].iloc[sel])),
                        width="stretch")
        why = context_reason(case, sel)
        if why:
            st.info(f"Rhythm context for the selected beat ({beat_label(case, sel)}): {why}.", icon=":material/info:")
    bt = beat_table(table)
    if "call" in table:
        bt["predicted"] = table["call"].to_numpy()  # three calls: normal, abnormal, unreadable
        bt = bt.rename(columns={"predicted": "call"})
    if is_fact_gated(case):
        bt = bt.drop(columns=["p_note"], errors="ignore")
    if is_fact_gated(case) and case.rhythm.context_reason is not None:
        bt["rhythm context"] = case.rhythm.context_reason
    st.dataframe(bt, hide_index=True, width="stretch", height=320,
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
               "ECG–text space (softmax over labels). Edit, add or remove prompts; the scores update. Which abnormal "
               "type a beat is comes from the prompts only; with the switch on, whether it is normal also weighs the "
               "trained detector.")
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
    gate = st.toggle("Normal from the trained detector", value=True, key="zeroshot_gate",
                     help="On: the prompts' scores are multiplied by the trained detector's normal-vs-abnormal "
                          "opinion (a product of experts; normal is a trained class, Socher et al. 2013), the same factor "
                          "for every abnormal label. Off: every label, N too, is scored by the prompts alone (CLIP, seed 001).")
    enc = get_text_encoder()
    res = memo((state.case_hash(), "zeroshot", _table_key(prompts), gate),
               lambda: score_case(case, prompts, bundle, enc, gate=gate))
    if gate and not res.gated:
        st.caption("No label is called N or normal, so every label is scored by the prompts alone.")
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
                r = memo((state.case_hash(), "zeroshot", _table_key(sub), gate),
                         lambda sub=sub: score_case(case, sub, bundle, enc, gate=gate))
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
    _beats(case, bundle)
    _zeroshot(case, bundle)


run_page(body)
