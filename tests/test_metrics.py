"""core.training.metrics: known-answer tests of the numbers behind every headline figure."""
import numpy as np
import pytest

from core.training.metrics import auc_score, binary_report, calibration_curve, ece, per_record_errors


def test_ece_known_answer():
    # bin [0.1, 0.2): p 0.1 x2, outcome 0 and 1 -> |0.1 - 0.5| = 0.4 over half the beats
    # bin [0.9, 1.0]: p 0.9 x2, outcomes 1, 1 -> |0.9 - 1| = 0.1 over the other half
    p = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([0, 1, 1, 1])
    assert ece(p, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert ece(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0  # perfectly calibrated and sharp
    cc = calibration_curve(p, y)
    assert list(cc["n"]) == [2, 2] and list(cc["frac_pos"]) == [0.5, 1.0]


def test_auc_score_known_answer_and_undefined():
    assert auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert np.isnan(auc_score([1, 1, 1], [0.1, 0.2, 0.3]))  # one class: AUC undefined


def test_binary_report_definitions():
    # 6 N (2 flagged), 3 S (2 flagged), 2 Q (1 flagged), 1 V and 1 F (ignored)
    aami = np.array(["N"] * 6 + ["S"] * 3 + ["Q"] * 2 + ["V", "F"], dtype=object)
    p = np.array([0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.2, 0.9, 0.2, 0.99, 0.99])
    r = binary_report(aami, p, threshold=0.5)
    assert (r["n_beats"], r["n_N"], r["n_S"], r["n_Q"]) == (11, 6, 3, 2)  # V and F left out
    assert r["confusion"] == [[4, 2], [2, 3]]  # [[tn, fp], [fn, tp]]
    assert r["precision"] == pytest.approx(3 / 5) and r["recall"] == pytest.approx(3 / 5)
    assert r["accuracy"] == pytest.approx(7 / 11)
    assert r["S_sensitivity"] == pytest.approx(2 / 3)
    # S PPV = flagged S / (flagged S + flagged N): the flagged Q beat is not in the ratio
    assert r["S_ppv"] == pytest.approx(2 / (2 + 2))
    assert r["Q_sensitivity"] == pytest.approx(1 / 2) and r["Q_ppv"] == pytest.approx(1 / (1 + 2))
    assert r["N_flagged_rate"] == pytest.approx(2 / 6)
    assert r["f1"] == pytest.approx(0.6)


def test_per_record_errors_counts():
    rec = np.array(["a", "a", "a", "b", "b"])
    aami = np.array(["N", "S", "V", "N", "Q"], dtype=object)
    df = per_record_errors(rec, aami, np.array([0.9, 0.9, 0.9, 0.1, 0.9]), 0.5)
    a, b = df.set_index("record").loc["a"], df.set_index("record").loc["b"]
    assert (a["n"], a["S_found"], a["N_flagged"]) == (2, 1, 1) and (b["n"], b["Q_found"], b["N_flagged"]) == (2, 1, 0)
