"""EDF / EDF+ files read with pyedflib (signals at the most common rate are kept).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from core.io.record import Record, RecordReadError, _finalise, _to_mv


def _read_edf_file(path: Path, *, label: str, name: str) -> Record:
    import pyedflib

    try:
        reader = pyedflib.EdfReader(str(path))
    except Exception as exc:  # pyedflib raises OSError with its own wording
        raise RecordReadError(f"{label} is not a readable EDF/EDF+ file ({str(exc).strip() or type(exc).__name__}): "
                              f"export the ECG again as EDF.") from exc
    warnings: list[str] = []
    try:
        n = reader.signals_in_file
        if n == 0:
            raise RecordReadError(f"{label} holds no signals: export the ECG leads into the EDF file.")
        rates = [float(reader.getSampleFrequency(i)) for i in range(n)]
        fs = Counter(rates).most_common(1)[0][0]
        keep = [i for i in range(n) if rates[i] == fs]
        labels = [reader.getLabel(i).strip() for i in range(n)]
        dropped = [f"{labels[i]} ({rates[i]:g} Hz)" for i in range(n) if i not in keep]
        if dropped:
            warnings.append(f"{label}: left out signals at another rate than {fs:g} Hz: {', '.join(dropped)}.")
        cols = [reader.readSignal(i).astype(np.float64) for i in keep]
        units = [reader.getPhysicalDimension(i).strip() for i in keep]
    except RecordReadError:
        raise
    except Exception as exc:
        raise RecordReadError(f"{label} could not be decoded as EDF ({type(exc).__name__}: {exc}): "
                              f"export the ECG again as EDF.") from exc
    finally:
        reader.close()
    length = min(len(c) for c in cols)
    signal = np.column_stack([c[:length] for c in cols])
    names = [labels[i] for i in keep]
    signal = _to_mv(signal, units, names, warnings, label)
    return _finalise(name, signal, fs, names, source_format="edf", label=label, warnings=warnings)
