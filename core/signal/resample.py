"""Lead choice by name and polyphase resampling of signals and records.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

import numpy as np

from core import config
from core.io.record import Annotations, FLAT_PTP_MV, Record, _check_fs, _norm_lead


def select_lead(record: Record, preferred: Sequence[str] = config.PREFERRED_LEADS) -> tuple[int, str, str | None]:
    """Index and name of the lead to use, and a plain-English notice when it is not the first choice.

    Leads are matched by name, case-insensitively (MIT-BIH record 114 stores V5 first, so position
    means nothing); flat leads are passed over.

    Returns
    -------
    (index, name, notice) where notice is None when ``preferred[0]`` was found, e.g.
    "No MLII lead; using V5." otherwise.
    """
    norm = [_norm_lead(n) for n in record.lead_names]
    usable = [not _is_flat(record.signal[:, i]) for i in range(record.n_leads)]
    first = preferred[0] if preferred else "MLII"
    first_flat = any(n == _norm_lead(first) and not usable[i] for i, n in enumerate(norm))
    for rank, want in enumerate(preferred):
        for i, n in enumerate(norm):
            if n == _norm_lead(want) and usable[i]:
                if rank == 0:
                    return i, record.lead_names[i], None
                why = f"{first} is flat" if first_flat else f"No {first} lead"
                return i, record.lead_names[i], f"{why}; using {record.lead_names[i]}."
    i = next((j for j in range(record.n_leads) if usable[j]), 0)
    why = f"{first} is flat" if first_flat else f"No {first} lead or other known lead name"
    return i, record.lead_names[i], f"{why}; using {record.lead_names[i]}, the first usable lead."


def _is_flat(x: np.ndarray) -> bool:
    finite = x[np.isfinite(x)]
    return finite.size == 0 or float(np.ptp(finite)) < FLAT_PTP_MV


def _ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    frac = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)
    return frac.numerator, frac.denominator


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample along axis 0 by polyphase filtering (`scipy.signal.resample_poly`, Kaiser window).

    The ratio fs_out/fs_in is approximated by a fraction with denominator <= 1000 (exact for
    250 -> 360 = 36/25, 128 -> 360 = 45/16), so the output rate is within 0.1% of `fs_out`.
    """
    from scipy.signal import resample_poly

    _check_fs(fs_in, "The input sampling rate")
    _check_fs(fs_out, "The output sampling rate")
    x = np.asarray(signal)
    up, down = _ratio(fs_in, fs_out)
    if up == down:
        return x.copy()
    out = resample_poly(x, up, down, axis=0)
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64, copy=False)


def resample_record(record: Record, fs_out: float) -> Record:
    """A copy of `record` at `fs_out` Hz; annotation samples are rescaled to the new rate."""
    if float(fs_out) == record.fs:
        return replace(record, signal=record.signal.copy(), warnings=list(record.warnings))
    signal = resample(record.signal, record.fs, fs_out)
    ann = record.annotations
    if ann is not None:
        scaled = np.rint(ann.sample * (float(fs_out) / record.fs)).astype(np.int64)
        ann = Annotations(np.clip(scaled, 0, max(signal.shape[0] - 1, 0)), list(ann.symbol), list(ann.aux_note))
    return replace(record, signal=signal, fs=float(fs_out), annotations=ann, warnings=list(record.warnings))
