"""Bundled assets: the example cases in assets/examples and the prompt bank in assets/prompts.

Everything here runs without ../shared (a fresh clone must pass), except the rebuild check, which
uses the ``mitdb_dir`` fixture and is skipped when the MIT-BIH folder is absent.
"""
from __future__ import annotations

import collections
import csv
import filecmp
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from core import config

AAMI_LABELS = ("N", "S", "V", "F", "Q")
MAX_CASE_BYTES = 400 * 1024
MAX_TOTAL_BYTES = 3 * 1024 * 1024
CASE_DIRS = sorted(p for p in config.EXAMPLES_DIR.glob("*") if p.is_dir())


def _case(case_dir: Path) -> dict:
    return json.loads((case_dir / "case.json").read_text(encoding="utf-8"))


def _aami(symbols) -> dict[str, int]:
    c = collections.Counter(config.AAMI_CLASS[s] for s in symbols if s in config.AAMI_CLASS)
    return {k: c[k] for k in AAMI_LABELS}


def _read_csv_case(case_dir: Path, case: dict) -> pd.DataFrame:
    return pd.read_csv(case_dir / case["files"]["signal"])


def test_examples_present():
    assert len(CASE_DIRS) >= 6, f"expected >= 6 example cases in {config.EXAMPLES_DIR}"
    assert (config.EXAMPLES_DIR / "README.md").is_file()
    assert sum(_case(d)["format"] == "csv" for d in CASE_DIRS) >= 1


@pytest.mark.parametrize("case_dir", CASE_DIRS, ids=lambda p: p.name)
def test_case_files_and_provenance(case_dir):
    case = _case(case_dir)
    assert case["case"] == case_dir.name
    note = (case_dir / "note.txt").read_text(encoding="utf-8").strip()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", note) if s]
    assert 3 <= len(sentences) <= 5, f"{case_dir.name}: note has {len(sentences)} sentences"
    assert "Holter" in note
    src = case["source"]
    assert src["record"] in config.TEST_RECORDS and src["record"] not in config.TRAIN_RECORDS
    assert src["end_s"] - src["start_s"] == pytest.approx(case["duration_s"])
    assert src["end_sample"] - src["start_sample"] == case["n_samples"]
    assert "ODC-By" in case["license"] and "10.13026/C2F305" in case["credit"]
    assert set(case["aami_counts"]) == set(AAMI_LABELS)
    if case["format"] == "wfdb":
        for ext in ("hea", "dat", "atr"):
            assert (case_dir / f"{case['files']['record']}.{ext}").is_file(), ext
    else:
        assert (case_dir / case["files"]["signal"]).is_file()


@pytest.mark.parametrize("case_dir", [d for d in CASE_DIRS if _case(d)["format"] == "wfdb"],
                         ids=lambda p: p.name)
def test_wfdb_case_reads_back(case_dir):
    case = _case(case_dir)
    path = str(case_dir / case["files"]["record"])
    rec = wfdb.rdrecord(path)
    ann = wfdb.rdann(path, "atr")
    assert rec.fs == config.MODEL_FS and rec.n_sig >= 2
    assert rec.sig_name == case["leads"] and rec.units == ["mV"] * rec.n_sig
    assert set(rec.fmt) <= {"212", "16"}
    assert rec.sig_len / rec.fs == pytest.approx(case["duration_s"])
    # Physical units really are mV: an ambulatory MLII QRS spans roughly 0.5-5 mV.
    assert 0.5 < np.ptp(rec.p_signal[:, 0]) < 10.0
    # The header keeps the source's comments (age/sex line first, then medications).
    assert rec.comments[: len(case["source"]["header_comments"])] == case["source"]["header_comments"]
    assert re.match(r"^-?\d+ [MF] ", rec.comments[0])
    assert ann.sample.min() >= 0 and ann.sample.max() < rec.sig_len
    assert np.all(np.diff(ann.sample) >= 0)
    assert ann.symbol[0] == "+" and ann.sample[0] == 0 and ann.aux_note[0].startswith("(")
    assert _aami(ann.symbol) == case["aami_counts"]
    assert sum(case["aami_counts"].values()) > 50  # a 150 s strip holds well over 50 beats
    rhythms = [{"onset_s": round(s / rec.fs, 3), "rhythm": a.rstrip("\x00")}
               for s, sym, a in zip(ann.sample, ann.symbol, ann.aux_note) if sym == "+"]
    assert rhythms == case["rhythms"]


