"""Model v2 experiment, one training seed at a time, and the aggregate over seeds.

Per seed (``run_seed``), on the training records (MIT-BIH DS1 + 102, 104 and the SVDB records, each
record its own group) and never on the test records (DS2 + 107, 217):
1. record-grouped out-of-fold (OOF) predictions (``oof_folds`` folds) -> Platt calibration per head and
   the threshold rule fixed before any test result was seen: the lowest threshold at which at most
   ``N_FLAGGED_TARGET`` of the OOF normal beats are flagged (the clinical spec of the model issue);
2. the final model on all training records;
   in 1 and 2 the network's ECG logit is blended with a feature booster (``core.model.booster``) fitted on
   the same records' beats, weight ``opts.booster_weight`` (fixed on seed 1's OOF predictions, see
   ``core.training.recipes.V2_PIPELINE``);
3. the test records with our own R-peak detector: ECG-only, note-only and fused views under the record's
   own referral note, another record's note (shuffled), and two irrelevant notes; beats our signal-quality
   rule calls unreadable are never flagged (``core.signal.quality``); the same without record 202 (same
   patient as training record 201); fact tests on named records.
``aggregate_seeds`` reports mean +/- sd over seeds and ships the seed with the best OOF abnormal AUC of
the ECG-only view (rule fixed in advance; the test split plays no part in it).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core import config
from core.model.bundle import save_bundle
from core.model.config import MODEL_FEATURES_V2
from core.model.confidence import exceedance_curve
from core.model.inference import calibrated, feature_matrix, predict_logits
from core.text.encoder import load_text_encoder
from core.text.facts import FACTS
from core.text.recognizer import load_recognizer, save_recognizer
from core.training import metrics as ev
from core.training.booster_fit import fit_booster
from core.training.calibration import fit_platt
from core.training.dataset import CACHE_DIR, TextCache, build_beat_table, concat_tables, make_train_data, record_folds, training_mask
from core.training.loop import TrainOptions, train_model
from core.training.referral_notes import note_fact_matrix, test_note, training_notes

#: Share of OOF normal beats the threshold may flag (model issue: normal beats flagged <= 2 %).
N_FLAGGED_TARGET = 0.02
#: Irrelevant notes of the counterfactual table: they state no fact, so they must change nothing.
IRRELEVANT_NOTES = {
    "administrative": "Insurance pre-authorisation pending. Please send the report to the referring office by fax.",
    "nonsense": "The quick brown fox jumps over the lazy dog.",
}
FACT_TEST_NOTES = {"pacemaker": "Permanent pacemaker in situ.", "known_af": "Known atrial fibrillation."}
CLASSES = ("N", "S", "V", "Q")


#: Calibrated record-grouped OOF predictions of a run (``record, sample, aami, ecg, fused, note``).
OOF_FILE = "oof.npz"


def n_flagged_threshold(p: np.ndarray, is_normal: np.ndarray, target: float = N_FLAGGED_TARGET) -> float:
    """Lowest threshold that flags at most ``target`` of the normal beats (p >= threshold is flagged)."""
    pn = np.sort(np.asarray(p, float)[np.asarray(is_normal, bool)])
    if len(pn) == 0:
        return 0.5
    k = int(np.floor(target * len(pn)))  # at most k normal beats at or above the threshold
    return float(np.nextafter(pn[-k - 1], np.inf)) if k < len(pn) else float(pn[0])


def youden_threshold(p: np.ndarray, is_abnormal: np.ndarray) -> float:
    """Threshold with the highest sensitivity + specificity - 1 (Youden 1950), p >= threshold abnormal."""
    from sklearn.metrics import roc_curve

    y = np.asarray(is_abnormal, bool)
    if y.all() or not y.any():
        return 0.5
    fpr, tpr, thr = roc_curve(y, np.asarray(p, float))
    k = int(np.argmax(tpr - fpr))
    return float(min(thr[k], 1.0))


def _fact_inputs() -> dict[str, list[str]]:
    return {f.name: list(f.ecg_inputs) for f in FACTS}


def _with_booster(model, table, rows: np.ndarray, opts: TrainOptions):
    """``model`` with a feature booster (``core.model.booster``) fitted on the beats ``rows`` (bool mask over
    ``table``; no down-sampling: the trees weight the classes), blended at ``opts.booster_weight``."""
    if opts.booster_weight <= 0:
        return model
    x = feature_matrix(table.features[rows], model.config.features)
    model.booster = fit_booster(x, np.isin(table.aami[rows], list(opts.abnormal_classes)), opts.seed)
    model.config.booster_weight = float(opts.booster_weight)
    return model


def _predict(model, table, mask: np.ndarray, facts_of: dict | None) -> dict[str, np.ndarray]:
    """Head logits on ``table[mask]`` record by record; ``facts_of[record]`` = the note's fact vector or None."""
    idx = np.flatnonzero(mask)
    out = {k: np.full(len(idx), np.nan) for k in ("ecg", "fused", "note")}
    for r in sorted(set(table.record[idx])):
        sel = idx[table.record[idx] == r]
        pos = np.searchsorted(idx, sel)
        fp = None if facts_of is None else facts_of.get(r)
        res = predict_logits(model, table.windows[sel], feature_matrix(table.features.iloc[sel], model.config.features),
                             None, fact_probs=fp)
        for k in out:
            out[k][pos] = res[k]
    return out


