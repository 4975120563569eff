"""Pacemaker spikes before each beat, measured on the unfiltered signal.

A pacing artefact is a pulse far narrower than any cardiac wave (0.1-2 ms at the electrode, a
few ms after the recorder's analogue filter), so it is removed by a 40 Hz low-pass and has to be
looked for on the raw signal (Herleikson 2007; AAMI EC11 asks for pacing-pulse detection at
>= 0.5 ms). Narrow-pulse amplitude here is, for each sample, the smaller of its rise above the
sample ``k`` earlier and above the sample ``k`` later (same sign), with ``k`` = 6 ms (pulses up to ~6 ms wide): a ramp
(QRS upstroke) scores ~0 because one side does not fall back, a wide R apex scores its small
4 ms curvature, a spike scores its height. The largest such pulse in -120..-12 ms before R (the R apex itself excluded) is the
beat's spike amplitude. Only fs >= 250 Hz is assessed (below that, NaN and ``paced_spike`` False).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FS_HZ = 250.0
PULSE_HALF_MS = 6.0
SEARCH_MS = (-120.0, -12.0)
#: Spike when the narrow-pulse amplitude reaches this (mV) AND this multiple of the record's
#: median R-apex curvature (see FINDINGS.md for how both were chosen on training records).
SPIKE_MIN_MV = 0.5
SPIKE_REL = 2.0

COLUMNS = {"spike_amp_mv": "mV", "spike_lead_ms": "ms", "paced_spike": "bool"}


def _pulse_amplitude(x: np.ndarray, k: int) -> np.ndarray:
    """Signed-free narrow-pulse amplitude of every sample (mV); 0 at the edges."""
    out = np.zeros(len(x))
    if len(x) <= 2 * k:
        return out
    c = x[k:-k]
    left, right = c - x[:-2 * k], c - x[2 * k:]
    up = np.minimum(left, right)      # positive pulse: above both neighbours
    down = np.minimum(-left, -right)  # negative pulse: below both neighbours
    out[k:-k] = np.maximum(np.maximum(up, down), 0.0)
    return out


def detect_pacing_spikes(raw_mv: np.ndarray, fs: float, rpeaks: np.ndarray) -> pd.DataFrame:
    """Per-beat pacing-spike evidence on one unfiltered lead.

    Parameters
    ----------
    raw_mv : one lead in mV at its original rate, *not* low-pass filtered (1-D).
    fs : sampling rate in Hz; below 250 Hz nothing is assessed.
    rpeaks : R-peak sample indices at ``fs``.

    Returns
    -------
    DataFrame, one row per beat: ``spike_amp_mv`` (largest narrow pulse in -120..-12 ms, mV),
    ``spike_lead_ms`` (its time before R, ms; positive = before), ``paced_spike`` (bool).
    """
    x = np.asarray(raw_mv, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"detect_pacing_spikes: expected one lead as a 1-D array, got shape {x.shape}.")
    r = np.asarray(rpeaks, dtype=np.int64)
    n = len(r)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"detect_pacing_spikes: fs must be a positive number of Hz, got {fs}.")
    if fs < MIN_FS_HZ or n == 0:
        return pd.DataFrame({"spike_amp_mv": np.full(n, np.nan), "spike_lead_ms": np.full(n, np.nan),
                             "paced_spike": np.zeros(n, bool)})
    k = max(1, int(round(PULSE_HALF_MS * fs / 1000.0)))
    x = x - np.nanmedian(x)
    x = np.where(np.isfinite(x), x, 0.0)
    amp = _pulse_amplitude(x, k)
    lo, hi = (int(round(v * fs / 1000.0)) for v in SEARCH_MS)
    idx = np.clip(r[:, None] + np.arange(lo, hi + 1)[None, :], 0, len(x) - 1)
    win = amp[idx]
    j = win.argmax(1)
    spike = win[np.arange(n), j]
    lead_ms = -(lo + j) * 1000.0 / fs
    # Reference: the record's typical R-apex curvature (median over beats of the pulse at R +/- 1 sample).
    apex = amp[np.clip(r[:, None] + np.arange(-1, 2)[None, :], 0, len(x) - 1)].max(1)
    ref = float(np.median(apex)) if n else 0.0
    paced = (spike >= SPIKE_MIN_MV) & (spike >= SPIKE_REL * max(ref, 1e-6))
    return pd.DataFrame({"spike_amp_mv": spike, "spike_lead_ms": lead_ms, "paced_spike": paced})
