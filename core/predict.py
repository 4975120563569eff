"""One case in, all model outputs out: per-beat and record probabilities for ECG-only, note-only and
fused views, the rhythm reading, what the note changed, and the beat embeddings for zero-shot.

The probability shown to the user is the fused one when a note is given, else the ECG-only one; all
three are always returned so the page can show them side by side. Beats in stretches the signal-quality
rule calls unreadable (``core.signal.quality``) are never flagged and are counted apart, and so are the beats
the ECG-only head flags where the noise index reaches its lower ``flagged_threshold`` (``flag_noisy_abnormal``).
Record verdict (fact-gated v2 models): the rhythm reading's statements (``core.rhythm``) — abnormal when an abnormal
rhythm episode or at least one confidently abnormal beat is present (calibrated p >= ``CONFIDENT_P``, or lower
on short records, where one normal beat rarely gets that high: ``core.model.confidence``);
v1 models keep their rule (at least ``max(3, 1% of beats)`` flagged). Either way a record with at least
``UNREADABLE_RECORD_SHARE`` of its beats unreadable is 'unreadable'. The record probability is the
mean of the top 5 % of the readable beats' probabilities (at least 3 beats).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from core import config
from core.io import Record
from core.model.bundle import ModelBundle
from core.model.confidence import confident_level
from core.model.inference import calibrated, feature_matrix, predict_logits, torch_threads
from core.signal.beats import BeatSet, extract_beats, match_annotations
from core.signal.features import PREMATURE_RATIO
from core.signal.clipping import detect_clipped_spans
from core.signal.flat import detect_flat_spans
from core.signal.noise_model import load_noise_model
from core.signal.vf import runs_at_least
from core.text.encoder import MAX_NOTE_TOKENS, TextEncoder

#: Below this many beats a record verdict is not given (the page says why).
MIN_BEATS_FOR_VERDICT = 2
#: At least this share of the beats unreadable: the record verdict is 'unreadable', not normal or abnormal
#: (what is left is too little, and too broken up, to read a rhythm from). Fixed in advance, not tuned.
UNREADABLE_RECORD_SHARE = 0.5
#: A beat is "confidently abnormal" for the record verdict at this calibrated probability (Platt on
#: record-grouped OOF training predictions, so 0.9 means about 9 in 10 such beats are abnormal).
CONFIDENT_P = 0.9
#: Chance that a record of normal beats only gets an abnormal verdict from one beat alone, which sets the
#: one-beat level for records shorter than a Holter (``core.model.confidence``); fixed in advance, not tuned.
ONE_BEAT_ALPHA = 0.05
#: For the rhythm reading only: beats whose morphology and timing say ventricular (``core.rhythm.origin``)
#: and whose p reaches ``V_RUN_MIN_P`` count as V when at least ``V_RUN_MIN_BEATS`` of them follow one
#: another, even below the beat threshold: inside ventricular tachycardia many sit just under it. Chosen on
#: the DS1 training records by VT duration F1 with the previous, network-only v2 bundle (grid None, 0.5, 0.4,
#: 0.3, 0.2, 0.0: F1 0.03, 0.18, 0.23, 0.30, 0.34, 0.29); not re-chosen for the blended one. None: off.
V_RUN_MIN_P: float | None = 0.2
V_RUN_MIN_BEATS = 3
#: The RR intervals of any beat that morphology and timing call ventricular with p >= ``V_ANY_MIN_P`` are
#: left out of the AF irregularity measures (ectopic intervals removed, Dash 2009), flagged or not; the
#: statements still count only flagged beats, so they agree with the beat table. Chosen on DS1 by AF
#: duration F1 with the previous bundle (grid None, 0.6, 0.5, 0.4, 0.3, 0.2: 0.934, 0.940, 0.964, 0.965, 0.966,
#: 0.965; PPV 0.879 -> 0.937 at Se 0.996); VT unchanged.
V_ANY_MIN_P: float | None = 0.3


@dataclass
class NoteInput:
    """A note as the model saw it: text, its BERT vector, and whether it was cut to the token limit."""

    text: str
    vector: np.ndarray | None
    n_tokens: int = 0
    truncated: bool = False
    #: fact-gated models: p(stated) of each fact (``core.text.facts``) and the clause that carried it
    facts: dict[str, float] = field(default_factory=dict)
    fact_clauses: dict[str, str] = field(default_factory=dict)

    @property
    def fact_vector(self) -> np.ndarray:
        return np.array(list(self.facts.values()), np.float32)


@dataclass
class CaseResult:
    record: Record
    beats: BeatSet
    table: pd.DataFrame  # one row per beat: sample, time_s, features, p_ecg, p_note, p_fused, p_abnormal, predicted, ref_symbol, ref_class
    p_record: dict[str, float]  # 'ecg', 'note', 'fused', 'shown'
    verdict: str  # 'abnormal' | 'normal' | 'unreadable' | 'not enough beats'
    view: str  # 'fused' or 'ecg' — which head p_abnormal comes from
    threshold: float
    agreement: float | None  # cosine between the record's mean ECG embedding and the note embedding
    z: np.ndarray  # [n_beats, 128] unit ECG embeddings (mean over leads)
    note: NoteInput | None
    model_version: str
    notices: list[str] = field(default_factory=list)
    rhythm: object | None = None  # core.rhythm.RhythmResult (fact-gated models)
    #: what the note changed: beats whose flag differs between ECG-only and fused, record p without/with note
    note_effect: dict = field(default_factory=dict)

    @property
    def statements(self) -> list[str]:
        return list(self.rhythm.statements) if self.rhythm is not None else []

    @property
    def n_flagged(self) -> int:
        return int(self.table["predicted"].sum()) if len(self.table) else 0


def content_hash(record: Record, note: str | None) -> str:
    """Key for caching results of one case (signal bytes + fs + leads + note)."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(record.signal).tobytes())
    h.update(f"{record.fs}|{record.lead_names}|{note or ''}".encode())
    return h.hexdigest()


