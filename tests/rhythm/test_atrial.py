"""core.rhythm.atrial on inputs where a P-wave template cannot be formed: NaN measures, no numpy warnings."""
import warnings

import numpy as np
import pytest

from core.rhythm.atrial import measure_atrial_activity

FS = 360.0


def _trace(seconds: float = 40.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a spike at each beat (R-peak times in s, RR 0.5-1.1 s)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.03, int(seconds * FS))
    t = np.cumsum(rng.uniform(0.5, 1.1, int(seconds)))
    t = t[t < seconds - 1]
    x[np.round(t * FS).astype(int)] += 1.0
    return x, t


@pytest.mark.parametrize("origin", ["all V", "one N among V"])
def test_no_template_gives_nan_without_a_runtime_warning(origin):
    """Every beat ventricular (left out of the templates), or too few others: no template rows, so the
    P-wave measures are NaN, and numpy's 'Mean of empty slice' no longer reaches stderr."""
    x, t = _trace()
    kinds = np.full(len(t), "V")
    if origin == "one N among V":
        kinds[len(t) // 2] = "N"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = measure_atrial_activity(x, FS, t, kinds)
    assert np.isnan(a.p_corr).all() and np.isnan(a.p_template_mv).all()
    assert np.isfinite(a.f_rel[1:]).any()  # the f-wave measure does not need the P template


def test_partial_templates_keep_their_values_without_a_warning():
    """V beats for the first half only: the later template rows are formed, the earlier are NaN."""
    x, t = _trace(120.0)
    kinds = np.where(t < 60, "V", "N")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = measure_atrial_activity(x, FS, t, kinds)
        b = measure_atrial_activity(x, FS, t, None)
    late = t > 90
    assert np.isnan(a.p_corr[t < 20]).all() and np.isfinite(a.p_corr[late]).all()
    assert np.isfinite(a.p_template_mv[late]).all() and (a.p_template_mv[late] > 0).all()
    assert np.isfinite(b.p_corr[1:-1]).all()
