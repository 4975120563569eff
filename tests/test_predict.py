"""core.predict: the record verdict rule, the record probability, and no process-wide thread change."""
import re

import numpy as np
import pytest
import torch

from core import config
from core.predict import MIN_BEATS_FOR_VERDICT, analyse_case, record_probability, record_verdict


def test_record_verdict_rule():
    # abnormal when at least max(3, ceil(1% of beats)) beats are flagged
    assert record_verdict(np.array([1, 1, 0, 0, 0])) == "normal"
    assert record_verdict(np.array([1, 1, 1, 0, 0])) == "abnormal"
    big = np.zeros(1000, int)
    big[:9] = 1
    assert record_verdict(big) == "normal"  # 9 < 10 = ceil(1% of 1000)
    big[9] = 1
    assert record_verdict(big) == "abnormal"
    assert record_verdict(np.array([1] * (MIN_BEATS_FOR_VERDICT - 1))) == "not enough beats"


def test_record_probability_is_the_mean_of_the_top_5_percent():
    p = np.linspace(0, 1, 101)  # top 5% of 101 beats = ceil(5.05) = 6 beats: 0.95 .. 1.0
    assert record_probability(p) == pytest.approx(np.mean(p[-6:]))
    assert record_probability(np.array([0.2, 0.9, 0.1, 0.5])) == pytest.approx((0.9 + 0.5 + 0.2) / 3)  # at least 3
    assert np.isnan(record_probability(np.array([]))) and np.isnan(record_probability(np.array([np.nan, np.nan])))


def test_analyse_case_restores_the_torch_thread_setting(bundle_dir):
    from core.io import read_record
    from core.model.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    rec = read_record(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        case = analyse_case(rec, None, bundle)
        assert torch.get_num_threads() == 2
        if case.rhythm is None:  # v1: the beat-count rule; fact-gated bundles: the rhythm reading decides
            assert case.verdict == record_verdict(case.table["predicted"].to_numpy())
        else:
            assert case.verdict == ("abnormal" if case.rhythm.abnormal else "normal")
        assert case.p_record["ecg"] == pytest.approx(record_probability(case.table["p_ecg"].to_numpy()))
        one = analyse_case(rec, None, bundle, batch_size=1)  # one beat per forward: same numbers
        np.testing.assert_allclose(one.table["p_abnormal"], case.table["p_abnormal"], atol=1e-6)
    finally:
        torch.set_num_threads(before)


def test_runs_at_least_marks_only_long_enough_runs():
    from core.signal.vf import runs_at_least  # the VT-run rule of read_rhythm

    m = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1], bool)
    assert runs_at_least(m, 3).tolist() == [False, False, False, True, True, True, False, True, True, True, True]
    assert not runs_at_least(np.zeros(4, bool), 3).any()


@pytest.mark.slow
def test_ventricular_tachycardia_of_223_is_read(mitdb_dir):
    """223 (a DS1 training record) has 55 s of VT from 578 s; its V beats sit under the beat threshold
    (V is held out of training), so the rhythm reading must find the run from morphology."""
    from core.io import read_record
    from core.model.bundle import load_bundle

    bundle = load_bundle(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION)
    case = analyse_case(read_record(mitdb_dir / "223.hea"), None, bundle)
    vt = [e for e in case.rhythm.episodes if e.kind == "VT" and e.end_s > 578.3 and e.start_s < 633.3]
    assert vt, [(e.kind, e.start_s) for e in case.rhythm.episodes if e.kind == "VT"]


def test_bundled_paced_example_reads_paced_with_its_note_and_never_atrial_premature(v2_bundle, text_encoder):
    """107's spikes are filtered away at 360 Hz: the pacemaker note makes its wide (or unmeasurable) flagged beats
    paced; without the note they are abnormal of unclear origin, not "atrial premature" (they are not early)."""
    from core.io import read_record

    folder = config.EXAMPLES_DIR / "paced_107"
    rec = read_record(folder / "paced_107.hea")
    with_note = analyse_case(rec, (folder / "note.txt").read_text(), v2_bundle, text_encoder)
    assert with_note.rhythm.statements[0].startswith("Paced rhythm")
    without = analyse_case(rec, None, v2_bundle, text_encoder)
    n_s = sum(int(s.split()[0]) for s in without.rhythm.statements if s.endswith(("atrial premature beat", "atrial premature beats")))
    assert n_s <= 0.1 * len(without.table)
    assert any("not premature, origin unclear" in s for s in without.rhythm.statements)


