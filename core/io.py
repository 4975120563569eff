"""Read ECG records from WFDB, CSV, EDF, NPY and zip files, or from an uploaded bundle, into one `Record`.

Everything that comes from outside the program enters here, so this module is also the place where
bad input is turned into one clear, user-facing sentence (`RecordReadError`), never a traceback.

Units: signals are float32 in millivolts (mV), sampling rates in hertz (Hz), times in seconds (s);
annotation positions are sample indices at the record's own rate.

Privacy: uploaded bytes are only ever held in memory; WFDB and EDF readers need real files, so the
bytes are written to a `tempfile.TemporaryDirectory()` for the duration of one read and deleted
with it.

Example
-------
>>> from core.io import read_record, select_lead
>>> rec = read_record("../shared/data/mitdb/100.hea")              # doctest: +SKIP
>>> rec.fs, rec.lead_names, rec.duration_s                         # doctest: +SKIP
(360.0, ['MLII', 'V5'], 1805.5555555555557)
>>> select_lead(rec)                                               # doctest: +SKIP
(0, 'MLII', None)
"""
from __future__ import annotations

import io
import math
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import pandas as pd

from core import config

__all__ = [
    "Annotations",
    "Record",
    "RecordReadError",
    "read_record",
    "select_lead",
    "resample",
    "resample_record",
    "write_csv",
    "write_edf",
]

