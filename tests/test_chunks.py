"""Long records in chunks (core.signal.chunks): same beats as one pass, serial == parallel, bounds cover the record."""
from __future__ import annotations

import numpy as np
import pytest

from core import config
from core.io import read_record
from core.signal.beats import extract_beats
from core.signal.chunks import chunk_bounds, extract_beats_chunked

EX = config.EXAMPLES_DIR / "pvc_bigeminy_200" / "pvc_bigeminy_200.hea"


@pytest.fixture(scope="module")
def record():
    return read_record(EX)


@pytest.fixture(scope="module")
def one_pass(record):
    return extract_beats(record)


@pytest.fixture(scope="module")
def chunked(record):
    return extract_beats_chunked(record, chunk_s=40.0, overlap_s=15.0, workers=1)


def test_chunk_bounds_cover_the_record_once():
    n, fs = 100_000, 360.0
    b = chunk_bounds(n, fs, chunk_s=60.0, overlap_s=10.0)
    assert b[0][0] == 0 and b[-1][1] == n
    assert all(x[1] == y[0] for x, y in zip(b, b[1:]))  # cores touch, no gap, no overlap
    assert all(ea <= a < bb <= eb for a, bb, ea, eb in b)
    assert all(a - ea in (0, int(10 * fs)) for a, _, ea, _ in b)
    assert b[-1][1] - b[-1][0] >= 30 * fs  # a short last core is joined to the one before
    with pytest.raises(ValueError, match="chunk_s"):
        chunk_bounds(n, fs, chunk_s=0)


def test_chunked_finds_the_same_beats_and_windows(one_pass, chunked):
    assert chunked.rpeaks.tolist() == one_pass.rpeaks.tolist()
    assert chunked.windows.shape == one_pass.windows.shape
    np.testing.assert_allclose(chunked.windows, one_pass.windows, atol=1e-5)  # same record-wide scale
    np.testing.assert_allclose(chunked.clean, one_pass.clean, atol=1e-4)  # filters see the same context
    assert list(chunked.features.columns) == list(one_pass.features.columns)
    assert any("chunks" in n for n in chunked.notices)


def test_chunked_beat_local_features_match(one_pass, chunked):
    """Features of a beat and its neighbours (intervals, amplitudes) do not depend on chunking."""
    for col in ("rr_pre_ms", "rr_post_ms", "qrs_width_ms"):
        if col in one_pass.features:
            np.testing.assert_allclose(chunked.features[col].to_numpy(float), one_pass.features[col].to_numpy(float),
                                       atol=1e-6, equal_nan=True)


def test_parallel_chunks_equal_serial(record, chunked):
    par = extract_beats_chunked(record, chunk_s=40.0, overlap_s=15.0, workers=2)
    assert par.rpeaks.tolist() == chunked.rpeaks.tolist()
    np.testing.assert_array_equal(par.windows, chunked.windows)
    np.testing.assert_array_equal(par.features.to_numpy(float), chunked.features.to_numpy(float))


def test_extract_beats_chunks_only_long_records(record, one_pass):
    assert not any("chunks" in n for n in one_pass.notices)  # 30 min default limit: one pass
    b = extract_beats(record, chunk_above_s=60.0)
    assert any("chunks" in n for n in b.notices) and b.rpeaks.tolist() == one_pass.rpeaks.tolist()


def test_chunk_workers_env(monkeypatch):
    from core.signal.chunks import chunk_workers

    monkeypatch.setenv("CARDIOLENS_CHUNK_WORKERS", "1")
    assert chunk_workers() == 1
    monkeypatch.setenv("CARDIOLENS_CHUNK_WORKERS", "3")
    assert chunk_workers() == 3
