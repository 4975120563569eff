"""`read_record`: one entry point for paths, folders and uploaded bundles; dispatches to the readers.

Everything that comes from outside the program enters here, so this is where bad input is turned
into one clear, user-facing sentence (`RecordReadError`), never a traceback.

Privacy: uploaded bytes are only ever held in memory; WFDB and EDF readers need real files, so the
bytes are written to a `tempfile.TemporaryDirectory()` for the duration of one read and deleted
with it.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core import config
from core.io.archive import _as_bytes, _safe_basename, _scrub, _unzip
from core.io.csv import _read_csv
from core.io.edf import _read_edf_file
from core.io.npy import _read_npy
from core.io.record import (
    Record,
    RecordReadError,
    _SINGLE_FILE_EXTS,
    _SUPPORTED,
    _TABLE_EXTS,
    _WFDB_EXTS,
    _check_ecg_fs,
    _mb,
)
from core.io.wfdb import _read_wfdb_bytes, _read_wfdb_dir
from core.io.wfdb_multi import pick_master


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
    fs : sampling rate in Hz, at least ``MIN_FS_HZ``; required for ``.npy`` and for CSV without a time
        column; with a CSV time column it must agree with it within 5 % (it wins, with a warning, above 1 %).
    name : record name to use (default: the file stem); with several records in one bundle or
        folder it also selects which one is read.

    Returns
    -------
    Record with the signal in mV.

    Raises
    ------
    RecordReadError : the input cannot be read; the message says why and what to do.
    """
    fs = _as_fs(fs)
    if fs is not None:
        _check_ecg_fs(fs, "The fs argument")
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
        raise RecordReadError(f"The input could not be read ({type(exc).__name__}: {_scrub(str(exc))}); "
                              f"check that it is {_SUPPORTED}.") from exc
    if rec is None:
        raise RecordReadError(f"read_record takes a file path or a {{filename: bytes}} mapping, "
                              f"not {type(source).__name__}: pass one of these.")
    if fs is not None and rec.source_format in ("wfdb", "edf") and abs(float(fs) - rec.fs) > 1e-6 * rec.fs:
        rec.warnings.append(f"fs={float(fs):g} Hz was ignored: {rec.name} states its own rate, {rec.fs:g} Hz.")
    return rec


def _as_fs(fs: Any) -> float | None:
    """The fs argument as Hz: a number, or a numeric string such as '360' (from a form or the command line)."""
    if fs is None:
        return None
    if isinstance(fs, bool):
        raise RecordReadError(f"The fs argument ({fs!r}) is not a number: fs must be a number of Hz, e.g. 360.")
    if isinstance(fs, (str, bytes)):
        text = fs.decode("latin-1") if isinstance(fs, bytes) else fs
        try:
            return float(text.strip().removesuffix("Hz").removesuffix("hz").strip())
        except ValueError:
            raise RecordReadError(f"The fs argument ({text.strip()[:20]!r}) is not a number: fs must be a number "
                                  f"of Hz, e.g. 360.") from None
    try:
        return float(fs)
    except (TypeError, ValueError):
        raise RecordReadError(f"The fs argument ({type(fs).__name__}) is not a number: fs must be a number of Hz, "
                              f"e.g. 360.") from None


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
    master = pick_master({p.name: p.read_bytes() for p in heads}) if len(heads) > 1 else None
    heads = [folder / master] if master else heads
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
                          f"{', ...' if len(stems) > 6 else ''}): pass name= to choose one, or give one record "
                          f"(in the app or the command line: upload one record at a time, or unzip and give "
                          f"the record's file).")


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
        if base in files:
            first = next(str(k) for k in bundle if _safe_basename(str(k), where="The upload") == base)
            raise RecordReadError(f"The upload holds two files named {base} ({first} and {key}): "
                                  f"upload one record at a time, or rename one of them.")
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
    heads = by_ext.get(".hea", [])
    master = pick_master({h: files[h] for h in heads}) if len(heads) > 1 else None
    heads = [master] if master else heads
    singles = [n for n in sorted(files) if Path(n).suffix.lower() in _SINGLE_FILE_EXTS]
    # a file named like a WFDB record (100.hea + 100.csv) is taken as the same record in another format
    head_stems = {_record_label(h) for h in heads}
    shadowed = [n for n in singles if _record_label(n) in head_stems]
    # a WFDB record (by its .hea) and a single-file record count alike: several are refused unless name= picks one
    records = heads + [n for n in singles if n not in shadowed]
    if records:
        chosen = _pick(records, name, _record_label, "The upload")
        if not chosen.lower().endswith(".hea"):
            return _read_single(chosen, files[chosen], fs=fs, name=name)
        rec = _read_wfdb_bytes(chosen, files, name=name)
        also = [n for n in shadowed if _record_label(n) == _record_label(chosen)]
        if also:
            rec.warnings.append(f"The upload also holds {', '.join(also)}, named like the WFDB record "
                                f"{_record_label(chosen)}; the WFDB record ({chosen}) was read.")
        return rec
    orphans = by_ext.get(".atr", []) + by_ext.get(".dat", [])
    if orphans:
        stem = Path(orphans[0]).stem
        kind = "an annotation file" if orphans[0].lower().endswith(".atr") else "raw WFDB samples"
        raise RecordReadError(f"{orphans[0]} is {kind} and cannot be read without its header {stem}.hea: "
                              f"upload {stem}.hea and {stem}.dat with it.")
    found = ", ".join(sorted(files)[:5])
    raise RecordReadError(f"No ECG record in {origin} (found {found}): upload {_SUPPORTED}.")


def _record_label(filename: str) -> str:
    """How a record in a bundle is named to the user and matched by name=: its stem ('100' for 100.hea)."""
    return Path(filename).stem


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
