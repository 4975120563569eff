"""Fit the learned noise index (``core.signal.noise_model``) on the training records' noise annotations.

    python -m core.training.noise_fit [--mitdb DIR] [--svdb DIR] [--out core/signal/noise_model.json]

Data: every beat the app detects in the training records, DS1 + 102, 104 (MIT-BIH) and the 58 SVDB records,
labelled "in noise" where the '~' signal-quality annotation in force marks the analysed lead (``noise_mask``).
Each record is read whole and also cut into consecutive pieces of each length of ``CUT_LENGTHS_S``, each piece
analysed alone as an uploaded strip would be: the quality indices are relative to what they are analysed with,
and a short strip gives them less clean signal to compare against. No test record (DS2 + 107, 217) is read.
Model: standardised logistic regression, classes weighted to balance. Threshold (rule fixed before the test
records were read): the lowest p_noise at which at most ``MAX_CLEAN_UNREADABLE`` of the clean beats are
unreadable (together with the shape test of ``core.signal.quality``) at every analysed length, on
record-grouped 5-fold out-of-fold predictions (each record, with all its pieces, is a group). A second,
lower threshold applies to the beats the classifier flags (``NoiseModel.flagged_threshold``): the lowest p_noise
that at most ``MAX_ABNORMAL_UNREADABLE`` of the readable clean beats of reference class S, V, F or Q reach, at
every length, out of fold.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from core import config
from core.io import read_record
from core.signal.beats import extract_beats, lead_order, match_reference
from core.signal.noise_model import MODEL_PATH, NoiseModel, design_names, noise_design
from core.signal.quality import fails_shape_test

MAX_CLEAN_UNREADABLE = 0.01
#: The flagged-beat threshold may make at most this share of the readable, clean abnormal beats (reference S, V,
#: F, Q) unreadable at any analysed length, out of fold (fixed before any figure of it was seen).
MAX_ABNORMAL_UNREADABLE = 0.01
FOLDS = 5
#: Piece lengths (s) besides the whole record: a 10 s clinical strip, a minute, a 5 min excerpt.
CUT_LENGTHS_S = (10.0, 60.0, 300.0)


def noise_mask(ann: wfdb.Annotation, rpeaks: np.ndarray, lead: int) -> np.ndarray:
    """True where the quality code in force at the peak has ``lead`` noisy (``subtype``: bit 0 upper
    signal, bit 1 lower, -1 both unreadable; MIT-BIH and SVDB use the same convention)."""
    tl = np.array(ann.symbol) == "~"
    samp, code = ann.sample[tl], ann.subtype[tl]
    if len(samp) == 0:
        return np.zeros(len(rpeaks), bool)
    j = np.searchsorted(samp, rpeaks, side="right") - 1
    c = np.where(j >= 0, code[np.maximum(j, 0)], 0)
    return (c == -1) | ((c > 0) & ((c & (1 << lead)) > 0))


def record_beats(folder: Path, name: str, cut_s: float | None = None, *more_cuts: float | None) -> pd.DataFrame:
    """Quality indices, the shipped `unreadable` call, the noise label and the reference symbol of every
    beat the app detects in one record (``record`` is ``<folder name>:<record name>``).

    ``cut_s``: analyse consecutive pieces of this many seconds, each alone (the tail shorter than a piece is
    left out); ``piece`` numbers them (0 for the whole record) and ``length`` says which analysis it was.
    ``more_cuts``: further analyses of the same record (None: whole), stacked in order; it is read once.
    """
    rec = read_record(str(folder / f"{name}.hea"))
    ann = wfdb.rdann(str(folder / name), "atr")
    is_beat = np.isin(ann.symbol, list(config.AAMI_CLASS))
    lead = lead_order(rec)[0][0]
    frames = []
    for cut in (cut_s, *more_cuts):
        step = rec.signal.shape[0] if cut is None else int(round(cut * rec.fs))
        parts = []
        for k, start in enumerate(range(0, rec.signal.shape[0] - step + 1, step)):
            beats = extract_beats(replace(rec, signal=rec.signal[start:start + step], annotations=None))
            peaks = beats.rpeaks + start
            sym = match_reference(peaks, ann.sample[is_beat], list(np.array(ann.symbol)[is_beat]),
                                  int(round(0.15 * rec.fs)))
            out = beats.features[["bsqi", "ksqi", "psqi", "bassqi", "amp_rel", "hf_rel", "hf_snr", "unreadable"]].copy()
            out["noise"] = noise_mask(ann, peaks, lead)
            out["symbol"], out["piece"] = np.asarray(sym, object), k
            parts.append(out)
        d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        d["record"], d["length"] = f"{folder.name}:{name}", "whole" if cut is None else f"{cut:g} s"
        frames.append(d)
    return pd.concat(frames, ignore_index=True)


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    mean, scale = x.mean(0), x.std(0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit((x - mean) / scale, y)
    return mean, scale, lr


def _lowest_threshold(oof: np.ndarray, shape: np.ndarray, clean: np.ndarray) -> float:
    """The lowest p_noise threshold at which at most ``MAX_CLEAN_UNREADABLE`` of ``clean`` beats are unreadable."""
    cands = np.unique(np.round(oof[clean], 4))[::-1]
    rate = np.array([(shape | (oof >= t))[clean].mean() for t in cands])  # rises as t falls
    return float(cands[np.flatnonzero(rate <= MAX_CLEAN_UNREADABLE)[-1]])


def _rates(call: np.ndarray, clean: np.ndarray, where: np.ndarray) -> dict:
    return {"in_noise_unreadable": float(call[where & ~clean].mean()) if (where & ~clean).any() else None,
            "clean_unreadable": float(call[where & clean].mean()), "noise_beats": int((where & ~clean).sum())}


def fit_noise_model(d: pd.DataFrame) -> NoiseModel:
    """The noise index and its threshold from the beats of ``record_beats`` (several records, any lengths)."""
    if "length" not in d:
        d = d.assign(length="whole", piece=0)
    # the design's medians run within one analysed piece
    groups = [g for _, g in d.groupby(["record", "length", "piece"], sort=False)]
    x = np.vstack([noise_design(g) for g in groups])
    d = pd.concat(groups, ignore_index=True)
    y = d.noise.to_numpy(int)
    oof = np.zeros(len(d))
    for a, b in GroupKFold(FOLDS).split(x, y, d.record):
        mean, scale, lr = _fit(x[a], y[a])
        oof[b] = lr.predict_proba((x[b] - mean) / scale)[:, 1]
    shape, clean = fails_shape_test(d), y == 0
    length = d.length.to_numpy(object)
    threshold = max(_lowest_threshold(oof[length == k], shape[length == k], clean[length == k])
                    for k in np.unique(length))
    call = shape | (oof >= threshold)
    abnormal = np.isin(config.aami_of(d.symbol), ["S", "V", "F", "Q"]) & clean & ~call
    levels = [float(np.quantile(oof[abnormal & (length == k)], 1 - MAX_ABNORMAL_UNREADABLE))
              for k in np.unique(length) if (abnormal & (length == k)).any()]
    flagged_threshold = round(max(levels), 4) if levels else None  # no abnormal beat to protect: no rule
    db = d.record.str.split(":").str[0].to_numpy(object)
    v = d.symbol.isin(["V", "E"]).to_numpy() & clean
    fit = {"rule": f"lowest threshold with <= {MAX_CLEAN_UNREADABLE:.0%} of clean beats unreadable at every "
                   "analysed length, out of fold",
           "records": int(d.record.nunique()), "beats": int(len(d)), "folds": FOLDS,
           "out_of_fold": {f"{k}, {n}" if n != "whole" else k: _rates(call, clean, (db == k) & (length == n))
                           for k in sorted(set(db)) for n in sorted(set(length))},
           "clean_v_unreadable": float(call[v].mean()) if v.any() else None,
           "flagged_rule": f"lowest p_noise with <= {MAX_ABNORMAL_UNREADABLE:.0%} of the readable clean abnormal "
                           "beats above it at every analysed length, out of fold",
           "readable_in_noise_above_flagged_threshold":
               None if flagged_threshold is None else float((oof[~clean & ~call] >= flagged_threshold).mean())}
    mean, scale, lr = _fit(x, y)
    return NoiseModel(design_names(), mean, scale, lr.coef_[0], float(lr.intercept_[0]), threshold, fit,
                      flagged_threshold)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mitdb", type=Path, default=config.MITDB_DIR)
    ap.add_argument("--svdb", type=Path, default=config.SHARED_DATA_DIR / "svdb")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    if not MODEL_PATH.exists():  # extract_beats applies the shipped index; its inputs do not depend on it
        MODEL_PATH.write_text(json.dumps(NoiseModel.untrained().to_json()))
    names = [(args.mitdb, r) for r in config.TRAIN_RECORDS]
    names += [(args.svdb, r) for r in (args.svdb / "RECORDS").read_text().split()]
    d = pd.concat([record_beats(folder, r, None, *CUT_LENGTHS_S) for folder, r in names], ignore_index=True)
    model = fit_noise_model(d)
    args.out.write_text(json.dumps(model.to_json(), indent=1))
    print(json.dumps({"threshold": model.threshold, **model.fit}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
