"""Small tables and HTML snippets shared by the pages and the HTML report (beat table, SHAP table,
reference confusion, strip window, note highlighting), and the disclaimer both show.
"""
from __future__ import annotations

import html
from typing import Mapping

import numpy as np
import pandas as pd

from core.signal.beats import reference_beats
from core.report.figures import format_value


DISCLAIMER = ("CardioLens is a research and teaching tool, not a diagnostic device: its output must not be used "
              "to diagnose or treat patients.")
#: AAMI EC57 classes in their usual order.
AAMI_ORDER = ("N", "S", "V", "F", "Q")
#: Length of the ECG strips shown (s): 10 s, as on a standard rhythm strip.
STRIP_S = 10.0
#: Largest number of beat rows written into the report table (the flagged beats first).
MAX_REPORT_ROWS = 60


# ---- small shared tables ---------------------------------------------------------------------

def reference_confusion(table: pd.DataFrame) -> pd.DataFrame | None:
    """Reference AAMI class (rows) x predicted class (columns) beat counts; None without a reference.

    Beats the reference does not label (detections matched to no annotation) are counted in the row
    ``unmatched`` so every detected beat appears once.
    """
    if "ref_class" not in table or not len(table):
        return None
    ref = table["ref_class"].fillna("").astype(str).replace("", "unmatched")
    pred = np.where(table["predicted"].astype(int) == 1, "abnormal", "normal")
    ct = pd.crosstab(pd.Categorical(ref, categories=[*AAMI_ORDER, "unmatched"]),
                     pd.Categorical(pred, categories=["normal", "abnormal"]), dropna=False)
    ct.index.name, ct.columns.name = "reference", "predicted"
    ct = ct[ct.sum(axis=1) > 0]
    return ct


