"""Writers: CSV (time_s + one column per lead) and EDF+ (16-bit, mV).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from core.io.record import Record, RecordReadError


def write_csv(record: Record, path: str | os.PathLike) -> Path:
    """Write ``time_s`` (s, 6 decimals) and one column per lead (mV, 6 significant digits)."""
    path = Path(path)
    data = np.column_stack([np.arange(record.n_samples) / record.fs, record.signal.astype(np.float64)])
    header = ",".join(["time_s", *(n.replace(",", " ") for n in record.lead_names)])
    np.savetxt(path, data, delimiter=",", header=header, comments="",
               fmt=["%.6f"] + ["%.6g"] * record.n_leads)
    return path


def write_edf(record: Record, path: str | os.PathLike) -> Path:
    """Write the signal as EDF+ (16-bit, mV) with pyedflib; annotations and comments are not written.

    Each lead's physical range is its own min..max (rounded outwards to 1 µV), so the quantisation
    step is (max - min) / 65535 mV.  EDF stores whole 1-s data records, so a trailing part second
    is left out (rather than padded with made-up samples); the fs must be a whole number of Hz.
    """
    import pyedflib

    path = Path(path)
    fs = record.fs
    if abs(fs - round(fs)) > 1e-9:
        raise RecordReadError(f"EDF needs a whole-number sampling rate, not {fs:g} Hz: resample the record first.")
    n_keep = (record.n_samples // int(round(fs))) * int(round(fs))
    if n_keep == 0:
        raise RecordReadError(f"EDF needs at least one second of signal; {record.name} has {record.duration_s:.2f} s.")
    headers, data = [], []
    for i, lead in enumerate(record.lead_names):
        x = np.nan_to_num(record.signal[:n_keep, i].astype(np.float64))
        lo, hi = math.floor(float(x.min()) * 1000) / 1000, math.ceil(float(x.max()) * 1000) / 1000
        if hi - lo < 1e-3:
            lo, hi = lo - 1e-3, hi + 1e-3
        headers.append({"label": lead[:16], "dimension": "mV", "sample_frequency": int(round(fs)),
                        "physical_min": lo, "physical_max": hi, "digital_min": -32768,
                        "digital_max": 32767, "transducer": "", "prefilter": ""})
        data.append(x)
    writer = pyedflib.EdfWriter(str(path), record.n_leads, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.writeSamples(data)
    finally:
        writer.close()
    return path