def _load_tables(mitdb: Path, svdb: Path, log):
    svdb_recs = (svdb / "RECORDS").read_text().split()
    log("beat tables (cached): MIT-BIH reference peaks, SVDB reference peaks, MIT-BIH test detected peaks")
    ref = concat_tables([build_beat_table(mitdb, list(config.TRAIN_RECORDS) + list(config.TEST_RECORDS), "reference"),
                         build_beat_table(svdb, svdb_recs, "reference")])
    det = build_beat_table(mitdb, list(config.TEST_RECORDS), "detected")
    return ref, det, svdb_recs


def _report(aami, p, thr, unreadable=None) -> dict:
    rep = ev.binary_report(aami, np.where(unreadable, -1.0, p) if unreadable is not None else p, thr)
    if unreadable is not None:  # AUC on the probabilities; flags exclude unreadable beats
        keep = np.isin(aami, ["N", "S", "Q"])
        rep["auc"] = ev.auc_score((np.asarray(aami)[keep] != "N").astype(int), np.asarray(p, float)[keep])
        rep["S_vs_N_auc"] = ev.binary_report(aami, p, thr)["S_vs_N_auc"]
        rep["ece"] = ev.binary_report(aami, p, thr)["ece"]
    return rep


def run_seed(mitdb, svdb, out_dir, opts: TrainOptions, recognizer_dir, log=print) -> dict:
    """Train and evaluate one seed (see the module docstring); writes a bundle + ``metrics.json`` to ``out_dir``."""
    t0 = time.time()
    mitdb, svdb, out = Path(mitdb), Path(svdb), Path(out_dir)
    ref, det, svdb_recs = _load_tables(mitdb, svdb, log)
    train_recs = list(config.TRAIN_RECORDS) + svdb_recs
    test_recs = list(config.TEST_RECORDS)
    rng = np.random.default_rng(opts.seed)
    enc = load_text_encoder()
    texts = TextCache(enc, CACHE_DIR / f"text_vectors_{re.sub(r'[^A-Za-z0-9]+', '_', enc.name)}_{enc.pooling}.pkl")
    rec = _recognizer(recognizer_dir, texts, enc, log)
    facts = list(rec.facts)
    feats = list(MODEL_FEATURES_V2)
    classes = tuple(["N", *opts.abnormal_classes])
    note_facts = note_fact_matrix(training_notes(ref, train_recs, opts.note_variants, opts.seed), rec, texts)
    own_note = {r: test_note(ref, r) for r in train_recs + test_recs}
    own_facts = {r: v[0] for r, v in note_fact_matrix({r: [n] for r, n in own_note.items()}, rec, texts).items()}
    mk = lambda m: make_train_data(ref, m, texts, rng, opts.abnormal_classes, note_facts, facts, feats)  # noqa: E731
    fit = lambda data, o, version="dev": train_model(data, o, version, log, feats, _fact_inputs())  # noqa: E731

    # 1. record-grouped OOF on the training records -> calibration and threshold
    aami = ref.aami
    oof_mask = np.isin(ref.record, train_recs) & np.isin(aami, list(classes))
    oof = {k: np.full(len(ref), np.nan) for k in ("ecg", "fused", "note")}
    fold_opts = TrainOptions(**{**asdict(opts), "epochs": opts.oof_epochs})
    for k, held in enumerate(record_folds(train_recs, opts.oof_folds, opts.seed)):
        fold_recs = [r for r in train_recs if r not in held]
        m = training_mask(ref, fold_recs, opts.n_per_abnormal, rng, classes)
        log(f"seed {opts.seed} OOF fold {k + 1}/{opts.oof_folds}: {len(held)} records held out, {int(m.sum())} training beats")
        fold_model = _with_booster(fit(mk(m), fold_opts), ref, np.isin(ref.record, fold_recs) & np.isin(aami, list(classes)), opts)
        res = _predict(fold_model, ref, oof_mask & np.isin(ref.record, held), own_facts)
        for h in oof:
            oof[h][oof_mask & np.isin(ref.record, held)] = res[h]
    y_oof = np.isin(aami[oof_mask], list(opts.abnormal_classes)).astype(int)
    calibration = {h: list(fit_platt(oof[h][oof_mask], y_oof)) for h in ("ecg", "note")}
    normal = aami[oof_mask] == "N"
    thresholds = {h: n_flagged_threshold(calibrated(oof[h][oof_mask], calibration[h]), normal) for h in ("ecg", "note")}
    # the fused logit is the ECG logit moved by recognised facts: it shares the ECG calibration and threshold,
    # so a note that states no fact gives exactly the ECG-only probability and flags
    calibration["fused"], thresholds["fused"] = calibration["ecg"], thresholds["ecg"]
    oof_p = {h: calibrated(oof[h][oof_mask], calibration[h]) for h in oof}
    # The calibrated OOF predictions themselves, so that a later threshold rule can be fixed on them in
    # advance (training records only); kept in the run folder, never copied into a shipped bundle.
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / OOF_FILE, record=ref.record[oof_mask].astype(str), sample=ref.sample[oof_mask],
                        aami=aami[oof_mask].astype(str), **{h: oof_p[h].astype(np.float32) for h in oof_p})
    on_svdb = np.isin(ref.record[oof_mask], svdb_recs)
    metrics: dict = {"seed": opts.seed, "options": asdict(opts), "features": feats, "facts": facts,
                     "split": {"train": train_recs, "test": test_recs}, "threshold_rule": f"OOF normal beats flagged <= {N_FLAGGED_TARGET}",
                     "oof_train": {h: ev.binary_report(aami[oof_mask], oof_p[h], thresholds[h]) for h in ("ecg", "fused")},
                     "oof_svdb": {h: ev.binary_report(aami[oof_mask][on_svdb], oof_p[h][on_svdb], thresholds[h]) for h in ("ecg", "fused")},
                     "oof_mitdb": {h: ev.binary_report(aami[oof_mask][~on_svdb], oof_p[h][~on_svdb], thresholds[h]) for h in ("ecg", "fused")}}
    log(f"seed {opts.seed} calibration {calibration} thresholds {thresholds}")
    log(f"seed {opts.seed} OOF ecg: " + json.dumps({k: round(v, 4) for k, v in metrics['oof_train']['ecg'].items() if isinstance(v, float)}))

    # 2. final model on all training records
    m = training_mask(ref, train_recs, opts.n_per_abnormal, rng, classes)
    metrics["train_class_counts"] = {c: int((aami[m] == c).sum()) for c in classes}
    model = _with_booster(fit(mk(m), opts, version=out.name), ref, oof_mask, opts)
    model.config.calibration, model.config.thresholds = calibration, thresholds
    # zero-shot's normal gate (core.zeroshot.gate_normal) sits where OOF normal and abnormal beats are told
    # apart best (Youden), not at the clinical <= 2 % threshold, which leaves most S beats "normal"
    model.config.zeroshot_gate = metrics["zeroshot_gate"] = youden_threshold(oof_p["ecg"], y_oof)
    # how often an OOF normal beat reaches each calibrated p: the record verdict's one-beat level per record length
    model.config.normal_exceedance = exceedance_curve(oof_p["ecg"][normal])
    model.config.train.update(records=train_recs, class_counts=metrics["train_class_counts"],
                              data="MIT-BIH Arrhythmia DB (DS1 + 102, 104) + MIT-BIH Supraventricular Arrhythmia DB (58 records)")

    # 3. test records, detected peaks (headline) and reference peaks
    metrics["test"] = evaluate_views(model, det, np.ones(len(det), bool), own_facts, rec, texts, calibration, thresholds)
    metrics["test_reference_peaks"] = evaluate_views(model, ref, np.isin(ref.record, test_recs), own_facts, rec, texts,
                                                     calibration, thresholds, counterfactual=False)
    metrics["fact_tests"] = fact_tests(model, det, rec, texts, calibration, mitdb)
    metrics["test_notes"] = {r: own_note[r] for r in test_recs}
    metrics["reproducibility_subset"] = reproducibility_subset(model, ref, calibration, thresholds)
    metrics["train_seconds"] = time.time() - t0
    save_bundle(model, out, metrics)
    save_recognizer(rec, out, json.loads((Path(recognizer_dir) / "fact_recognizer.json").read_text()).get("metrics"))
    from core.training.experiment import _write_explain_assets
    _write_explain_assets(model, ref, m, texts, out, rng)
    log(f"seed {opts.seed}: wrote {out} in {metrics['train_seconds'] / 60:.1f} min; test ecg " +
        json.dumps({k: round(v, 4) for k, v in metrics['test']['ecg_only'].items() if isinstance(v, float)}))
    return metrics