#: Shortest signal accepted (s): two beats even at 48 bpm.
MIN_DURATION_S = 2.5
#: Highest plausible sampling rate (Hz); anything above is almost surely a unit mistake.
MAX_FS_HZ = 20_000.0
#: A lead whose peak-to-peak range is below this (mV) is treated as flat: 2 ADC steps of MIT-BIH.
FLAT_PTP_MV = 0.01
#: Longest run of missing samples filled by linear interpolation (s); shorter than one beat.
MAX_NAN_GAP_S = 0.2
#: Largest share of missing samples per lead that is still filled rather than refused.
MAX_NAN_FRACTION = 0.05

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
    """

    name: str
    signal: np.ndarray
    fs: float
    lead_names: list[str]
    annotations: Annotations | None = None
    comments: list[str] = field(default_factory=list)
    source_format: str = ""
    warnings: list[str] = field(default_factory=list)

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
# Entry point
# --------------------------------------------------------------------------------------------

def read_record(source: str | os.PathLike | Mapping[str, Any], *, fs: float | None = None,
                name: str | None = None) -> Record:
    """Read one ECG record from a path or from an uploaded bundle.

    Parameters
    ----------
    source : a path to a ``.hea`` (its ``.dat`` and, if present, ``.atr`` are read from beside it; a
        WFDB record name without extension and a folder holding one record work too), ``.csv``,
        ``.edf``, ``.npy`` or ``.zip``; or a mapping ``{filename: bytes}`` as a multi-file uploader
        gives it (values may also be file-like objects with ``getvalue()`` or ``read()``).
    fs : sampling rate in Hz; required for ``.npy`` and for CSV without a time column, and wins over
        a CSV time column (with a warning if they disagree).
    name : record name to use (default: the file stem); with several records in one bundle or
        folder it also selects which one is read.

    Returns
    -------
    Record with the signal in mV.

    Raises
    ------
    RecordReadError : the input cannot be read; the message says why and what to do.
    """
    if fs is not None:
        _check_fs(fs, "The fs argument")
    try:
        if isinstance(source, Mapping):
            rec = _read_bundle(source, fs=fs, name=name)
        elif isinstance(source, (str, os.PathLike)):
            rec = _read_path(Path(source), fs=fs, name=name)
        else:
            rec = None
    except RecordReadError:
        raise
    except MemoryError as exc:
        raise RecordReadError("The record is too large to hold in memory: upload a shorter excerpt.") from exc
    except Exception as exc:  # the boundary: nothing else may escape as a traceback
        raise RecordReadError(f"The input could not be read ({type(exc).__name__}: {exc}); "
                              f"check that it is {_SUPPORTED}.") from exc
    if rec is None:
        raise RecordReadError(f"read_record takes a file path or a {{filename: bytes}} mapping, "
                              f"not {type(source).__name__}: pass one of these.")
    if fs is not None and rec.source_format in ("wfdb", "edf") and abs(float(fs) - rec.fs) > 1e-6 * rec.fs:
        rec.warnings.append(f"fs={float(fs):g} Hz was ignored: {rec.name} states its own rate, {rec.fs:g} Hz.")
    return rec


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------

def _read_path(path: Path, *, fs: float | None, name: str | None) -> Record:
    if not path.exists():
        # wfdb style: "mitdb/100" names the record without extension
        hea = path.with_name(path.name + ".hea")
        if hea.is_file():
            return _read_wfdb_dir(hea.parent, hea.name, name=name)
        raise RecordReadError(f"No file or folder at {path}: check the path.")
    if path.is_dir():
        return _read_folder(path, fs=fs, name=name)
    size = path.stat().st_size
    if size > config.MAX_UPLOAD_BYTES:
        raise RecordReadError(f"{path.name} is {_mb(size)}, over the {_mb(config.MAX_UPLOAD_BYTES)} limit: "
                              f"cut a shorter excerpt.")
    ext = path.suffix.lower()
    if ext in _WFDB_EXTS:
        hea = path.with_suffix(".hea")
        if not hea.is_file():
            kind = "an annotation file" if ext == ".atr" else "raw WFDB samples"
            raise RecordReadError(f"{path.name} is {kind} and cannot be read without its header "
                                  f"{hea.name}: put {hea.name} (and {path.stem}.dat) beside it.")
        return _read_wfdb_dir(path.parent, hea.name, name=name)
    if ext == ".zip":
        return _read_bundle({path.name: path.read_bytes()}, fs=fs, name=name)
    if ext == ".edf":
        return _read_edf_file(path, label=path.name, name=name or path.stem)
    if ext in _SINGLE_FILE_EXTS:
        return _read_single(path.name, path.read_bytes(), fs=fs, name=name)
    raise RecordReadError(f"{path.name} has an unsupported file type '{path.suffix}': use {_SUPPORTED}.")


def _read_folder(folder: Path, *, fs: float | None, name: str | None) -> Record:
    heads = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".hea")
    if heads:
        hea = _pick(heads, name, lambda p: p.stem, folder.name)
        return _read_wfdb_dir(folder, hea.name, name=name)
    singles = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SINGLE_FILE_EXTS | {".zip"})
    if not singles:
        raise RecordReadError(f"The folder {folder.name} holds no ECG record: it should contain {_SUPPORTED}.")
    return _read_path(_pick(singles, name, lambda p: p.stem, folder.name), fs=fs, name=name)


def _pick(items: Sequence, name: str | None, stem_of, where: str):
    if len(items) == 1:
        return items[0]
    stems = [stem_of(i) for i in items]
    if name is not None and name in stems:
        return items[stems.index(name)]
    raise RecordReadError(f"{where} holds {len(items)} records ({', '.join(stems[:6])}"
                          f"{', ...' if len(stems) > 6 else ''}): pass name= to choose one, or give one record.")


# --------------------------------------------------------------------------------------------
# Uploaded bundles and zip archives
# --------------------------------------------------------------------------------------------

def _read_bundle(bundle: Mapping[str, Any], *, fs: float | None, name: str | None) -> Record:
    files: dict[str, bytes] = {}
    total = 0
    for key, value in bundle.items():
        data = _as_bytes(value, str(key))
        total += len(data)
        if total > config.MAX_UPLOAD_BYTES:
            raise RecordReadError(f"The upload is over the {_mb(config.MAX_UPLOAD_BYTES)} limit: "
                                  f"send a shorter excerpt.")
        base = _safe_basename(str(key), where="The upload")
        if base:
            files[base] = data
    if not files:
        raise RecordReadError(f"The upload is empty: add {_SUPPORTED}.")

    origin = "the uploaded files"
    zips = [n for n in files if n.lower().endswith(".zip")]
    if zips:
        origin = zips[0]
        if len(files) > 1:
            raise RecordReadError("Upload either one .zip or the record's files, not both: "
                                  "remove the extra files.")
        files = _unzip(zips[0], files[zips[0]])

    by_ext: dict[str, list[str]] = {}
    for n in sorted(files):
        by_ext.setdefault(Path(n).suffix.lower(), []).append(n)
    if by_ext.get(".hea"):
        hea = _pick(by_ext[".hea"], name, lambda n: Path(n).stem, "The upload")
        return _read_wfdb_bytes(hea, files, name=name)
    singles = [n for n in sorted(files) if Path(n).suffix.lower() in _SINGLE_FILE_EXTS]
    if singles:
        chosen = _pick(singles, name, lambda n: Path(n).stem, "The upload")
        return _read_single(chosen, files[chosen], fs=fs, name=name)
    orphans = by_ext.get(".atr", []) + by_ext.get(".dat", [])
    if orphans:
        stem = Path(orphans[0]).stem
        kind = "an annotation file" if orphans[0].lower().endswith(".atr") else "raw WFDB samples"
        raise RecordReadError(f"{orphans[0]} is {kind} and cannot be read without its header {stem}.hea: "
                              f"upload {stem}.hea and {stem}.dat with it.")
    found = ", ".join(sorted(files)[:5])
    raise RecordReadError(f"No ECG record in {origin} (found {found}): upload {_SUPPORTED}.")


def _as_bytes(value: Any, label: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    for attr in ("getvalue", "read"):  # Streamlit UploadedFile, BytesIO, open files
        if hasattr(value, attr):
            data = getattr(value, attr)()
            if isinstance(data, (bytes, bytearray)):
                return bytes(data)
    raise RecordReadError(f"The upload {label} is not file content (got {type(value).__name__}): "
                          f"pass the file's bytes.")


def _safe_basename(member: str, *, where: str) -> str:
    """Basename of an archive member or upload key; refuses names that climb out of their folder."""
    posix = member.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or PureWindowsPath(member).drive or ".." in parts:
        raise RecordReadError(f"{where} contains an unsafe file path '{member}' (absolute or with '..'): "
                              f"re-create it with plain relative names.")
    return parts[-1] if parts else ""


def _unzip(zip_name: str, data: bytes) -> dict[str, bytes]:
    """Members of a zip, read into memory by basename; nothing is extracted to disk."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise RecordReadError(f"{zip_name} is not a valid zip archive: create the zip again.") from exc
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:  # check every name before reading any content
            _safe_basename(info.filename, where=zip_name)
        infos = [i for i in infos if not _ZIP_NOISE.search(i.filename)]
        if sum(i.file_size for i in infos) > config.MAX_UPLOAD_BYTES:
            raise RecordReadError(f"{zip_name} unpacks to more than {_mb(config.MAX_UPLOAD_BYTES)}: "
                                  f"send a shorter excerpt.")
        out: dict[str, bytes] = {}
        for info in infos:
            base = _safe_basename(info.filename, where=zip_name)
            if base.lower().endswith(".zip"):
                raise RecordReadError(f"{zip_name} contains another zip ({base}): zip the record files directly.")
            if base in out:
                raise RecordReadError(f"{zip_name} holds two files named {base} in different folders: "
                                      f"keep one record per zip.")
            if info.flag_bits & 0x1:
                raise RecordReadError(f"{zip_name} is password-protected: upload an unencrypted zip.")
            try:
                out[base] = zf.read(info)
            except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, EOFError) as exc:
                raise RecordReadError(f"{zip_name} is damaged ({base} cannot be unpacked): "
                                      f"create the zip again.") from exc
    if not out:
        raise RecordReadError(f"{zip_name} is empty: zip the record's files ({_SUPPORTED}).")
    return out


