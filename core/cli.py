"""The command line: ``python -m core score|rhythm|zeroshot|train|evaluate|bench`` (also installed as ``cardiolens``).

Contracts relied on from outside (../shared/DESIGN.md):
- ``score PATH... [--note FILE] [--out OUT.csv|OUT.json]``: CSV one row per detected beat, ``record, sample, time_s,
  p_abnormal, predicted, p_ecg, p_note, p_fused`` (sample at the record's original fs), [``ref_symbol``], ``call``
  ('normal' | 'abnormal' | 'unreadable'), ``unreadable``.
  JSON: per record the verdict, ``statements``, ``rhythm`` (episodes), ``facts``, ``note_effect``, beats, explanations.
- ``rhythm PATH... [--out OUT.csv]``: ``record, rhythm, start_s, end_s, confidence, detail``, ``rhythm`` one of
  ``core.rhythm.LABELS``.
- ``zeroshot PATH --prompts PROMPTS.csv --out OUT.csv [--no-gate]``: ``record, sample, time_s, <label>...``;
  a label ``N``/``normal`` also weighs the trained detector unless ``--no-gate`` (``core.zeroshot.gate_normal``).
- Several files (``score``/``rhythm``, ``--workers N``, ``--scheduler ADDRESS``): ``core.batch.score_batch``; every
  bad file is an error row (``path``, ``error`` columns) and a summary line on stderr; exit 1 if any failed, 2 if
  none was scored. One file keeps the single-input contract below. ``zeroshot`` with several files (serial): the
  good records' rows are written, each bad file is one ``error: PATH: why`` line on stderr (no error rows: the CSV
  keeps its columns), exit 1 if any failed, 2 if none was scored.
Any input that cannot be scored: exit status 2 and one line on stderr saying why (no traceback); the
traceback goes to the log (``logging.exception``), so a programming error is never mistaken for bad input.
Training code (``core.training``) is imported only inside ``train`` and ``evaluate``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core import config
from core.case_output import beat_rows, case_json, json_default, rhythm_rows

if TYPE_CHECKING:
    from core.io import Record

log = logging.getLogger(__name__)


class CliError(Exception):
    """A reason to stop, printed as one line."""


def expand_paths(paths: list[str]) -> list[Path]:
    """Files to score: each PATH itself, or every record file in a folder (``core.batch.expand_inputs``)."""
    from core.batch import expand_inputs

    return expand_inputs(paths)  # BatchInputError is a ValueError: one line, exit 2


def _read(path: Path, fs: float | None):
    from core.io import read_record

    return read_record(path, fs=fs)


def _note_text(note_path: str | None) -> str | None:
    """The note of ``score --note``, checked by ``core.text.note_file.read_note_bytes``."""
    from core.text.note_file import MAX_NOTE_BYTES, NoteFileError, read_note_bytes

    if not note_path:
        return None
    p = Path(note_path)
    if not p.is_file():
        raise CliError(f"{p}: note file not found")
    try:
        size = p.stat().st_size
        if size > MAX_NOTE_BYTES:  # refused without reading it all
            with p.open("rb") as f:
                return read_note_bytes(f.read(MAX_NOTE_BYTES + 1), str(p), size)
        return read_note_bytes(p.read_bytes(), str(p))
    except NoteFileError as exc:
        raise CliError(str(exc)) from None


def _warn_notices(record_name: str, notices: list[str]) -> None:
    """Each notice of a case (reader, resampling, lead choice, note length; ``CaseResult.notices``) as one
    ``warning:`` line on stderr, never on stdout (which may carry the CSV). A notice that does not name its
    file first (``100.hea: ...``) is prefixed with the record's name, so that a batch says which file it is about."""
    from tqdm import tqdm

    for notice in notices:
        text = " ".join(str(notice).split())  # one line each, whatever the notice holds
        if not (text.startswith(record_name) and text[len(record_name):len(record_name) + 1] in (":", ".")):
            text = f"{record_name}: {text}"
        tqdm.write(f"warning: {text}", file=sys.stderr)  # above a progress bar, not through it


def _progress(items, desc: str):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="record", file=sys.stderr, disable=len(items) < 2 and not sys.stderr.isatty())