#: A fixed DS2 subset whose ECG-only AUC the test suite re-computes from the shipped checkpoint.
REPRODUCIBILITY_RECORDS = ("105", "213", "232", "107")


def reproducibility_subset(model, ref, calibration, thresholds) -> dict:
    """ECG-only AUC on ``REPRODUCIBILITY_RECORDS`` at the reference peaks (``tests/test_train.py`` re-scores it)."""
    m = np.isin(ref.record, REPRODUCIBILITY_RECORDS)
    p = calibrated(_predict(model, ref, m, None)["ecg"], calibration["ecg"])
    return {"records": list(REPRODUCIBILITY_RECORDS), "peaks": "reference",
            "auc_ecg_only": ev.binary_report(ref.aami[m], p, thresholds["ecg"])["auc"]}


def evaluate_views(model, tab, tm, own_facts, rec, texts, calibration, thresholds, counterfactual=True) -> dict:
    """Binary reports of every view on ``tab[tm]``; ``*_without_202`` beside each; flags skip unreadable beats."""
    a = tab.aami[tm]
    unread = tab.features["unreadable"].to_numpy(bool)[tm]
    recs = sorted(set(tab.record[tm]))
    shuffled = {r: own_facts[recs[(i + 1) % len(recs)]] for i, r in enumerate(recs)}
    irr = {name: note_fact_matrix({"x": [t]}, rec, texts)["x"][0] for name, t in IRRELEVANT_NOTES.items()}
    notes = {"own note": {r: own_facts[r] for r in recs}}
    if counterfactual:
        notes["shuffled note"] = shuffled
        notes.update({f"{k} note": dict.fromkeys(recs, v) for k, v in irr.items()})
    views, flags = {}, {}
    base = _predict(model, tab, tm, None)
    views["ecg_only"] = (calibrated(base["ecg"], calibration["ecg"]), thresholds["ecg"])
    for name, facts_of in notes.items():
        res = _predict(model, tab, tm, facts_of)
        views[f"fused ({name})"] = (calibrated(res["fused"], calibration["fused"]), thresholds["fused"])
        if name == "own note":
            views["note_only (own note)"] = (calibrated(res["note"], calibration["note"]), thresholds["note"])
    out = {}
    not202 = tab.record[tm] != "202"
    for v, (p, thr) in views.items():
        out[v] = _report(a, p, thr, unread)
        out[f"{v} without 202"] = _report(a[not202], p[not202], thr, unread[not202])
        flags[v] = (p >= thr) & ~unread
    out["_unreadable_beats"] = int(unread.sum())
    if counterfactual:
        out["_flag_changes_between_irrelevant_notes"] = float((flags["fused (administrative note)"] != flags["fused (nonsense note)"]).mean())
        out["_flag_changes_irrelevant_vs_ecg_only"] = float((flags["fused (nonsense note)"] != flags["ecg_only"]).mean())
    out["_per_record_ecg_only"] = ev.per_record_errors(tab.record[tm], a, np.where(unread, -1, views["ecg_only"][0]),
                                                       thresholds["ecg"]).to_dict("records")
    return out