def test_ventricular_run_continues_through_alternating_rr_but_not_past_a_compensatory_pause():
    from core.predict import continue_ventricular_runs
    # sinus 0.8 s, then a VT whose RR alternates 0.47 / 0.72 s (as in MIT-BIH 223), all beats flagged
    rr = [0.8] * 5 + [0.47, 0.72] * 5
    t = np.cumsum([0.0] + rr)
    v = np.zeros(len(t), bool)
    v[5] = True  # the morphology rule found only the first ventricular beat
    flagged = np.zeros(len(t), bool)
    flagged[5:] = True
    out = continue_ventricular_runs(t, v, flagged)
    assert out[5:].all() and not out[:5].any()
    # one PVC (coupling 0.5 s) followed by a flagged beat after a full compensatory pause (1.1 s): not continued
    t2 = np.cumsum([0.0, 0.8, 0.8, 0.8, 0.5, 1.1, 0.8])
    v2 = np.zeros(len(t2), bool)
    v2[4] = True
    assert not continue_ventricular_runs(t2, v2, np.ones(len(t2), bool))[5]
    # an unflagged beat never continues a run
    assert not continue_ventricular_runs(t, v, np.zeros(len(t), bool))[6:].any()


def test_white_noise_is_an_unreadable_record_not_an_abnormal_one(v2_bundle):
    """A lead of Gaussian noise (electrode off, amplifier noise): the noise index calls most beats the detector
    finds unreadable, so the record gets no normal/abnormal verdict; a clean record keeps its reading."""
    from core.io import Record, read_record
    from core.predict import UNREADABLE_RECORD_SHARE

    rng = np.random.default_rng(0)
    noise = Record("white_noise", rng.normal(0.0, 0.3, (360 * 60, 1)), 360.0, ["MLII"])
    case = analyse_case(noise, None, v2_bundle)
    assert case.table["unreadable"].mean() >= UNREADABLE_RECORD_SHARE and case.verdict == "unreadable"
    clean = analyse_case(read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea"), None, v2_bundle)
    assert clean.verdict in ("normal", "abnormal") and clean.table["unreadable"].mean() < 0.05


def test_a_flagged_beat_where_the_noise_index_is_high_is_unreadable_and_the_cache_is_untouched():
    from core.io import read_record
    from core.predict import flag_noisy_abnormal
    from core.signal.beats import extract_beats
    from core.signal.noise_model import load_noise_model

    level = load_noise_model().flagged_threshold
    assert level is not None and level < load_noise_model().threshold
    beats = extract_beats(read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea"))
    beats.features["p_noise"] = 0.0
    beats.features.loc[5, "p_noise"] = beats.features.loc[7, "p_noise"] = (level + load_noise_model().threshold) / 2
    flagged = np.zeros(len(beats), bool)
    flagged[[5, 6]] = True  # 5 flagged in a noisy-looking stretch, 6 flagged in a clean one, 7 noisy but not flagged
    out = flag_noisy_abnormal(beats, flagged)
    assert list(np.flatnonzero(out.unreadable & ~beats.unreadable)) == [5]
    assert not beats.unreadable[5]  # a copy: the BeatSet the app caches is not changed


def test_a_lead_stuck_at_its_rail_is_lost_signal_not_a_pause(v2_bundle):
    """28 s of both leads held at 5 mV (a recorder stuck at its rail): no beat there, and the reading says
    the signal was lost instead of reporting pauses."""
    import dataclasses

    from core.io import read_record
    from core.signal.flat import detect_flat_spans

    rec = read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea")
    sig = rec.signal.copy()
    sig[int(30 * rec.fs):int(58 * rec.fs), :] = 5.0
    stuck = dataclasses.replace(rec, signal=sig, annotations=None)
    assert detect_flat_spans(sig[:, 0], rec.fs) == [(30.0, 58.0)] and detect_flat_spans(rec.signal[:, 0], rec.fs) == []
    case = analyse_case(stuck, None, v2_bundle)
    kinds = [e.kind for e in case.rhythm.episodes]
    assert "PAUSE" not in kinds, case.statements
    lost = [e for e in case.rhythm.episodes if e.kind == "UNREADABLE" and "signal lost" in e.detail]
    assert lost and lost[0].start_s <= 30.0 and lost[0].end_s >= 58.0
    assert any("signal lost (flat line)" in s for s in case.statements)


def test_a_note_without_a_text_encoder_is_said_not_dropped_silently(v2_bundle):
    from core.io import read_record

    case = analyse_case(read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea"), "Known AF.", v2_bundle, None)
    assert case.view == "ecg" and any("the note was not read" in n for n in case.notices)


def test_a_lead_pinned_at_its_rail_between_beats_is_clipped_signal_not_pauses(v2_bundle):
    """Baseline wander pushes MIT-BIH 100 out of the recorder's range for about a second of every 7 s (the lead held
    at +/-1 mV): the beats hidden there read as four pauses of 2 s or more before; now those stretches are
    unreadable with their cause, and no pause or premature beat is counted in them."""
    import dataclasses

    from core.io import read_record
    from core.predict import CLIPPED_CAUSE, lost_signal_spans

    rec = read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea")
    t = np.arange(rec.n_samples) / rec.fs
    sig = np.clip(rec.signal + 1.5 * np.sin(2 * np.pi * 0.15 * t)[:, None], -1.0, 1.0)
    clipped = dataclasses.replace(rec, signal=sig, annotations=None)
    case = analyse_case(clipped, None, v2_bundle)
    assert "PAUSE" not in [e.kind for e in case.rhythm.episodes], case.rhythm.statements
    assert any(CLIPPED_CAUSE in s for s in case.rhythm.statements)
    spans = [(a, b) for a, b, cause in lost_signal_spans(clipped, case.beats) if cause == CLIPPED_CAUSE]
    inside = [any(a <= x <= b for a, b in spans) for x in case.table["time_s"]]
    assert case.table.loc[inside, "call"].eq("unreadable").all()
    assert lost_signal_spans(rec, analyse_case(rec, None, v2_bundle).beats) == []  # the unclipped example: none


def test_samples_missing_from_the_file_are_lost_signal_not_a_pause(v2_bundle):
    """6 s without samples in both leads of MIT-BIH 100 (a lead-off stretch, NaN in the file): refused before as
    "too many to fill"; now read, with that stretch unreadable under its cause and no pause across it."""
    from core.io import read_record
    from core.io.record import _finalise
    from core.predict import GAP_CAUSE

    rec = read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea")
    sig = rec.signal.astype(float)
    sig[int(30 * rec.fs):int(36 * rec.fs), :] = np.nan
    gappy = _finalise("gappy", sig, rec.fs, rec.lead_names, source_format="wfdb", label="gappy.hea")
    case = analyse_case(gappy, None, v2_bundle)
    assert "PAUSE" not in [e.kind for e in case.rhythm.episodes], case.rhythm.statements
    lost = [e for e in case.rhythm.episodes if e.kind == "UNREADABLE" and GAP_CAUSE in e.detail]
    assert lost and lost[0].start_s <= 30.0 and lost[0].end_s >= 36.0
    assert not ((case.table["time_s"] > 30.0) & (case.table["time_s"] < 36.0) & (case.table["call"] != "unreadable")).any()
    # the rate leaves out the RR interval across the gap: it read 66 bpm for MIT-BIH 100's 74 bpm over 60 s
    rate = lambda c: int(re.search(r"Sinus rhythm (\d+) bpm", c.rhythm.statements[0]).group(1))  # noqa: E731
    assert abs(rate(case) - rate(analyse_case(rec, None, v2_bundle))) <= 1