def encode_note(note: str | None, text_encoder: TextEncoder | None, recognizer=None) -> NoteInput | None:
    """BERT vector of a note (None if empty); notes over the token limit are truncated and marked.
    With a fact ``recognizer`` (``core.text.recognizer``) the note's facts are read clause by clause."""
    if note is None or not note.strip() or text_encoder is None:
        return None
    text = note.strip()
    n_tokens = len(text_encoder.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
    vec = text_encoder.embed([text])[0]
    out = NoteInput(text=text, vector=vec, n_tokens=n_tokens, truncated=n_tokens > MAX_NOTE_TOKENS)
    if recognizer is not None:
        found = recognizer.note_facts(text, text_encoder.embed_cached)
        out.facts = {f: float(found["stated"][f]) for f in recognizer.facts}
        out.fact_clauses = {f: found["clauses"][i] for f, i in found["argmax_clause"].items() if i is not None}
    return out


def analyse_case(record: Record, note: str | None, bundle: ModelBundle, text_encoder: TextEncoder | None = None,
                 beats: BeatSet | None = None, batch_size: int = 2048) -> CaseResult:
    """Run the whole pipeline on one record (and optional note); ``batch_size`` beats per model forward."""
    beats = beats if beats is not None else extract_beats(record)
    conf = bundle.config
    gated = conf.fusion == "fact_gated"
    note_in = encode_note(note, text_encoder, bundle.recognizer if gated else None)
    feats = feature_matrix(beats.features, conf.features)
    # One thread: on 2 shared cores two threads were 3x slower under load (core.bench); restored after.
    with torch_threads(1):
        res = predict_logits(bundle.model, beats.windows, feats, None if note_in is None else note_in.vector, batch_size,
                             fact_probs=note_in.fact_vector if (gated and note_in is not None) else None)
    p_ecg = calibrated(res["ecg"], conf.calibration["ecg"])
    p_fused = calibrated(res["fused"], conf.calibration["fused"]) if note_in else np.full(len(beats), np.nan)
    p_note = calibrated(res["note"], conf.calibration["note"]) if note_in else np.full(len(beats), np.nan)
    view = "fused" if note_in else "ecg"
    shown = p_fused if note_in else p_ecg
    thr = float(conf.thresholds["fused" if note_in else "ecg"])
    beats = flag_noisy_abnormal(beats, p_ecg >= float(conf.thresholds["ecg"]))
    lost = lost_signal_spans(record, beats)
    beats = mark_unreadable_near(beats, [(a, b) for a, b, _ in lost])
    table = pd.DataFrame({"sample": beats.rpeaks, "time_s": beats.time_s})
    table = pd.concat([table, beats.features.reset_index(drop=True)], axis=1)
    table["p_ecg"], table["p_note"], table["p_fused"] = p_ecg, p_note, p_fused
    table["p_abnormal"] = shown
    unreadable = beats.unreadable
    table["unreadable"] = unreadable.astype(int)
    table["predicted"] = ((shown >= thr) & ~unreadable).astype(int)
    table["call"] = np.where(unreadable, "unreadable", np.where(table["predicted"] == 1, "abnormal", "normal"))
    if record.annotations is not None and len(beats):
        sym = match_annotations(beats.rpeaks, record.annotations, record.fs)
        table["ref_symbol"] = sym
        table["ref_class"] = list(config.aami_of(sym))
    # over the readable beats: a noise burst is not evidence about the heart
    p_record = {k: record_probability(np.asarray(v, float)[~unreadable])
                for k, v in (("ecg", p_ecg), ("note", p_note), ("fused", p_fused))}
    p_record["shown"] = p_record[view]
    n = len(beats)
    verdict = record_verdict(table["predicted"].to_numpy())
    agreement, rhythm, note_effect = None, None, {}
    if gated:
        paced_known = note_in is not None and note_in.facts.get("PACEMAKER", 0.0) >= conf.fact_tau
        rhythm = read_rhythm(beats, table, thr, pacemaker_known=paced_known, normal_exceedance=conf.normal_exceedance,
                             lost_s=lost)
        apply_rhythm_context(table, rhythm)
        verdict = "not enough beats" if n < MIN_BEATS_FOR_VERDICT else ("abnormal" if rhythm.abnormal else "normal")
        if note_in is not None:
            flag_ecg = (p_ecg >= float(conf.thresholds["ecg"])) & ~unreadable
            changed = np.flatnonzero(flag_ecg != table["predicted"].to_numpy().astype(bool))
            note_effect = {"changed_beats": changed.tolist(), "n_changed": int(len(changed)),
                           "p_record_without_note": p_record["ecg"], "p_record_with_note": p_record["fused"],
                           "facts_used": {f: p for f, p in note_in.facts.items() if p >= conf.fact_tau}}
    elif note_in is not None and n:
        z_note = bundle.model.encode_text(torch.from_numpy(note_in.vector[None].astype(np.float32)))
        z_note = torch.nn.functional.normalize(z_note, dim=-1)[0].detach().numpy()
        z_ecg = res["z"].mean(0)
        agreement = float(np.dot(z_ecg, z_note) / (np.linalg.norm(z_ecg) * np.linalg.norm(z_note) + 1e-9))
    if n >= MIN_BEATS_FOR_VERDICT and unreadable.mean() >= UNREADABLE_RECORD_SHARE:
        verdict = "unreadable"
        if rhythm is not None:  # said first: what follows was read from the few beats left
            rhythm.statements.insert(0, f"Recording unreadable: {int(unreadable.sum())} of {n} beats lie in noise or "
                                        "lost signal; no record verdict")
    notices = list(beats.notices)
    if note_in is not None and note_in.truncated:
        notices.append(f"The note has {note_in.n_tokens} word pieces; only the first {MAX_NOTE_TOKENS} were read by the model.")
    if note is not None and note.strip() and text_encoder is None:
        notices.append("A note was given but no text encoder, so the note was not read: the reading is ECG only.")
    return CaseResult(record=record, beats=beats, table=table, p_record=p_record, verdict=verdict, view=view, threshold=thr,
                      agreement=agreement, z=res["z"], note=note_in, model_version=bundle.version, notices=notices,
                      rhythm=rhythm, note_effect=note_effect)


def apply_rhythm_context(table: pd.DataFrame, rhythm) -> None:
    """Beats the rhythm reading excuses (an S-like call inside AF/flutter, where an irregular RR is the
    baseline, ``core.rhythm.context``) are no longer flagged; ``rhythm_context`` says why (in place)."""
    reason = getattr(rhythm, "context_reason", None)
    table["rhythm_context"] = "" if reason is None else np.asarray(reason, dtype=object)
    if reason is None:
        return
    excused = (np.asarray(reason, dtype=object) != "") & (table["predicted"].to_numpy() == 1)
    table.loc[excused, "predicted"] = 0
    table.loc[excused, "call"] = "normal"


def continue_ventricular_runs(beat_time_s: np.ndarray, ventricular: np.ndarray, flagged: np.ndarray,
                              rr_tolerance: float = 1.25) -> np.ndarray:
    """A flagged beat right after a ventricular one, at an RR (s) no longer than ``rr_tolerance`` times the longer
    of the two RR before, is ventricular too: inside ventricular tachycardia the QRS drifts, the local RR adapts
    and the RR may alternate, so the morphology rule alone breaks a run into pieces; the beat after a single
    PVC comes after the compensatory pause (longer than the sinus cycle by the PVC's prematurity) and stays."""
    t = np.asarray(beat_time_s, float)
    out = np.asarray(ventricular, bool).copy()
    rr = np.r_[np.nan, np.diff(t)]  # rr[i]: the interval ending at beat i (NaN for beat 0)
    for i in range(2, len(t)):
        if not out[i] and flagged[i] and out[i - 1] and rr[i] <= rr_tolerance * np.fmax(rr[i - 1], rr[i - 2]):
            out[i] = True
    return out


def flag_noisy_abnormal(beats: BeatSet, flagged: np.ndarray) -> BeatSet:
    """``beats`` with the flagged beats whose p_noise reaches the noise index's ``flagged_threshold`` made
    unreadable (a copy; the given BeatSet, which the app caches, is not changed). ``flagged``: the ECG-only head's
    flags, so that a note never changes what is readable."""
    model = load_noise_model()
    if model.flagged_threshold is None or "p_noise" not in beats.features or not len(beats):
        return beats
    noisy = np.asarray(flagged, bool) & (beats.features["p_noise"].to_numpy(float) >= model.flagged_threshold)
    return _with_unreadable(beats, noisy)


def _with_unreadable(beats: BeatSet, mask: np.ndarray) -> BeatSet:
    """``beats`` with the beats of ``mask`` also unreadable: a copy when that changes anything (the BeatSet the app
    caches is never changed), else ``beats`` itself."""
    if not (mask & ~beats.unreadable).any():
        return beats
    return replace(beats, features=beats.features.assign(unreadable=beats.unreadable | mask))


#: Causes of the stretches ``lost_signal_spans`` finds, as the rhythm statements say them.
FLAT_CAUSE, CLIPPED_CAUSE = "signal lost (flat line)", "signal clipped at the recorder's limit"
GAP_CAUSE = "no samples in the file"
#: Beats whose R peak lies this close (s) to lost or clipped signal are unreadable: their window is cut.
LOST_MARGIN_S = 0.3


def lost_signal_spans(record: Record, beats: BeatSet) -> list[tuple[float, float, str]]:
    """(start_s, end_s, cause) of the primary lead's stretches without ECG: samples missing from the file
    (``Record.gaps_s``, bridged by the reader), flat lines of 1 s or more (``core.signal.flat``) and shorter runs
    pinned at the lead's rail (``core.signal.clipping``); each stretch under its most specific cause."""
    if not len(beats):
        return []
    x = record.lead(beats.lead_names[0])
    spans = [(a, b, GAP_CAUSE) for a, b in record.gaps_s.get(beats.lead_names[0], [])]
    detected = ((detect_flat_spans(x, record.fs), FLAT_CAUSE), (detect_clipped_spans(x, record.fs), CLIPPED_CAUSE))
    for found, cause in detected:
        spans += [(a, b, cause) for a, b in found if not any(a < d and c < b for c, d, _ in spans)]
    return sorted(spans)


def mark_unreadable_near(beats: BeatSet, spans: list[tuple[float, float]], margin_s: float = LOST_MARGIN_S) -> BeatSet:
    """``beats`` (a copy when anything changes) with every beat within ``margin_s`` (s) of a span (s) unreadable."""
    if not spans or not len(beats):
        return beats
    t = np.asarray(beats.time_s, float)
    near = np.zeros(len(t), bool)
    for a, b in spans:
        near |= (t >= a - margin_s) & (t <= b + margin_s)
    return _with_unreadable(beats, near)


def read_rhythm(beats: BeatSet, table: pd.DataFrame, threshold: float, pacemaker_known: bool = False,
                normal_exceedance: list | None = None, lost_s: list[tuple[float, float, str]] | None = None):
    """The rhythm reading (``core.rhythm.analyse_rhythm``) with the model's calls as beat classes.

    Unreadable beats are 'U'; beats the model does not flag are 'N'; a flagged beat takes its origin
    from morphology and timing (``core.rhythm.origin``: 'V' when wide or unlike the record's dominant
    beat, else 'S'). A beat is paced ('Q') when a pacing spike precedes it (``core.signal.pacing``,
    recordings >= 250 Hz) or, when the note states a pacemaker, when it is flagged and wide (QRS >= 120 ms or not
    measurable):
    recorders that filter the spike away (MIT-BIH at 360 Hz) leave no other evidence. Confident beats
    for the verdict: calibrated p >= ``CONFIDENT_P``, lowered for short records by the bundle's
    ``normal_exceedance`` curve (``core.model.confidence.confident_level``, ``ONE_BEAT_ALPHA``). ``lost_s``:
    (start_s, end_s, cause) where the primary lead holds no ECG (``lost_signal_spans``), read as unreadable.
    """
    from core.rhythm import analyse_rhythm, rhythm_inputs_from_beats
    from core.rhythm.origin import classify_origin

    kw = rhythm_inputs_from_beats(beats)
    flagged = table["predicted"].to_numpy().astype(bool)
    origin = classify_origin(kw["beat_time_s"], kw["qrs_ms"], kw["qrs_amp_mv"], clean_mv=kw["clean_mv"], fs=kw["clean_fs"]) \
        if len(beats) >= 3 else np.full(len(beats), "S")
    f = beats.features
    paced = f["paced_spike"].to_numpy(bool).copy() if "paced_spike" in f else np.zeros(len(beats), bool)
    if pacemaker_known and "qrs_ms" in f:
        # a QRS the delineator could not measure counts as wide: paced complexes often defeat it (MIT-BIH 107: 167 of
        # 179 beats of the bundled example unmeasured)
        paced |= flagged & ~(f["qrs_ms"].to_numpy(float) < 120.0)
    p_shown = table["p_abnormal"].to_numpy(float)
    ventricular = flagged & (origin == "V")
    if V_RUN_MIN_P is not None:
        cand = (origin == "V") & ~beats.unreadable & ~paced & (np.nan_to_num(p_shown) >= V_RUN_MIN_P)
        ventricular |= runs_at_least(cand, V_RUN_MIN_BEATS)
    ventricular = continue_ventricular_runs(kw["beat_time_s"], ventricular, flagged & ~beats.unreadable & ~paced)
    v_like = None
    if V_ANY_MIN_P is not None:
        v_like = (origin == "V") & ~beats.unreadable & ~paced & (np.nan_to_num(p_shown) >= V_ANY_MIN_P)
    # "atrial premature" needs a premature beat: early against the local RR or the record's sinus cycle. A flagged,
    # not-V, not-premature beat is abnormal of unclear origin ('Q'), e.g. a paced rhythm whose spikes were filtered away.
    local, sinus = f["rr_pre_local_ratio"].to_numpy(float), f["rr_pre_sinus_ratio"].to_numpy(float)
    early = (local < PREMATURE_RATIO) | (sinus < PREMATURE_RATIO)
    supra = np.where(early | ~(np.isfinite(local) | np.isfinite(sinus)), "S", "Q")  # no RR to judge by: as before
    cls = np.where(beats.unreadable, "U", np.where(paced, "Q", np.where(ventricular, "V", np.where(flagged, supra, "N")))).astype(object)
    p = np.where(beats.unreadable, 0.0, p_shown)
    level = confident_level(int((~beats.unreadable).sum()), normal_exceedance, alpha=ONE_BEAT_ALPHA,
                            cap=max(CONFIDENT_P, threshold), floor=threshold)
    return analyse_rhythm(**{**kw, "beat_class": cls, "paced": paced, "p_abnormal": p, "p_threshold": level,
                             "ventricular_like": v_like, "unreadable": list(kw["unreadable"]) + list(lost_s or [])})


def record_verdict(predicted: np.ndarray) -> str:
    """'abnormal' when at least ``max(3, ceil(1% of beats))`` beats are flagged, else 'normal';
    'not enough beats' below ``MIN_BEATS_FOR_VERDICT`` beats."""
    predicted = np.asarray(predicted).astype(int)
    n = len(predicted)
    if n < MIN_BEATS_FOR_VERDICT:
        return "not enough beats"
    return "abnormal" if int(predicted.sum()) >= max(3, int(np.ceil(0.01 * n))) else "normal"


def record_probability(p: np.ndarray) -> float:
    """Mean of the top 5 % of beat probabilities (at least 3 beats); NaN without a finite probability."""
    p = np.asarray(p, float)
    if len(p) == 0 or np.isnan(p).all():
        return float("nan")
    k = max(3, int(np.ceil(0.05 * len(p))))
    return float(np.sort(p)[-k:].mean())
