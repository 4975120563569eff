"""core.signal.beats: matching detections to reference beats (150 ms) and the reference beat list."""
import numpy as np

from core import config
from core.io import Annotations
from core.signal.beats import match_annotations, match_reference, reference_beats


def test_match_reference_nearest_within_tolerance():
    ref_s = np.array([100, 200, 300])
    ref_y = ["N", "A", "V"]
    peaks = np.array([98, 151, 149, 260, 355, 420])
    got = match_reference(peaks, ref_s, ref_y, tol=54)
    # 98 -> N (2 off); 151 -> A (49 off, nearer than N at 51); 149 -> N (49 vs 51); 260 -> V (40 off);
    # 355 -> V (55 off > tol) -> ''; 420 -> ''
    assert list(got) == ["N", "A", "N", "V", "", ""]
    assert list(match_reference(np.array([150]), ref_s, ref_y, tol=50)) == ["N"]  # a tie goes to the earlier beat
    assert list(match_reference(peaks[:2], np.array([], int), [], tol=50)) == ["", ""]
    assert list(match_reference(np.array([5, 90]), np.array([100]), ["S"], tol=10)) == ["", "S"]  # one reference beat


def test_match_annotations_uses_the_one_150_ms_tolerance_and_skips_rhythm_marks():
    fs = 360.0
    tol = int(round(config.MATCH_TOLERANCE_S * fs))
    assert tol == 54
    ann = Annotations(sample=[100, 100, 500, 900], symbol=["+", "N", "V", "~"], aux_note=["(N", "", "", ""])
    samples, symbols = reference_beats(ann)
    assert list(samples) == [100, 500] and symbols == ["N", "V"]
    got = match_annotations(np.array([100 + tol, 500 + tol + 1, 900]), ann, fs)
    assert list(got) == ["N", "", ""]