def _read_single(filename: str, data: bytes, *, fs: float | None, name: str | None) -> Record:
    ext = Path(filename).suffix.lower()
    rec_name = name or Path(filename).stem
    if ext in _TABLE_EXTS:
        return _read_csv(data, filename, fs=fs, name=rec_name)
    if ext == ".npy":
        return _read_npy(data, filename, fs=fs, name=rec_name)
    if ext == ".edf":
        with tempfile.TemporaryDirectory(prefix="cardiolens-") as tmp:
            path = Path(tmp) / "upload.edf"
            path.write_bytes(data)
            return _read_edf_file(path, label=filename, name=rec_name)
    raise RecordReadError(f"{filename} has an unsupported file type: use {_SUPPORTED}.")


# --------------------------------------------------------------------------------------------
# WFDB
# --------------------------------------------------------------------------------------------

@dataclass
class _SignalSpec:
    file_name: str
    fmt: str
    samples_per_frame: int
    byte_offset: int
    units: str
    description: str


@dataclass
class _Header:
    n_samples: int | None
    fs: float
    signals: list[_SignalSpec]
    comments: list[str]
    latin1: bool


def _decode_header(label: str, raw: bytes) -> tuple[str, bool]:
    """Header text, and whether it had to be decoded as Latin-1."""
    if b"\x00" in raw[:4096]:
        raise RecordReadError(f"{label} holds binary data, not a WFDB header: upload the .hea text file "
                              f"that came with the record.")
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        printable = sum(c.isprintable() or c in "\r\n\t" for c in text[:4096])
        if printable < 0.95 * min(len(text), 4096):
            raise RecordReadError(f"{label} holds binary data, not a WFDB header: upload the .hea text file "
                                  f"that came with the record.") from None
        return text, True


