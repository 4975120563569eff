"""Score an archive of ECG records, serially or in parallel on Dask, without stopping at bad files.

``score_batch(paths, score_one, workers=N)`` runs ``score_one(path) -> DataFrame`` on every path and
concatenates the frames in input order, so a parallel run writes the same table as a serial one. A
file that raises gets an error row and a line in the summary; the run goes on.

Cost model (measured on the 2-core dev box; see the README's speed section)
--------------------------------------------------------------------------
A run of ``n`` records on ``w`` single-thread workers takes about::

    T(n, w) ~= t_cluster + t_load + ceil(n / w) * t_record + n * t_task

- ``t_record``: seconds to read, detect, featurise and score one record, linear in its duration; a
  30-min two-lead MIT-BIH record at 360 Hz: 0.6-0.7 s on a quiet core (24 records serially in 16.1 s,
  2026-12-02), 2.3-2.7 s CPU measured under load.
- ``t_load``: once per worker process, the imports (scipy.signal, neurokit2, torch) and the model
  bundle: about 3.5 s on a quiet core (9 s under load), plus loading BERT when a note is given. An existing cluster
  (``scheduler=``) pays it once per worker for as long as the workers live, if ``score_one`` caches
  its model per process.
- ``t_cluster``: starting a ``LocalCluster`` of ``w`` processes: 2-7 s; 0 with ``scheduler=``.
- ``t_task``: Dask's per-task overhead, about 1 ms; negligible against ``t_record``.

Memory: about 0.65 GB peak RSS per worker for 30-min records (torch + one record); the client holds
every result frame until the end (about 100 bytes a beat, 2,000-3,000 beats per 30-min record: 2-3 GB
for 10,000 records). The speed-up is bounded by the physical cores, not by ``w``: ``w`` above the core
count only adds memory. Workers run one thread each (Dask sets ``OMP_NUM_THREADS=1`` in them).
"""
from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

logger = logging.getLogger(__name__)

#: File suffixes that are records on their own; a WFDB record is counted once, by its ``.hea``.
RECORD_SUFFIXES = (".hea", ".csv", ".edf", ".npy", ".zip")

ScoreOne = Callable[[Path], pd.DataFrame]


class BatchInputError(ValueError):
    """An input path that does not exist, or a folder without any record; raised before any scoring."""


@dataclass
class BatchResult:
    """Outcome of ``score_batch``.

    Attributes
    ----------
    table : the frames of every scored file in input order; when some file failed, two columns are
        added: ``path`` (the file of each row) and ``error`` (empty on scored rows, the message on the
        one row per failed file).
    errors : ``(path, message)`` for each failed file, in input order.
    n_files : number of files in the batch.
    workers : worker processes used (1: serial, in this process).
    elapsed_s : wall-clock seconds for the whole run, cluster start included.
    """

    table: pd.DataFrame
    errors: list[tuple[Path, str]] = field(default_factory=list)
    n_files: int = 0
    workers: int = 1
    elapsed_s: float = 0.0

    @property
    def n_scored(self) -> int:
        return self.n_files - len(self.errors)

    @property
    def exit_status(self) -> int:
        """0 when every file was scored, 1 when some failed, 2 when none could be scored."""
        if self.n_scored <= 0:
            return 2
        return 1 if self.errors else 0

    def summary(self) -> str:
        """A few lines for the user: counts, time, throughput, then one line per failed file."""
        rate = self.n_files / self.elapsed_s if self.elapsed_s > 0 else float("nan")
        head = (f"scored {self.n_scored} of {self.n_files} records ({len(self.table) - len(self.errors)} rows) "
                f"in {self.elapsed_s:.1f} s on {self.workers} worker{'s' if self.workers != 1 else ''} "
                f"({rate:.2f} records/s)")
        if not self.errors:
            return head
        lines = [head, f"{len(self.errors)} record{'s' if len(self.errors) != 1 else ''} could not be scored:"]
        lines += [f"  {p}: {msg}" for p, msg in self.errors]
        return "\n".join(lines)


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files to score: each file itself, each folder as its records in sorted order.

    A folder contributes its ``.hea`` (one per WFDB record; ``.dat``/``.atr`` are read beside it),
    ``.csv``, ``.edf``, ``.npy`` and ``.zip`` files (not recursing into sub-folders). A WFDB record
    name given without extension (``mitdb/100``) becomes its ``.hea``.

    Raises
    ------
    BatchInputError : a path does not exist, or a folder holds no record.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RECORD_SUFFIXES)
            if not found:
                raise BatchInputError(f"{p}: no ECG records ({', '.join(RECORD_SUFFIXES)}) in this folder")
            out.extend(found)
        elif p.exists():
            out.append(p)
        elif p.with_suffix(".hea").exists():
            out.append(p.with_suffix(".hea"))
        else:
            raise BatchInputError(f"{p}: no such file or folder")
    return out


