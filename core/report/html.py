"""The case as one self-contained HTML file.

``case_report_html`` writes a single file that opens offline in any browser: the plotly.js library is
inlined once (about 4.6 MB), every later figure reuses it, and every piece of text that came from
outside (the note, file names, the reader's own comments, header comments) goes through
``html.escape`` so a note containing ``<script>`` is shown as text, never run.

Order: the statements (clinically ordered, ``core.rhythm``) and the rhythm episodes first, then the
recording, the model output (unreadable beats counted apart; the ECG-note agreement only for v1 bundles;
for v2 the note's recognised facts and what the note changed), ECG strips, zero-shot, explanations, note.

Example
-------
>>> html_text = case_report_html(case, note=note_text)               # case from analyse_case
>>> Path("case.html").write_text(html_text, encoding="utf-8")        # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import html
from typing import Any, Mapping

import numpy as np
import pandas as pd

from core import config
from core.report import figures as figs
from core.report import figures_explain as xfigs
from core.report.tables import (
    DISCLAIMER,
    MAX_REPORT_ROWS,
    STRIP_S,
    beat_table,
    note_highlight_html,
    reference_confusion,
    reference_frame,
    shap_table,
    strip_window,
)


# ---- rhythm and note sections (v2 bundles) --------------------------------------------------------
#: rows of the "what the note changed" beat list
MAX_CHANGED_ROWS = 10


def episodes_table(episodes, max_rows: int = MAX_REPORT_ROWS) -> pd.DataFrame:
    """Rhythm episodes (``core.rhythm.Episode``) as shown in the report: name, label, start/end/duration (s)."""
    from core.rhythm.episodes import RHYTHM_NAMES

    eps = sorted(episodes, key=lambda e: (e.start_s, e.end_s))[:max_rows]
    return pd.DataFrame({"rhythm": [RHYTHM_NAMES.get(e.kind, e.kind) for e in eps], "label": [e.kind for e in eps],
                         "start (s)": [round(float(e.start_s), 1) for e in eps], "end (s)": [round(float(e.end_s), 1) for e in eps],
                         "duration (s)": [round(float(e.end_s - e.start_s), 1) for e in eps],
                         "confidence": [round(float(e.confidence), 2) for e in eps], "detail": [e.detail for e in eps]},
                        columns=["rhythm", "label", "start (s)", "end (s)", "duration (s)", "confidence", "detail"])


def facts_table(facts_used: Mapping[str, float], clauses: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The note's recognised facts (p(stated) at or above the model's ``fact_tau``) with the clause that carried each."""
    try:
        from core.text.facts import FACTS
        described = {f.name: f.description for f in FACTS}
    except ImportError:  # the vocabulary is optional here: the fact name alone still reads
        described = {}
    names = sorted(facts_used, key=lambda f: -float(facts_used[f]))
    return pd.DataFrame({"fact": names, "meaning": [described.get(f, "") for f in names],
                         "p(stated)": [round(float(facts_used[f]), 2) for f in names],
                         "from the note": [(clauses or {}).get(f, "") for f in names]},
                        columns=["fact", "meaning", "p(stated)", "from the note"])


def changed_beats_table(table: pd.DataFrame, changed: list[int], max_rows: int = MAX_CHANGED_ROWS) -> pd.DataFrame:
    """The first beats whose flag differs between the ECG-only view and the fused view (with the note)."""
    idx = [i for i in changed if 0 <= i < len(table)][:max_rows]
    t = table.iloc[idx]
    fused_flag = t["predicted"].astype(int).to_numpy() if "predicted" in t else np.zeros(len(t), int)
    return pd.DataFrame({"beat": idx, "time (s)": t["time_s"].round(2).to_numpy(), "p ECG only": t["p_ecg"].round(3).to_numpy(),
                         "p with note": t["p_fused"].round(3).to_numpy(),
                         "flag": ["abnormal -> normal" if f == 0 else "normal -> abnormal" for f in fused_flag]})