def shap_table(feature_names, values, base_value: float, data=None, units=None,
               descriptions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Seed 000 table 6: feature, its value with unit, SHAP value and its plain-words impact, sorted by
    |SHAP|, then the base value and the prediction (= base + sum of SHAP values)."""
    v = np.asarray(values, float)
    d = list(data) if data is not None else [np.nan] * len(v)
    u = list(units) if units is not None else [""] * len(v)
    rows = []
    for i in np.argsort(-np.abs(v)):
        rows.append({"feature": feature_names[i], "value": format_value(d[i], u[i]), "SHAP": round(float(v[i]), 4),
                     "impact": _impact(float(v[i]))})
    total = float(base_value + v.sum())
    rows.append({"feature": "base value", "value": "", "SHAP": round(float(base_value), 4),
                 "impact": "average model output over the background beats"})
    rows.append({"feature": "prediction", "value": "", "SHAP": round(total, 4),
                 "impact": f"base {base_value:.3f} + SHAP sum {v.sum():+.3f} = {total:.3f}"})
    return pd.DataFrame(rows)


def _impact(s: float) -> str:
    a = abs(s)
    size = "strong" if a >= 0.1 else "moderate" if a >= 0.03 else "minor" if a >= 0.005 else "negligible"
    if size == "negligible":
        return "negligible"
    return f"{size} {'increase' if s > 0 else 'decrease'} of abnormal likelihood"


def beat_table(table: pd.DataFrame, max_rows: int | None = None) -> pd.DataFrame:
    """The per-beat columns a reader needs, rounded, flagged beats first when cut to ``max_rows``."""
    cols = [c for c in ("time_s", "rr_pre_ms", "qrs_ms", "pr_ms", "p_ecg", "p_note", "p_fused", "p_abnormal",
                        "predicted", "ref_symbol", "ref_class") if c in table]
    out = table[cols].copy()
    out.insert(0, "beat", np.arange(len(out)))
    out["predicted"] = np.where(out["predicted"].astype(int) == 1, "abnormal", "normal")
    for c in ("time_s", "p_ecg", "p_note", "p_fused", "p_abnormal"):
        if c in out:
            out[c] = out[c].astype(float).round(3)
    for c in ("rr_pre_ms", "qrs_ms", "pr_ms"):
        if c in out:
            out[c] = out[c].astype(float).round(0)
    if max_rows is not None and len(out) > max_rows:
        flagged = out[out["predicted"] == "abnormal"]
        rest = out[out["predicted"] != "abnormal"]
        out = pd.concat([flagged, rest]).head(max_rows).sort_values("beat")
    return out


def strip_window(time_s: float | None, duration_s: float, length_s: float = STRIP_S) -> tuple[float, float]:
    """A ``length_s`` window (s) that contains ``time_s`` about a third in, kept inside the record."""
    if duration_s <= length_s or time_s is None:
        return 0.0, float(min(duration_s, length_s))
    t0 = min(max(0.0, time_s - length_s / 3), duration_s - length_s)
    return float(t0), float(t0 + length_s)


def note_highlight_html(note: str, words: pd.DataFrame | None = None, column: str = "normalised",
                        color: str = "213,94,0") -> str:
    """The note as HTML with each word's background opacity set by its weight (0-1 after scaling).

    ``words`` has ``start``/``end`` character offsets into ``note`` and a weight ``column`` (e.g. the
    attention table of ``core.explain.note_attention``). Every piece of text is ``html.escape``-d, so
    markup in the note is shown, not interpreted. Weights are scaled to the largest |weight| and also
    written as a tooltip, and the top words are underlined, so the highlighting does not rely on
    colour alone.
    """
    note = note or ""
    if words is None or not len(words) or "start" not in words or "end" not in words:
        return f'<div class="note">{html.escape(note)}</div>'
    w = words.sort_values("start")
    vals = np.abs(w[column].to_numpy(float))
    vmax = np.nanmax(vals) if vals.size and np.nanmax(vals) > 0 else 1.0
    top = set(np.argsort(-np.nan_to_num(vals))[: max(1, min(5, len(vals) // 5))])
    parts, pos = [], 0
    for k, (s, e, v) in enumerate(zip(w["start"].astype(int), w["end"].astype(int), vals)):
        if s < pos or e > len(note) or e <= s:
            continue
        parts.append(html.escape(note[pos:s]))
        a = 0.0 if not np.isfinite(v) else float(v / vmax)
        style = f"background: rgba({color},{0.08 + 0.62 * a:.2f}); border-radius: 3px; padding: 0 1px;"
        if k in top:
            style += " text-decoration: underline; text-decoration-thickness: 2px;"
        parts.append(f'<span style="{style}" title="weight {a:.2f}">{html.escape(note[s:e])}</span>')
        pos = e
    parts.append(html.escape(note[pos:]))
    return f'<div class="note" style="line-height: 2.0; font-size: 1.1em;">{"".join(parts)}</div>'


def reference_frame(rec) -> pd.DataFrame | None:
    """Reference beat annotations of a record as ``time_s, symbol`` (beats only, not rhythm marks)."""
    ann = getattr(rec, "annotations", None)
    if ann is None or not len(ann):
        return None
    samples, symbols = reference_beats(ann)
    return pd.DataFrame({"time_s": samples / rec.fs, "symbol": np.asarray(symbols, dtype=object)})


# ---- metrics tables (README and model card), from metrics.json / zeroshot.json -------------------------------
#: Columns of a view table: key in ``binary_report`` -> header. One list for the README and the model card.
METRIC_COLUMNS = {"auc": "AUC", "S_vs_N_auc": "S-vs-N AUC", "accuracy": "acc", "precision": "prec", "recall": "recall",
                  "f1": "F1", "S_sensitivity": "S se", "S_ppv": "S PPV", "Q_sensitivity": "Q se",
                  "N_flagged_rate": "N flagged", "ece": "ECE", "threshold": "threshold"}
#: Zero-shot columns: key in ``zero_shot_metrics`` -> header (per-class one-vs-rest AUCs follow).
ZEROSHOT_COLUMNS = {"V_vs_S": "V vs S AUC", "balanced_acc": "balanced acc", "F_vs_NV": "F vs N+V AUC",
                    "macro_auc": "macro AUC", "accuracy": "accuracy"}
#: Markers around the generated blocks of README.md (``python -m core tables --readme`` rewrites them).
MARKERS = {"metrics": ("<!-- metrics:begin -->", "<!-- metrics:end -->"),
           "zeroshot": ("<!-- zeroshot:begin -->", "<!-- zeroshot:end -->")}


def view_table(reports: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per view of a ``metrics.json`` test block (keys starting with '_' skipped), ``METRIC_COLUMNS``."""
    rows = [{"view": view, **{label: rep.get(k) for k, label in METRIC_COLUMNS.items()}}
            for view, rep in reports.items() if not view.startswith("_") and isinstance(rep, Mapping)]
    return pd.DataFrame(rows, columns=["view", *METRIC_COLUMNS.values()])


def ablation_table(ablations: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per ablation variant: threshold-free AUC and S-vs-N AUC of the ECG-only and fused heads."""
    rows = [{"variant": name, **{f"{lab} {m_lab}": r.get(h, {}).get(m) for h, lab in (("ecg_only", "ECG-only"), ("fused (header note)", "fused"))
                                 for m, m_lab in (("auc", "AUC"), ("S_vs_N_auc", "S-vs-N"))}} for name, r in ablations.items()]
    return pd.DataFrame(rows)


def zeroshot_table(zs: Mapping) -> pd.DataFrame | None:
    """One row per 'prompt set/ensemble' of ``zeroshot.json`` (None when the file has another shape)."""
    results = zs.get("results") if isinstance(zs, Mapping) else None
    if not isinstance(results, Mapping) or not results or not all(isinstance(r, Mapping) for r in results.values()):
        return None
    rows = []
    for name, r in results.items():
        row = {"prompts / ensemble": name, **{label: r.get(k) for k, label in ZEROSHOT_COLUMNS.items()}}
        row.update({f"AUC {c}": v for c, v in (r.get("auc") or {}).items()})
        row["beats"] = r.get("n_beats")
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table: floats with 3 decimals, missing values as '–'."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "–"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.3f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def metrics_tables_markdown(metrics: Mapping) -> str:
    """The results tables of ``metrics.json`` (test views per R-peak source, matching, ablations, OOF);
    a v2 per-seed ``metrics.json`` (with ``seeds``) is rendered by ``core.report.seed_tables``."""
    if "seeds" in metrics:
        from core.report.seed_tables import seed_tables_markdown

        return seed_tables_markdown(metrics)
    out: list[str] = []
    where = f"records {', '.join(metrics['records'])}" if metrics.get("records") else "DS2 + 107, 217"
    for peaks, rep in (metrics.get("test") or {}).items():
        first = next((v for k, v in rep.items() if not k.startswith("_")), {})
        out.append(f"**{where} — {peaks.replace('_', ' ')}** ({first.get('n_N')} N, {first.get('n_S')} S, "
                   f"{first.get('n_Q')} Q beats; thresholds from record-grouped OOF on DS1)")
        out.append(markdown_table(view_table(rep)))
        if "_matching" in rep:
            out.append("matching: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in rep["_matching"].items()))
    if metrics.get("ablations"):
        out.append("**Ablations (seed table 4), DS2 reference peaks, threshold-free**")
        out.append(markdown_table(ablation_table(metrics["ablations"])))
    if metrics.get("oof_train"):
        out.append("**Out-of-fold on DS1 (training records, record-grouped, used for calibration/threshold)**")
        out.append(markdown_table(view_table(metrics["oof_train"])))
    if "train_class_counts" in metrics:
        secs = metrics.get("train_seconds")
        out.append(f"training class counts: {metrics['train_class_counts']}"
                   + (f"; training time {secs / 60:.1f} min" if secs else ""))
    return "\n\n".join(out)


def zeroshot_tables_markdown(zs: Mapping) -> str:
    """The zero-shot table of ``zeroshot.json``, headed with its records and temperature."""
    table = zeroshot_table(zs)
    if table is None:
        return "(no zero-shot results in the expected shape)"
    head = (f"**Zero-shot on {len(zs.get('records', []))} test records (DS2 + 107, 217; V and F never trained), "
            f"temperature {zs.get('temperature')}**")
    return head + "\n\n" + markdown_table(table)


def render_readme(readme: str, blocks: Mapping[str, str]) -> str:
    """``readme`` with the text between each pair of ``MARKERS`` replaced by ``blocks[name]``."""
    for name, body in blocks.items():
        begin, end = MARKERS[name]
        i, j = readme.find(begin), readme.find(end)
        if i < 0 or j < i:
            raise ValueError(f"README has no {begin} ... {end} block")
        readme = readme[: i + len(begin)] + "\n" + body.strip() + "\n" + readme[j:]
    return readme


def readme_blocks(bundle_dir, zeroshot_dir=None) -> dict[str, str]:
    """The generated README blocks: ``metrics.json`` of ``bundle_dir`` and ``zeroshot.json`` of ``zeroshot_dir``
    (default the same folder; the README uses the V/F-held-out bundle, ``config.ZEROSHOT_MODEL_VERSION``)."""
    import json
    from pathlib import Path

    folder = Path(bundle_dir)
    zs = Path(zeroshot_dir) if zeroshot_dir is not None else folder
    blocks = {"metrics": metrics_tables_markdown(json.loads((folder / "metrics.json").read_text()))}
    if (zs / "zeroshot.json").is_file():
        blocks["zeroshot"] = zeroshot_tables_markdown(json.loads((zs / "zeroshot.json").read_text()))
    return blocks
