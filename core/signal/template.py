"""The record's dominant beat morphologies by unlabeled clustering of its own beats.

Holter software groups a recording's beats into morphology families and reads every beat against
the dominant family (Hamilton & Tompkins 1986 template matching; Lagerholm et al. 2000 clustering).
Here each beat's QRS (-100..+100 ms around R) is downsampled to 4 ms steps, the beats are
clustered by k-means (Lloyd 1982, k-means++ seeding, Arthur & Vassilvitskii 2007) with a fixed
seed, near-identical clusters are merged (single linkage on centroids), and the dominant template is the sample-wise median of the largest cluster. Only the signal
is used, never beat labels, so the same code runs on any upload.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: QRS window used for clustering (ms before and after R).
QRS_WINDOW_MS = (100.0, 100.0)
#: Clustering resolution (ms between kept samples).
STEP_MS = 4.0
#: Clusters and the beats used to fit them (all beats are then assigned).
N_CLUSTERS = 6
MAX_FIT_BEATS = 1000
N_ITER = 10
MERGE_CORR = 0.95
MERGE_DIST = 0.35


@dataclass
class RecordTemplates:
    """Dominant morphology of one record.

    Attributes
    ----------
    labels : cluster index of every beat (int, -1 where the window runs off the signal).
    cluster_frac : fraction of the record's beats in each beat's cluster (0..1, NaN if unassigned).
    dominant : index of the largest cluster.
    qrs_template : median dominant-cluster QRS at full rate (mV), samples -100..+100 ms.
    offsets : sample offsets of ``qrs_template`` relative to R.
    dominant_members : boolean mask of beats in the dominant cluster.
    """

    labels: np.ndarray
    cluster_frac: np.ndarray
    dominant: int
    qrs_template: np.ndarray
    offsets: np.ndarray
    dominant_members: np.ndarray


def gather_windows(x: np.ndarray, rpeaks: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``x[r + start : r + stop]`` as a [beats, stop - start] float matrix and a mask of
    windows that lie fully inside the signal (others are edge-padded, flagged False)."""
    r = np.asarray(rpeaks, dtype=np.int64)
    idx = r[:, None] + np.arange(start, stop)[None, :]
    inside = (idx[:, 0] >= 0) & (idx[:, -1] < len(x))
    return np.asarray(x, float)[np.clip(idx, 0, len(x) - 1)], inside


def _kmeans(data: np.ndarray, k: int, n_iter: int, rng: np.random.Generator) -> np.ndarray:
    """Centroids of Lloyd's k-means with k-means++ seeding (pure numpy)."""
    n = len(data)
    centres = [data[rng.integers(n)]]
    d2 = ((data - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres.append(data[rng.choice(n, p=p)])
        d2 = np.minimum(d2, ((data - centres[-1]) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(n_iter):
        lab = _assign(data, c)
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = data[m].mean(0)
    return c


def _assign(data: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (data ** 2).sum(1)[:, None] - 2 * data @ centres.T + (centres ** 2).sum(1)[None, :]
    return np.argmin(d, 1)


def _merge(centres: np.ndarray) -> np.ndarray:
    """Map each cluster to a merged family: k-means splits one morphology by noise and rate, so
    centroids that correlate >= MERGE_CORR and differ by <= MERGE_DIST (relative RMS) are joined
    (single linkage, as Holter template families)."""
    k = len(centres)
    c0 = centres - centres.mean(1, keepdims=True)
    nrm = np.sqrt((c0 ** 2).sum(1)) + 1e-12
    corr = (c0 @ c0.T) / np.outer(nrm, nrm)
    size = np.sqrt((centres ** 2).sum(1)) + 1e-12
    dist = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(2)) / np.minimum(size[:, None], size[None])
    parent = np.arange(k)
    for i in range(k):
        for j in range(i + 1, k):
            if corr[i, j] >= MERGE_CORR and dist[i, j] <= MERGE_DIST:
                a, b = parent[i], parent[j]
                parent[parent == max(a, b)] = min(a, b)
    return parent


def build_record_templates(clean_mv: np.ndarray, fs: float, rpeaks: np.ndarray, *, n_clusters: int = N_CLUSTERS,
                           seed: int = 0) -> RecordTemplates:
    """Cluster one record's beats and return its dominant QRS template.

    Parameters
    ----------
    clean_mv : one cleaned lead in mV (baseline removed, e.g. ``core.signal.ecg_clean``), 1-D.
    fs : sampling rate in Hz.
    rpeaks : R-peak sample indices (int), ascending.
    n_clusters : k of k-means (fewer when the record has few beats).
    seed : random seed of the k-means++ seeding and the fitting subsample (fixed: same input, same output).

    Returns
    -------
    RecordTemplates (see its attributes).
    """
    x = np.asarray(clean_mv, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"build_record_templates: expected one lead as a 1-D array, got shape {x.shape}.")
    if fs <= 0:
        raise ValueError(f"build_record_templates: fs must be positive, got {fs}.")
    r = np.asarray(rpeaks, dtype=np.int64)
    pre, post = (int(round(v * fs / 1000.0)) for v in QRS_WINDOW_MS)
    offsets = np.arange(-pre, post)
    n = len(r)
    labels = np.full(n, -1)
    frac = np.full(n, np.nan)
    if n == 0:
        return RecordTemplates(labels, frac, 0, np.zeros(len(offsets)), offsets, np.zeros(0, bool))
    win, inside = gather_windows(x, r, -pre, post)
    step = max(1, int(round(STEP_MS * fs / 1000.0)))
    small = win[:, ::step]
    ok = np.flatnonzero(inside & np.isfinite(small).all(1))
    if ok.size == 0:
        return RecordTemplates(labels, frac, 0, np.median(win, 0), offsets, np.zeros(n, bool))
    rng = np.random.default_rng(seed)
    fit = ok if ok.size <= MAX_FIT_BEATS else np.sort(rng.choice(ok, MAX_FIT_BEATS, replace=False))
    k = int(min(n_clusters, max(1, fit.size // 20)))
    centres = _kmeans(small[fit], k, N_ITER, rng)
    labels[ok] = _merge(centres)[_assign(small[ok], centres)]
    counts = np.bincount(labels[ok], minlength=k)
    frac[ok] = counts[labels[ok]] / ok.size
    dominant = int(np.argmax(counts))
    members = labels == dominant
    template = np.median(win[members], 0)
    return RecordTemplates(labels, frac, dominant, template, offsets, members)
