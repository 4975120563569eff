"""One analysed case (``core.predict.CaseResult``) as the command line writes it: the score CSV rows, the
rhythm CSV rows and the JSON entry (contracts in ``core.cli``). No argument parsing and no file I/O here."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


# ---- one record -> rows ---------------------------------------------------------------------------------
BEAT_COLUMNS = ("record", "sample", "time_s", "p_abnormal", "predicted", "p_ecg", "p_note", "p_fused")
RHYTHM_COLUMNS = ("record", "rhythm", "start_s", "end_s", "confidence", "detail")


def beat_rows(case) -> pd.DataFrame:
    """The score CSV of one case: ``BEAT_COLUMNS`` [+ ``ref_symbol``] then ``call``, ``unreadable``."""
    t = case.table
    df = pd.DataFrame({"record": case.record.name, "sample": t["sample"].astype(int), "time_s": t["time_s"].round(4),
                       "p_abnormal": t["p_abnormal"].round(6), "predicted": t["predicted"].astype(int),
                       "p_ecg": t["p_ecg"].round(6), "p_note": t["p_note"].round(6), "p_fused": t["p_fused"].round(6)})
    if "ref_symbol" in t:
        df["ref_symbol"] = t["ref_symbol"].to_numpy()
    df["call"] = t["call"].to_numpy()
    df["unreadable"] = t["unreadable"].astype(int).to_numpy()
    return df


def case_rhythm(case):
    """The rhythm reading: ``case.rhythm`` (fact-gated v2 bundles), else read here from the v1 model's calls."""
    if case.rhythm is not None:
        return case.rhythm
    from core.predict import read_rhythm

    return read_rhythm(case.beats, case.table, case.threshold)


def rhythm_rows(case) -> pd.DataFrame:
    """``RHYTHM_COLUMNS``: one row per rhythm episode (start, end in s from the start of the record)."""
    eps = case_rhythm(case).episodes
    return pd.DataFrame({"record": case.record.name, "rhythm": [e.kind for e in eps],
                         "start_s": [round(float(e.start_s), 3) for e in eps], "end_s": [round(float(e.end_s), 3) for e in eps],
                         "confidence": [round(float(e.confidence), 4) for e in eps], "detail": [e.detail for e in eps]},
                        columns=list(RHYTHM_COLUMNS))


def case_json(case, df, bundle, text_encoder, prompts) -> dict:
    """Record verdict, statements, rhythm, beats, zero-shot scores and explanations for the JSON output."""
    from core import explain, zeroshot

    rhythm = case_rhythm(case)
    entry = {
        "record": case.record.name, "fs": case.record.fs, "leads": case.beats.lead_names, "model_version": case.model_version,
        "view": case.view, "verdict": case.verdict, "statements": list(rhythm.statements),
        "rhythm": [asdict(e) for e in rhythm.episodes], "p_record": case.p_record, "threshold": case.threshold,
        "notices": case.notices, "n_beats": len(df), "n_flagged": case.n_flagged,
        "n_unreadable": int(df["unreadable"].sum()) if len(df) else 0,
    }
    entry.update({"agreement": case.agreement} if case.agreement is not None else {})  # v1 only
    entry["facts"] = case.note_effect.get("facts_used", {})  # recognised: p(stated) >= the model's fact_tau
    entry["fact_clauses"] = {f: case.note.fact_clauses.get(f, "") for f in entry["facts"]}
    entry["note_effect"] = case.note_effect
    entry["beats"] = json.loads(df.to_json(orient="records"))
    omitted: dict[str, str] = {}

    def part(name: str, compute) -> None:
        # an explanation that cannot be computed for this model is named as omitted, not a failed record
        try:
            entry[name] = compute()
        except ValueError as e:
            log.exception("%s: %s omitted", case.record.name, name)
            omitted[name] = str(e)

    part("zeroshot_record", lambda: zeroshot.score_case(case, prompts, bundle, text_encoder).record_probs.to_dict())
    if len(df):
        # the most abnormal *readable* beat: an unreadable stretch is never offered as the most abnormal beat
        top = int(np.nanargmax(np.where(case.table["unreadable"] == 1, -1.0, case.table["p_abnormal"].to_numpy(float))))

        def shap_top() -> dict:
            ex = explain.shap_features(case, bundle, top)
            return {"beat_index": top, "base_value": ex.base_value, "prediction": ex.prediction,
                    "shap": json.loads(ex.to_frame().to_json(orient="records"))}
        part("explanation_top_beat", shap_top)
    if case.note is not None:
        part("note_attention", lambda: json.loads(explain.note_attention(case.note.text, text_encoder).to_json(orient="records")))
    if omitted:
        entry["omitted"] = omitted
    return entry


def json_default(o):
    """``json.dumps`` default: numpy scalars and arrays as Python values, anything else as its text."""
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