def fact_tests(model, det, rec, texts, calibration, mitdb) -> dict:
    """'permanent pacemaker' on 107, 217 (paced beats up, others not down by > 0.02); 'known atrial
    fibrillation' on 219, 221 (normal beats flagged inside the reference AF episodes)."""
    import wfdb

    fv = {k: note_fact_matrix({"x": [t]}, rec, texts)["x"][0] for k, t in FACT_TEST_NOTES.items()}
    out = {}
    for r in ("107", "217"):
        m = det.record == r
        base = calibrated(_predict(model, det, m, None)["ecg"], calibration["ecg"])
        with_note = calibrated(_predict(model, det, m, {r: fv["pacemaker"]})["fused"], calibration["fused"])
        paced = det.aami[m] == "Q"
        out[f"pacemaker_{r}"] = {"paced_mean_p_before": float(base[paced].mean()), "paced_mean_p_after": float(with_note[paced].mean()),
                                 "others_max_decrease": float(np.max(base[~paced] - with_note[~paced], initial=0.0))}
    thr = model.config.thresholds
    for r in ("219", "221"):
        m = det.record == r
        ann = wfdb.rdann(str(Path(mitdb) / r), "atr")
        marks = [(s, a.strip("\x00")) for s, a in zip(ann.sample, ann.aux_note) if a.startswith("(")]
        inside = np.zeros(int(m.sum()), bool)
        samp = det.sample[m]
        for i, (s, lab) in enumerate(marks):
            e = marks[i + 1][0] if i + 1 < len(marks) else np.inf
            if lab == "(AFIB":
                inside |= (samp >= s) & (samp < e)
        normal_in = inside & (det.aami[m] == "N")
        base = calibrated(_predict(model, det, m, None)["ecg"], calibration["ecg"])
        with_note = calibrated(_predict(model, det, m, {r: fv["known_af"]})["fused"], calibration["fused"])
        out[f"known_af_{r}"] = {"normal_beats_in_af": int(normal_in.sum()),
                                "flagged_before": int((base[normal_in] >= thr["ecg"]).sum()),
                                "flagged_after": int((with_note[normal_in] >= thr["fused"]).sum())}
    out["_fact_probs"] = {k: dict(zip(rec.facts, np.round(v, 3).tolist())) for k, v in fv.items()}
    return out


