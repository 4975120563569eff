"""From a Record to the model's inputs: cleaned leads, R-peaks, beat windows and clinical features.

One code path for the app, the CLI, training and evaluation, so what the model is trained on is what
it sees at run time. Leads are ordered primary first (MLII preferred, see ``config.PREFERRED_LEADS``);
every lead is resampled to ``MODEL_FS`` (360 Hz) and cut into R-centred 1 s windows divided by the
record's own R amplitude (per-record normalisation keeps beat-to-beat amplitude differences).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import signal as sps

from core import config
from core.io import Annotations, Record
from core.io.record import _check_ecg_fs
from core.signal.clean import _check_fs, ecg_clean
from core.signal.features import FEATURE_UNITS, beat_features
from core.signal.pacing import COLUMNS as PACING_UNITS, detect_pacing_spikes
from core.signal.quality import COLUMNS as QUALITY_UNITS, assess_beat_quality
from core.signal.relative import COLUMNS as RELATIVE_UNITS, compute_record_relative_features
from core.signal.peaks import ecg_peaks
from core.signal.resample import resample, select_lead
from core.signal.vf import detect_vf_episodes


#: Every per-beat column ``extract_beats`` measures, with its unit: delineation and RR
#: (``features``), record-relative rhythm and morphology (``relative``), signal quality (``quality``),
#: pacing spikes on the unfiltered lead (``pacing``).
BEAT_FEATURE_UNITS: dict[str, str] = {**FEATURE_UNITS, **RELATIVE_UNITS, **QUALITY_UNITS, **PACING_UNITS}


@dataclass
class BeatSet:
    """Beats of one record, ready for the model.

    ``rpeaks`` are sample indices at the record's original fs; ``windows`` is float32
    ``[n_beats, n_leads_used, 360]`` at 360 Hz (lead 0 = primary); ``features`` has one row per beat
    (units in ``core.signal.features.FEATURE_UNITS``); ``clean`` is the cleaned primary lead at 360 Hz (mV).
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
    #: are counted inside them (core.signal.vf.detect_vf_episodes); the pages show them instead.
    vf_episodes: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rpeaks)

    @property
    def unreadable(self) -> np.ndarray:
        """bool ``[n_beats]``: the beat sits in a stretch too noisy to read (``core.signal.quality``)."""
        if "unreadable" not in self.features:
            return np.zeros(len(self), bool)
        return self.features["unreadable"].to_numpy(bool)

    @property
    def time_s(self) -> np.ndarray:
        return self.rpeaks / self.fs


def lead_order(record: Record) -> tuple[list[int], str | None]:
    """Primary lead (by name, MLII preferred) then the others, and a notice when falling back."""
    idx, _name, notice = select_lead(record)
    order = [idx] + [i for i in range(record.n_leads) if i != idx]
    return order, notice


@dataclass
class _Arrays:
    """What one pass over a stretch of signal gives (before the record-wide window scale)."""

    rpeaks: np.ndarray  # at fs_in
    peaks_m: np.ndarray  # at MODEL_FS
    vf_m: list[tuple[int, int]]  # at MODEL_FS
    clean: np.ndarray  # [n_m, leads] float64 mV at MODEL_FS
    windows: list[np.ndarray]  # per lead, [n_beats, 360] float32 mV (not yet scaled)
    features: pd.DataFrame


def _extract_arrays(sig: np.ndarray, fs_in: float, rpeaks: np.ndarray | None = None) -> _Arrays:
    """Resample, clean, detect (unless ``rpeaks``), cut windows and measure features on ``sig [n, leads]``."""
    fs_m = float(config.MODEL_FS)
    sig360 = resample(sig, fs_in, fs_m) if abs(fs_in - fs_m) > 1e-6 else sig
    clean = ecg_clean(sig360, fs_m)
    if clean.ndim == 1:
        clean = clean[:, None]
    if rpeaks is None:  # one detector run gives the peaks and the VF episodes
        peaks_m, vf_m = ecg_peaks(clean, fs_m)
        rpeaks = np.round(peaks_m * fs_in / fs_m).astype(np.int64)
    else:
        rpeaks = np.asarray(rpeaks, dtype=np.int64)
        peaks_m = np.round(rpeaks * fs_m / fs_in).astype(np.int64)
        vf_m = detect_vf_episodes(clean, fs_m)
    peaks_m = np.clip(peaks_m, 0, len(clean) - 1)
    wins = [beat_windows(clean[:, k], peaks_m, fs_m)[0] for k in range(clean.shape[1])]
    feats = pd.concat([
        beat_features(clean[:, 0], fs_m, peaks_m),
        compute_record_relative_features(clean[:, 0], fs_m, peaks_m),
        assess_beat_quality(clean[:, 0], sig360[:, 0] if sig360.ndim > 1 else sig360, fs_m, peaks_m),
        detect_pacing_spikes(sig[:, 0], fs_in, np.clip(rpeaks, 0, len(sig) - 1)),
    ], axis=1)
    return _Arrays(rpeaks, peaks_m, list(vf_m), clean, wins, feats)