def _note_effect_html(case, esc) -> list[str]:
    """The recognised facts and what the note changed (v2 ``case.note_effect``); nothing for v1 or without a note."""
    eff = getattr(case, "note_effect", None) or {}
    if getattr(case, "note", None) is None or not eff:
        return []
    out = ["<h3>What the note changed</h3>"]
    used = eff.get("facts_used") or {}
    if used:
        out.append("<p>Facts the model recognised in the note (only these move the fused prediction):</p>")
        out.append(_table_html(facts_table(used, getattr(case.note, "fact_clauses", {}))))
    else:
        out.append("<p>The note states none of the facts the model reads: the fused view equals the ECG-only view.</p>")
    n = int(eff.get("n_changed", 0))
    out.append(f"<p>Record p(abnormal) without the note {eff.get('p_record_without_note', float('nan')):.2f}, with the note "
               f"{eff.get('p_record_with_note', float('nan')):.2f}; {n} beat{'' if n == 1 else 's'} changed flag"
               f"{' (first ' + str(MAX_CHANGED_ROWS) + ' below)' if n > MAX_CHANGED_ROWS else ''}.</p>")
    if n:
        out.append(_table_html(changed_beats_table(case.table, list(eff.get("changed_beats", [])))))
    return out


# ---- the report --------------------------------------------------------------------------------

_CSS = """
body { font-family: 'Source Sans Pro', Arial, sans-serif; font-size: 17px; color: #111; max-width: 1180px;
       margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.9em; margin-bottom: 0.1em; } h2 { border-bottom: 2px solid #0072B2; padding-bottom: 3px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.95em; }
th, td { border: 1px solid #bbb; padding: 4px 8px; text-align: right; } th { background: #eef4fa; }
td:first-child, th:first-child { text-align: left; }
.disclaimer { background: #fff4e5; border-left: 5px solid #E69F00; padding: 8px 12px; }
.verdict-abnormal { color: #D55E00; font-weight: bold; } .verdict-normal { color: #0072B2; font-weight: bold; }
.verdict-unreadable { color: #7a5c00; font-weight: bold; }
.note { background: #fafafa; border: 1px solid #ddd; padding: 10px 14px; white-space: pre-wrap; }
.meta { color: #444; }
.warn { background: #fdecea; border-left: 5px solid #D55E00; padding: 6px 12px; }
"""


def _table_html(df: pd.DataFrame, index: bool = False) -> str:
    # DataFrame.to_html escapes cell text by default (escape=True).
    return df.to_html(index=index, escape=True, border=0, na_rep="–", float_format=lambda x: f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}")


