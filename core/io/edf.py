"""EDF / EDF+ files read with pyedflib: ECG channels only (signals at their most common rate are kept).

Polysomnography and monitoring exports mix ECG with EEG, respiration, SpO2, temperature ...; a channel
whose label names such a signal, or whose physical dimension is not a voltage, is left out. Messages
name the file by `label` (the uploaded file name), never by the temporary path it was read from.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from core.io.archive import _scrub
from core.io.record import _TO_MV, Record, RecordReadError, _finalise, _to_mv

# Labels that say ECG outright ('ECG II', 'EKG', 'ECG1'); lead names alone (I, II, MLII, V1) match no
# keyword of _OTHER_LABEL, so they are kept too.
_ECG_LABEL = re.compile(r"ecg|ekg", re.IGNORECASE)
# Labels that name another signal: EEG/EOG/EMG, respiration, temperature, oximetry, pressure, events ...
_OTHER_LABEL = re.compile(
    r"(^|[^a-z])(eeg|eog|emg|resp|thor|abdo|air\s?flow|flow|nasal|snor|temp|sp\s?o2|sao2|oxy|pleth|ppg|pulse|"
    r"abp|art|n?i?bp|cvp|pap|press|event|marker|annotation|hypno|position|light|acc|gyro|eda|gsr|co2|"
    r"chin|leg|sound|mic|hr|rr)", re.IGNORECASE)


def _is_ecg_channel(label: str, unit: str) -> bool:
    """False when the physical dimension is not a voltage (V, mV, uV; empty is allowed) or the label names
    another signal (EEG, Resp, SpO2 ...) without saying ECG; True otherwise."""
    if _TO_MV.get(unit.strip().lower()) is None:
        return False
    return bool(_ECG_LABEL.search(label)) or not _OTHER_LABEL.search(label)


def _read_edf_file(path: Path, *, label: str, name: str) -> Record:
    """Read the ECG channels of the EDF/EDF+ file at `path` (signal in mV, rate in Hz)."""
    import pyedflib

    try:
        reader = pyedflib.EdfReader(str(path))
    except Exception as exc:  # pyedflib raises OSError with its own wording, naming the path
        reason = _scrub(str(exc).replace(f"{path}: ", "").strip(), path, label) or type(exc).__name__
        raise RecordReadError(f"{label} is not a readable EDF/EDF+ file ({reason}): "
                              f"export the ECG again as EDF.") from exc
    warnings: list[str] = []
    try:
        n = reader.signals_in_file
        if n == 0:
            raise RecordReadError(f"{label} holds no signals: export the ECG leads into the EDF file.")
        labels = [reader.getLabel(i).strip() for i in range(n)]
        dims = [reader.getPhysicalDimension(i).strip() for i in range(n)]
        ecg = [i for i in range(n) if _is_ecg_channel(labels[i], dims[i])]
        shown = [f"{labels[i] or f'#{i + 1}'}{f' ({dims[i]})' if dims[i] else ''}" for i in range(n)]
        if not ecg:
            raise RecordReadError(f"{label} has no ECG channel (channels: {', '.join(shown[:12])}"
                                  f"{', ...' if n > 12 else ''}): export the ECG leads into the EDF file.")
        if len(ecg) < n:
            warnings.append(f"{label}: left out channels that are not ECG: "
                            f"{', '.join(shown[i] for i in range(n) if i not in ecg)}.")
        rates = [float(reader.getSampleFrequency(i)) for i in range(n)]
        fs = Counter(rates[i] for i in ecg).most_common(1)[0][0]
        keep = [i for i in ecg if rates[i] == fs]
        dropped = [f"{labels[i]} ({rates[i]:g} Hz)" for i in ecg if i not in keep]
        if dropped:
            warnings.append(f"{label}: left out signals at another rate than {fs:g} Hz: {', '.join(dropped)}.")
        cols = [reader.readSignal(i).astype(np.float64) for i in keep]
        units = [dims[i] for i in keep]
    except RecordReadError:
        raise
    except Exception as exc:
        raise RecordReadError(f"{label} could not be decoded as EDF ({type(exc).__name__}: "
                              f"{_scrub(str(exc), path, label)}): export the ECG again as EDF.") from exc
    finally:
        reader.close()
    length = min(len(c) for c in cols)
    signal = np.column_stack([c[:length] for c in cols])
    names = [labels[i] for i in keep]
    signal = _to_mv(signal, units, names, warnings, label)
    return _finalise(name, signal, fs, names, source_format="edf", label=label, warnings=warnings)