def _parse_header(label: str, raw: bytes) -> _Header:
    """Just enough of the WFDB header (Moody, WFDB Applications Guide, header(5)) to check the files."""
    text, latin1 = _decode_header(label, raw)
    lines = [ln.strip() for ln in text.splitlines()]
    comments = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
    spec = [ln for ln in lines if ln and not ln.startswith("#")]
    not_header = (f"{label} is not a WFDB header (its first line should read like '100 2 360 650000'): "
                  f"upload the .hea file that came with the record.")
    if not spec:
        raise RecordReadError(not_header)
    tok = spec[0].split()
    if len(tok) < 2 or not tok[1].isdigit():
        raise RecordReadError(not_header)
    if "/" in tok[0]:
        raise RecordReadError(f"{label} describes a multi-segment WFDB record, which is not supported: "
                              f"convert it to a single-segment record (wfdb.rdrecord + wrsamp).")
    n_sig = int(tok[1])
    if n_sig == 0:
        raise RecordReadError(f"{label} declares no signals: upload a record that holds ECG leads.")
    fs = 250.0  # WFDB default when the field is absent
    if len(tok) > 2:
        m = re.match(r"^([-+0-9.eE]+)", tok[2])
        if not m:
            raise RecordReadError(not_header)
        try:
            fs = float(m.group(1))
        except ValueError:
            raise RecordReadError(not_header) from None
    _check_fs(fs, f"The sampling rate in {label}")
    n_samples = None
    if len(tok) > 3:
        if not tok[3].isdigit():
            raise RecordReadError(not_header)
        n_samples = int(tok[3])
    if len(spec) - 1 < n_sig:
        raise RecordReadError(f"{label} declares {n_sig} signals but describes {len(spec) - 1}: "
                              f"the header is incomplete; upload the original .hea file.")
    signals = []
    for ln in spec[1:1 + n_sig]:
        t = ln.split()
        if len(t) < 2:
            raise RecordReadError(f"{label} has a malformed signal line '{ln[:40]}': "
                                  f"upload the original .hea file.")
        m = re.match(r"^(\d+)(?:x(\d+))?(?::(-?\d+))?(?:\+(\d+))?$", t[1])
        if not m:
            raise RecordReadError(f"{label} gives '{t[1]}' as storage format, which is not a WFDB format code: "
                                  f"upload the original .hea file.")
        fmt = m.group(1)
        if fmt not in _wfdb_formats():
            raise RecordReadError(f"{label} uses WFDB storage format {fmt}, which is not supported "
                                  f"(supported: {', '.join(sorted(_wfdb_formats(), key=int))}): "
                                  f"convert the record to format 16 or 212, or export CSV/EDF.")
        units = "mV"
        if len(t) > 2:
            um = re.match(r"^[^/]*/(\S+)$", t[2])
            units = um.group(1) if um else "mV"
        signals.append(_SignalSpec(file_name=t[0], fmt=fmt, samples_per_frame=int(m.group(2) or 1),
                                   byte_offset=int(m.group(4) or 0), units=units,
                                   description=" ".join(t[8:]) if len(t) > 8 else ""))
    return _Header(n_samples=n_samples, fs=fs, signals=signals, comments=comments, latin1=latin1)


