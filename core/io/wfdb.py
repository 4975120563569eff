"""WFDB records (.hea + .dat [+ .atr]): header parsing with clear errors, then the `wfdb` package.

Uploaded WFDB files are written to a `tempfile.TemporaryDirectory()` only for the read (the `wfdb`
reader needs real files) and deleted with it.
"""
from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.io.archive import _safe_basename, _scrub
from core.io.record import Annotations, Record, RecordReadError, _check_ecg_fs, _finalise, _to_mv


#: Sampling rate (Hz) WFDB assumes when a header's first line gives none.
WFDB_DEFAULT_FS = 250.0
#: Gain (adu per physical unit, e.g. adu/mV) WFDB assumes for a signal whose gain is 0 (uncalibrated).
WFDB_DEFAULT_GAIN = 200.0


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
    #: Notices about defaults the header left to WFDB (rate, gain), passed on to the record's warnings.
    notices: list[str] = field(default_factory=list)


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
    if "/" in tok[0]:  # read by core.io.wfdb_multi; here only as a segment of another master header
        raise RecordReadError(f"{label} describes a multi-segment WFDB record inside another one, which is not "
                              f"supported: convert it to a single-segment record (wfdb.rdrecord + wrsamp).")
    n_sig = int(tok[1])
    if n_sig == 0:
        raise RecordReadError(f"{label} declares no signals: upload a record that holds ECG leads.")
    fs = WFDB_DEFAULT_FS  # WFDB default when the field is absent
    notices: list[str] = []
    if len(tok) <= 2:
        notices.append(f"{label} gives no sampling rate; read at WFDB's default {WFDB_DEFAULT_FS:g} Hz — if the "
                       f"recorder used another rate, add it to the header's first line "
                       f"(e.g. '{tok[0]} {tok[1]} 360').")
    if len(tok) > 2:
        m = re.match(r"^([-+0-9.eE]+)", tok[2])
        if not m:
            raise RecordReadError(not_header)
        try:
            fs = float(m.group(1))
        except ValueError:
            raise RecordReadError(not_header) from None
    _check_ecg_fs(fs, f"The sampling rate in {label}")
    n_samples = None
    if len(tok) > 3:
        if not tok[3].isdigit():
            raise RecordReadError(not_header)
        n_samples = int(tok[3])
        if n_samples == 0:
            raise RecordReadError(f"{label}: the header declares 0 samples per signal, so there is no ECG to read: "
                                  f"upload the original .hea file (its first line ends with the sample count, "
                                  f"e.g. '100 2 360 650000').")
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
            if _gain_is_zero(t[2]):
                lead = " ".join(t[8:]) if len(t) > 8 else f"signal {len(signals) + 1}"
                notices.append(f"{label}: {lead} has no gain (0, uncalibrated), so WFDB's default "
                               f"{WFDB_DEFAULT_GAIN:g} adu/{units} was assumed — check the amplitudes, or put the "
                               f"recorder's gain in the header.")
        signals.append(_SignalSpec(file_name=t[0], fmt=fmt, samples_per_frame=int(m.group(2) or 1),
                                   byte_offset=int(m.group(4) or 0), units=units,
                                   description=" ".join(t[8:]) if len(t) > 8 else ""))
    _check_ascii_names(label, [Path(label).stem, tok[0], *(s.file_name for s in signals)])
    return _Header(n_samples=n_samples, fs=fs, signals=signals, comments=comments, latin1=latin1,
                   notices=notices)


def _gain_is_zero(field_: str) -> bool:
    """True if a signal line's gain field ('0', '0(1024)/mV', '0.0/mV') is 0: uncalibrated in WFDB."""
    m = re.match(r"^([-+0-9.eE]+)", field_)
    try:
        return m is not None and float(m.group(1)) == 0.0
    except ValueError:
        return False


