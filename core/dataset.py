"""MIT-BIH beats as arrays for training and evaluation (real data only; nothing synthesised).

``build_beat_table(data_dir, records, peaks='reference'|'detected')`` runs every record through
``core.beats.extract_beats`` — the same path as the app — and returns a ``BeatTable``: windows,
features, record, sample, reference symbol and AAMI class per beat, plus each record's notes built
from its header (``core.notes``). With ``peaks='detected'`` beats come from our own detector and each
carries the reference symbol of the annotated beat within 150 ms ('' if none).
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.beats import extract_beats, match_reference
from core.features import FEATURE_UNITS
from core.io import read_record
from core.notes import header_note, parse_header_comments, record_note, rhythm_note

MATCH_TOLERANCE_S = 0.150
CACHE_DIR = config.REPO_ROOT / "build" / "cache"


@dataclass
class BeatTable:
    windows: np.ndarray  # float32 [n, 2, 360]
    features: pd.DataFrame  # one row per beat, FEATURE_UNITS columns
    record: np.ndarray  # str
    sample: np.ndarray  # int64, at the record's fs
    symbol: np.ndarray  # str ('' = detection without a reference beat)
    header_notes: dict[str, str]
    rhythm_notes: dict[str, str]

    def __len__(self) -> int:
        return len(self.sample)

    @property
    def aami(self) -> np.ndarray:
        return np.array([config.AAMI_CLASS.get(s, "") for s in self.symbol], dtype=object)

    def subset(self, mask: np.ndarray) -> "BeatTable":
        return BeatTable(
            self.windows[mask], self.features[mask].reset_index(drop=True), self.record[mask],
            self.sample[mask], self.symbol[mask], self.header_notes, self.rhythm_notes,
        )


def _one_record(args) -> dict:
    data_dir, rec, peaks = args
    record = read_record(Path(data_dir) / f"{rec}.hea")
    ann = record.annotations
    is_beat = np.array([s in config.AAMI_CLASS for s in ann.symbol], bool)
    ref_s = np.asarray(ann.sample)[is_beat]
    ref_y = [s for s, b in zip(ann.symbol, is_beat) if b]
    if peaks == "reference":
        beats = extract_beats(record, rpeaks=ref_s)
        sym = np.array(ref_y, dtype=object)
    else:
        beats = extract_beats(record)
        sym = match_reference(beats.rpeaks, ref_s, ref_y, int(round(MATCH_TOLERANCE_S * record.fs)))
    info = parse_header_comments(record.comments)
    rhythm = rhythm_note(np.asarray(ann.sample), list(ann.aux_note), record.n_samples, record.fs)
    w = beats.windows
    if w.shape[1] == 1:  # single-lead record: repeat so every row has two leads
        w = np.concatenate([w, w], 1)
    return dict(
        windows=w[:, :2].astype(np.float32), features=beats.features, record=np.full(len(beats), rec, dtype=object),
        sample=beats.rpeaks, symbol=sym, header=header_note(info), rhythm=record_note(info, rhythm),
    )


def build_beat_table(data_dir: Path, records, peaks: str = "reference", workers: int = 2, cache: bool = True) -> BeatTable:
    """Beats of ``records`` from a MIT-BIH folder; cached under build/cache (keyed by records + mode)."""
    records = [str(r) for r in records]
    key = hashlib.sha1(("|".join(records) + peaks + str(Path(data_dir).resolve())).encode()).hexdigest()[:12]
    path = CACHE_DIR / f"beats_{peaks}_{key}.pkl"
    if cache and path.is_file():
        return pd.read_pickle(path)
    jobs = [(str(data_dir), r, peaks) for r in records]
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            parts = list(ex.map(_one_record, jobs))
    else:
        parts = [_one_record(j) for j in jobs]
    table = BeatTable(
        windows=np.concatenate([p["windows"] for p in parts]),
        features=pd.concat([p["features"] for p in parts], ignore_index=True)[list(FEATURE_UNITS)],
        record=np.concatenate([p["record"] for p in parts]),
        sample=np.concatenate([p["sample"] for p in parts]).astype(np.int64),
        symbol=np.concatenate([p["symbol"] for p in parts]),
        header_notes={r: p["header"] for r, p in zip(records, parts)},
        rhythm_notes={r: p["rhythm"] for r, p in zip(records, parts)},
    )
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        pd.to_pickle(table, path)
    return table
