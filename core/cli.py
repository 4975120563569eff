"""The command line: ``python -m core score|zeroshot|train|evaluate|bench`` (also installed as ``cardiolens``).

Contracts relied on from outside (../shared/DESIGN.md):
- ``score PATH... [--note FILE] [--out OUT.csv|OUT.json]``: CSV one row per detected beat with
  ``record, sample, time_s, p_abnormal, predicted`` (sample at the record's original fs).
- ``zeroshot PATH --prompts PROMPTS.csv --out OUT.csv``: ``record, sample, time_s, <label>...``.
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
from pathlib import Path

import numpy as np
import pandas as pd

from core import config

log = logging.getLogger(__name__)


class CliError(Exception):
    """A reason to stop, printed as one line."""


def expand_paths(paths: list[str]) -> list[Path]:
    """Files to score: each PATH itself, or every record file in a folder (one per WFDB record)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in config.RECORD_SUFFIXES)
            if not found:
                raise CliError(f"{p}: no ECG records (.hea, .csv, .edf, .npy, .zip) in this folder")
            out.extend(found)
        elif p.exists():
            out.append(p)
        elif p.with_suffix(".hea").exists():  # a WFDB record name without extension
            out.append(p.with_suffix(".hea"))
        else:
            raise CliError(f"{p}: no such file or folder")
    return out


def _read(path: Path, fs: float | None):
    from core.io import read_record

    return read_record(path, fs=fs)


def _note_text(note_path: str | None) -> str | None:
    if not note_path:
        return None
    p = Path(note_path)
    if not p.is_file():
        raise CliError(f"{p}: note file not found")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{p}: the note is not UTF-8 text; save it as UTF-8 and try again") from None
    if not text.strip():
        raise CliError(f"{p}: the note file is empty")
    return text


def _progress(items, desc: str):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="record", file=sys.stderr, disable=len(items) < 2 and not sys.stderr.isatty())


def cmd_score(args) -> int:
    from core.model.bundle import load_bundle
    from core.predict import analyse_case

    files = expand_paths(args.paths)
    note = _note_text(args.note)
    bundle = load_bundle(args.model)
    want_json = bool(args.out and args.out.endswith(".json"))
    text_encoder, prompts = None, None
    if note is not None or want_json:  # BERT once per run: the fused head, or JSON zero-shot and attention
        from core.text.encoder import load_text_encoder

        text_encoder = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    if want_json:
        from core import zeroshot

        prompts = zeroshot.load_prompts(args.prompts or config.DEFAULT_PROMPT_BANK)
    rows, records = [], []
    for f in _progress(files, "scoring"):
        record = _read(f, args.fs)
        case = analyse_case(record, note, bundle, text_encoder if note is not None else None)
        t = case.table
        df = pd.DataFrame({"record": record.name, "sample": t["sample"].astype(int), "time_s": t["time_s"].round(4),
                           "p_abnormal": t["p_abnormal"].round(6), "predicted": t["predicted"].astype(int),
                           "p_ecg": t["p_ecg"].round(6), "p_note": t["p_note"].round(6), "p_fused": t["p_fused"].round(6)})
        if "ref_symbol" in t:
            df["ref_symbol"] = t["ref_symbol"].to_numpy()
        rows.append(df)
        if want_json:
            records.append(_case_json(case, df, bundle, text_encoder, prompts))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    _write(out, records, args.out)
    return 0


def _case_json(case, df, bundle, text_encoder, prompts) -> dict:
    """Record verdict, beats, zero-shot scores and explanations for the JSON output."""
    from core import explain, zeroshot

    entry = {
        "record": case.record.name, "fs": case.record.fs, "leads": case.beats.lead_names, "model_version": case.model_version,
        "view": case.view, "verdict": case.verdict, "p_record": case.p_record, "threshold": case.threshold,
        "agreement": case.agreement, "notices": case.notices, "n_beats": len(df), "n_flagged": case.n_flagged,
        "beats": json.loads(df.to_json(orient="records")),
    }
    entry["zeroshot_record"] = zeroshot.score_case(case, prompts, bundle, text_encoder).record_probs.to_dict()
    if len(df):
        top = int(np.nanargmax(case.table["p_abnormal"].to_numpy()))
        ex = explain.shap_features(case, bundle, top)
        entry["explanation_top_beat"] = {"beat_index": top, "base_value": ex.base_value, "prediction": ex.prediction,
                                         "shap": json.loads(ex.to_frame().to_json(orient="records"))}
    if case.note is not None:
        entry["note_attention"] = json.loads(explain.note_attention(case.note.text, text_encoder).to_json(orient="records"))
    return entry