@pytest.mark.parametrize("case_dir", [d for d in CASE_DIRS if _case(d)["format"] == "csv"],
                         ids=lambda p: p.name)
def test_csv_case_reads_back(case_dir):
    case = _case(case_dir)
    df = _read_csv_case(case_dir, case)
    assert list(df.columns) == ["time_s", "MLII", "V1"] == ["time_s", *case["leads"]]
    fs = 1.0 / np.median(np.diff(df["time_s"]))
    assert fs == pytest.approx(config.MODEL_FS, rel=1e-4)
    assert len(df) / fs == pytest.approx(case["duration_s"], rel=1e-3)
    assert df["time_s"].iloc[0] == 0.0
    assert 0.5 < np.ptp(df["MLII"]) < 10.0
    beats = case["reference_beats"]
    assert len(beats["sample"]) == len(beats["symbol"])
    assert 0 <= min(beats["sample"]) and max(beats["sample"]) < len(df)
    assert _aami(beats["symbol"]) == case["aami_counts"]


def test_cases_cover_the_intended_findings():
    cases = [_case(d) for d in CASE_DIRS]
    totals = collections.Counter()
    for c in cases:
        totals.update(c["aami_counts"])
    assert all(totals[k] > 0 for k in AAMI_LABELS), totals
    rhythms = {r["rhythm"] for c in cases for r in c["rhythms"]}
    assert {"(N", "(SBR", "(B", "(P", "(AFIB"} <= rhythms
    assert any(c["noisy_seconds"] >= 30 for c in cases)
    records = {c["source"]["record"] for c in cases}
    assert {"100", "232", "105"} <= records


def test_example_sizes():
    sizes = {d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in CASE_DIRS}
    too_big = {k: v for k, v in sizes.items() if v >= MAX_CASE_BYTES}
    assert not too_big, too_big
    total = sum(f.stat().st_size for f in config.EXAMPLES_DIR.rglob("*") if f.is_file())
    assert total < MAX_TOTAL_BYTES


def test_prompt_bank():
    with open(config.DEFAULT_PROMPT_BANK, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["label", "prompt", "kind", "source"]
    assert {r["label"] for r in rows} == set(AAMI_LABELS)
    assert {r["kind"] for r in rows} == {"name", "descriptive"}
    kinds = collections.Counter((r["label"], r["kind"]) for r in rows)
    for label in AAMI_LABELS:
        assert kinds[(label, "name")] >= 2, label
        assert 3 <= kinds[(label, "descriptive")] <= 5, label
    assert all(r["prompt"].strip() and r["source"].strip() for r in rows)
    prompts = [r["prompt"] for r in rows]
    assert len(set(prompts)) == len(prompts)
    assert (config.PROMPTS_DIR / "README.md").is_file()


def _load_make_examples():
    path = config.REPO_ROOT / "scripts" / "make_examples.py"
    spec = importlib.util.spec_from_file_location("make_examples", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_rebuild_is_identical(mitdb_dir, tmp_path):
    """Rebuilding from ../shared/data/mitdb gives byte-identical files (deterministic script)."""
    assert _load_make_examples().main([str(mitdb_dir), "--out", str(tmp_path)]) == 0
    for case_dir in CASE_DIRS:
        names = sorted(f.name for f in case_dir.iterdir())
        assert names == sorted(f.name for f in (tmp_path / case_dir.name).iterdir())
        _, mismatch, errors = filecmp.cmpfiles(case_dir, tmp_path / case_dir.name, names, shallow=False)
        assert not mismatch and not errors, (case_dir.name, mismatch, errors)


def test_cut_matches_source(mitdb_dir):
    """The bundled samples are the source record's samples, untouched."""
    for case_dir in CASE_DIRS:
        case = _case(case_dir)
        src = case["source"]
        ref = wfdb.rdrecord(str(mitdb_dir / src["record"]), sampfrom=src["start_sample"],
                            sampto=src["end_sample"])
        if case["format"] == "wfdb":
            got = wfdb.rdrecord(str(case_dir / case["files"]["record"])).p_signal
        else:
            got = _read_csv_case(case_dir, case)[case["leads"]].to_numpy()
        np.testing.assert_allclose(got, ref.p_signal, atol=1e-9)
