"""EDF / EDF+ files read with pyedflib: ECG channels only (signals at their most common rate are kept).

Polysomnography and monitoring exports mix ECG with EEG, respiration, SpO2, temperature ...; a channel
whose label names such a signal, or whose physical dimension is not a voltage, is left out. Messages
name the file by `label` (the uploaded file name), never by the temporary path it was read from.

A file cut short (an interrupted copy or download) holds fewer data records than its header declares; the
complete records are read from a temporary copy whose header declares what is there, with a notice saying
how much of the recording is missing. pyedflib's C library prints its own complaints to the process's
standard output, which would corrupt the CLI's JSON: they are caught and logged instead.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
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


_log = logging.getLogger(__name__)
#: The main EDF header (bytes) and, within it, the field "number of data records" (8 ASCII bytes at 236).
_MAIN_HEADER_BYTES, _N_RECORDS_AT = 256, 236
#: Name of the temporary copy a cut-short file is read from (never shown: messages name the upload).
_COMPLETE_COPY = "complete-records.edf"


@contextlib.contextmanager
def _c_stdout_to_log():
    """Send what C code writes to file descriptor 1 during the block to the log (pyedflib prints
    'filesize ... != ...' there), so that stdout carries only CardioLens' own output."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("latin-1").strip()
            if text:
                _log.info("pyedflib printed: %s", text)


def _truncation(path: Path) -> tuple[int, int, int, int] | None:
    """(complete data records present, data records declared, header bytes, bytes per data record) when the file
    at `path` is shorter than its header declares; None when it is not, or its header cannot say."""
    with path.open("rb") as f:
        head = f.read(_MAIN_HEADER_BYTES)
        try:
            declared = int(head[_N_RECORDS_AT:_N_RECORDS_AT + 8].decode("ascii").strip())
            n_signals = int(head[252:256].decode("ascii").strip())
        except (ValueError, UnicodeDecodeError):
            return None
        head += f.read(_MAIN_HEADER_BYTES * n_signals) if 0 < n_signals < 4096 else b""
    header_bytes = _MAIN_HEADER_BYTES * (n_signals + 1)
    if declared > 0 and 0 < n_signals < 4096 and len(head) < header_bytes:
        return 0, declared, header_bytes, 0  # the signal headers themselves are cut off
    try:
        per_signal = head[_MAIN_HEADER_BYTES + 216 * n_signals:_MAIN_HEADER_BYTES + 224 * n_signals]
        record_bytes = 2 * sum(int(per_signal[8 * i:8 * i + 8].decode("ascii").strip()) for i in range(n_signals))
    except (ValueError, UnicodeDecodeError):
        return None
    if declared <= 0 or record_bytes <= 0:
        return None
    present = (path.stat().st_size - header_bytes) // record_bytes
    return (present, declared, header_bytes, record_bytes) if 0 <= present < declared else None


def _open_edf(path: Path, label: str, tmp: str, warnings: list[str]):
    """pyedflib's reader of `path`; a truncated file is read up to its last complete data record, from a
    copy in `tmp` whose header declares that many records, and `warnings` says what is missing."""
    import pyedflib

    cut = _truncation(path)
    if cut is not None and cut[0] > 0:
        present, declared, header_bytes, record_bytes = cut
        data = bytearray(path.read_bytes()[:header_bytes + present * record_bytes])
        data[_N_RECORDS_AT:_N_RECORDS_AT + 8] = f"{present:<8d}".encode("ascii")
        copy = Path(tmp) / _COMPLETE_COPY
        copy.write_bytes(bytes(data))
        warnings.append(f"{label} is cut short: it holds {present} of the {declared} data records its header "
                        f"declares ({100 * present / declared:.0f} % of the recording); only that part is read.")
        path = copy
    elif cut is not None:
        raise RecordReadError(f"{label} holds a header but no complete data record (the file is cut short): "
                              f"copy or export the EDF file again.")
    with _c_stdout_to_log():
        return pyedflib.EdfReader(str(path))


def _read_edf_file(path: Path, *, label: str, name: str) -> Record:
    """Read the ECG channels of the EDF/EDF+ file at `path` (signal in mV, rate in Hz)."""
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cardiolens-") as tmp:
        try:
            reader = _open_edf(path, label, tmp, warnings)
        except RecordReadError:
            raise
        except Exception as exc:  # pyedflib raises OSError with its own wording, naming the path
            # pyedflib's text starts with the path it opened: the upload's, or the copy of a cut-short file
            text = str(exc).replace(f"{path}: ", "").replace(f"{Path(tmp) / _COMPLETE_COPY}: ", "").strip()
            reason = _scrub(text, path, label) or type(exc).__name__
            raise RecordReadError(f"{label} is not a readable EDF/EDF+ file ({reason}): "
                                  f"export the ECG again as EDF.") from exc
        return _read_channels(reader, path, label, name, warnings)


def _read_channels(reader, path: Path, label: str, name: str, warnings: list[str]) -> Record:
    """The ECG channels of an open pyedflib `reader` as a Record (mV); closes the reader."""
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