def _write(df: pd.DataFrame, records: list[dict], out: str | None) -> None:
    if out is None:
        df.to_csv(sys.stdout, index=False)
        return
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".json":
        p.write_text(json.dumps({"records": records}, indent=1, default=_json_default))
    else:
        df.to_csv(p, index=False)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def cmd_zeroshot(args) -> int:
    from core import zeroshot
    from core.model.bundle import load_bundle
    from core.predict import analyse_case
    from core.text.encoder import load_text_encoder

    files = expand_paths(args.paths)
    bundle = load_bundle(args.model)
    prompts = zeroshot.load_prompts(args.prompts)
    te = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    rows = []
    for f in _progress(files, "zero-shot"):
        record = _read(f, args.fs)
        case = analyse_case(record, None, bundle, None)
        zs = zeroshot.score_case(case, prompts, bundle, te)
        df = zs.beat_probs.copy()
        df.insert(0, "record", record.name)
        rows.append(df)
    _write(pd.concat(rows, ignore_index=True), [], args.out)
    return 0


def cmd_train(args) -> int:
    from dataclasses import fields

    from core.training.experiment import run_experiment
    from core.training.loop import TrainOptions

    data = Path(args.data)
    if not (data / "RECORDS").is_file():
        raise CliError(f"{data}: not a MIT-BIH folder (no RECORDS file)")
    opts = TrainOptions(**{f.name: getattr(args, f.name) for f in fields(TrainOptions) if getattr(args, f.name, None) is not None})
    run_experiment(data, args.out, opts, version=args.version, ablations=not args.no_ablations)
    return 0


def cmd_evaluate(args) -> int:
    from core.model.bundle import load_bundle
    from core.report.tables import metrics_tables_markdown
    from core.training.evaluate import evaluate_bundle

    data = Path(args.data)
    if not data.is_dir():
        raise CliError(f"{data}: no such data folder")
    records = args.records or list(config.TEST_RECORDS)
    missing = [r for r in records if not (data / f"{r}.hea").is_file()]
    if missing:
        raise CliError(f"{data}: no record {', '.join(missing)} (expected <record>.hea there)")
    bundle = load_bundle(args.model)
    metrics = evaluate_bundle(bundle, data, records, log=lambda m: print(m, file=sys.stderr))
    if args.out:
        p = Path(args.out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(metrics, indent=2, default=_json_default))
    print(metrics_tables_markdown(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="CardioLens command line")
    sub = ap.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default=None, help="model bundle folder (default assets/models/<default version>)")
    common.add_argument("--fs", type=float, default=None, help="sampling rate in Hz, for CSV without a time column or .npy")

    s = sub.add_parser("score", parents=[common], help="score every detected beat of one or more records")
    s.add_argument("paths", nargs="+", help=".hea, .csv, .edf, .npy, .zip, or a folder of records")
    s.add_argument("--note", help="clinical note, UTF-8 text file (enables the fused view)")
    s.add_argument("--prompts", help="prompt CSV for the JSON output's zero-shot scores (default: the bank)")
    s.add_argument("--out", help="results.csv or results.json (default: CSV on stdout)")
    s.set_defaults(func=cmd_score)

    z = sub.add_parser("zeroshot", parents=[common], help="beat-level zero-shot probabilities for text prompts")
    z.add_argument("paths", nargs="+")
    z.add_argument("--prompts", required=True, help="CSV with columns label,prompt")
    z.add_argument("--out", help="OUT.csv (default stdout)")
    z.set_defaults(func=cmd_zeroshot)

    t = sub.add_parser("train", help="train from scratch on MIT-BIH and evaluate on DS2")
    t.add_argument("--data", required=True, help="MIT-BIH folder (e.g. ../shared/data/mitdb)")
    t.add_argument("--out", default="assets/models/v1")
    t.add_argument("--version", default="v1")
    t.add_argument("--seed", type=int)
    t.add_argument("--epochs", type=int)
    t.add_argument("--oof-epochs", dest="oof_epochs", type=int)
    t.add_argument("--encoder", choices=["cnn", "mlp"])
    t.add_argument("--contrastive", choices=["ntxent", "siglip", "none"])
    t.add_argument("--unimodal-weight", dest="unimodal_weight", type=float)
    t.add_argument("--recon-weight", dest="recon_weight", type=float)
    t.add_argument("--no-ablations", action="store_true")
    t.set_defaults(func=cmd_train)

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
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
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
