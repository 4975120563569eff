"""core.batch: input order, error rows, exit status, and a Dask run equal to the serial one.

The scorer here is a toy (it reads a number from a text file), so the tests are fast and test the
batch machinery, not the model; the one that starts a LocalCluster is marked slow.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from core.batch import BatchInputError, expand_inputs, score_batch


class BadRecord(ValueError):
    """Stands in for core.io.RecordReadError."""


def toy_score(path: Path) -> pd.DataFrame:
    """One row per unit of the number in the file; a file saying 'bad' raises BadRecord."""
    text = Path(path).read_text().strip()
    if text == "bad":
        raise BadRecord(f"{Path(path).name}: the header is malformed (toy)")
    n = int(text)
    return pd.DataFrame({"record": Path(path).stem, "sample": [100 * k for k in range(n)],
                         "p_abnormal": [round(0.1 * k, 3) for k in range(n)], "predicted": [k % 2 for k in range(n)]})


def _files(folder: Path, contents: list[str]) -> list[Path]:
    out = []
    for i, c in enumerate(contents):
        p = folder / f"r{i:02d}.csv"
        p.write_text(c)
        out.append(p)
    return out


def test_order_preserved_and_equal_to_one_by_one(tmp_path):
    files = _files(tmp_path, ["3", "1", "2"])[::-1]  # not in name order: input order must win
    res = score_batch(files, toy_score, progress=False)
    expected = pd.concat([toy_score(f) for f in files], ignore_index=True)
    pd.testing.assert_frame_equal(res.table, expected)
    assert list(res.table["record"].drop_duplicates()) == ["r02", "r01", "r00"]
    assert res.errors == [] and res.exit_status == 0
    assert "error" not in res.table.columns  # an all-good run keeps the scorer's own columns
    assert res.summary().startswith("scored 3 of 3 records (6 rows)")


def test_bad_file_gets_error_row_and_run_goes_on(tmp_path, caplog):
    files = _files(tmp_path, ["2", "bad", "1"])
    with caplog.at_level(logging.ERROR, logger="core.batch"):
        res = score_batch(files, toy_score, progress=False)
    assert res.exit_status == 1
    assert res.errors == [(files[1], "r01.csv: the header is malformed (toy)")]
    t = res.table
    assert list(t["record"]) == ["r00", "r00", "r01", "r02"]
    err = t[t["error"] != ""]
    assert len(err) == 1 and err["path"].iloc[0] == str(files[1])
    assert err["error"].iloc[0] == "r01.csv: the header is malformed (toy)"
    assert err["sample"].isna().all() and err["p_abnormal"].isna().all()
    # integers stay integers (no "100.0" in the CSV) although the error row has no value
    assert t["sample"].dtype == "Int64" and "100.0" not in t.to_csv(index=False)
    assert (t.loc[t["error"] == "", "path"] != "").all()
    # the traceback goes to the log, the user gets one line per failed file
    assert any(r.exc_info and r.exc_info[0] is BadRecord for r in caplog.records)
    summary = res.summary()
    assert "scored 2 of 3 records" in summary and f"  {files[1]}: r01.csv: the header is malformed (toy)" in summary
    assert "Traceback" not in summary


def test_exit_status_two_when_nothing_scored(tmp_path):
    res = score_batch(_files(tmp_path, ["bad", "bad"]), toy_score, progress=False)
    assert res.exit_status == 2 and len(res.errors) == 2 and len(res.table) == 2
    assert score_batch([], toy_score, progress=False).exit_status == 2


def test_unexpected_exception_and_missing_file_are_rows_too(tmp_path):
    files = _files(tmp_path, ["1", "x"]) + [tmp_path / "gone.csv"]  # int('x') fails; gone.csv does not exist
    res = score_batch(files, toy_score, progress=False)
    assert res.exit_status == 1 and [p for p, _ in res.errors] == files[1:]
    assert "invalid literal" in res.errors[0][1] and "gone.csv" in res.errors[1][1]


def test_progress_bar_on_stderr(tmp_path, capsys):
    score_batch(_files(tmp_path, ["1", "1"]), toy_score, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "2/2" in err


def test_expand_inputs(tmp_path):
    for name in ["b.hea", "b.dat", "b.atr", "a.csv", "c.EDF", "d.npy", "e.zip", "note.txt"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.csv").write_text("x")
    got = expand_inputs([tmp_path])
    assert [p.name for p in got] == ["a.csv", "b.hea", "c.EDF", "d.npy", "e.zip"]
    assert expand_inputs([tmp_path / "b"]) == [tmp_path / "b.hea"]  # WFDB record name without extension
    assert expand_inputs([tmp_path / "note.txt"]) == [tmp_path / "note.txt"]  # a named file is taken as given
    with pytest.raises(BatchInputError, match="no such file"):
        expand_inputs([tmp_path / "nothing"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(BatchInputError, match="no ECG records"):
        expand_inputs([tmp_path / "empty"])


@pytest.mark.slow
def test_two_dask_workers_equal_serial(tmp_path):
    """A LocalCluster of two processes gives the same table, errors and status as the serial run."""
    files = _files(tmp_path, ["4", "bad", "1", "3", "2", "bad", "5", "1"])
    serial = score_batch(files, toy_score, progress=False)
    parallel = score_batch(files, toy_score, workers=2, progress=False)
    assert parallel.workers == 2
    pd.testing.assert_frame_equal(parallel.table, serial.table)
    assert parallel.errors == serial.errors and parallel.exit_status == serial.exit_status == 1
    assert parallel.table.to_csv(index=False) == serial.table.to_csv(index=False)


def test_existing_scheduler_equals_serial(tmp_path):
    """``scheduler=`` runs on a cluster that is already up (here an in-process one, fast to start)."""
    distributed = pytest.importorskip("distributed")
    files = _files(tmp_path, ["2", "bad", "3", "1"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        parallel = score_batch(files, toy_score, scheduler=cluster.scheduler_address, progress=False)
        assert len(cluster.scheduler.workers) == 2  # the run left the cluster up
    serial = score_batch(files, toy_score, progress=False)
    assert parallel.workers == 2
    pd.testing.assert_frame_equal(parallel.table, serial.table)
    assert parallel.errors == serial.errors and parallel.exit_status == 1


def test_cli_scorer_pickles_small_and_bad_files_fail_before_any_model(tmp_path):
    """The CLI's ``score_one`` (``core.cli.CaseScorer``) travels to Dask workers as its options only; a bad
    file fails at reading (its own message), before a bundle is loaded (here none exists)."""
    import pickle

    from core.cli import CaseScorer

    bad = Path(__file__).parent / "data" / "bad_inputs"
    scorer = CaseScorer("beats", model=str(tmp_path / "no_model"), fs=None)
    blob = pickle.dumps(scorer)
    assert pickle.loads(blob) == scorer and len(blob) < 500
    res = score_batch([bad / "flat_line.csv", bad / "too_short.csv"], scorer, progress=False)
    assert res.exit_status == 2 and [p.name for p, _ in res.errors] == ["flat_line.csv", "too_short.csv"]
    assert "flat line" in res.errors[0][1] and "too short" in res.errors[1][1]
