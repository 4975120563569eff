"""core.report: the shared tables, escaping of outside text and the self-contained HTML report."""
from __future__ import annotations

import datetime as dt
import html
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from core.report import html as report


@pytest.fixture(scope="module")
def case(examples_dir):
    """The first 30 s of the bigeminy example (N and V beats, reference annotations) analysed by a randomly
    initialised model (ECG-only: no note encoder needed)."""
    import torch

    from core.io import Annotations, Record, read_record
    from core.model.nets import CardioLensModel
    from core.model.bundle import ModelBundle
    from core.model.config import ModelConfig
    from core.predict import analyse_case

    torch.manual_seed(0)
    model = CardioLensModel(ModelConfig(version="test-random")).eval()
    bundle = ModelBundle(model=model, config=model.config)
    full = read_record(examples_dir / "pvc_bigeminy_200" / "pvc_bigeminy_200.hea")
    n = int(30 * full.fs)
    keep = np.asarray(full.annotations.sample) < n
    ann = Annotations(np.asarray(full.annotations.sample)[keep], [s for s, k in zip(full.annotations.symbol, keep) if k],
                      [a for a, k in zip(full.annotations.aux_note, keep) if k])
    rec = Record(name=full.name, signal=full.signal[:n], fs=full.fs, lead_names=full.lead_names, annotations=ann)
    return analyse_case(rec, None, bundle)


def test_reference_confusion_counts_every_beat(case):
    conf = report.reference_confusion(case.table)
    assert conf is not None
    assert int(conf.to_numpy().sum()) == len(case.table)
    assert list(conf.columns) == ["normal", "abnormal"]
    # nearly every reference N and V beat of the 30 s is matched by a detected beat
    sym = list(case.record.annotations.symbol)
    n_ref, v_ref = sym.count("N"), sym.count("V")
    assert n_ref > 5 and v_ref > 5
    assert conf.loc["N"].sum() >= 0.9 * n_ref and conf.loc["V"].sum() >= 0.9 * v_ref
    assert int(conf["abnormal"].sum()) == case.n_flagged


def test_reference_confusion_none_without_reference():
    t = pd.DataFrame({"time_s": [1.0], "predicted": [1], "p_abnormal": [0.9]})
    assert report.reference_confusion(t) is None


def test_shap_table_adds_up():
    t = report.shap_table(["rr_pre_ms", "qrs_ms", "p_amp_mv"], [0.19, -0.04, 0.0], 0.5, [612.0, np.nan, 0.12],
                          ["ms", "ms", "mV"])
    assert list(t["feature"]) == ["rr_pre_ms", "qrs_ms", "p_amp_mv", "base value", "prediction"]
    assert t.loc[0, "value"] == "612 ms" and t.loc[1, "value"] == "not measured"
    assert t.iloc[-1]["SHAP"] == pytest.approx(0.65)
    assert "increase" in t.loc[0, "impact"] and "decrease" in t.loc[1, "impact"]


def test_note_highlight_escapes_and_keeps_the_text():
    note = "Chest pain <script>alert('x')</script> & palpitations."
    words = pd.DataFrame({"word": ["Chest", "pain", "script", "palpitations"],
                          "start": [0, 6, 12, 42], "end": [5, 10, 18, 54], "normalised": [0.1, 0.5, 0.2, 0.2]})
    out = report.note_highlight_html(note, words)
    assert "<script" not in out and "&lt;" in out and "&amp;" in out
    text = html.unescape(re.sub(r"<[^>]+>", "", out))
    assert text == note  # every character of the note is shown once, in order
    assert out.count("<span") == 4 and "text-decoration: underline" in out  # top word marked without colour


def test_case_report_is_self_contained_and_escaped(case):
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    zs = SimpleNamespace(labels=["N", "V"], temperature=0.05,
                         record_probs=pd.Series([0.7, 0.3], index=["N", "V"]),
                         beat_probs=pd.DataFrame({"sample": case.table["sample"], "time_s": case.table["time_s"],
                                                  "N": 0.7, "V": 0.3}))
    out = report.case_report_html(case, note="<script>alert(1)</script> PVCs", zeroshot=zs,
                                  user_read={"call": "abnormal", "comment": "<b>bigeminy</b>"}, generated_at=when)
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    assert out.count("* plotly.js v") == 1  # the library inlined once, reused by every figure
    assert len(re.findall(r'class="plotly-graph-div"', out)) >= 5
    assert not re.search(r"<script[^>]*\bsrc=", out)  # nothing loaded from elsewhere: opens offline
    assert "<script>alert(1)</script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<b>bigeminy</b>" not in out and "&lt;b&gt;bigeminy&lt;/b&gt;" in out
    assert "2026-01-02T03:04:05+00:00" in out and "test-random" in out
    assert report.DISCLAIMER in out
    assert "Reference annotations vs predicted" in out


def test_strip_window_stays_inside_the_record():
    assert report.strip_window(None, 150.0) == (0.0, 10.0)
    assert report.strip_window(149.0, 150.0) == (140.0, 150.0)
    t0, t1 = report.strip_window(60.0, 150.0)
    assert t1 - t0 == pytest.approx(10.0) and t0 < 60.0 < t1
    assert report.strip_window(3.0, 6.0) == (0.0, 6.0)


