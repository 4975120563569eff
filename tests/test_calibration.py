"""core.training.calibration: Platt scaling and the F1-optimal threshold, on known answers."""
import numpy as np
import pytest

from core.model.inference import calibrated
from core.training.calibration import best_f1_threshold, fit_platt


def test_best_f1_threshold_known_answer():
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    y = np.array([0, 0, 1, 0, 1, 1])
    # thresholds 0.3 -> P 3/4 R 1 F1 .857; 0.6 -> P 2/3 R 2/3; 0.7 -> P 1 R 2/3 F1 .8; 0.3 is best
    assert best_f1_threshold(p, y) == pytest.approx(0.3)
    assert best_f1_threshold(np.array([0.2, 0.9]), np.array([0, 1])) == pytest.approx(0.9)


def test_fit_platt_recovers_a_known_logistic():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    a_true, b_true = 1.7, -0.8
    y = rng.random(len(logits)) < 1 / (1 + np.exp(-(a_true * logits + b_true)))
    a, b = fit_platt(logits, y)
    assert a == pytest.approx(a_true, abs=0.1) and b == pytest.approx(b_true, abs=0.1)
    p = calibrated(logits, (a, b))
    assert abs(p.mean() - y.mean()) < 0.01  # calibrated: mean probability = base rate
