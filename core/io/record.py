"""One ECG record in memory (`Record`, `Annotations`), the reader error, and the checks every reader shares.

Units: signals are float32 in millivolts (mV), sampling rates in hertz (Hz), times in seconds (s);
annotation positions are sample indices at the record's own rate. Every reader ends in `_finalise`, which
validates rate, length and leads and bridges gaps of missing samples (``core.io.gaps``), so all formats obey the
same limits.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.io.gaps import fill_gaps


#: Shortest signal accepted (s): two beats even at 48 bpm.
MIN_DURATION_S = 2.5
#: Highest plausible sampling rate (Hz); anything above is almost surely a unit mistake.
MAX_FS_HZ = 20_000.0
#: Lowest sampling rate accepted for an ECG record (Hz): below it a 0.1 s QRS spans under 5 samples.
MIN_FS_HZ = 50.0
#: A lead whose peak-to-peak range is below this (mV) is treated as flat: 2 ADC steps of MIT-BIH.
FLAT_PTP_MV = 0.01
#: Largest share of missing samples with which a lead is kept when another lead has less than this share missing.
MAX_MISSING_SHARE = 0.5
#: Window (s) over which a lead's peak-to-peak range is measured; its median is the "typical" range.
TYPICAL_WINDOW_S = 2.0
#: Typical peak-to-peak (mV) above which a lead cannot be an ECG (clinical QRS < ~10 mV): µV or ADC counts.
MAX_TYPICAL_PTP_MV = 30.0
#: Typical peak-to-peak (mV) below which a varying lead looks like volts written as mV.
MIN_TYPICAL_PTP_MV = 0.02
#: A lead below MIN_TYPICAL_PTP_MV with more than this many quantisation steps of range has a real shape.
MIN_SHAPE_STEPS = 100
#: A sample this far (mV) from the mean of its two neighbours ...
SPIKE_MV = 5.0
#: ... while the neighbours differ by less than this (mV) is a single-sample glitch.
SPIKE_NEIGHBOUR_MV = 1.0
#: Largest share of samples per lead replaced as spikes; above it the lead is left as it is.
MAX_SPIKE_FRACTION = 0.001
#: Most windows ``_typical_ptp`` measures (evenly spread over the record).
TYPICAL_MAX_WINDOWS = 600
#: Largest magnitude a float32 holds; larger values cannot be stored and count as missing.
_F32_MAX = float(np.finfo(np.float32).max)

_WFDB_EXTS = {".hea", ".dat", ".atr"}
_TABLE_EXTS = {".csv", ".tsv"}
_SINGLE_FILE_EXTS = _TABLE_EXTS | {".edf", ".npy"}
_SUPPORTED = "WFDB (.hea + .dat [+ .atr]), .csv, .edf, .npy or a .zip of one of these"
# Files that archivers and operating systems add on their own; silently skipped inside a zip.
_ZIP_NOISE = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$|desktop\.ini$)", re.IGNORECASE)

# Physical units -> factor to mV.  WFDB leaves units empty when they are the default (mV).
_TO_MV = {"mv": 1.0, "": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
          "v": 1e3, "volt": 1e3, "volts": 1e3, "nv": 1e-6, "millivolt": 1.0, "millivolts": 1.0}


class RecordReadError(ValueError):
    """Raised with a one-sentence, user-facing reason (what is wrong, what to do)."""


@dataclass
class Annotations:
    """Reference annotations of a record (e.g. the MIT-BIH ``.atr`` file).

    Attributes
    ----------
    sample : int64 sample indices at the record's own fs.
    symbol : WFDB symbols ('N', 'A', 'V', '+', ...).
    aux_note : rhythm changes such as '(AFIB', '' otherwise.
    """

    sample: np.ndarray
    symbol: list[str]
    aux_note: list[str]

    def __post_init__(self) -> None:
        self.sample = np.asarray(self.sample, dtype=np.int64).reshape(-1)
        self.symbol = list(self.symbol)
        self.aux_note = list(self.aux_note) if self.aux_note is not None else [""] * len(self.symbol)
        if not (len(self.sample) == len(self.symbol) == len(self.aux_note)):
            raise ValueError("Annotations need as many symbols and aux notes as samples.")

    def __len__(self) -> int:
        return len(self.sample)


@dataclass
class Record:
    """One ECG record in memory.

    Attributes
    ----------
    name : record name (file stem unless given).
    signal : float32 array [n_samples, n_leads] in mV.
    fs : sampling rate in Hz.
    lead_names : one name per column of `signal`.
    annotations : reference annotations, if the source had them.
    comments : header comment lines (age, sex, medications for MIT-BIH).
    source_format : 'wfdb' | 'csv' | 'edf' | 'npy' ('' when built in code).
    warnings : plain-English notes on what was found and fixed while reading (flat lead, filled gap).
    gaps_s : per lead name, (start_s, end_s) of the stretches without samples in the file, bridged by a straight
        line (``core.io.gaps``); the analysis reads them as lost signal.
    """

    name: str
    signal: np.ndarray
    fs: float
    lead_names: list[str]
    annotations: Annotations | None = None
    comments: list[str] = field(default_factory=list)
    source_format: str = ""
    warnings: list[str] = field(default_factory=list)
    gaps_s: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sig = np.asarray(self.signal, dtype=np.float32)
        if sig.ndim == 1:
            sig = sig[:, None]
        if sig.ndim != 2:
            raise ValueError(f"Record.signal must be [n_samples, n_leads], got shape {sig.shape}.")
        self.signal = sig
        self.fs = float(self.fs)
        self.lead_names = [str(n) for n in self.lead_names]
        if len(self.lead_names) != sig.shape[1]:
            raise ValueError(f"Record has {sig.shape[1]} leads but {len(self.lead_names)} lead names.")

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def lead(self, name_or_index: str | int) -> np.ndarray:
        """One lead as a 1-D float32 array in mV, by index or by (case-insensitive) name."""
        if isinstance(name_or_index, (int, np.integer)):
            return self.signal[:, int(name_or_index)]
        wanted = _norm_lead(str(name_or_index))
        for i, n in enumerate(self.lead_names):
            if _norm_lead(n) == wanted:
                return self.signal[:, i]
        raise KeyError(f"No lead named {name_or_index!r} in record {self.name}; leads are {self.lead_names}.")

    def to_dataframe(self) -> pd.DataFrame:
        """Columns ``time_s`` (s from the first sample) and one column per lead (mV)."""
        df = pd.DataFrame(self.signal, columns=self.lead_names)
        df.insert(0, "time_s", np.arange(self.n_samples) / self.fs)
        return df


# --------------------------------------------------------------------------------------------
# Checks shared by all readers
# --------------------------------------------------------------------------------------------

def _check_fs(fs: Any, what: str) -> None:
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise RecordReadError(f"{what} ({fs!r}) is not a number: give the sampling rate in Hz, e.g. 360.") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_FS_HZ:
        raise RecordReadError(f"{what} ({fs!r} Hz) is not plausible: give the sampling rate in Hz, above 0 and "
                              f"at most {MAX_FS_HZ:,.0f} (MIT-BIH uses 360).")


def _check_ecg_fs(fs: Any, what: str) -> None:
    """`_check_fs`, and refuse a record rate below MIN_FS_HZ (Hz), too slow to resolve a QRS complex."""
    _check_fs(fs, what)
    if float(fs) < MIN_FS_HZ:
        raise RecordReadError(f"{what} ({float(fs):g} Hz) is below {MIN_FS_HZ:g} Hz, too slow for an ECG: "
                              f"check the rate or the time unit (MIT-BIH uses 360 Hz).")


def _to_mv(signal: np.ndarray, units: Sequence[str], names: Sequence[str], warnings: list[str],
           label: str) -> np.ndarray:
    """Scale each lead to mV by its unit, in float64 so that a large factor cannot overflow float32."""
    out = np.array(signal, dtype=np.float64)
    for i in range(signal.shape[1]):
        unit = (units[i] if i < len(units) else "mV") or "mV"
        factor = _TO_MV.get(unit.strip().lower())
        lead = names[i] if i < len(names) else f"#{i + 1}"
        if factor is None:
            warnings.append(f"{label}: lead {lead} is in '{unit}', not a voltage; its values are kept as they are.")
        elif factor != 1.0:
            out[:, i] *= factor
    return out


def _finalise(name: str, signal: np.ndarray, fs: float, lead_names: Sequence[str], *, source_format: str,
              label: str, annotations: Annotations | None = None, comments: Sequence[str] = (),
              warnings: list[str] | None = None, line_offset: int | None = None) -> Record:
    """Validate rate, length and leads; bridge gaps (kept in ``gaps_s``); build the Record."""
    warnings = list(warnings or [])
    _check_ecg_fs(fs, f"The sampling rate of {label}")
    names = _unique_names([str(n).strip() or f"lead_{i + 1}" for i, n in enumerate(lead_names)])
    n = signal.shape[0]
    if n / fs < MIN_DURATION_S:
        raise RecordReadError(f"{label} lasts only {n / fs:.2f} s ({n} samples at {fs:g} Hz), too short for two "
                              f"beats: provide at least {MIN_DURATION_S:g} s of ECG.")
    signal = np.array(signal, dtype=np.float64)  # a copy: changed in place below
    for i in range(signal.shape[1]):  # lead by lead: no whole-record temporaries on a 24 h Holter
        x = signal[:, i]
        x[~np.isfinite(x)] = np.nan
    signal, names = _drop_empty_leads(signal, names, label, warnings)
    _check_not_too_large(signal, names, fs, label)
    for i in range(signal.shape[1]):  # values a float32 Record cannot hold count as missing
        x = signal[:, i]
        x[np.abs(x) > _F32_MAX] = np.nan
    flat: list[str] = []
    gaps: dict[str, list[tuple[float, float]]] = {}
    for i, lead in enumerate(names):
        x = signal[:, i]
        missing = np.isnan(x)
        if missing.all():
            flat.append(f"{lead} holds no values")
            continue
        if missing.any():
            signal[:, i], gaps[lead] = fill_gaps(x, fs, lead, label, warnings, line_offset)
        signal[:, i] = x = _despike(signal[:, i], lead, warnings)
        _check_not_volts(x, lead, fs, label)
        if not np.any(x):
            flat.append(f"{lead} is all zero")
        elif np.ptp(x) < FLAT_PTP_MV:
            flat.append(f"{lead} is a flat line at {x[0]:.3g} mV")
    if len(flat) == len(names):
        raise RecordReadError(f"{label} holds no ECG: {'; '.join(flat)}; check the export or the electrodes.")
    for f in flat:
        warnings.append(f"Lead {f} and carries no signal; it is kept but should not be used.")
    return Record(name=name, signal=signal.astype(np.float32), fs=float(fs), lead_names=names,
                  annotations=annotations, comments=list(comments), source_format=source_format,
                  warnings=warnings, gaps_s={k: v for k, v in gaps.items() if v})


def _drop_empty_leads(signal: np.ndarray, names: list[str], label: str,
                      warnings: list[str]) -> tuple[np.ndarray, list[str]]:
    """Leave out leads with no finite value (mV), or more than ``MAX_MISSING_SHARE`` of their samples missing, when
    another lead has less missing; all empty is refused later."""
    share = np.array([np.isnan(signal[:, i]).mean() for i in range(signal.shape[1])])  # lead by lead: no 2-D mask
    empty = share > MAX_MISSING_SHARE
    if not empty.any() or empty.all():
        return signal, names
    for i in np.flatnonzero(empty):
        warnings.append(f"{names[i]} holds no values and was left out." if share[i] == 1.0 else
                        f"{names[i]} is missing {100 * share[i]:.0f} % of its samples and was left out.")
    keep = np.flatnonzero(~empty)
    return signal[:, keep], [names[i] for i in keep]


def _typical_ptp(x: np.ndarray, fs: float) -> float:
    """Median over TYPICAL_WINDOW_S windows of the peak-to-peak range (mV), missing samples ignored.

    At most ``TYPICAL_MAX_WINDOWS`` windows, evenly spread (bounded work and memory on a 24 h Holter), each
    measured after a 3-sample median, so that single-sample glitches do not count.
    """
    w = max(1, int(TYPICAL_WINDOW_S * fs))
    k = max(1, x.size // w)
    if x.size >= w:
        starts = np.unique(np.linspace(0, k - 1, min(k, TYPICAL_MAX_WINDOWS)).round().astype(np.int64)) * w
        windows = x[starts[:, None] + np.arange(w)[None, :]]
    else:
        windows = x[None, :]
    if windows.shape[1] >= 3:  # NaN sorts last
        windows = np.sort(np.stack([windows[:, :-2], windows[:, 1:-1], windows[:, 2:]]), axis=0)[1]
    ok = ~np.isnan(windows).all(axis=1)
    if not ok.any():
        return float("nan")
    with np.errstate(over="ignore", invalid="ignore"):
        ptp = np.nanmax(windows[ok], axis=1) - np.nanmin(windows[ok], axis=1)
    return float(np.median(ptp))


def _fmt_mv(value: float) -> str:
    if not math.isfinite(value):
        return "beyond 1e+308"
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}"


def _check_not_too_large(signal: np.ndarray, names: list[str], fs: float, label: str) -> None:
    """Refuse when any lead's typical peak-to-peak exceeds MAX_TYPICAL_PTP_MV (mV): µV or ADC counts."""
    bad = []
    for i, lead in enumerate(names):
        ptp = _typical_ptp(signal[:, i], fs)
        if not ptp <= MAX_TYPICAL_PTP_MV and not math.isnan(ptp):
            bad.append((lead, ptp))
    if bad:
        what = "; ".join(f"{lead}: typical peak-to-peak {_fmt_mv(ptp)} mV" for lead, ptp in bad)
        raise RecordReadError(f"{label}: {what}, far above an ECG's (0.5–5 mV): the values look like µV or ADC "
                              f"counts; give the unit (e.g. a column named '{bad[0][0]} (uV)', or the header's "
                              f"gain).")