@pytest.fixture(scope="module")
def v2_case(case):
    """The random-model case dressed as a v2 result: a rhythm reading, a note with two recognised facts (one
    clause with markup, to check escaping), two beats whose flag the note changed, three unreadable beats."""
    import dataclasses

    from core.predict import NoteInput
    from core.rhythm import Episode, RhythmResult

    t = case.table.copy()
    t["p_fused"] = t["p_ecg"]
    t.loc[[1, 4], "p_fused"] = [0.99, 0.98]
    t["unreadable"] = 0
    t.loc[[7, 8, 9], "unreadable"] = 1
    t["predicted"] = ((t["p_fused"] >= case.threshold) & (t["unreadable"] == 0)).astype(int)
    t["p_abnormal"] = t["p_fused"]
    eps = [Episode("BIGEMINY", 1.0, 16.5, 1.0, "ventricular, 11 cycles"), Episode("SR", 0.1, 29.9, 1.0, "81 bpm")]
    rhythm = RhythmResult(episodes=eps, statements=["Sinus rhythm 81 bpm", "Ventricular bigeminy, 11 cycles",
                                                    "12 ventricular premature beats"], abnormal=True, mean_rate_bpm=81.0)
    note = NoteInput(text="Pacemaker. Known AF.", vector=None,
                     facts={"PACEMAKER": 0.97, "AF_FLUTTER": 0.81, "BBB": 0.1},
                     fact_clauses={"PACEMAKER": "Pacemaker <b>in situ</b>", "AF_FLUTTER": "Known AF."})
    effect = {"changed_beats": [1, 4], "n_changed": 2, "p_record_without_note": 0.31, "p_record_with_note": 0.64,
              "facts_used": {"PACEMAKER": 0.97, "AF_FLUTTER": 0.81}}
    return dataclasses.replace(case, table=t, rhythm=rhythm, note=note, note_effect=effect, agreement=None,
                               view="fused", model_version="v2-test")


def test_v2_report_statements_first_then_episodes(v2_case):
    out = report.case_report_html(v2_case)
    body = out[out.index("<body>"):]
    i_stat, i_eps, i_rec = body.index("<h2>Statements</h2>"), body.index("<h2>Rhythm episodes</h2>"), body.index("<h2>Recording</h2>")
    assert i_stat < i_eps < i_rec  # the reading first, clinically ordered as given
    items = re.findall(r"<li>(.*?)</li>", body[i_stat:i_eps])
    assert items == ["Sinus rhythm 81 bpm", "Ventricular bigeminy, 11 cycles", "12 ventricular premature beats"]
    eps = report.episodes_table(v2_case.rhythm.episodes)
    assert list(eps["label"]) == ["SR", "BIGEMINY"] and list(eps["rhythm"]) == ["Sinus rhythm", "Bigeminy"]
    assert eps["duration (s)"].tolist() == [29.8, 15.5]
    assert "Bigeminy" in body[i_eps:i_rec] and "ventricular, 11 cycles" in body[i_eps:i_rec]


def test_v2_report_facts_note_effect_and_unreadable(v2_case):
    out = report.case_report_html(v2_case)
    assert "What the note changed" in out
    facts = report.facts_table(v2_case.note_effect["facts_used"], v2_case.note.fact_clauses)
    assert list(facts["fact"]) == ["PACEMAKER", "AF_FLUTTER"] and "BBB" not in out.split("What the note changed")[1].split("<h2>")[0]
    assert "permanent pacemaker" in facts["meaning"].iloc[0]
    assert "Pacemaker <b>in situ</b>" not in out and "Pacemaker &lt;b&gt;in situ&lt;/b&gt;" in out
    assert "without the note 0.31, with the note 0.64; 2 beats changed flag" in out
    changed = report.changed_beats_table(v2_case.table, [1, 4])
    assert list(changed["beat"]) == [1, 4] and changed["p with note"].tolist() == [0.99, 0.98]
    n_flag = int(v2_case.table["predicted"].sum())
    assert f"{n_flag} of {len(v2_case.table) - 3} readable beats flagged abnormal" in out
    assert "3 beats in unreadable stretches" in out
    assert "agreement" not in out.lower()  # v2 has no ECG-note agreement: the line is omitted


def test_v2_report_note_without_facts_says_it_changed_nothing(v2_case):
    import dataclasses

    effect = {**v2_case.note_effect, "facts_used": {}, "changed_beats": [], "n_changed": 0, "p_record_with_note": 0.31}
    out = report.case_report_html(dataclasses.replace(v2_case, note_effect=effect))
    assert "states none of the facts the model reads" in out and "0 beats changed flag" in out


def test_v1_report_keeps_agreement_and_has_no_rhythm_section(case):
    import dataclasses

    out = report.case_report_html(dataclasses.replace(case, agreement=0.42))
    assert "ECG–note agreement (cosine in the shared space): +0.42" in out
    assert "<h2>Rhythm episodes</h2>" not in out and "What the note changed" not in out
    assert "agreement" not in report.case_report_html(case).lower()