def _recognizer(folder, texts, enc, log):
    """The fact recognizer of ``folder``; fitted there first (``core.training.recognizer_fit``) when absent."""
    folder = Path(folder)
    if not (folder / "fact_recognizer.npz").is_file():
        from core.training.recognizer_fit import fit_fact_recognizer

        log(f"fitting the fact recognizer into {folder}")
        rec, m = fit_fact_recognizer(texts, encoder_name=enc.name)
        save_recognizer(rec, folder, m)
    return load_recognizer(folder)


def _mean_sd(values) -> dict:
    v = np.array([x for x in values if x is not None], float)
    return {"mean": float(v.mean()) if len(v) else None, "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


def aggregate_seeds(run_dirs: list[Path], out_dir: Path, log=print) -> dict:
    """Mean +/- sd of every numeric figure over seeds; copy the shipped seed's bundle to ``out_dir``."""
    runs = [json.loads((Path(d) / "metrics.json").read_text()) for d in run_dirs]
    pick = int(np.argmax([r["oof_train"]["ecg"]["auc"] for r in runs]))
    summary = {}
    for section in ("test", "test_reference_peaks", "oof_train", "oof_svdb", "oof_mitdb"):
        summary[section] = {}
        for view, rep in runs[0][section].items():
            if view.startswith("_") or not isinstance(rep, dict):
                continue
            summary[section][view] = {k: _mean_sd([r[section][view].get(k) for r in runs])
                                      for k, v in rep.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for key in ("_flag_changes_between_irrelevant_notes", "_flag_changes_irrelevant_vs_ecg_only", "_unreadable_beats"):
        summary["test"][key] = _mean_sd([r["test"].get(key) for r in runs])
    summary["train_minutes"] = _mean_sd([r["train_seconds"] / 60 for r in runs])
    shipped = runs[pick]
    shipped["seeds"] = {"seeds": [r["seed"] for r in runs], "shipped_seed": runs[pick]["seed"],
                        "rule": "highest record-grouped OOF abnormal AUC of the ECG-only view (training records only)",
                        "summary": summary, "per_seed": [{"seed": r["seed"], "test": {v: r["test"][v] for v in ("ecg_only", "fused (own note)")},
                                                          "oof_auc": r["oof_train"]["ecg"]["auc"], "fact_tests": r["fact_tests"],
                                                          "train_minutes": r["train_seconds"] / 60} for r in runs]}
    out_dir = Path(out_dir)
    if out_dir.resolve() != Path(run_dirs[pick]).resolve():
        shutil.copytree(run_dirs[pick], out_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(OOF_FILE))
    (out_dir / "metrics.json").write_text(json.dumps(shipped, indent=2, default=float))
    log(f"shipped seed {runs[pick]['seed']} of {[r['seed'] for r in runs]} -> {out_dir}")
    return shipped
