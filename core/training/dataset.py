"""MIT-BIH beats as arrays for training and evaluation (real data only; nothing synthesised).

``build_beat_table(data_dir, records, peaks='reference'|'detected')`` runs every record through
``core.signal.beats.extract_beats`` — the same path as the app — and returns a ``BeatTable``: windows,
features, record, sample, reference symbol and AAMI class per beat, plus each record's notes built
from its header (``core.text.notes``). With ``peaks='detected'`` beats come from our own detector and each
carries the reference symbol of the annotated beat within ``config.MATCH_TOLERANCE_S`` ('' if none).

The on-disk cache key hashes the records, the mode, the data folder, the feature list and the source
code of every module on the path from file to beat (``core/io``, ``core/signal``, ``core/text/notes.py``
and this file), so a change to the pipeline can never be served stale beats.
"""
from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core import config
from core.io import read_record
from core.model.config import MODEL_FEATURES
from core.model.inference import feature_matrix
from core.signal.beats import BEAT_FEATURE_UNITS, extract_beats, match_annotations, reference_beats
from core.text.encoder import TextEncoder
from core.text.findings import beat_finding
from core.text.notes import header_note, parse_header_comments, record_note, rhythm_note


@dataclass
class BeatTable:
    windows: np.ndarray  # float32 [n, 2, 360]
    features: pd.DataFrame  # one row per beat, FEATURE_UNITS columns
    record: np.ndarray  # str
    sample: np.ndarray  # int64, at the record's fs
    symbol: np.ndarray  # str ('' = detection without a reference beat)
    header_notes: dict[str, str]
    rhythm_notes: dict[str, str]
    #: per record: header comment lines (the referral notes' source, ``core.text.facts``) and the share of
    #: annotated time of each REFERENCE rhythm (labelled as such wherever a fact comes from it)
    comments: dict[str, list[str]] = field(default_factory=dict)
    rhythm_fractions: dict[str, dict[str, float]] = field(default_factory=dict)
    database: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sample)

    @property
    def aami(self) -> np.ndarray:
        return config.aami_of(self.symbol)

    def subset(self, mask: np.ndarray) -> "BeatTable":
        return BeatTable(
            self.windows[mask], self.features[mask].reset_index(drop=True), self.record[mask],
            self.sample[mask], self.symbol[mask], self.header_notes, self.rhythm_notes,
            self.comments, self.rhythm_fractions, self.database,
        )


CACHE_DIR = config.REPO_ROOT / "build" / "cache"
#: Source files whose code decides what a beat table holds (hashed into the cache key).
_PIPELINE_SOURCES = ("io/*.py", "signal/*.py", "text/notes.py", "training/dataset.py")


def cache_key(data_dir, records, peaks: str) -> str:
    """12 hex digits of SHA-1 over records, mode, data folder, feature list and the pipeline's source code."""
    h = hashlib.sha1(("|".join(map(str, records)) + peaks + str(Path(data_dir).resolve())).encode())
    h.update("|".join(BEAT_FEATURE_UNITS).encode())
    core_dir = Path(__file__).resolve().parent.parent
    for pattern in _PIPELINE_SOURCES:
        for f in sorted(core_dir.glob(pattern)):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _one_record(args) -> dict:
    data_dir, rec, peaks = args
    record = read_record(Path(data_dir) / f"{rec}.hea")
    ann = record.annotations
    if peaks == "reference":
        ref_s, ref_y = reference_beats(ann)
        beats = extract_beats(record, rpeaks=ref_s)
        sym = np.array(ref_y, dtype=object)
    else:
        beats = extract_beats(record)
        sym = match_annotations(beats.rpeaks, ann, record.fs)
    info = parse_header_comments(record.comments)
    rhythm = rhythm_note(np.asarray(ann.sample), list(ann.aux_note), record.n_samples, record.fs)
    w = beats.windows
    if w.shape[1] == 1:  # single-lead record: repeat so every row has two leads
        w = np.concatenate([w, w], 1)
    return dict(
        windows=w[:, :2].astype(np.float32), features=beats.features, record=np.full(len(beats), rec, dtype=object),
        sample=beats.rpeaks, symbol=sym, header=header_note(info), rhythm=record_note(info, rhythm),
        comments=list(record.comments), rhythm_fractions=_rhythm_fractions(ann, record.n_samples),
        database="svdb" if Path(data_dir).name.lower().startswith("svdb") else "mitdb",
    )


