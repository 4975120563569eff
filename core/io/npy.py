"""Bare NumPy arrays (.npy): ``[samples]`` or ``[samples, leads]`` in mV; the fs must be given.

A leads-first ``[leads, samples]`` array (up to MAX_LEADS_FIRST rows, more columns than rows) is read
transposed, with a notice: an ECG never has more leads than samples.
"""
from __future__ import annotations

import io

import numpy as np

from core.io.record import Record, RecordReadError, _finalise

#: Most rows a leads-first array may have (12-lead plus extras, 16-channel Holters, research montages).
MAX_LEADS_FIRST = 64


def _read_npy(data: bytes, filename: str, *, fs: float | None, name: str) -> Record:
    if fs is None:
        raise RecordReadError(f"{filename} is a bare array without a sampling rate: give fs (e.g. 360 Hz).")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise RecordReadError(f"{filename} is not a readable NumPy .npy array ({type(exc).__name__}): "
                              f"save it with numpy.save, without pickled objects.") from exc
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise RecordReadError(f"{filename} does not hold real numbers: save the ECG in mV as a float array.")
    warnings: list[str] = []
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise RecordReadError(f"{filename} has shape {arr.shape}; expected [samples] or [samples, leads]: "
                              f"save one record as a 1-D or 2-D array.")
    elif arr.shape[0] <= MAX_LEADS_FIRST and arr.shape[1] > arr.shape[0]:
        # [leads, samples] is the common export of deep-learning code; leads never outnumber samples
        arr = arr.T
        warnings.append(f"{filename}: read as {arr.shape[1]} lead{'s' if arr.shape[1] > 1 else ''} × "
                        f"{arr.shape[0]} samples (the array was leads-first).")
    names = [f"lead_{i + 1}" for i in range(arr.shape[1])]
    return _finalise(name, arr.astype(np.float64), fs, names, source_format="npy", label=filename,
                     warnings=warnings)