def score_batch(paths: Sequence[str | Path], score_one: ScoreOne, *, workers: int = 1,
                scheduler: str | None = None, progress: bool = True) -> BatchResult:
    """Run ``score_one`` on every path; results in input order, bad files as error rows.

    Parameters
    ----------
    paths : record files (see ``expand_inputs`` for folders).
    score_one : ``score_one(path) -> DataFrame``, one record's rows. For ``workers > 1`` or
        ``scheduler`` it must be picklable (a module-level function or an instance of a module-level
        class; cloudpickle also takes closures) and importable on the workers; a model it needs is
        best loaded lazily, once per worker process, not captured in the pickle.
    workers : 1 runs in this process, one file after the other; N > 1 starts a local Dask cluster of
        N processes with one thread each (no dashboard, quiet logs) for this run.
    scheduler : address of a running Dask scheduler (``tcp://host:8786``); the run uses its workers
        and ``workers`` is ignored. The cluster is left running.
    progress : a progress bar on stderr (tqdm), one tick per finished file.

    Returns
    -------
    BatchResult; its ``exit_status`` is 0 (all scored), 1 (some failed) or 2 (none scored).

    Every failure is logged with ``logging.exception`` (traceback in the log) and kept as
    ``(path, str(exception))``; a worker process that dies on a file (e.g. out of memory) fails
    that file only (Dask's ``KilledWorker``).
    """
    files = [Path(p) for p in paths]
    t0 = time.perf_counter()
    if scheduler is None and workers <= 1:
        outcomes = _run_serial(files, score_one, progress)
        used = 1
    else:
        outcomes, used = _run_dask(files, score_one, workers, scheduler, progress)
    table, errors = _assemble(files, outcomes)
    return BatchResult(table, errors, len(files), used, time.perf_counter() - t0)


def _message(exc: BaseException) -> str:
    """The exception's own message, first line; its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failed(path: Path) -> str:
    """Log the exception being handled (traceback to the log) and return its one-line message."""
    exc = sys.exc_info()[1]
    msg = _message(exc)
    logger.exception("could not score %s: %s", path, msg)
    return msg


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="scoring", unit="record", file=sys.stderr, disable=not progress)


def _run_serial(files: list[Path], score_one: ScoreOne, progress: bool) -> list[pd.DataFrame | str]:
    out: list[pd.DataFrame | str] = []
    with _bar(len(files), progress) as bar:
        for f in files:
            try:
                out.append(score_one(f))
            except Exception:  # noqa: BLE001 - one bad file must not end the batch
                out.append(_failed(f))
            bar.update(1)
    return out


def _run_dask(files: list[Path], score_one: ScoreOne, workers: int, scheduler: str | None,
              progress: bool) -> tuple[list[pd.DataFrame | str], int]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # Processes, not threads: the scoring holds the GIL for much of its time.
        with warnings.catch_warnings():  # the scheduler's HTTP port moves off 8787 when that is taken: fine
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        used = len(client.nthreads()) if scheduler else workers
        # pure=False: a file may change between runs, so never reuse a result by its path.
        futures = client.map(score_one, files, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[pd.DataFrame | str | None] = [None] * len(files)
        with _bar(len(files), progress) as bar:
            for fut in as_completed(futures):
                i = index[fut.key]
                try:
                    out[i] = fut.result()
                except Exception:  # noqa: BLE001 - the remote traceback is re-raised here, logged once
                    out[i] = _failed(files[i])
                fut.release()  # free the worker's copy as soon as we hold the result
                bar.update(1)
        del futures
        return out, used  # type: ignore[return-value]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _assemble(files: list[Path], outcomes: list[pd.DataFrame | str]) -> tuple[pd.DataFrame, list[tuple[Path, str]]]:
    """Concatenate in input order; with failures, add ``path`` and ``error`` and one row per failed file."""
    errors = [(f, o) for f, o in zip(files, outcomes) if isinstance(o, str)]
    frames = [o for o in outcomes if not isinstance(o, str)]
    if not errors:
        return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), errors
    columns = list(dict.fromkeys(c for fr in frames for c in fr.columns))
    ints = {c for fr in frames for c in fr.columns if pd.api.types.is_integer_dtype(fr[c])}
    parts = []
    for f, o in zip(files, outcomes):
        if isinstance(o, str):
            row = {**{c: None for c in columns}, "record": f.stem}
            parts.append(pd.DataFrame([{**row, "path": str(f), "error": o}]))
        else:
            parts.append(o.assign(path=str(f), error=""))
    table = pd.concat(parts, ignore_index=True)
    for c in ints:  # NA on error rows would turn integers into floats ("12.0" in the CSV)
        table[c] = table[c].astype("Int64")
    return table, errors


__all__ = ["BatchInputError", "BatchResult", "RECORD_SUFFIXES", "expand_inputs", "score_batch"]
