"""CSV / TSV tables: a time column (s or ms) or a given fs (Hz), one column per lead, units from the header.

A given fs must agree with a time column within 5 %; a rate below MIN_FS_HZ is refused. Decimal commas
are recognised for every separator (quoted when the separator is ','); a column that rises or falls
steadily over the whole file (an unnamed time or counter column) is never read as a lead.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from core.io.record import MAX_FS_HZ, MIN_FS_HZ, Record, RecordReadError, _check_ecg_fs, _finalise, _to_mv

#: A user-given fs may differ from the rate of the CSV time column by this share before it is an error.
FS_MISMATCH_ERROR = 0.05
#: ... and by this share before it is a warning.
FS_MISMATCH_WARNING = 0.01
#: Lines (from the top) sampled to find the separator's decimal mark.
DECIMAL_SAMPLE_LINES = 200
#: A column needs this many samples before a steady ramp marks it as time, not ECG.
MIN_RAMP_SAMPLES = 10
#: Standard lead names (upper case), optionally after 'ECG'/'EKG'/'Lead'.
_STANDARD_LEAD = re.compile(r"((ECG|EKG|LEAD)[ _\-]?)?(I|II|III|AVR|AVL|AVF|V[1-9]|MLI|MLII|MLIII|ML[123]|D[123]|DI|DII|DIII)")
#: Names of epoch / Unix timestamp columns (normalised as in `_time_factor`), in seconds.
_STAMP_NAME = re.compile(r"(unix )?(timestamp|time ?stamp|epoch|epoch time|unix time|unixtime|unix)( s| sec| seconds)?")


def _time_factor(col: str) -> float | None:
    """Seconds per unit if `col` names a time column ('time', 'time_s', 't', 'seconds', 'ms', 'timestamp', ...)."""
    c = _norm_name(col)
    if re.fullmatch(r"((elapsed )?(time|t|timestamp)( in)? )?(ms|msec|msecs|millisecond|milliseconds)", c):
        return 1e-3
    if c in {"time", "time s", "t", "t s", "seconds", "second", "sec", "s", "time sec", "elapsed time",
             "elapsed time s", "time seconds"}:
        return 1.0
    # epoch / Unix timestamps, in seconds (1.7e9 + i/fs); only their steps are used
    if _STAMP_NAME.fullmatch(c):
        return 1.0
    return None


def _norm_name(col: str) -> str:
    return re.sub(r"[\s_\-\[\]()'\"]+", " ", col.strip().lower()).strip()


def _is_time_col(name: str, col: pd.Series) -> bool:
    """A time column by name; a 'timestamp' of dates/clock text (not seconds) is left as a label column."""
    if _time_factor(name) is None:
        return False
    if _STAMP_NAME.fullmatch(_norm_name(name)) and not pd.api.types.is_numeric_dtype(col):
        return bool(pd.to_numeric(col.astype(str).str.replace(",", ".", regex=False), errors="coerce").notna().any())
    return True


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _read_csv(data: bytes, filename: str, *, fs: float | None, name: str) -> Record:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = [ln for ln in text[:65536].splitlines()[:DECIMAL_SAMPLE_LINES] if ln.strip()]
    if not lines:
        raise RecordReadError(f"{filename} is empty: export the ECG samples as CSV with one column per lead.")
    first = lines[0]
    sep = next((d for d in ("\t", ";", ",") if d in first), r"\s+")
    decimal = _decimal_mark(sep, lines[1:])
    split = (lambda ln: re.split(r"\s+", ln.strip())) if sep == r"\s+" else (lambda ln: ln.split(sep))

    def numeric(token: str) -> bool:
        token = token.strip().strip("'\"")
        return _is_number(token.replace(",", ".") if decimal == "," else token)

    has_header = not all(numeric(t) for t in split(first) if t.strip())
    skip = []
    units_row: list[str] | None = None
    # PhysioNet-style exports put a units row ('mV', 'hh:mm:ss') under the names
    if has_header and len(lines) > 1 and not any(numeric(t) for t in split(lines[1])):
        units_row = [t.strip().strip("'\"") for t in split(lines[1])]
        skip = [1]
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0 if has_header else None, skiprows=skip,
                         engine="c" if sep != r"\s+" else "python", skipinitialspace=True, decimal=decimal,
                         quotechar='"', skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RecordReadError(f"{filename} could not be parsed as a table ({reason}): check that every row "
                              f"has the same number of columns.") from exc
    if df.empty:
        raise RecordReadError(f"{filename} has a header but no samples: export the ECG samples too.")
    header_lines = (1 if has_header else 0) + len(skip)
    if has_header:
        df.columns = [str(c).strip().strip("'\"") for c in df.columns]
    else:
        df.columns = [f"lead_{i + 1}" for i in range(df.shape[1])]
    warnings: list[str] = []
    for c in df.columns:  # pandas renames a repeated header 'MLII' to 'MLII.1'
        m = re.fullmatch(r"(.+)\.(\d+)", str(c))
        if has_header and m and m.group(1) in df.columns:
            warnings.append(f"{filename}: the column name '{m.group(1)}' appears more than once; the repeat is read "
                            f"as the lead '{c}'.")

    time_col = next((c for c in df.columns if _is_time_col(c, df[c])), None)
    lead_cols = [c for c in df.columns if c != time_col and not _is_index_col(c, df[c])]
    if not lead_cols:
        raise RecordReadError(f"{filename} has no signal column besides time/index: export the ECG leads.")
    columns, names, units, ramps = [], [], [], []
    for c in lead_cols:
        col = df[c]
        if pd.api.types.is_bool_dtype(col):  # a flag column (True/False) is not a signal
            warnings.append(f"{filename}: column '{c}' holds True/False flags, not samples, so it is not read as a lead.")
            continue
        if not pd.api.types.is_numeric_dtype(col):
            raw = col.astype(str).str.strip()
            num = pd.to_numeric(raw.str.replace(",", ".", regex=False) if decimal == "," else raw, errors="coerce")
            text_mask = num.isna() & col.notna() & ~raw.str.lower().isin({"", "nan", "na", "n/a", "null", "none"})
            if text_mask.all():
                continue  # a label column (e.g. annotations); not a lead
            if text_mask.any():
                rows = np.flatnonzero(text_mask.to_numpy())
                raise RecordReadError(
                    f"{filename}: column '{c}' holds text '{raw.iloc[rows[0]][:20]}' at line "
                    f"{rows[0] + header_lines + 1} ({len(rows)} non-numeric cell{'s' if len(rows) > 1 else ''}): "
                    f"signal columns must hold numbers only.")
            col = num
        values = col.to_numpy(dtype=np.float64)
        if _is_ramp(values):
            ramps.append(c)
            continue
        columns.append(values)
        names.append(_name_without_unit(c))
        unit = _unit_in_name(c)
        if units_row is not None and list(df.columns).index(c) < len(units_row):
            unit = units_row[list(df.columns).index(c)] or unit
        units.append(unit)
    for c in ramps:
        warnings.append(f"{filename}: column '{c}' rises or falls steadily over the whole file, like a time or "
                        f"counter column, so it is not read as a lead (name it 'time_s' if it is time in seconds).")
    if not columns and ramps:
        raise RecordReadError(f"{filename}: the only numeric column{'s' if len(ramps) > 1 else ''} "
                              f"({', '.join(ramps)}) rise{'' if len(ramps) > 1 else 's'} steadily over the whole "
                              f"file, like time or a counter, not an ECG: export the ECG leads too.")
    if not columns:
        raise RecordReadError(f"{filename} has no numeric signal column: export the ECG samples as numbers "
                              f"(one column per lead, in mV).")
    fs_from_time = None
    if time_col is not None:
        tcol = df[time_col]
        if decimal == "," and not pd.api.types.is_numeric_dtype(tcol):
            tcol = tcol.astype(str).str.strip().str.replace(",", ".", regex=False)
        fs_from_time = _time_column_fs(tcol, time_col, filename, header_lines, warnings)
    fs = _choose_fs(fs, fs_from_time, time_col, filename, warnings)

    signal = np.column_stack(columns)
    signal = _to_mv(signal, units, names, warnings, filename)
    return _finalise(name, signal, fs, names, source_format="csv", label=filename, warnings=warnings,
                     line_offset=header_lines + 1)


def _time_column_fs(col: pd.Series, name: str, filename: str, header_lines: int, warnings: list[str]) -> float:
    """Sampling rate (Hz) from the median step of a time column, read in the unit its name gives."""
    t = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    if np.isnan(t).any():
        raise RecordReadError(f"{filename}: the time column '{name}' holds non-numeric values: "
                              f"export time in seconds, or drop the column and give fs.")
    step = np.diff(t) * _time_factor(name)
    if step.size == 0 or np.any(step <= 0):
        bad = int(np.argmax(step <= 0)) if step.size else 0
        raise RecordReadError(f"{filename}: the time column '{name}' does not increase at line "
                              f"{bad + header_lines + 2}: sort the rows by time, or drop the column and give fs.")
    med = float(np.median(step))
    if np.max(np.abs(step - med)) > 0.01 * med + 1e-9:
        warnings.append(f"{filename}: time steps are uneven; the samples are treated as regular at "
                        f"{1.0 / med:.4g} Hz.")
    return 1.0 / med


def _choose_fs(fs: float | None, fs_time: float | None, time_col: str | None, filename: str,
               warnings: list[str]) -> float:
    """The record's rate (Hz): the given `fs`, checked against the time column's rate `fs_time`, or `fs_time`.

    A column named in seconds ('time') whose rate is below MIN_FS_HZ but plausible if read as milliseconds
    is taken to be in ms: refused without fs (the name must say so), accepted when fs agrees with ms.
    """
    if fs_time is None or time_col is None:
        if fs is None:
            raise RecordReadError(f"{filename} has no time column, so its sampling rate is unknown: give fs "
                                  f"(e.g. 360 Hz) or add a 'time_s' column.")
        return float(fs)
    as_ms = _round_fs(fs_time * 1e3)
    in_ms = _time_factor(time_col) == 1.0 and fs_time < MIN_FS_HZ and MIN_FS_HZ <= as_ms <= MAX_FS_HZ
    if fs is None:
        if in_ms:
            raise RecordReadError(f"{filename}: the time column '{time_col}' steps by {1.0 / fs_time:.4g} per sample, "
                                  f"{fs_time:.3g} Hz if in seconds: it is probably in milliseconds ({as_ms:.4g} Hz); "
                                  f"rename the column to 'time_ms', or give fs.")
        fs = _round_fs(fs_time)
        _check_ecg_fs(fs, f"The sampling rate implied by the time column '{time_col}' of {filename}")
        return fs
    fs = float(fs)
    implied = as_ms if in_ms else fs_time
    how = " (read as milliseconds)" if in_ms else ""
    if abs(implied - fs) > FS_MISMATCH_ERROR * fs:
        raise RecordReadError(f"{filename}: fs={fs:g} Hz was given but the time column '{time_col}' implies "
                              f"{implied:.4g} Hz{how}: give the rate that matches the file, or leave fs out to "
                              f"use the time column.")
    if in_ms:
        warnings.append(f"{filename}: the time column '{time_col}' is in milliseconds, not seconds; "
                        f"it agrees with fs={fs:g} Hz.")
    elif abs(implied - fs) > FS_MISMATCH_WARNING * fs:
        warnings.append(f"{filename}: the time column implies {implied:.4g} Hz but fs={fs:g} Hz was "
                        f"given; using {fs:g} Hz.")
    return fs


def _is_index_col(name: str, col: pd.Series) -> bool:
    if name.strip().lower() not in {"sample", "samples", "index", "idx", "unnamed: 0", "n", "#"}:
        return False
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return bool(np.all(np.isfinite(v)) and np.all(np.diff(v) > 0))


def _decimal_mark(sep: str, data_lines: list[str]) -> str:
    """',' if the sampled data lines write decimals with a comma (quoted when `sep` is ','), else '.'."""
    if sep == ",":
        pattern = r"[\"']\s*[-+]?\d*,\d+\s*[\"']"  # "-0,62": a comma inside quotes
    else:
        pattern = r"\d,\d"  # ';', tab or spaces: a comma between digits can only be a decimal mark
    return "," if any(re.search(pattern, ln) for ln in data_lines) else "."


def _is_ramp(x: np.ndarray) -> bool:
    """True if `x` rises (or falls) strictly at every sample: a time or counter column; no ECG lead does."""
    if x.size < MIN_RAMP_SAMPLES or not np.all(np.isfinite(x)):
        return False
    d = np.diff(x)
    return bool(np.all(d > 0) or np.all(d < 0))


def _name_without_unit(col: str) -> str:
    """A standard lead name without its unit suffix ('II (mV)' -> 'II', 'MLII_mV' -> 'MLII', 'V1 [uV]' -> 'V1').

    Other names keep the suffix ('ECG (uV)'): only a known lead name is worth matching on its own.
    """
    bare = re.sub(r"\s*[\[(]\s*[^\])]+?\s*[\])]\s*$", "", col)
    if bare == col:
        bare = re.sub(r"_(mv|uv|µv|μv)$", "", col, flags=re.IGNORECASE)
    bare = bare.strip()
    return bare if bare and _STANDARD_LEAD.fullmatch(bare.upper()) else col


def _unit_in_name(col: str) -> str:
    m = re.search(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$", col) or re.search(r"_(mv|uv|µv|μv)$", col, re.IGNORECASE)
    return m.group(1) if m else "mV"


def _round_fs(fs: float) -> float:
    """A rate from time steps (e.g. 359.99 from 3-decimal seconds) snapped to a whole Hz when within 0.1%."""
    r = round(fs)
    return float(r) if r > 0 and abs(fs - r) <= 1e-3 * r else float(fs)
