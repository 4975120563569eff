"""From a Record to the model's inputs: cleaned leads, R-peaks, beat windows and clinical features.

One code path for the app, the CLI, training and evaluation, so what the model is trained on is what
it sees at run time. Leads are ordered primary first (MLII preferred, see ``config.PREFERRED_LEADS``);
every lead is resampled to ``MODEL_FS`` (360 Hz) and cut into R-centred 1 s windows divided by the
record's own R amplitude (per-record normalisation keeps beat-to-beat amplitude differences).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import config
from core.features import beat_features
from core.io import Record, resample, select_lead
from core.signal import beat_windows, detect_rpeaks, detect_vf_episodes, ecg_clean, normalise_windows, record_scale


@dataclass
class BeatSet:
    """Beats of one record, ready for the model.

    ``rpeaks`` are sample indices at the record's original fs; ``windows`` is float32
    ``[n_beats, n_leads_used, 360]`` at 360 Hz (lead 0 = primary); ``features`` has one row per beat
    (units in ``core.features.FEATURE_UNITS``); ``clean`` is the cleaned primary lead at 360 Hz (mV).
    """

    record_name: str
    fs: float
    rpeaks: np.ndarray
    windows: np.ndarray
    features: pd.DataFrame
    lead_names: list[str]
    clean: np.ndarray
    notices: list[str] = field(default_factory=list)
    #: ventricular flutter/fibrillation episodes (start, stop) in samples at the original fs: no beats
    #: are counted inside them (core.signal.detect_vf_episodes); the pages show them instead.
    vf_episodes: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rpeaks)

    @property
    def time_s(self) -> np.ndarray:
        return self.rpeaks / self.fs


def lead_order(record: Record) -> tuple[list[int], str | None]:
    """Primary lead (by name, MLII preferred) then the others, and a notice when falling back."""
    idx, _name, notice = select_lead(record)
    order = [idx] + [i for i in range(record.n_leads) if i != idx]
    return order, notice


def extract_beats(record: Record, rpeaks: np.ndarray | None = None, max_leads: int = 2) -> BeatSet:
    """Clean, detect (unless ``rpeaks`` at the original fs are given), cut windows, measure features."""
    order, notice = lead_order(record)
    order = order[:max_leads]
    fs_in, fs_m = float(record.fs), float(config.MODEL_FS)
    sig = record.signal[:, order].astype(np.float64)
    sig360 = resample(sig, fs_in, fs_m) if abs(fs_in - fs_m) > 1e-6 else sig
    clean = ecg_clean(sig360, fs_m)
    if clean.ndim == 1:
        clean = clean[:, None]
    if rpeaks is None:
        peaks_m = detect_rpeaks(clean, fs_m)
        rpeaks = np.round(peaks_m * fs_in / fs_m).astype(np.int64)
    else:
        rpeaks = np.asarray(rpeaks, dtype=np.int64)
        peaks_m = np.round(rpeaks * fs_m / fs_in).astype(np.int64)
    peaks_m = np.clip(peaks_m, 0, len(clean) - 1)
    wins = []
    for k in range(clean.shape[1]):
        w, _inside = beat_windows(clean[:, k], peaks_m, fs_m)
        scale = record_scale(clean[:, k], peaks_m)
        wins.append(normalise_windows(w, scale))
    windows = np.stack(wins, 1).astype(np.float32) if wins else np.zeros((0, 0, config.BEAT_WINDOW), np.float32)
    feats = beat_features(clean[:, 0], fs_m, peaks_m)
    notices = list(getattr(record, "warnings", []) or [])
    if notice:
        notices.append(notice)
    ratio = fs_in / fs_m
    vf = [(int(a * ratio), int(b * ratio)) for a, b in detect_vf_episodes(clean, fs_m)]
    if vf:
        secs = sum(b - a for a, b in vf) / fs_in
        notices.append(f"Possible ventricular flutter/fibrillation for {secs:.0f} s in {len(vf)} episode(s): "
                       "no beats are counted there; review the trace.")
    return BeatSet(
        record_name=record.name,
        fs=fs_in,
        rpeaks=rpeaks,
        windows=windows,
        features=feats,
        lead_names=[record.lead_names[i] for i in order],
        clean=clean[:, 0].astype(np.float32),
        notices=notices,
        vf_episodes=vf,
    )


def match_reference(rpeaks: np.ndarray, ref_samples: np.ndarray, ref_symbols: list[str], tol: int) -> np.ndarray:
    """For each detected peak, the nearest reference beat symbol within ``tol`` samples, else ''."""
    ref_samples = np.asarray(ref_samples)
    out = np.full(len(rpeaks), "", dtype=object)
    if len(ref_samples) == 0:
        return out
    order = np.argsort(ref_samples)
    ref_s, ref_y = ref_samples[order], np.asarray(ref_symbols, dtype=object)[order]
    i = np.clip(np.searchsorted(ref_s, rpeaks), 1, len(ref_s) - 1) if len(ref_s) > 1 else np.zeros(len(rpeaks), int)
    left = np.abs(rpeaks - ref_s[i - 1]) if len(ref_s) > 1 else np.abs(rpeaks - ref_s[0])
    right = np.abs(rpeaks - ref_s[i]) if len(ref_s) > 1 else left
    best = np.where(left <= right, i - 1, i) if len(ref_s) > 1 else np.zeros(len(rpeaks), int)
    dist = np.minimum(left, right)
    ok = dist <= tol
    out[ok] = ref_y[best[ok]]
    return out