def _assemble(record: Record, order: list[int], notice: str | None, a: _Arrays, scales: list[float],
              extra_notices: list[str] = ()) -> BeatSet:
    """BeatSet from the arrays of the whole record and one window scale per lead."""
    fs_in = float(record.fs)
    windows = (np.stack([normalise_windows(w, sc) for w, sc in zip(a.windows, scales)], 1).astype(np.float32)
               if a.windows else np.zeros((0, 0, config.BEAT_WINDOW), np.float32))
    notices = list(getattr(record, "warnings", []) or [])
    if notice:
        notices.append(notice)
    notices += list(extra_notices)
    ratio = fs_in / float(config.MODEL_FS)
    vf = [(int(s * ratio), int(e * ratio)) for s, e in a.vf_m]
    if vf:
        secs = sum(e - s for s, e in vf) / fs_in
        notices.append(f"Possible ventricular flutter/fibrillation for {secs:.0f} s in {len(vf)} episode(s): "
                       "no beats are counted there; review the trace.")
    return BeatSet(
        record_name=record.name,
        fs=fs_in,
        rpeaks=a.rpeaks,
        windows=windows,
        features=a.features,
        lead_names=[record.lead_names[i] for i in order],
        clean=a.clean[:, 0].astype(np.float32),
        notices=notices,
        vf_episodes=vf,
    )


def extract_beats(record: Record, rpeaks: np.ndarray | None = None, max_leads: int = 2,
                  chunk_above_s: float | None = None) -> BeatSet:
    """Clean, detect (unless ``rpeaks`` at the original fs are given), cut windows, measure features.

    Records longer than ``chunk_above_s`` (default ``core.signal.chunks.CHUNK_ABOVE_S`` = 60 min;
    Holter recordings) are processed in 10 min chunks with overlap and bounded memory
    (:func:`core.signal.chunks.extract_beats_chunked`); shorter records in one pass.
    """
    from core.signal.chunks import CHUNK_ABOVE_S, extract_beats_chunked

    # readers refuse such rates already; a Record built in code must not reach the detector at 20 Hz either
    _check_ecg_fs(record.fs, f"The sampling rate of {record.name or 'the record'}")
    limit = CHUNK_ABOVE_S if chunk_above_s is None else chunk_above_s
    if rpeaks is None and record.signal.shape[0] / float(record.fs) > limit:
        return extract_beats_chunked(record, max_leads=max_leads)
    order, notice = lead_order(record)
    order = order[:max_leads]
    sig = record.signal[:, order].astype(np.float64)
    a = _extract_arrays(sig, float(record.fs), rpeaks)
    scales = [record_scale(a.clean[:, k], a.peaks_m) for k in range(a.clean.shape[1])]
    return _assemble(record, order, notice, a, scales)