def _wfdb_formats() -> set[str]:
    from wfdb.io import _signal
    return set(_signal.DAT_FMTS)


def _check_dat_files(label: str, head: _Header, sizes: Mapping[str, int | None]) -> list[str]:
    """Check each signal file the header names exists and is long enough; returns basenames."""
    from wfdb.io import _signal
    names: list[str] = []
    for sig in head.signals:
        base = _safe_basename(sig.file_name, where=label)
        if base not in names:
            names.append(base)
    for base in names:
        if sizes.get(base) is None:
            raise RecordReadError(f"{label} needs the signal file {base}, which is missing: "
                                  f"provide {base} together with {label}.")
        in_file = [s for s in head.signals if _safe_basename(s.file_name, where=label) == base]
        if head.n_samples is None or any(s.fmt in _signal.COMPRESSED_FMTS for s in in_file):
            continue
        frame_bytes = sum(s.samples_per_frame * _signal.BYTES_PER_SAMPLE[s.fmt] for s in in_file)
        held = int((sizes[base] - in_file[0].byte_offset) // frame_bytes) if frame_bytes else 0
        if held < head.n_samples:
            raise RecordReadError(f"{base} holds {max(held, 0)} samples but {label} declares "
                                  f"{head.n_samples}: the file looks truncated; copy or upload it again.")
    return names


def _read_wfdb_dir(folder: Path, hea_name: str, *, name: str | None) -> Record:
    """Read a WFDB record whose files lie in `folder` (its .atr is used when present)."""
    head = _parse_header(hea_name, (folder / hea_name).read_bytes())
    stem = Path(hea_name).stem
    sizes = {}
    for sig in head.signals:
        base = _safe_basename(sig.file_name, where=hea_name)
        p = folder / base
        sizes[base] = p.stat().st_size if p.is_file() else None
    _check_dat_files(hea_name, head, sizes)
    return _load_wfdb(folder, stem, head, name=name)


def _read_wfdb_bytes(hea_name: str, files: Mapping[str, bytes], *, name: str | None) -> Record:
    """Read an uploaded WFDB record: files go to a temporary folder only for the read."""
    head = _parse_header(hea_name, files[hea_name])
    stem = Path(hea_name).stem
    sizes = {b: len(files[b]) if b in files else None
             for b in (_safe_basename(s.file_name, where=hea_name) for s in head.signals)}
    needed = _check_dat_files(hea_name, head, sizes)
    atr = next((n for n in files if n.lower() == f"{stem}.atr".lower()), None)
    with tempfile.TemporaryDirectory(prefix="cardiolens-") as tmp:
        # wfdb looks for exactly '<stem>.hea' and '<stem>.atr', whatever case the upload used
        (Path(tmp) / f"{stem}.hea").write_bytes(files[hea_name])
        for base in needed:
            (Path(tmp) / base).write_bytes(files[base])
        if atr is not None:
            (Path(tmp) / f"{stem}.atr").write_bytes(files[atr])
        return _load_wfdb(Path(tmp), stem, head, name=name)


def _load_wfdb(folder: Path, stem: str, head: _Header, *, name: str | None) -> Record:
    import wfdb

    label = f"{stem}.hea"
    try:
        rec = wfdb.rdrecord(str(folder / stem), physical=True)
    except Exception as exc:
        raise RecordReadError(f"The WFDB record {stem} could not be decoded ({type(exc).__name__}: {exc}): "
                              f"check that {label} belongs to its .dat file.") from exc
    if rec.p_signal is None:
        raise RecordReadError(f"The WFDB record {stem} holds no signal samples: upload a record with signals.")
    warnings: list[str] = []
    if head.latin1:
        warnings.append(f"{label} is not UTF-8 text; it was read as Latin-1 (check lead names and comments).")
    signal = np.asarray(rec.p_signal, dtype=np.float64)
    units = list(rec.units or [s.units for s in head.signals])
    signal = _to_mv(signal, units, [str(n) for n in (rec.sig_name or [])], warnings, label)
    lead_names = [s.description for s in head.signals] if head.latin1 else list(rec.sig_name or [])
    comments = head.comments if head.latin1 else list(rec.comments or [])

    annotations = None
    atr = folder / f"{stem}.atr"
    if atr.is_file():
        try:
            ann = wfdb.rdann(str(folder / stem), "atr")
            annotations = Annotations(sample=ann.sample, symbol=list(ann.symbol),
                                      aux_note=[(a or "").rstrip("\x00") for a in (ann.aux_note or [])]
                                      or [""] * len(ann.sample))
        except Exception as exc:  # a broken reference file should not hide the ECG itself
            warnings.append(f"{stem}.atr could not be read ({type(exc).__name__}); "
                            f"the record is shown without reference annotations.")
    return _finalise(name or stem, signal, float(rec.fs), lead_names, source_format="wfdb",
                     label=label, annotations=annotations, comments=comments, warnings=warnings)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

def _time_factor(col: str) -> float | None:
    """Seconds per unit if `col` names a time column ('time', 'time_s', 't', 'seconds', 'ms', ...)."""
    c = re.sub(r"[\s_\-\[\]()'\"]+", " ", col.strip().lower()).strip()
    if c in {"ms", "time ms", "t ms", "milliseconds", "time msec", "elapsed time ms"}:
        return 1e-3
    if c in {"time", "time s", "t", "t s", "seconds", "second", "sec", "s", "time sec", "elapsed time",
             "elapsed time s", "time seconds"}:
        return 1.0
    return None


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
    lines = [ln for ln in text[:8192].splitlines()[:50] if ln.strip()]
    if not lines:
        raise RecordReadError(f"{filename} is empty: export the ECG samples as CSV with one column per lead.")
    first = lines[0]
    sep = next((d for d in ("\t", ";", ",") if d in first), r"\s+")
    # ';' with decimal commas is the spreadsheet export of many European locales
    decimal = "," if sep == ";" and any(re.search(r"\d,\d", ln) for ln in lines[1:5]) else "."
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

    time_col = next((c for c in df.columns if _time_factor(c) is not None), None)
    lead_cols = [c for c in df.columns if c != time_col and not _is_index_col(c, df[c])]
    if not lead_cols:
        raise RecordReadError(f"{filename} has no signal column besides time/index: export the ECG leads.")
    columns, names, units = [], [], []
    for c in lead_cols:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col):
            raw = col.astype(str).str.strip()
            num = pd.to_numeric(raw, errors="coerce")
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
        columns.append(col.to_numpy(dtype=np.float64))
        names.append(c)
        unit = _unit_in_name(c)
        if units_row is not None and list(df.columns).index(c) < len(units_row):
            unit = units_row[list(df.columns).index(c)] or unit
        units.append(unit)
    if not columns:
        raise RecordReadError(f"{filename} has no numeric signal column: export the ECG samples as numbers "
                              f"(one column per lead, in mV).")
    # time column -> fs
    fs_from_time = None
    if time_col is not None:
        t = pd.to_numeric(df[time_col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(t).any():
            raise RecordReadError(f"{filename}: the time column '{time_col}' holds non-numeric values: "
                                  f"export time in seconds, or drop the column and give fs.")
        step = np.diff(t) * _time_factor(time_col)
        if step.size == 0 or np.any(step <= 0):
            bad = int(np.argmax(step <= 0)) if step.size else 0
            raise RecordReadError(f"{filename}: the time column '{time_col}' does not increase at line "
                                  f"{bad + header_lines + 2}: sort the rows by time, or drop the column and give fs.")
        med = float(np.median(step))
        fs_from_time = 1.0 / med
        if np.max(np.abs(step - med)) > 0.01 * med + 1e-9:
            warnings.append(f"{filename}: time steps are uneven; the samples are treated as regular at "
                            f"{fs_from_time:.4g} Hz.")
    if fs is None:
        if fs_from_time is None:
            raise RecordReadError(f"{filename} has no time column, so its sampling rate is unknown: give fs "
                                  f"(e.g. 360 Hz) or add a 'time_s' column.")
        fs = _round_fs(fs_from_time)
        _check_fs(fs, f"The sampling rate implied by the time column of {filename}")
    elif fs_from_time is not None and abs(fs_from_time - fs) > 0.01 * fs:
        warnings.append(f"{filename}: the time column implies {fs_from_time:.4g} Hz but fs={fs:g} Hz was "
                        f"given; using {fs:g} Hz.")

    signal = np.column_stack(columns)
    signal = _to_mv(signal, units, names, warnings, filename)
    return _finalise(name, signal, fs, names, source_format="csv", label=filename, warnings=warnings,
                     line_offset=header_lines + 1)


def _is_index_col(name: str, col: pd.Series) -> bool:
    if name.strip().lower() not in {"sample", "samples", "index", "idx", "unnamed: 0", "n", "#"}:
        return False
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return bool(np.all(np.isfinite(v)) and np.all(np.diff(v) > 0))


def _unit_in_name(col: str) -> str:
    m = re.search(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$", col) or re.search(r"_(mv|uv|µv|μv)$", col, re.IGNORECASE)
    return m.group(1) if m else "mV"


def _round_fs(fs: float) -> float:
    """A rate from time steps (e.g. 359.99 from 3-decimal seconds) snapped to a whole Hz when within 0.1%."""
    r = round(fs)
    return float(r) if r > 0 and abs(fs - r) <= 1e-3 * r else float(fs)


# --------------------------------------------------------------------------------------------
# EDF and NPY
# --------------------------------------------------------------------------------------------

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
    elif arr.shape[0] <= 16 and arr.shape[1] > arr.shape[0]:
        # [leads, samples] is the common export of deep-learning code; leads never outnumber samples
        arr = arr.T
        warnings.append(f"{filename}: array read as [leads, samples] = {arr.shape[::-1]} and transposed.")
    names = [f"lead_{i + 1}" for i in range(arr.shape[1])]
    return _finalise(name, arr.astype(np.float64), fs, names, source_format="npy", label=filename,
                     warnings=warnings)


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


def _to_mv(signal: np.ndarray, units: Sequence[str], names: Sequence[str], warnings: list[str],
           label: str) -> np.ndarray:
    out = signal.copy()
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
    """Validate rate, length and leads; fill short gaps; build the Record."""
    warnings = list(warnings or [])
    _check_fs(fs, f"The sampling rate of {label}")
    names = _unique_names([str(n).strip() or f"lead_{i + 1}" for i, n in enumerate(lead_names)])
    n = signal.shape[0]
    if n / fs < MIN_DURATION_S:
        raise RecordReadError(f"{label} lasts only {n / fs:.2f} s ({n} samples at {fs:g} Hz), too short for two "
                              f"beats: provide at least {MIN_DURATION_S:g} s of ECG.")
    signal = np.where(np.isfinite(signal), signal, np.nan)
    flat: list[str] = []
    for i, lead in enumerate(names):
        x = signal[:, i]
        missing = np.isnan(x)
        if missing.all():
            flat.append(f"{lead} holds no values")
            continue
        if missing.any():
            signal[:, i] = _fill_gaps(x, missing, fs, lead, label, warnings, line_offset)
            x = signal[:, i]
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
                  warnings=warnings)


def _fill_gaps(x: np.ndarray, missing: np.ndarray, fs: float, lead: str, label: str, warnings: list[str],
               line_offset: int | None) -> np.ndarray:
    """Linear interpolation over short runs of missing samples; long runs are refused."""
    idx = np.flatnonzero(missing)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    longest = int(np.argmax(ends - starts))
    run = int(ends[longest] - starts[longest] + 1)

    def where(i: int) -> str:
        return f"line {i + line_offset}" if line_offset is not None else f"{i / fs:.2f} s"

    if run > MAX_NAN_GAP_S * fs or idx.size > MAX_NAN_FRACTION * x.size:
        raise RecordReadError(f"{label}: lead {lead} is missing {idx.size} values (longest gap {run} samples, "
                              f"{where(int(starts[longest]))} to {where(int(ends[longest]))}), too many to fill: "
                              f"export the record again or cut out the gap.")
    good = np.flatnonzero(~missing)
    filled = x.copy()
    filled[missing] = np.interp(idx, good, x[good])
    warnings.append(f"{label}: filled {idx.size} missing value{'s' if idx.size > 1 else ''} in lead {lead} "
                    f"(first at {where(int(idx[0]))}) by linear interpolation.")
    return filled


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def _norm_lead(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().upper())


# --------------------------------------------------------------------------------------------
# Lead choice and resampling
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

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