def _check_ascii_names(label: str, names: list[str]) -> None:
    """Refuse non-ASCII record or signal file names: the wfdb package drops such letters, then misses the file."""
    bad = next((n for n in names if not n.isascii()), None)
    if bad is not None:
        plain = re.sub(r"[^\w.-]", "", unicodedata.normalize("NFKD", bad).encode("ascii", "ignore").decode())
        raise RecordReadError(f"{label}: WFDB record names must be ASCII, and '{bad}' is not: rename the files "
                              f"and the names inside the .hea with plain letters, digits and '_' "
                              f"(e.g. '{plain or 'record1'}').")


def _wfdb_formats() -> set[str]:
    from wfdb.io import _signal
    return set(_signal.DAT_FMTS)


def _check_dat_files(label: str, head: _Header, sizes: Mapping[str, int | None]) -> list[str]:
    """Check each signal file the header names exists and matches the declared length; returns basenames.

    A file shorter than the header declares is refused (truncated, or a wrong format code); one over 1.25x
    the declared bytes (e.g. format 16 data under a header saying 212 or 80) is refused too, unless the
    header gives byte offsets (then the file may hold a prelude we do not know the size of).
    """
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
        data_bytes = sizes[base] - in_file[0].byte_offset
        declared = head.n_samples * frame_bytes
        fmts = "/".join(sorted({s.fmt for s in in_file}, key=int))
        held = int(data_bytes // frame_bytes) if frame_bytes else 0
        if held < head.n_samples:
            cause = (f"truncated, or the header's storage format ({fmts}) does not match the data file; "
                     f"copy or upload both files again" if data_bytes < 0.8 * declared else
                     "truncated; copy or upload it again")
            raise RecordReadError(f"{base} holds {max(held, 0)} samples but {label} declares "
                                  f"{head.n_samples}: the file looks {cause}.")
        if data_bytes > 1.25 * declared and not any(s.byte_offset for s in in_file):
            raise RecordReadError(f"{base} is {data_bytes:,} bytes but {label} declares {head.n_samples:,} samples "
                                  f"in storage format {fmts} ({declared:,.0f} bytes): the header's format or length "
                                  f"does not match the data file; upload the .hea that belongs to {base}.")
    return names


def _check_dat_files_in(folder: Path, label: str, head: _Header) -> list[str]:
    """``_check_dat_files`` for the signal files of `head` as they lie in `folder`."""
    sizes = {}
    for sig in head.signals:
        base = _safe_basename(sig.file_name, where=label)
        p = folder / base
        sizes[base] = p.stat().st_size if p.is_file() else None
    return _check_dat_files(label, head, sizes)


def _read_wfdb_dir(folder: Path, hea_name: str, *, name: str | None) -> Record:
    """Read a WFDB record whose files lie in `folder` (its .atr is used when present)."""
    from core.io.wfdb_multi import is_multisegment, read_multisegment_dir

    raw = (folder / hea_name).read_bytes()
    if is_multisegment(raw, hea_name):
        return read_multisegment_dir(folder, hea_name, name=name)
    head = _parse_header(hea_name, raw)
    _check_dat_files_in(folder, hea_name, head)
    return _load_wfdb(folder, Path(hea_name).stem, head, name=name)


def _read_wfdb_bytes(hea_name: str, files: Mapping[str, bytes], *, name: str | None) -> Record:
    """Read an uploaded WFDB record: files go to a temporary folder only for the read."""
    from core.io.wfdb_multi import is_multisegment, read_multisegment_dir

    if is_multisegment(files[hea_name], hea_name):
        with tempfile.TemporaryDirectory(prefix="cardiolens-") as tmp:
            for base, data in files.items():  # the segments' headers and signal files, by basename
                (Path(tmp) / _safe_basename(base, where="The upload")).write_bytes(data)
            return read_multisegment_dir(Path(tmp), hea_name, name=name)
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


#: The sample value each WFDB storage format reserves for "no sample" (read as NaN), by format code.
_INVALID_SAMPLE = {"16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048, "310": -512, "311": -512,
                   "24": -8388608, "32": -2147483648, "508": -128, "516": -32768, "524": -8388608}


def _checksum_notices(rec, label: str, chunk: int = 10_000_000) -> list[str]:
    """A notice per signal whose samples do not sum to the header's checksum (the 16-bit sum of its digital
    samples, WFDB header(5)): the .dat was damaged, edited, or belongs to another record. The digital values are
    recovered from the physical ones (mV) with the header's gain and baseline, `chunk` samples at a time so that a
    24 h Holter needs no second copy of its signal."""
    sums = rec.checksum or []
    if rec.p_signal is None or len(sums) != rec.n_sig or any(int(k or 1) > 1 for k in (rec.samps_per_frame or [])):
        return []
    out = []
    for j, expected in enumerate(sums):
        if expected is None or str(rec.fmt[j]) == "8":  # no checksum given; format 8 stores differences
            continue
        p = rec.p_signal[:, j]
        total = 0
        for a in range(0, len(p), chunk):
            x = p[a:a + chunk]
            ok = np.isfinite(x)
            total += int(np.rint(x[ok] * rec.adc_gain[j] + rec.baseline[j]).astype(np.int64).sum())
            total += int((~ok).sum()) * _INVALID_SAMPLE.get(str(rec.fmt[j]), 0)
        if (total - int(expected)) % 65536:  # headers store it signed (MIT-BIH) or unsigned (wfdb.wrsamp)
            lead = rec.sig_name[j] if rec.sig_name and rec.sig_name[j] else f"signal {j + 1}"
            out.append(f"{label}: the samples of {lead} do not match the header's checksum, so the .dat file may be "
                       f"damaged or belong to another record; check the trace before relying on it.")
    return out


def _load_wfdb(folder: Path, stem: str, head: _Header, *, name: str | None) -> Record:
    import wfdb

    label = f"{stem}.hea"
    try:
        rec = wfdb.rdrecord(str(folder / stem), physical=True)
    except Exception as exc:
        reason = _scrub(str(exc), f"{folder}{os.sep}")
        raise RecordReadError(f"The WFDB record {stem} could not be decoded ({type(exc).__name__}: {reason}): "
                              f"check that {label} belongs to its .dat file.") from exc
    if rec.p_signal is None:
        raise RecordReadError(f"The WFDB record {stem} holds no signal samples: upload a record with signals.")
    warnings: list[str] = list(head.notices)
    if head.n_samples is None or rec.sig_len == head.n_samples:  # a short .dat has its own notice already
        warnings += _checksum_notices(rec, label)
    if head.latin1:
        warnings.append(f"{label} is not UTF-8 text; it was read as Latin-1 (check lead names and comments).")
    signal = np.asarray(rec.p_signal, dtype=np.float64)
    units = list(rec.units or [s.units for s in head.signals])
    signal = _to_mv(signal, units, [str(n) for n in (rec.sig_name or [])], warnings, label)
    lead_names = [s.description for s in head.signals] if head.latin1 else list(rec.sig_name or [])
    lead_names = ["" if n is None else n for n in lead_names]  # no description: _finalise names it lead_<k>
    comments = head.comments if head.latin1 else list(rec.comments or [])

    return _finalise(name or stem, signal, float(rec.fs), lead_names, source_format="wfdb", label=label,
                     annotations=_read_atr(folder, stem, warnings), comments=comments, warnings=warnings)


def _read_atr(folder: Path, stem: str, warnings: list[str]) -> Annotations | None:
    """The record's reference annotations (``<stem>.atr`` in `folder`), None when there are none; a file that
    cannot be read gives a notice in `warnings` (a broken reference file should not hide the ECG itself)."""
    import wfdb

    if not (folder / f"{stem}.atr").is_file():
        return None
    try:
        ann = wfdb.rdann(str(folder / stem), "atr")
    except Exception as exc:  # noqa: BLE001
        warnings.append(f"{stem}.atr could not be read ({type(exc).__name__}); "
                        f"the record is shown without reference annotations.")
        return None
    return Annotations(sample=ann.sample, symbol=list(ann.symbol),
                       aux_note=[(a or "").rstrip("\x00") for a in (ann.aux_note or [])] or [""] * len(ann.sample))
