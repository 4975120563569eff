"""``python -m core rhythm``: the outside contract (rows ``record, rhythm, start_s, end_s`` then ``confidence,
detail``), with a v2 bundle (``case.rhythm``) and a v1 bundle (``core.predict.read_rhythm`` in the CLI), on
bundled examples and bad files (same batch semantics as ``score``).

The v2 bundle under assets/models/v2 is replaced as the model improves: these tests check the contract and
what the rhythm reading must find on unambiguous examples, never the bundle's numbers.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import config
from core.rhythm import LABELS

BAD = Path(__file__).parent / "data" / "bad_inputs"
V2 = config.MODELS_DIR / "v2"
V1 = config.MODELS_DIR / "v1"


def run_cli(*args, timeout=300):
    env = {**os.environ, "CARDIOLENS_LOG": os.devnull}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=config.REPO_ROOT, env=env)


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with path.open() as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.skipif(not (V2 / "config.json").is_file(), reason="no v2 bundle")
def test_rhythm_v2_af_example_short_csv_and_a_bad_file(tmp_path):
    """One batch: the AF example gives an AF row, the 10 s CSV is read, a bad file is an error row (exit 1)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for f in ("afib_219.hea", "afib_219.dat", "afib_219.atr"):
        shutil.copy(config.EXAMPLES_DIR / "afib_219" / f, folder / f)
    shutil.copy(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv", folder / "short.csv")
    shutil.copy(BAD / "too_short.csv", folder / "too_short.csv")
    out = tmp_path / "rhythm.csv"
    r = run_cli("rhythm", folder, "--model", V2, "--out", out)
    assert r.returncode == 1, r.stderr
    cols, rows = read_rows(out)
    assert cols[:6] == ["record", "rhythm", "start_s", "end_s", "confidence", "detail"]
    ok = [x for x in rows if not x["error"]]
    assert {x["rhythm"] for x in ok} <= set(LABELS)
    af = [x for x in ok if x["record"] == "afib_219" and x["rhythm"] == "AF"]
    # the example is 150 s of atrial fibrillation (MIT-BIH 219): AF must cover most of it
    assert af and sum(float(x["end_s"]) - float(x["start_s"]) for x in af) > 100
    short = [x for x in ok if x["record"] == "short"]
    assert short and all(0 <= float(x["start_s"]) <= float(x["end_s"]) <= 10.5 for x in short)
    assert all(0 <= float(x["confidence"]) <= 1 for x in ok)
    bad = [x for x in rows if x["error"]]
    assert [x["record"] for x in bad] == ["too_short"] and "too short" in bad[0]["error"]
    assert "scored 2 of 3 records" in r.stderr and "too_short.csv" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not (V1 / "config.json").is_file(), reason="no v1 bundle")
def test_rhythm_v1_bundle_reads_rhythm_in_the_cli(capsys):
    """A v1 bundle has no ``case.rhythm``: the CLI reads it from the v1 model's beat calls; CSV on stdout."""
    from core import cli

    assert cli.main(["rhythm", str(config.EXAMPLES_DIR / "afib_219"), "--model", str(V1)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "record,rhythm,start_s,end_s,confidence,detail"
    assert any(line.startswith("afib_219,AF,") for line in lines[1:])


def test_rhythm_single_bad_file_is_one_line_exit_2():
    r = run_cli("rhythm", BAD / "flat_line.csv")
    assert r.returncode == 2 and r.stdout == ""
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "flat line" in lines[0], r.stderr


def test_rhythm_rows_of_a_case_without_episodes_keep_the_columns():
    from types import SimpleNamespace

    from core.case_output import rhythm_rows
    from core.rhythm import Episode

    case = SimpleNamespace(record=SimpleNamespace(name="x"), rhythm=SimpleNamespace(episodes=[]))
    assert list(rhythm_rows(case).columns) == ["record", "rhythm", "start_s", "end_s", "confidence", "detail"]
    case.rhythm.episodes = [Episode("PAUSE", 1.23456, 3.5, 0.5, "2.3 s")]
    row = rhythm_rows(case).iloc[0]
    assert (row["record"], row["rhythm"], row["start_s"], row["end_s"], row["detail"]) == ("x", "PAUSE", 1.235, 3.5, "2.3 s")