# ---- models, loaded once per process (the parent, or each Dask worker) ------------------------------------
_CACHE: dict = {}


def _cached(key: tuple, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _bundle(model: str | None):
    from core.model.bundle import load_bundle

    return _cached(("bundle", model), lambda: load_bundle(model))


def _text_encoder(bundle):
    from core.text.encoder import load_text_encoder

    c = bundle.config
    return _cached(("text", c.text_model, c.pooling), lambda: load_text_encoder(c.text_model, c.pooling))


def _prompts(path: str | None):
    from core import zeroshot

    return _cached(("prompts", path), lambda: zeroshot.load_prompts(path or config.DEFAULT_PROMPT_BANK))


@dataclass(frozen=True)
class CaseScorer:
    """``score_one`` for ``core.batch.score_batch``: one record file -> its rows. Picklable (options only);
    the bundle, BERT and the prompt bank are loaded lazily, once per process.

    ``kind``: 'beats' (the score CSV rows), 'json' (one row, column ``json``: the record's JSON entry) or
    'rhythm' (the rhythm CSV rows).
    """

    kind: str = "beats"
    model: str | None = None
    note: str | None = None
    fs: float | None = None
    prompts: str | None = None

    def __call__(self, path: Path) -> pd.DataFrame:
        record = _read(Path(path), self.fs)  # a bad file fails before torch and the model are loaded
        from core.predict import analyse_case

        bundle = _bundle(self.model)
        te = _text_encoder(bundle) if (self.note is not None or self.kind == "json") else None
        case = analyse_case(record, self.note, bundle, te if self.note is not None else None)
        _warn_notices(record.name, case.notices)
        if self.kind == "rhythm":
            return rhythm_rows(case)
        df = beat_rows(case)
        if self.kind == "json":
            entry = case_json(case, df, bundle, te, _prompts(self.prompts))
            return pd.DataFrame({"record": [record.name], "json": [json.dumps(entry, default=json_default)]})
        return df


def _run_batch(files: list[Path], scorer: CaseScorer, args) -> tuple[pd.DataFrame, int]:
    """One file: scored here, its error raised (one line, exit 2). Several: ``score_batch`` (error rows,
    summary on stderr, exit 1 when some failed, 2 when none was scored)."""
    if len(files) == 1:
        return scorer(files[0]), 0
    _bundle(scorer.model)  # a missing or bad bundle (or prompt file) stops the run once, not once per file
    if scorer.kind == "json":
        _prompts(scorer.prompts)
    from core.batch import score_batch

    res = score_batch(files, scorer, workers=args.workers, scheduler=args.scheduler, progress=True)
    print(res.summary(), file=sys.stderr)
    return res.table, res.exit_status


def cmd_score(args) -> int:
    files = expand_paths(args.paths)
    note = _note_text(args.note)
    want_json = bool(args.out and args.out.endswith(".json"))
    scorer = CaseScorer("json" if want_json else "beats", args.model, note, args.fs, args.prompts)
    table, status = _run_batch(files, scorer, args)
    if want_json:
        failed = table["error"] != "" if "error" in table else pd.Series(False, index=table.index)
        errors = table.loc[failed, ["record", "path", "error"]].to_dict("records") if failed.any() else []
        _write(pd.DataFrame(), [json.loads(x) for x in table.loc[~failed, "json"]], args.out, errors)
    else:
        _write(table, [], args.out)
    return status


def cmd_rhythm(args) -> int:
    files = expand_paths(args.paths)
    table, status = _run_batch(files, CaseScorer("rhythm", args.model, None, args.fs), args)
    _write(table, [], args.out)
    return status


def _write(df: pd.DataFrame, records: list[dict], out: str | None, errors: list[dict] | None = None) -> None:
    if out is None:
        df.to_csv(sys.stdout, index=False)
        return
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".json":
        doc = {"records": records, **({"errors": errors} if errors else {})}
        p.write_text(json.dumps(doc, indent=1, default=json_default))
    else:
        df.to_csv(p, index=False)


#: Columns of the zero-shot CSV besides one per label: a prompt label with one of these names would overwrite it.
ZEROSHOT_KEYS = ("record", "sample", "time_s")


def _zeroshot_inputs(args) -> tuple[list[Path], pd.DataFrame, dict[Path, Record], dict[Path, str]]:
    """The files, the prompt table, the first readable record (``{path: record}``) and the files that failed
    to read before it (``{path: message}``) of ``zeroshot``, all checked before torch, the bundle and BERT are
    loaded (seconds), so that a bad input fails at once: every record file exists and is readable, ``--out`` is
    not a folder, and the prompt file parses with valid labels (``load_prompts``: two at least, none differing
    only in case or starting like a formula; none named like an output column). One file that does not read as an
    ECG raises (one line, exit 2); of several, a bad one is an ``error:`` line (``_zeroshot_failed``) and the run
    goes on, with no record at all when none reads."""
    files = expand_paths(args.paths)
    unreadable = [f for f in files if not os.access(f, os.R_OK)]
    if unreadable:
        raise CliError(f"{unreadable[0]}: permission denied; the record file cannot be read")
    if args.out and Path(args.out).is_dir():
        raise CliError(f"{args.out}: is a folder; give --out a file name such as zeroshot.csv")
    prompts = _prompts(args.prompts)
    clash = [c for c in ZEROSHOT_KEYS if c in set(prompts["label"])]
    if clash:
        raise CliError(f"{args.prompts}: the label {clash[0]!r} is also a column of the output "
                       f"({', '.join(ZEROSHOT_KEYS)}); rename that label")
    if len(files) == 1:
        return files, prompts, {files[0]: _read(files[0], args.fs)}, {}
    failed: dict[Path, str] = {}
    for f in files:
        try:
            return files, prompts, {f: _read(f, args.fs)}, failed
        except Exception:  # noqa: BLE001 - as in `score`: one bad file of several must not end the run
            failed[f] = _zeroshot_failed(f)
    return files, prompts, {}, failed


def _zeroshot_failed(path: Path) -> str:
    """For the exception being handled: the traceback to the log (``core.batch._failed``, as ``score`` does), one
    ``error: PATH: message`` line on stderr (above the progress bar); returns the message."""
    from tqdm import tqdm

    from core.batch import _failed

    msg = _failed(path)
    tqdm.write(f"error: {path}: {msg}", file=sys.stderr)
    return msg


def cmd_zeroshot(args) -> int:
    """Like ``score``: with several files, each bad one is an ``error:`` line on stderr and the good records'
    rows are still written; exit 1 when some failed, 2 when none was scored."""
    files, prompts, pending, failed = _zeroshot_inputs(args)  # before any model: a bad input fails in a second
    if not pending:
        return 2  # several files, none readable: each already said why
    from core import zeroshot
    from core.predict import analyse_case

    # zero-shot claims need a bundle whose training never saw V or F labels (config.ZEROSHOT_MODEL_VERSION)
    bundle = _bundle(args.model or str(config.MODELS_DIR / config.ZEROSHOT_MODEL_VERSION))
    te = _text_encoder(bundle)
    # pending: the first readable record, read once, handed over (and let go) on its pass of the loop
    rows = []
    for f in _progress(files, "zero-shot"):
        if f in failed:
            continue
        try:
            record = pending.pop(f) if f in pending else _read(f, args.fs)
            case = analyse_case(record, None, bundle, None)
            _warn_notices(record.name, case.notices)
            zs = zeroshot.score_case(case, prompts, bundle, te, gate=not args.no_gate)
        except Exception:  # noqa: BLE001
            if len(files) == 1:
                raise  # one file keeps the single-input contract: its error, one line, exit 2
            failed[f] = _zeroshot_failed(f)
            continue
        df = zs.beat_probs.copy()
        df.insert(0, "record", record.name)
        rows.append(df)
    if not rows:
        return 2
    _write(pd.concat(rows, ignore_index=True), [], args.out)
    return 1 if failed else 0


def cmd_evaluate(args) -> int:
    from core.report.tables import metrics_tables_markdown
    from core.training.evaluate import evaluate_bundle

    data = Path(args.data)
    if not data.is_dir():
        raise CliError(f"{data}: no such data folder")
    records = args.records or list(config.TEST_RECORDS)
    missing = [r for r in records if not (data / f"{r}.hea").is_file()]
    if missing:
        raise CliError(f"{data}: no record {', '.join(missing)} (expected <record>.hea there)")
    metrics = evaluate_bundle(_bundle(args.model), data, records, log=lambda m: print(m, file=sys.stderr))
    if args.out:
        p = Path(args.out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(metrics, indent=2, default=json_default))
    print(metrics_tables_markdown(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="CardioLens command line")
    sub = ap.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default=None, help="model bundle folder (default assets/models/<default version>)")
    common.add_argument("--fs", type=float, default=None, help="sampling rate in Hz, for CSV without a time column or .npy")
    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--workers", type=int, default=1, help="Dask worker processes for a folder (default 1: serial)")
    batch.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786); --workers is ignored")

    s = sub.add_parser("score", parents=[common, batch], help="score every detected beat of one or more records")
    s.add_argument("paths", nargs="+", help=".hea, .csv, .edf, .npy, .zip, or a folder of records")
    s.add_argument("--note", help="clinical note, UTF-8 text file (enables the fused view)")
    s.add_argument("--prompts", help="prompt CSV for the JSON output's zero-shot scores (default: the bank)")
    s.add_argument("--out", help="results.csv or results.json (default: CSV on stdout)")
    s.set_defaults(func=cmd_score)

    z = sub.add_parser("zeroshot", parents=[common], help="beat-level zero-shot probabilities for text prompts")
    z.add_argument("paths", nargs="+")
    z.add_argument("--prompts", required=True, help="CSV with columns label,prompt")
    z.add_argument("--out", help="OUT.csv (default stdout)")
    z.add_argument("--no-gate", action="store_true",
                   help="plain similarity softmax (CLIP, seed 001): N is scored by the prompts alone, not also by the trained detector")
    z.set_defaults(func=cmd_zeroshot)

    # its options live with the recipes in core.training.recipes, imported only when `train` runs (see main)
    sub.add_parser("train", add_help=False, help="train from scratch (a recipe: ours, a seed system, or v1); `train --help`")

    r = sub.add_parser("rhythm", parents=[common, batch], help="rhythm episodes of one or more records")
    r.add_argument("paths", nargs="+", help=".hea, .csv, .edf, .npy, .zip, or a folder of records")
    r.add_argument("--out", help="OUT.csv: record, rhythm, start_s, end_s, confidence, detail (default: stdout)")
    r.set_defaults(func=cmd_rhythm)

    e = sub.add_parser("evaluate", parents=[common], help="metrics tables of a shipped bundle on MIT-BIH records, no training")
    e.add_argument("--data", required=True, help="MIT-BIH folder (e.g. ../shared/data/mitdb)")
    e.add_argument("--records", nargs="+", help="records to evaluate (default: the test split, DS2 + 107, 217)")
    e.add_argument("--out", help="metrics JSON to write (default: print the tables only)")
    e.set_defaults(func=cmd_evaluate)

    sub.add_parser("bench", help="benchmark against the naive pipeline (core/bench.py; `bench --help` for options)")
    return ap


def setup_logging() -> None:
    """Send log records (with tracebacks) to a file, not to stderr, unless the caller configured logging.

    The file is ``$CARDIOLENS_LOG`` or ``<tempdir>/cardiolens-cli.log``; stderr keeps its one-line
    contract (an unconfigured ``logging.exception`` would print the traceback there).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    path = os.environ.get("CARDIOLENS_LOG") or str(Path(tempfile.gettempdir()) / "cardiolens-cli.log")
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the benchmark has its own options; argparse would not pass them through
        from core import bench

        return bench.main(argv[1:])
    if argv[:1] == ["train"]:
        argv, rest = argv[:1], argv[1:]
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "train":
            from core.training import recipes

            return recipes.main(rest)
        return args.func(args)
    except CliError as e:
        log.exception("`%s` stopped", args.command)
        print(f"error: {e}", file=sys.stderr)
    except (ValueError, FileNotFoundError, OSError) as e:  # RecordReadError, PromptError are ValueErrors
        log.exception("`%s` could not read its input", args.command)
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    except Exception as e:  # last resort: one line for the user, the traceback in the log
        log.exception("unexpected error in `%s`", args.command)
        print(f"error: could not process the input ({type(e).__name__}: {e})", file=sys.stderr)
    return 2