class _FigureWriter:
    """Figures as <div>s: plotly.js inlined with the first, reused by the rest."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig) -> str:
        out = fig.to_html(full_html=False, include_plotlyjs="inline" if self.first else False,
                          config={"displaylogo": False, "responsive": True})
        self.first = False
        return out


def case_report_html(case: Any, *, note: str | None = None, explanation: Any = None, beat_index: int | None = None,
                     attention: pd.DataFrame | None = None, gradients: pd.DataFrame | None = None,
                     saliency: np.ndarray | None = None, zeroshot: Any = None, user_read: Mapping[str, str] | None = None,
                     lead: int = 0, generated_at: _dt.datetime | None = None, source_label: str | None = None,
                     thresholds: Mapping[str, float] | None = None, omitted: Mapping[str, str] | None = None) -> str:
    """Self-contained HTML report of one analysed case.

    Parameters
    ----------
    case : ``core.predict.CaseResult``.
    note : the clinical note as typed (defaults to the note the model read).
    explanation : ``core.explain.Explanation`` of ``beat_index`` (SHAP waterfall and table 6).
    attention, gradients : note word tables (``note_attention``, ``note_gradients``).
    saliency : integrated-gradients saliency of ``beat_index``'s window, 360 values.
    zeroshot : ``core.zeroshot.ZeroShotResult``.
    user_read : the reader's own read in teaching mode, ``{'call': ..., 'comment': ...}``.
    lead : index of the record lead drawn in the strips.
    generated_at : timestamp written in the report (default: now, local time).
    source_label : where the case came from (example name, uploaded file names).
    thresholds : beat threshold of each head (``bundle.config.thresholds``) for the head comparison.
    omitted : sections that could not be computed, ``{name: reason}``; each is written as
        "<name> omitted: <reason>" so a missing section is never silent.
    """
    rec = case.record
    table = case.table
    when = (generated_at or _dt.datetime.now().astimezone()).isoformat(timespec="seconds")
    note_text = note if note is not None else (case.note.text if getattr(case, "note", None) else "")
    fig = _FigureWriter()
    esc = html.escape
    out: list[str] = []
    add = out.append
    add(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>CardioLens report: {esc(rec.name)}</title>"
        f"<style>{_CSS}</style></head><body>")
    add(f"<h1>CardioLens case report: {esc(rec.name)}</h1>")
    add(f"<p class='meta'>Generated {esc(when)} · model {esc(str(case.model_version))} · "
        f"source {esc(source_label or rec.source_format or 'unknown')}</p>")
    add(f"<p class='disclaimer'>{esc(DISCLAIMER)}</p>")

    # -- the reading a clinician writes first: statements (clinically ordered), then the rhythm episodes
    rhythm = getattr(case, "rhythm", None)
    statements = list(rhythm.statements) if rhythm is not None else list(getattr(case, "statements", []) or [])
    if statements:
        add("<h2>Statements</h2><ol class='statements'>" + "".join(f"<li>{esc(x)}</li>" for x in statements) + "</ol>")
    if rhythm is not None:
        add("<h2>Rhythm episodes</h2>")
        if rhythm.episodes:
            more = len(rhythm.episodes) - MAX_REPORT_ROWS
            add(_table_html(episodes_table(rhythm.episodes)))
            if more > 0:
                add(f"<p>{more} more episodes not shown.</p>")
        else:
            add("<p>No rhythm episode was found.</p>")

    # -- what was read
    add("<h2>Recording</h2>")
    info = pd.DataFrame({
        "item": ["leads", "sampling rate", "duration", "beats detected", "reference annotations"],
        "value": [", ".join(rec.lead_names), f"{rec.fs:g} Hz", f"{rec.duration_s:.1f} s", str(len(table)),
                  "yes" if rec.annotations is not None else "no"],
    })
    add(_table_html(info))
    if rec.comments:
        add("<p><b>Header comments:</b> " + esc(" ".join(rec.comments)) + "</p>")
    for n in case.notices:
        add(f"<p class='warn'>{esc(n)}</p>")

    # -- verdict
    add("<h2>Model output</h2>")
    verdict = str(case.verdict)
    p_shown = case.p_record.get("shown", float("nan"))
    n_unread = int(table["unreadable"].sum()) if "unreadable" in table and len(table) else 0
    unread = (f" {n_unread} beat{'' if n_unread == 1 else 's'} in unreadable stretches, not scored and counted apart."
              if n_unread else "")
    add(f"<p>Record verdict: <span class='verdict-{esc(verdict.split()[0])}'>{esc(verdict)}</span> "
        f"(record p(abnormal) {p_shown:.2f}, view: {esc(case.view)}, beat threshold {case.threshold:.2f}); "
        f"{case.n_flagged} of {len(table) - n_unread} {'readable ' if n_unread else ''}beats flagged abnormal.{unread}</p>")
    heads = pd.DataFrame({"head": ["ECG only", "note only", "fused"],
                          "record p(abnormal)": [case.p_record.get(k, np.nan) for k in ("ecg", "note", "fused")]})
    add(_table_html(heads))
    if case.agreement is not None:
        add(f"<p>ECG–note agreement (cosine in the shared space): {case.agreement:+.2f}.</p>")
    add(fig(figs.head_comparison(case.p_record, thresholds or case.threshold)))
    out.extend(_note_effect_html(case, esc))

    if user_read:
        add("<h2>Reader's own read (teaching mode)</h2>")
        add(f"<p>Call: <b>{esc(str(user_read.get('call', '')))}</b></p>")
        if user_read.get("comment"):
            add(f"<div class='note'>{esc(str(user_read['comment']))}</div>")

    # -- ECG strips
    add("<h2>ECG</h2>")
    sel_t = None
    if beat_index is not None and 0 <= beat_index < len(table):
        sel_t = float(table["time_s"].iloc[beat_index])
    elif len(table):
        sel_t = float(table["time_s"].iloc[int(np.nanargmax(table["p_abnormal"].to_numpy(float)))]) \
            if np.isfinite(table["p_abnormal"].to_numpy(float)).any() else None
    t0, t1 = strip_window(sel_t, rec.duration_s)
    ref = reference_frame(rec)
    lead_name = rec.lead_names[lead] if lead < rec.n_leads else ""
    add(fig(figs.ecg_strip(rec.signal[:, lead], rec.fs, t0=t0, t1=t1, beats=table, reference=ref,
                           lead_name=lead_name, highlight_time_s=sel_t,
                           title=f"{lead_name}, {t0:.1f}–{t1:.1f} s (25 mm/s, 10 mm/mV)")))
    if rec.duration_s > STRIP_S:
        add(fig(figs.overview_strip(rec.signal[:, lead], rec.fs, table, window=(t0, t1))))
    add(fig(figs.probability_timeline(table, case.threshold, selected_time_s=sel_t)))
    conf = reference_confusion(table)
    if conf is not None:
        add("<h3>Reference annotations vs predicted (beats)</h3>")
        add(_table_html(conf, index=True))
    add(f"<h3>Beats{' (flagged first, first ' + str(MAX_REPORT_ROWS) + ')' if len(table) > MAX_REPORT_ROWS else ''}</h3>")
    add(_table_html(beat_table(table, MAX_REPORT_ROWS)))

    # -- zero-shot
    if zeroshot is not None:
        add("<h2>Zero-shot labels</h2>")
        add(f"<p>Softmax over labels of cosine similarity between beat and prompt embeddings "
            f"(temperature {zeroshot.temperature:g})"
            + ("; multiplied by the trained ECG-only detector's normal-vs-abnormal opinion, one factor for all abnormal labels"
               if getattr(zeroshot, "gated", False) else "") + ".</p>")
        beat_row = None
        if sel_t is not None and len(zeroshot.beat_probs):
            i = int(np.argmin(np.abs(zeroshot.beat_probs["time_s"].to_numpy(float) - sel_t)))
            beat_row = zeroshot.beat_probs.iloc[i][zeroshot.labels].astype(float)
        add(fig(figs.zeroshot_bars(zeroshot.record_probs, beat_row)))
        add(_table_html(zeroshot.record_probs.rename("p").round(3).reset_index().rename(columns={"index": "label"})))

    # -- explanations
    if explanation is not None:
        add(f"<h2>Why beat {beat_index} ({'' if sel_t is None else f'{sel_t:.2f} s'})</h2>")
        add(fig(xfigs.shap_waterfall(explanation.feature_names, explanation.values, explanation.base_value,
                                    explanation.data, explanation.units)))
        add(_table_html(shap_table(explanation.feature_names, explanation.values, explanation.base_value,
                                   explanation.data, explanation.units)))
    if saliency is not None and beat_index is not None and 0 <= beat_index < len(case.beats):
        add(fig(xfigs.beat_saliency(case.beats.windows[beat_index, 0], saliency,
                                   title="Integrated gradients on the beat (where the ECG head looked)")))

    add("<h2>Clinical note</h2>")
    if attention is not None and len(attention):
        add("<p>Words shaded by BERT attention (darker = more attention; the top words are underlined).</p>")
        add(note_highlight_html(note_text, attention))
        cols = [c for c in ("word", "raw", "normalised") if c in attention]
        att = attention[cols].sort_values(cols[-1], ascending=False).head(15) if cols else attention.head(15)
        add(_table_html(att.round(4)))
        if gradients is not None and len(gradients):
            gcols = [c for c in ("word", "attribution", "normalised", "sign") if c in gradients]
            add("<p>Integrated-gradients attribution of each word to the fused prediction:</p>")
            add(_table_html(gradients[gcols].reindex(gradients["attribution"].abs().sort_values(ascending=False).index)
                            .head(15).round(4) if "attribution" in gradients else gradients[gcols].head(15)))
    else:
        add(note_highlight_html(note_text) if note_text else "<p>No note was given: the ECG-only head was used.</p>")

    if omitted:
        add("<h2>Omitted sections</h2>")
        for name, reason in omitted.items():
            add(f"<p class='warn'>{esc(name)} omitted: {esc(reason)}</p>")

    add("<h2>Model</h2>")
    add(f"<p>Model version {esc(str(case.model_version))}; beats cut at {config.MODEL_FS:g} Hz in "
        f"{config.BEAT_WINDOW}-sample windows. Training data: MIT-BIH Arrhythmia Database (inter-patient split, "
        f"de Chazal et al. 2004); notes constructed from record headers and annotations.</p>")
    add(f"<p class='disclaimer'>{esc(DISCLAIMER)}</p></body></html>")
    return "\n".join(out)