def _rhythm_fractions(ann, n_samples: int) -> dict[str, float]:
    """Share of the record under each REFERENCE rhythm label (``'(AFIB'`` ...), from the annotation's aux notes."""
    marks = [(int(s), str(a).strip("\x00")) for s, a in zip(ann.sample, ann.aux_note) if str(a).startswith("(")]
    out: dict[str, float] = {}
    for i, (start, code) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else n_samples
        out[code] = out.get(code, 0.0) + max(stop - start, 0) / max(n_samples, 1)
    return out


def build_beat_table(data_dir: Path, records, peaks: str = "reference", workers: int = 2, cache: bool = True) -> BeatTable:
    """Beats of ``records`` from a MIT-BIH folder; cached under build/cache (see the module docstring for the key)."""
    records = [str(r) for r in records]
    key = cache_key(data_dir, records, peaks)
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
        features=pd.concat([p["features"] for p in parts], ignore_index=True)[list(BEAT_FEATURE_UNITS)],
        record=np.concatenate([p["record"] for p in parts]),
        sample=np.concatenate([p["sample"] for p in parts]).astype(np.int64),
        symbol=np.concatenate([p["symbol"] for p in parts]),
        header_notes={r: p["header"] for r, p in zip(records, parts)},
        rhythm_notes={r: p["rhythm"] for r, p in zip(records, parts)},
        comments={r: p["comments"] for r, p in zip(records, parts)},
        rhythm_fractions={r: p["rhythm_fractions"] for r, p in zip(records, parts)},
        database={r: p["database"] for r, p in zip(records, parts)},
    )
    if cache:
        _write_pickle(table, path)
    return table


