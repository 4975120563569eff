"""Write ``docs/rhythm_ds2.md``: the shipped pipeline's rhythm statements for DS2 + 107, 217 beside the
MIT-BIH reference rhythms (minutes under each aux-note rhythm label of the .atr file).

    python -m scripts.rhythm_table [--data ../shared/data/mitdb] [--out docs/rhythm_ds2.md]

Reporting only: nothing here is tuned on these records.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import wfdb

from core import config
from core.io import read_record
from core.model.bundle import load_bundle
from core.predict import analyse_case
from core.text.notes import rhythm_durations


def reference_minutes(path: Path) -> str:
    """'N 16.0, B 13.9, ...': minutes under each reference rhythm label (``core.text.notes.rhythm_durations``)."""
    ann, hdr = wfdb.rdann(str(path), "atr"), wfdb.rdheader(str(path))
    dur = rhythm_durations(ann.sample, ann.aux_note, hdr.sig_len)
    return ", ".join(f"{k.lstrip('(')} {v / hdr.fs / 60:.1f}" for k, v in sorted(dur.items(), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=config.MITDB_DIR)
    ap.add_argument("--out", type=Path, default=config.REPO_ROOT / "docs" / "rhythm_ds2.md")
    a = ap.parse_args()
    bundle = load_bundle(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION)
    lines = ["# DS2 + 107, 217: rhythm statements of the shipped pipeline beside the MIT-BIH reference rhythms", "",
             f"`core.predict.analyse_case` with bundle {bundle.config.version}, no note, our own R-peak detector. "
             "Reference rhythms: minutes under each aux-note rhythm label of the .atr file (the rhythm reading "
             "never saw these records while tuning). Written by `python -m scripts.rhythm_table`.", "",
             "| record | reference rhythms (min) | CardioLens statements | verdict |", "|---|---|---|---|"]
    for r in config.TEST_RECORDS:
        case = analyse_case(read_record(a.data / f"{r}.hea"), None, bundle)
        lines.append(f"| {r} | {reference_minutes(a.data / r)} | {'; '.join(case.statements)} | {case.verdict} |")
        print(lines[-1][:160], flush=True)
    a.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