def beat_windows(
    x: np.ndarray,
    rpeaks: np.ndarray,
    fs: float,
    window: int = config.BEAT_WINDOW,
    fs_model: float = config.MODEL_FS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one window per beat, centred on its R peak, at the model's sampling rate.

    The lead is first resampled from ``fs`` to ``fs_model`` (polyphase, ``resample_poly``) when the
    rates differ, and R peaks are mapped to the new rate. Window ``i`` holds samples
    ``r - window // 2 ... r + window - window // 2 - 1``, so the R peak sits at index
    ``window // 2``; samples beyond the record are zeros.

    Parameters
    ----------
    x : one lead in mV, ``[n]``.
    rpeaks : R-peak sample indices at ``fs``.
    fs : sampling rate of ``x`` in Hz.
    window : window length in samples at ``fs_model`` (default 360 = 1 s at 360 Hz).
    fs_model : rate the windows are cut at, Hz.

    Returns
    -------
    (windows float32 ``[n_beats, window]`` in mV, inside bool ``[n_beats]`` = window fully in record)
    """
    fs = _check_fs(fs, "beat_windows")
    fs_model = _check_fs(fs_model, "beat_windows")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"beat_windows: expected one lead as a 1-D array, got shape {arr.shape}; pass signal[:, lead].")
    r = np.asarray(rpeaks, dtype=np.int64).ravel()
    if len(r) and (r.min() < 0 or r.max() >= len(arr)):
        raise ValueError("beat_windows: some R peaks lie outside the signal; detect them on this same signal.")
    if window < 1:
        raise ValueError(f"beat_windows: window must be a positive number of samples, got {window}.")
    if abs(fs - fs_model) > 1e-9:
        ratio = Fraction(fs_model / fs).limit_denominator(1000)
        arr = sps.resample_poly(arr, ratio.numerator, ratio.denominator)
        r = np.clip(np.round(r * fs_model / fs).astype(np.int64), 0, len(arr) - 1)
    half = window // 2
    start = r - half
    idx = start[:, None] + np.arange(window)[None, :]
    inside = (start >= 0) & (start + window <= len(arr))
    valid = (idx >= 0) & (idx < len(arr))
    out = np.where(valid, arr[np.clip(idx, 0, max(len(arr) - 1, 0))], 0.0) if len(arr) else np.zeros(idx.shape)
    return out.astype(np.float32).reshape(len(r), window), inside


def record_scale(x_clean_lead: np.ndarray, rpeaks: np.ndarray) -> float:
    """Robust amplitude of a record in mV: the median absolute value at the R peaks.

    ``x_clean_lead`` must be baseline-corrected (:func:`ecg_clean`) so that values are deflections
    from the isoelectric line. Falls back to the 99th percentile of ``|x|`` when there are no R
    peaks, and to 1.0 for a flat signal, so the result is always a positive number.
    """
    x = np.asarray(x_clean_lead, dtype=np.float64).ravel()
    r = np.asarray(rpeaks, dtype=np.int64).ravel()
    r = r[(r >= 0) & (r < len(x))]
    scale = float(np.median(np.abs(x[r]))) if len(r) else 0.0
    if not np.isfinite(scale) or scale <= 1e-6:
        scale = float(np.percentile(np.abs(x), 99)) if len(x) else 0.0
    return scale if np.isfinite(scale) and scale > 1e-6 else 1.0


def normalise_windows(windows: np.ndarray, scale: float) -> np.ndarray:
    """Divide beat windows by one record-wide scale (mV -> multiples of the typical R amplitude).

    The scale is per record, not per beat, on purpose: dividing each beat by its own peak would
    erase the amplitude differences between beats (a tall ventricular ectopic beat next to small
    normal ones), which are diagnostic, while a record scale still removes gain differences between
    devices and patients.
    """
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"normalise_windows: scale must be a positive number of mV, got {scale}; use record_scale().")
    return (np.asarray(windows, dtype=np.float32) / np.float32(scale)).astype(np.float32)


def reference_beats(annotations: Annotations) -> tuple[np.ndarray, list[str]]:
    """Samples and symbols of the beat annotations (AAMI-mapped symbols; rhythm marks left out)."""
    is_beat = [s in config.AAMI_CLASS for s in annotations.symbol]
    samples = np.asarray(annotations.sample)[np.array(is_beat, bool)]
    return samples, [s for s, b in zip(annotations.symbol, is_beat) if b]


def match_annotations(rpeaks: np.ndarray, annotations: Annotations, fs: float) -> np.ndarray:
    """Reference beat symbol of each detected peak within ``config.MATCH_TOLERANCE_S`` (150 ms), else ''."""
    samples, symbols = reference_beats(annotations)
    return match_reference(rpeaks, samples, symbols, int(round(config.MATCH_TOLERANCE_S * fs)))


def match_reference(rpeaks: np.ndarray, ref_samples: np.ndarray, ref_symbols: list[str], tol: int) -> np.ndarray:
    """For each detected peak, the nearest reference beat symbol within ``tol`` samples, else ''.

    A tie (a peak exactly between two reference beats) goes to the earlier one.
    """
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