def _check_not_volts(x: np.ndarray, lead: str, fs: float, label: str) -> None:
    """Refuse a varying lead whose typical peak-to-peak is below MIN_TYPICAL_PTP_MV (mV): volts written as mV.

    A lead counts as varying when its whole range spans more than MIN_SHAPE_STEPS quantisation steps
    (the smallest difference between two of its values); a flat lead with 1-2 ADC steps of noise does not.
    """
    ptp = float(np.ptp(x))
    if ptp == 0.0:
        return
    typical = _typical_ptp(x, fs)
    if typical >= MIN_TYPICAL_PTP_MV:
        return
    steps = np.diff(np.unique(x))
    if ptp <= MIN_SHAPE_STEPS * float(steps.min()):
        return
    raise RecordReadError(f"{label}: lead {lead} is tiny but shaped like an ECG; the values look like volts "
                          f"(typical peak-to-peak {typical:.2g} mV): give the unit, e.g. '{lead} (V)'.")


def _despike(x: np.ndarray, lead: str, warnings: list[str]) -> np.ndarray:
    """Replace single-sample glitches: > SPIKE_MV (mV) from the mean of two neighbours that agree within
    SPIKE_NEIGHBOUR_MV (mV). Done only when they are fewer than MAX_SPIKE_FRACTION of the samples."""
    if x.size < 3:
        return x
    prev, here, nxt = x[:-2], x[1:-1], x[2:]
    mean = 0.5 * (prev + nxt)
    spike = (np.abs(here - mean) > SPIKE_MV) & (np.abs(prev - nxt) < SPIKE_NEIGHBOUR_MV)
    count = int(spike.sum())
    if count == 0:
        return x
    if count >= MAX_SPIKE_FRACTION * x.size:
        warnings.append(f"{lead}: {count} single-sample spikes (> {SPIKE_MV:g} mV from both neighbours), too many "
                        f"to be glitches; they were left as they are: check the recording.")
        return x
    out = x.copy()
    out[1:-1][spike] = mean[spike]
    warnings.append(f"{lead}: replaced {count} single-sample spike{'s' if count > 1 else ''} (> {SPIKE_MV:g} mV "
                    f"from both neighbours; a recorder glitch, not the heart).")
    return out


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


_UNIT_SUFFIX = re.compile(r"(\s*[(\[]\s*(MV|UV|µV|ΜV|V)\s*[)\]]|_(MV|UV|µV|ΜV|V))$")
_LEAD_PREFIX = re.compile(r"^(ECG|EKG|LEAD)\s+(?=\S)")
_EINTHOVEN = {"DI": "I", "DII": "II", "DIII": "III", "D1": "I", "D2": "II", "D3": "III"}


def _norm_lead(name: str) -> str:
    """Canonical lead name for matching: upper case, unit suffix and 'ECG'/'EKG'/'Lead' prefix removed.

    'II (mV)', 'ECG II', 'Lead II', 'DII' and 'D2' all give 'II'; 'MLII_mV' and 'MLII (uV)' give 'MLII'.
    """
    s = _UNIT_SUFFIX.sub("", name.strip().upper()).strip()
    s = re.sub(r"[\s_\-]+", " ", s).strip()
    s = _LEAD_PREFIX.sub("", s)
    return _EINTHOVEN.get(s, s)
