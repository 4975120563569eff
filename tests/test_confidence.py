"""The record verdict's one-beat level (core.model.confidence): lower for short records, capped for long ones."""
import numpy as np

from core.model.confidence import confident_level, exceedance_curve


def test_exceedance_curve_counts_beats_at_or_above_each_level():
    curve = dict((c, e) for c, e in exceedance_curve(np.array([0.1, 0.55, 0.7, 0.7, 0.95])))
    assert curve[0.5] == 0.8 and curve[0.7] == 0.6 and curve[0.705] == 0.2 and curve[0.99] == 0.0


def test_level_follows_record_length_and_keeps_the_false_alarm_rate():
    rng = np.random.default_rng(0)
    # most normal beats far from abnormal, 1 % spread evenly over [0, 1]: the mis-read ones
    p_normal = np.r_[rng.beta(1, 40, 198_000), rng.uniform(0, 1, 2_000)]
    curve = exceedance_curve(p_normal)
    short, holter = confident_level(12, curve, cap=0.9), confident_level(2000, curve, cap=0.9)
    assert short < holter == 0.9
    # a 12-beat record of normal beats reaches the short level at most alpha of the time (Šidák)
    tail = (p_normal >= short).mean()
    assert 1 - (1 - tail) ** 12 <= 0.05
    assert confident_level(12, curve, cap=0.9, floor=0.95) == 0.9  # the cap wins: never stricter than a Holter
    assert confident_level(12, None, cap=0.9) == 0.9 and confident_level(0, curve, cap=0.9) == 0.9
