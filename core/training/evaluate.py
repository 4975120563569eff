"""Evaluation of a shipped bundle without training: the metrics tables of ``metrics.json`` re-computed
on MIT-BIH records (``python -m core evaluate``), and zero-shot metrics of prompt sets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.model.inference import calibrated, feature_matrix, predict_logits
from core.text.encoder import load_text_encoder
from core.training import metrics as ev
from core.training.dataset import BeatTable, TextCache, build_beat_table
from core.training.metrics import zero_shot_metrics
from core.zeroshot import gate_normal, gate_threshold, score_beats


def zero_shot_inputs(bundle, table: BeatTable, records=config.TEST_RECORDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AAMI classes, unit ECG embeddings and calibrated ECG-only abnormal probabilities of the AAMI-class beats
    of ``records`` in ``table``: one forward pass, shared by every prompt set, ensemble and gate setting."""
    keep = np.isin(table.record, list(records)) & (table.aami != "")
    out = predict_logits(bundle.model, table.windows[keep], feature_matrix(table.features[keep], bundle.config.features), None)
    return table.aami[keep], out["z"], calibrated(out["ecg"], bundle.config.calibration["ecg"])


def evaluate_zero_shot(bundle, text_encoder, data_dir, prompts: pd.DataFrame, records=config.TEST_RECORDS,
                       ensemble: str = "mean", table=None, gate: bool = True, inputs=None) -> dict:
    """Zero-shot metrics (see ``zero_shot_metrics``) on the reference beats of MIT-BIH ``records``.

    Beats come from ``core.training.dataset.build_beat_table(data_dir, records, 'reference')`` (the app's own
    cleaning and windows at the annotated R-peaks); only beats of the AAMI classes are kept. ``table``
    may pass an already built ``BeatTable``, ``inputs`` its ``zero_shot_inputs``, to score several prompt sets
    on the same beats. ``gate``: the softmax also weighs the calibrated ECG-only head
    (``core.zeroshot.gate_normal``), as the CLI does.
    """
    if inputs is None:
        if table is None:
            table = build_beat_table(Path(data_dir), list(records), "reference")
        inputs = zero_shot_inputs(bundle, table, records)
    aami, z, p_abnormal = inputs
    labels, probs = score_beats(z, prompts, bundle, text_encoder, ensemble)
    if gate:
        probs = gate_normal(probs, labels, p_abnormal, gate_threshold(bundle))
    res = zero_shot_metrics(aami, probs, labels)
    res.update(n_prompts=int(len(prompts)), ensemble=ensemble, temperature=float(bundle.config.zeroshot_temperature),
               records=list(records), gated=bool(gate), gate_threshold=gate_threshold(bundle) if gate else None)
    return res


def _head_probs(model, table: BeatTable, mask: np.ndarray, texts: TextCache, note_kind: str | None) -> dict:
    """Logits of each head on ``table[mask]``, record by record (each record has its own note)."""
    out = {"ecg": np.zeros(mask.sum()), "fused": np.full(mask.sum(), np.nan), "note": np.full(mask.sum(), np.nan),
           "z": np.zeros((mask.sum(), model.config.proj_dim), np.float32)}
    idx_all = np.flatnonzero(mask)
    for r in sorted(set(table.record[idx_all])):
        sel = idx_all[table.record[idx_all] == r]
        pos = np.searchsorted(idx_all, sel)
        note = None
        if note_kind == "header":
            note = texts([table.header_notes[r]])[0]
        elif note_kind == "header_rhythm":
            note = texts([table.rhythm_notes[r]])[0]
        res = predict_logits(model, table.windows[sel], feature_matrix(table.features.iloc[sel], model.config.features), note)
        for k in ("ecg", "fused", "note", "z"):
            out[k][pos] = res[k]
    return out


def view_reports(model, calibration: dict, thresholds: dict, tab: BeatTable, tm: np.ndarray, texts: TextCache) -> tuple[dict, dict]:
    """Calibrated probabilities of the four shown views on ``tab[tm]`` and their ``binary_report``s.

    Views: ECG only, note only (header note), fused (header note), fused (header + reference rhythm
    note); each uses its head's Platt calibration and beat threshold from the bundle.
    """
    a = tab.aami[tm]
    res_h = _head_probs(model, tab, tm, texts, "header")
    res_r = _head_probs(model, tab, tm, texts, "header_rhythm")
    views = {
        "ecg_only": calibrated(res_h["ecg"], calibration["ecg"]),
        "note_only (header note)": calibrated(res_h["note"], calibration["note"]),
        "fused (header note)": calibrated(res_h["fused"], calibration["fused"]),
        "fused (header + reference rhythm note)": calibrated(res_r["fused"], calibration["fused"]),
    }
    thr_of = {"ecg_only": thresholds["ecg"], "note_only (header note)": thresholds["note"]}
    return views, {v: ev.binary_report(a, p, thr_of.get(v, thresholds["fused"])) for v, p in views.items()}


