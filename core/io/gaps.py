"""Missing samples in one lead (NaN: empty CSV cells, WFDB invalid samples, EDF dropouts, lead-off stretches).

Every run of missing samples is bridged by linear interpolation between its neighbours, so that the filters and
the detector see a continuous signal. Runs up to ``MAX_INTERPOLATED_GAP_S`` are shorter than any QRS complex
and are only filled; longer runs are also returned as gaps (s), which the analysis reads as lost signal
(``core.predict.lost_signal_spans``): no beat is counted there and no pause measured across them.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MAX_INTERPOLATED_GAP_S", "fill_gaps"]

#: Longest run of missing samples (s) that is filled and not reported as a gap: shorter than a QRS complex.
MAX_INTERPOLATED_GAP_S = 0.2


def fill_gaps(x: np.ndarray, fs: float, lead: str, label: str, warnings: list[str],
              line_offset: int | None = None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(lead with every NaN run bridged linearly, [(start_s, end_s)] of the runs longer than
    ``MAX_INTERPOLATED_GAP_S``). ``x`` in mV at ``fs`` Hz with at least one finite sample; what was done is
    appended to ``warnings``, placed by CSV line when ``line_offset`` (the line of sample 0) is given, else in s."""
    missing = np.isnan(x)
    idx = np.flatnonzero(missing)
    if not idx.size:
        return x, []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts, ends = np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]] + 1  # [start, end) samples
    good = np.flatnonzero(~missing)
    filled = x.copy()
    filled[missing] = np.interp(idx, good, x[good])
    long = (ends - starts) > MAX_INTERPOLATED_GAP_S * fs
    where = (lambda i: f"line {i + line_offset}") if line_offset is not None else (lambda i: f"{i / fs:.2f} s")
    short_n = int((ends - starts)[~long].sum())
    if short_n:
        first = int(starts[~long][0])
        warnings.append(f"{label}: filled {short_n} missing value{'s' if short_n > 1 else ''} in lead {lead} "
                        f"(first at {where(first)}) by linear interpolation.")
    gaps = [(float(a / fs), float(b / fs)) for a, b in zip(starts[long], ends[long])]
    if gaps:
        k = int(np.argmax(ends[long] - starts[long]))
        a, b = int(starts[long][k]), int(ends[long][k]) - 1
        total = float((ends - starts)[long].sum() / fs)
        where_ = (f"in {len(gaps)} stretches (longest {where(a)} to {where(b)}); each is drawn as a straight line"
                  if len(gaps) > 1 else f"({where(a)} to {where(b)}); it is drawn as a straight line")
        warnings.append(f"{label}: lead {lead} has no samples for {total:.1f} s {where_} and read as lost signal, "
                        f"with no beats counted there.")
    return filled, gaps
