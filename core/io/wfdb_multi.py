"""Multi-segment WFDB records: a master header naming segment records one after the other (WFDB header(5); the
layout of PhysioNet's MIMIC waveform databases), read as one record.

A segment named ``~`` holds no signal, and a segment of a variable layout may lack some of the record's signals:
those stretches come out of wfdb as missing samples, which ``core.io.record._finalise`` bridges and keeps as gaps,
so the analysis reads them as lost signal. Before wfdb reads anything, every segment's header and signal files are
checked with the single-segment reader's checks, so a missing file gets a message that names it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.io.archive import _safe_basename, _scrub
from core.io.record import Record, RecordReadError, _finalise, _to_mv
from core.io.wfdb import _check_dat_files_in, _decode_header, _parse_header, _read_atr

__all__ = ["is_multisegment", "segment_names", "read_multisegment_dir", "pick_master"]


def _spec_lines(raw: bytes, label: str) -> list[list[str]]:
    text, _ = _decode_header(label, raw)
    return [ln.split() for ln in (x.strip() for x in text.splitlines()) if ln and not ln.startswith("#")]


def is_multisegment(raw: bytes, label: str = "header") -> bool:
    """True when the header's record line reads ``name/segments ...`` (a multi-segment master header)."""
    try:
        lines = _spec_lines(raw, label)
    except RecordReadError:
        return False
    return bool(lines) and "/" in lines[0][0]


def segment_names(raw: bytes, label: str) -> list[tuple[str, int]]:
    """(segment record name, length in samples) of each segment line of a master header, null segments ('~')
    included; refuses a master header whose segment lines are missing or malformed."""
    lines = _spec_lines(raw, label)
    tok = lines[0]
    try:
        n_seg = int(tok[0].split("/", 1)[1])
    except ValueError:
        raise RecordReadError(f"{label} has a malformed record line '{' '.join(tok)[:40]}': "
                              f"upload the original .hea file.") from None
    segs = lines[1:1 + n_seg]
    if len(segs) < n_seg or any(len(s) < 2 or not s[1].isdigit() for s in segs):
        raise RecordReadError(f"{label} declares {n_seg} segments but does not list them all with their lengths: "
                              f"upload the original master header.")
    return [(s[0], int(s[1])) for s in segs]


def _check_segments(folder: Path, hea_name: str) -> int:
    """Refuse a master header whose segment headers or signal files are missing or do not match; the segment count."""
    segs = segment_names((folder / hea_name).read_bytes(), hea_name)
    for seg, length in segs:
        if seg == "~" or length == 0:  # a null segment, or the layout segment (signal names only)
            continue
        seg_hea = _safe_basename(f"{seg}.hea", where=hea_name)
        if not (folder / seg_hea).is_file():
            raise RecordReadError(f"{hea_name} is a multi-segment record whose segment {seg_hea} is missing: provide "
                                  f"every segment's .hea and .dat together with {hea_name}.")
        _check_dat_files_in(folder, seg_hea, _parse_header(seg_hea, (folder / seg_hea).read_bytes()))
    return sum(1 for seg, length in segs if seg != "~" and length > 0)


def read_multisegment_dir(folder: Path, hea_name: str, *, name: str | None) -> Record:
    """Read the multi-segment record whose master header `hea_name` and segment files lie in `folder` (signal in mV,
    rate in Hz; segments without a signal become gaps)."""
    import wfdb

    n_segments = _check_segments(folder, hea_name)
    stem = Path(hea_name).stem
    try:
        rec = wfdb.rdrecord(str(folder / stem), physical=True)  # m2s: the segments as one single-segment record
    except Exception as exc:
        reason = _scrub(str(exc), f"{folder}{os.sep}")
        raise RecordReadError(f"The multi-segment WFDB record {stem} could not be decoded ({type(exc).__name__}: "
                              f"{reason}): check that its segment files belong to {hea_name}.") from exc
    if rec.p_signal is None or not rec.n_sig:
        raise RecordReadError(f"The WFDB record {stem} holds no signal samples: upload a record with signals.")
    warnings = [f"{hea_name}: a multi-segment record, read as one record from its {n_segments} segments."]
    names = [str(n) for n in (rec.sig_name or [])]
    signal = _to_mv(np.asarray(rec.p_signal, dtype=np.float64), list(rec.units or ["mV"] * rec.n_sig), names,
                    warnings, hea_name)
    return _finalise(name or stem, signal, float(rec.fs), names, source_format="wfdb", label=hea_name,
                     annotations=_read_atr(folder, stem, warnings), comments=list(rec.comments or []),
                     warnings=warnings)


def pick_master(heads: Mapping[str, bytes]) -> str | None:
    """The one multi-segment master header among uploaded headers ({file name: bytes}) when every other header is one
    of its segments; None otherwise (then the headers are separate records)."""
    masters = [h for h, raw in heads.items() if is_multisegment(raw, h)]
    if len(masters) != 1:
        return None
    segs = {f"{seg}.hea".lower() for seg, _ in segment_names(heads[masters[0]], masters[0])}
    return masters[0] if all(h.lower() in segs for h in heads if h != masters[0]) else None
