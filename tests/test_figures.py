"""core.figures: ECG paper geometry, class styling, decimation and SHAP additivity of the figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.report import figures as figs
from core.report import figures_explain as xfigs
from core.io import read_record


@pytest.fixture(scope="module")
def nsr(examples_dir):
    return read_record(examples_dir / "nsr_100" / "nsr_100.hea")


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_ecg_strip_paper_grid_and_aspect(nsr):
    fig = figs.ecg_strip(nsr.signal[:, 0], nsr.fs, t0=20.0, t1=30.0, lead_name="MLII")
    assert list(fig.layout.xaxis.range) == [20.0, 30.0]
    # 25 mm/s and 10 mm/mV: 1 mV is drawn as long as 0.4 s, so 1 mm is square
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == pytest.approx(0.4)
    y0, y1 = fig.layout.yaxis.range
    assert y0 % 0.5 == 0 and y1 % 0.5 == 0 and y1 - y0 >= 2.0
    minor = np.array([x for x in _trace(fig, "minor grid").x if x is not None], float)
    major = np.array([x for x in _trace(fig, "major grid").x if x is not None], float)
    minor_t = np.unique(minor[(minor > 20) & (minor < 30)].round(6))  # vertical lines (20, 30 are ends of horizontals)
    major_t = np.unique(major[(major >= 20) & (major <= 30)].round(6))
    assert np.allclose(np.diff(major_t[major_t != 30]), 0.2)  # 5 mm = 0.2 s
    assert len(major_t) == 51  # 20.0, 20.2, ..., 30.0
    assert len(minor_t) == 50 * 4  # four 1 mm lines inside every 5 mm square
    k = minor_t / 0.04
    assert np.allclose(k, k.round(), atol=1e-6) and not np.any(k.round() % 5 == 0)  # 1 mm = 0.04 s, off the 5 mm lines
    # the trace drawn is the window only, in mV
    ecg = _trace(fig, "MLII")
    assert len(ecg.x) == pytest.approx(10 * nsr.fs, abs=2)
    assert np.allclose(ecg.y, nsr.signal[int(20 * nsr.fs): int(20 * nsr.fs) + len(ecg.y), 0])


def test_ecg_strip_marks_classes_with_shape_and_colour(nsr):
    beats = pd.DataFrame({"time_s": [20.5, 21.3, 22.1], "predicted": [0, 1, 0], "p_abnormal": [0.1, 0.9, 0.2],
                          "rr_pre_ms": [800.0, 600.0, 900.0], "ref_symbol": ["N", "A", "N"]})
    ref = pd.DataFrame({"time_s": [20.5, 21.3, 22.1, 45.0], "symbol": ["N", "A", "N", "V"]})
    fig = figs.ecg_strip(nsr.signal[:, 0], nsr.fs, t0=20.0, t1=30.0, beats=beats, reference=ref)
    normal, abnormal = _trace(fig, "normal beat"), _trace(fig, "abnormal beat")
    assert normal.marker.symbol == "circle" and normal.marker.color == "#0072B2"
    assert abnormal.marker.symbol == "triangle-up" and abnormal.marker.color == "#D55E00"
    assert list(abnormal.x) == [21.3] and list(normal.x) == [20.5, 22.1]
    assert list(_trace(fig, "reference annotation").text) == ["N", "A", "N"]  # 45 s is outside the window


def test_downsample_minmax_keeps_extremes(nsr):
    x = nsr.signal[:, 0].astype(float).copy()
    x[12345] = 9.0  # a spike a plain stride would miss
    t, y = figs.downsample_minmax(x, nsr.fs, max_points=2000)
    assert len(y) <= 2000 and y.max() == 9.0 and y.min() == x.min()
    assert np.all(np.diff(t) >= 0) and t[-1] <= len(x) / nsr.fs


def test_shap_waterfall_total_is_base_plus_contributions():
    names = [f"f{i}" for i in range(14)]
    vals = np.linspace(-0.05, 0.08, 14)
    fig = xfigs.shap_waterfall(names, vals, 0.3, data=np.arange(14.0), units=["ms"] * 14, max_features=5)
    w = fig.data[0]
    assert list(w.measure)[0] == "absolute" and list(w.measure)[-1] == "total"
    assert w.x[0] == pytest.approx(0.3)
    assert sum(w.x[1:-1]) == pytest.approx(vals.sum())  # the 9 smallest are summed into one bar
    assert w.x[-1] == pytest.approx(0.3 + vals.sum())
    assert w.y[-2] == "9 other features"


def test_probability_timeline_threshold_and_classes():
    table = pd.DataFrame({"time_s": [1.0, 2.0, 3.0], "p_abnormal": [0.2, 0.8, 0.3], "predicted": [0, 1, 0]})
    fig = figs.probability_timeline(table, 0.62)
    assert fig.layout.shapes[0].y0 == pytest.approx(0.62)
    assert list(_trace(fig, "abnormal beat").x) == [2.0]


def _beats_with_unreadable():
    t = np.arange(20.3, 30.0, 0.8)
    call = np.array(["normal"] * len(t), dtype=object)
    call[3] = "abnormal"
    call[6:9] = "unreadable"
    return pd.DataFrame({"time_s": t, "predicted": (call == "abnormal").astype(int), "p_abnormal": 0.95,
                         "rr_pre_ms": 800.0 + 50 * np.sin(t), "call": call})


def test_ecg_strip_unreadable_beats_are_neither_class(nsr):
    b = _beats_with_unreadable()
    fig = figs.ecg_strip(nsr.signal[:, 0], nsr.fs, t0=20.0, t1=30.0, beats=b)
    un = _trace(fig, "unreadable beat")
    assert list(un.x) == list(b["time_s"][6:9]) and un.marker.color == "#888888"
    assert len(_trace(fig, "normal beat").x) == len(b) - 4 and list(_trace(fig, "abnormal beat").x) == [b["time_s"][3]]
    hatch = _trace(fig, "unreadable stretch")
    assert hatch.marker.pattern.shape == "/"
    assert hatch.x[0] - hatch.width[0] / 2 < b["time_s"][6] and hatch.x[0] + hatch.width[0] / 2 > b["time_s"][8]
    pt = figs.probability_timeline(b, 0.5)
    assert len(_trace(pt, "unreadable beat").x) == 3 and len(_trace(pt, "abnormal beat").x) == 1


def test_rhythm_band_in_strip_and_tachogram(nsr):
    from core.report import figures_rhythm as fr
    from core.rhythm import Episode

    eps = [Episode("AF", 0.0, 25.0, 0.9, "rate 110 bpm"), Episode("SR", 25.0, 60.0), Episode("PAUSE", 27.0, 29.5)]
    b = _beats_with_unreadable()
    fig = figs.ecg_strip(nsr.signal[:, 0], nsr.fs, t0=20.0, t1=30.0, beats=b, episodes=eps)
    af = _trace(fig, "rhythm AF")
    assert af.x[0] - af.width[0] / 2 == pytest.approx(20.0) and af.x[0] + af.width[0] / 2 == pytest.approx(25.0)  # clipped
    assert list(_trace(fig, "rhythm label AF").text) == ["AF"]
    assert _trace(fig, "rhythm PAUSE").base[0] < _trace(fig, "rhythm SR").base[0]  # events lane under the rhythm lane
    y0, top = fig.layout.yaxis.range
    assert af.base[0] > max(fig.layout.yaxis.tickvals)  # the band sits above the trace's mV labels
    tg = fr.rr_tachogram(b, 60.0, eps, window=(20.0, 30.0))
    assert tg.layout.yaxis.title.text == "RR (ms)" and list(tg.layout.xaxis.range) == [0, 60.0]
    assert len(_trace(tg, "unreadable beat").x) == 3
    hidden = fr.rr_tachogram(b, 60.0, hide_calls=True)
    assert [t.name for t in hidden.data if t.mode == "markers"] == ["RR of a beat"]


def test_format_value_writes_units_for_people():
    from core.report.figures import format_value
    assert format_value(1140.2, "ms") == "1140 ms"
    assert format_value(0.7812, "ratio") == "0.781 ratio"
    assert format_value(1.551, "1") == "1.55"  # SI's dimensionless '1' is not printed
    assert format_value(float("nan"), "mV") == "not measured"