def matching_summary(ref: BeatTable, ref_mask: np.ndarray, det_aami: np.ndarray) -> dict:
    """Detected beats, how many matched a reference beat, and the reference N/S/Q beats of the same records."""
    n_ref = int(np.isin(ref.aami[ref_mask], ["N", "S", "Q"]).sum())
    return {"detected_beats": int(len(det_aami)), "matched_to_reference": int((det_aami != "").sum()),
            "reference_NSQ_beats": n_ref}


def curves(records: np.ndarray, aami: np.ndarray, views: dict, thresholds: dict) -> dict:
    """Per-record errors, ROC points and the ECG-only reliability curve (reference R-peaks)."""
    keep = np.isin(aami, ["N", "S", "Q"])
    return {
        "per_record_ecg_only": ev.per_record_errors(records, aami, views["ecg_only"], thresholds["ecg"]).to_dict("records"),
        "roc_ecg_only": ev.roc_points(aami, views["ecg_only"]),
        "roc_fused": ev.roc_points(aami, views["fused (header note)"]),
        "calibration_ecg_only": ev.calibration_curve(views["ecg_only"][keep], (aami[keep] != "N").astype(int)).to_dict("records"),
    }


def report_line(rep: dict) -> str:
    """One log line of the headline numbers of every view in ``rep``."""
    return "; ".join(f"{v}: AUC {r['auc']:.4f} S-vs-N {r['S_vs_N_auc']:.4f} S se {r['S_sensitivity']:.3f} "
                     f"ppv {r['S_ppv']:.3f} Q se {r['Q_sensitivity']:.3f} ECE {r['ece']:.3f}"
                     for v, r in rep.items() if not v.startswith("_"))


def evaluate_bundle(bundle, data_dir, records=config.TEST_RECORDS, text_encoder=None, log=print) -> dict:
    """The test tables of ``metrics.json`` for a shipped bundle, re-computed on ``records`` without training.

    Same code path as ``core.training.experiment.run_experiment`` step 3 (reference and detected
    R-peaks, the four views, the bundle's calibration and thresholds); the gradient-boosting baseline
    needs training data and is left out. Returns ``{"records", "model_version", "test", ...curves}``.
    """
    records = [str(r) for r in records]
    enc = text_encoder or load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    texts = TextCache(enc)
    if bundle.config.fusion == "fact_gated":
        return _evaluate_fact_gated(bundle, data_dir, records, texts, log)
    log(f"building beat tables of {len(records)} records (reference and detected R-peaks)")
    ref = build_beat_table(Path(data_dir), records, "reference")
    det = build_beat_table(Path(data_dir), records, "detected")
    conf = bundle.config
    out: dict = {"records": records, "model_version": conf.version, "test": {}}
    for tname, tab in (("reference_peaks", ref), ("detected_peaks", det)):
        tm = np.ones(len(tab), bool)
        views, rep = view_reports(bundle.model, conf.calibration, conf.thresholds, tab, tm, texts)
        if tname == "detected_peaks":
            rep["_matching"] = matching_summary(ref, np.ones(len(ref), bool), tab.aami)
        else:
            out.update(curves(tab.record, tab.aami, views, conf.thresholds))
        out["test"][tname] = rep
        log(f"[{tname}] " + report_line(rep))
    return out


def _evaluate_fact_gated(bundle, data_dir, records, texts, log) -> dict:
    """v2 bundles: the views of ``core.training.seeds.evaluate_views`` (own, shuffled and irrelevant referral
    notes; unreadable beats never flagged) at reference and detected R-peaks."""
    from core.training.referral_notes import note_fact_matrix, test_note
    from core.training.seeds import evaluate_views

    conf = bundle.config
    out: dict = {"records": records, "model_version": conf.version, "test": {}}
    for tname in ("reference_peaks", "detected_peaks"):
        tab = build_beat_table(Path(data_dir), records, tname.split("_")[0])
        own = {r: v[0] for r, v in note_fact_matrix({r: [test_note(tab, r)] for r in records}, bundle.recognizer, texts).items()}
        out["test"][tname] = evaluate_views(bundle.model, tab, np.ones(len(tab), bool), own, bundle.recognizer, texts,
                                            conf.calibration, conf.thresholds, counterfactual=len(records) > 1)
        log(f"[{tname}] " + report_line(out["test"][tname]))
    return out
