"""Long records (24 h Holter) in chunks with bounded memory: the same beat pipeline on 10 min stretches.

Each chunk is processed by the one-pass pipeline of ``core.signal.beats`` on its *core* (``CHUNK_S``)
plus ``OVERLAP_S`` of context on either side, and only the beats whose R peak falls in the core are
kept. The context is there so the filters (zero-phase, ~3 s padding), the detector's adaptive
thresholds (they settle within a few beats), the RR neighbours (10 beats back, 60 for the sinus
cycle) and the beat windows see the same signal as in one pass; what still differs at a boundary:

- record-relative features (dominant templates, sinus cycle, record medians;
  ``core.signal.relative``) are measured against the chunk with its context (10 min + 2 x 30 s), not
  the whole 24 h: a Holter's dominant beat and rate change over the day, so the local reference is
  the clinically meaningful one;
- a detection exactly at a core border may be seen at slightly different samples by the two
  chunks; detections closer than the 200 ms refractory period after joining are merged (first kept).

The window scale (median |R| per lead, ``beats.record_scale``) is still record-wide: R amplitudes
are gathered per chunk and the median taken once at the end. Peak memory ~ the record's own signal
(held by the Record), the float32 clean primary lead and windows (what ``BeatSet`` returns) and one
chunk's intermediates. Records up to ``CHUNK_ABOVE_S`` (60 min) take the one-pass path, so their
results are those of ``extract_beats`` exactly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core import config
from core.io import Record

#: Above this duration (s) ``extract_beats`` works in chunks.
CHUNK_ABOVE_S = 3600.0
#: Core length of a chunk (s) and context on either side (s).
CHUNK_S = 600.0
OVERLAP_S = 30.0
#: Detections closer than this (s) after joining chunks are one beat (the detector's refractory period).
MERGE_S = 0.200


def chunk_bounds(n: int, fs: float, chunk_s: float = CHUNK_S, overlap_s: float = OVERLAP_S) -> list[tuple[int, int, int, int]]:
    """``(core_start, core_stop, ext_start, ext_stop)`` sample indices at ``fs`` covering ``[0, n)``.

    Bounds fall on whole seconds so they map to whole samples at the model rate too; a last core
    shorter than half a chunk is joined to the one before it.
    """
    if chunk_s <= 0 or overlap_s < 0:
        raise ValueError(f"chunk_bounds: chunk_s must be > 0 and overlap_s >= 0 (got {chunk_s}, {overlap_s}).")
    dur = n / fs
    edges = list(np.arange(0.0, dur, float(int(chunk_s)))) + [dur]
    if len(edges) > 2 and edges[-1] - edges[-2] < chunk_s / 2:
        del edges[-2]
    out = []
    for a_s, b_s in zip(edges[:-1], edges[1:]):
        a, b = int(round(a_s * fs)), min(n, int(round(b_s * fs)))
        ea, eb = max(0, int(round((a_s - int(overlap_s)) * fs))), min(n, int(round((b_s + int(overlap_s)) * fs)))
        out.append((a, b, ea, eb))
    return out


def _join_vf(episodes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted episodes with touching or overlapping ones merged (an episode across a core border)."""
    out: list[list[int]] = []
    for s, e in sorted(episodes):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(int(s), int(e)) for s, e in out]


def _one_chunk(sig: np.ndarray, fs_in: float, n_m: int, bounds: tuple[int, int, int, int]) -> dict:
    """The one-pass pipeline on ``sig`` (= the record's ``[ext_start, ext_stop)``); the core's beats, at record offsets."""
    from core.signal.beats import _extract_arrays

    a, b, ea, _eb = bounds
    fs_m = float(config.MODEL_FS)
    off_m = int(round(ea * fs_m / fs_in))
    arr = _extract_arrays(sig, fs_in)
    r = arr.rpeaks + ea
    keep = (r >= a) & (r < b)
    am, bm = int(round(a * fs_m / fs_in)), min(n_m, int(round(b * fs_m / fs_in)))
    return {"am": am, "clean0": arr.clean[am - off_m:bm - off_m, 0].astype(np.float32), "r": r[keep],
            "m": arr.peaks_m[keep] + off_m, "f": arr.features.iloc[np.flatnonzero(keep)],
            "w": [w[keep] for w in arr.windows],
            "amp": np.abs(arr.clean[arr.peaks_m[keep]]),  # [k, leads] mV, for the record-wide scale
            "vf": [(max(s + off_m, am), min(e + off_m, bm)) for s, e in arr.vf_m if s + off_m < bm and e + off_m > am]}