def _write_pickle(obj, path: Path) -> None:
    """Pickle to a temporary file, then rename: two training runs sharing the cache never read a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pd.to_pickle(obj, tmp)
    os.replace(tmp, path)

_NUMBERS = re.compile(r" \([^)]*\bms\)")

@dataclass
class TrainData:
    """Arrays for training, aligned by beat."""

    windows: np.ndarray  # [n, 2, 360]
    features: np.ndarray  # [n, F] raw units
    y: np.ndarray  # 0/1
    text_vec: np.ndarray  # [n, text_dim] BERT vector of the beat's finding sentence
    note_vecs: np.ndarray  # [n, 3, text_dim]: header-only, header+rhythm, empty note
    record: np.ndarray
    texts: list[str] = field(default_factory=list)
    #: fact-gated fusion: the notes' fact probabilities ``[n_records, n_variants, K]``, each beat's row
    #: in it, and the fact names (recognizer order)
    note_facts: np.ndarray | None = None
    note_record_index: np.ndarray | None = None
    facts: list[str] = field(default_factory=list)


class TextCache:
    """BERT sentence vectors, computed once per distinct text (optionally kept in a pickle on disk)."""

    def __init__(self, encoder: TextEncoder, path=None):
        self.encoder = encoder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path is not None and Path(path).is_file():
            self.vectors = pd.read_pickle(path)

    def __call__(self, texts: list[str]) -> np.ndarray:
        new = sorted({t for t in texts if t not in self.vectors})
        if new:
            for t, v in zip(new, self.encoder.embed(new)):
                self.vectors[t] = v
            if self.path is not None:
                _write_pickle(self.vectors, self.path)
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.encoder.hidden_size), np.float32)


def training_mask(table: BeatTable, records, n_per_abnormal: float | None, rng: np.random.Generator,
                  classes=tuple(config.BINARY_LABEL)) -> np.ndarray:
    """Beats of ``records`` in AAMI ``classes`` (default N/S/Q); N down-sampled to ``n_per_abnormal`` x the abnormal count."""
    aami = table.aami
    keep = np.isin(table.record, list(records)) & np.isin(aami, list(classes))
    if n_per_abnormal is None:
        return keep
    n_idx = np.flatnonzero(keep & (aami == "N"))
    n_abn = int((keep & (aami != "N")).sum())
    n_keep = min(len(n_idx), int(n_per_abnormal * n_abn))
    drop = np.setdiff1d(n_idx, rng.choice(n_idx, n_keep, replace=False))
    keep[drop] = False
    return keep


def make_train_data(table: BeatTable, mask: np.ndarray, texts: TextCache, rng: np.random.Generator,
                    abnormal_classes=("S", "Q"), note_facts: dict[str, np.ndarray] | None = None,
                    facts: list[str] | None = None, features: list[str] | None = None) -> TrainData:
    """Arrays for ``train_model``: beats of ``table[mask]``, target 1 for ``abnormal_classes``, the beat
    finding sentences' BERT vectors (alignment) and the record notes (v1: BERT vectors of the header
    notes; v2: ``note_facts`` = fact probabilities of each record's referral-note variants)."""
    sub = table.subset(mask)
    feats_df = sub.features
    # Measured numbers are dropped from the sentence ("narrow QRS (86 ms)" -> "narrow QRS", "(RR 560 ms, local 800 ms)" dropped): a frozen
    # sentence encoder reads words better than magnitudes, and it keeps the distinct texts few.
    findings = [
        _NUMBERS.sub("", beat_finding(sym, row, rng))
        for sym, row in zip(sub.symbol, feats_df.to_dict("records"))
    ]
    text_vec = texts(findings)
    recs = sorted(set(sub.record))
    y = np.isin(sub.aami, list(abnormal_classes)).astype(np.float32)
    feats = feature_matrix(feats_df, list(features or MODEL_FEATURES))
    if note_facts is not None:
        order = {r: i for i, r in enumerate(recs)}
        return TrainData(
            windows=sub.windows, features=feats, y=y, text_vec=text_vec, note_vecs=np.zeros((len(y), 0, 0), np.float32),
            record=sub.record, texts=findings, note_facts=np.stack([note_facts[r] for r in recs]),
            note_record_index=np.array([order[r] for r in sub.record], np.int64), facts=list(facts or []),
        )
    notes = {r: texts([sub.header_notes[r], sub.rhythm_notes[r], ""]) for r in recs}
    note_vecs = np.stack([notes[r] for r in sub.record])
    return TrainData(
        windows=sub.windows, features=feats, y=y,
        text_vec=text_vec, note_vecs=note_vecs, record=sub.record, texts=findings,
    )


def concat_tables(tables: list[BeatTable]) -> BeatTable:
    """One table from several (e.g. MIT-BIH and SVDB); record names must not repeat across them."""
    names = [set(t.header_notes) for t in tables]
    if sum(len(n) for n in names) != len(set().union(*names)):
        raise ValueError("concat_tables: a record name occurs in two tables.")
    merge = lambda attr: {k: v for t in tables for k, v in getattr(t, attr).items()}  # noqa: E731
    return BeatTable(
        windows=np.concatenate([t.windows for t in tables]),
        features=pd.concat([t.features for t in tables], ignore_index=True),
        record=np.concatenate([t.record for t in tables]), sample=np.concatenate([t.sample for t in tables]),
        symbol=np.concatenate([t.symbol for t in tables]), header_notes=merge("header_notes"),
        rhythm_notes=merge("rhythm_notes"), comments=merge("comments"), rhythm_fractions=merge("rhythm_fractions"),
        database=merge("database"),
    )


def record_folds(records, k: int, seed: int) -> list[list[str]]:
    """Records split into k groups (all beats of a record stay together)."""
    recs = sorted(records)
    rng = np.random.default_rng(seed)
    rng.shuffle(recs)
    return [sorted(recs[i::k]) for i in range(k)]