def chunk_workers() -> int:
    """Processes for the chunks: ``CARDIOLENS_CHUNK_WORKERS`` or min(2, CPUs). Results do not depend on it."""
    import multiprocessing as mp
    import os

    if mp.current_process().daemon:  # e.g. a Dask worker process: it may not start children of its own
        return 1
    env = os.environ.get("CARDIOLENS_CHUNK_WORKERS", "").strip()
    return max(1, int(env)) if env.isdigit() else max(1, min(2, os.cpu_count() or 1))


def extract_beats_chunked(record: Record, max_leads: int = 2, chunk_s: float = CHUNK_S, overlap_s: float = OVERLAP_S,
                          workers: int | None = None):
    """:func:`core.signal.beats.extract_beats` in chunks (see the module docstring); returns a ``BeatSet``.

    With ``workers`` > 1 the chunks run in forked worker processes (each gets one chunk's samples
    and returns its beats), the same computation as serially, in the same order.
    """
    from core.signal.beats import _Arrays, _assemble, lead_order

    order, notice = lead_order(record)
    order = order[:max_leads]
    fs_in, fs_m = float(record.fs), float(config.MODEL_FS)
    n = record.signal.shape[0]
    n_m = int(round(n * fs_m / fs_in))
    bounds = chunk_bounds(n, fs_in, chunk_s, overlap_s)
    n_leads = min(len(order), record.signal.shape[1])
    clean0 = np.zeros(n_m, np.float32)
    parts: dict[str, list] = {"r": [], "m": [], "f": [], "w": [], "amp": []}
    vf: list[tuple[int, int]] = []

    def take(res: dict) -> None:
        clean0[res["am"]:res["am"] + len(res["clean0"])] = res["clean0"]
        for k in parts:
            parts[k].append(res[k])
        vf.extend(res["vf"])

    def job(bd):
        return record.signal[bd[2]:bd[3]][:, order].astype(np.float64), fs_in, n_m, bd

    workers = chunk_workers() if workers is None else max(1, int(workers))
    if workers > 1 and len(bounds) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork: the children need only numpy/scipy (already imported); one chunk of samples is sent to each
        from collections import deque

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            pending: deque = deque()
            for bd in bounds:  # at most 2 chunks per worker in flight: memory stays bounded
                pending.append(ex.submit(_one_chunk, *job(bd)))
                if len(pending) >= 2 * workers:
                    take(pending.popleft().result())
            while pending:
                take(pending.popleft().result())
    else:
        for bd in bounds:
            take(_one_chunk(*job(bd)))
    rpeaks = np.concatenate(parts["r"]) if parts["r"] else np.zeros(0, np.int64)
    peaks_m = np.concatenate(parts["m"]) if parts["m"] else np.zeros(0, np.int64)
    keep = np.r_[True, np.diff(peaks_m) > int(MERGE_S * fs_m)] if len(peaks_m) else np.zeros(0, bool)
    feats = pd.concat(parts["f"], ignore_index=True).iloc[np.flatnonzero(keep)].reset_index(drop=True)
    windows = [np.concatenate([w[k] for w in parts["w"]])[keep] for k in range(n_leads)]
    amps = np.concatenate(parts["amp"])[keep] if parts["amp"] else np.zeros((0, n_leads))
    scales = []
    for k in range(n_leads):
        s = float(np.median(amps[:, k])) if len(amps) else 0.0
        if not np.isfinite(s) or s <= 1e-6:  # the fallback of beats.record_scale, on the primary lead's clean signal
            s = float(np.percentile(np.abs(clean0), 99)) if len(clean0) else 0.0
            s = s if np.isfinite(s) and s > 1e-6 else 1.0
        scales.append(s)
    arrays = _Arrays(rpeaks[keep], peaks_m[keep], _join_vf(vf), clean0[:, None], windows, feats)
    return _assemble(record, order, notice, arrays, scales,
                     [f"Long record ({n / fs_in / 3600:.1f} h): processed in {len(bounds)} chunks of {chunk_s / 60:.0f} min; "
                      "record-relative features are measured against each chunk."])
