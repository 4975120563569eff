"""The seed systems side by side: mean +/- sd over the seeds trained for each recipe (issue 13).

    python -m scripts.recipe_table --runs RUNS [--recipes ours seed000 ...] [--out docs/recipes.md]

Reads ``RUNS/<recipe>/seed<k>/metrics.json`` (written by ``python -m core train --recipe NAME --seeds ...
--runs RUNS``) and the zero-shot results ``zeroshot.json`` beside it (``python -m scripts.eval_zeroshot
../shared/data/mitdb --model RUNS/<recipe>/seed<k>``, computed here when missing), and writes one markdown
table, with the raw per-seed numbers in ``<out>.json``. The recipe a rule fixed in advance would pick
(highest mean record-grouped OOF AUC of the ECG-only view, training records only) is marked.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from core import config

RECIPES = ("ours", "seed000", "seed001", "merl", "fgclep", "merit")
#: (column, where in the run's files, key path)
COLUMNS = (
    ("DS2 AUC", "metrics", ("test", "ecg_only", "auc")),
    ("S-vs-N AUC", "metrics", ("test", "ecg_only", "S_vs_N_auc")),
    ("S se", "metrics", ("test", "ecg_only", "S_sensitivity")),
    ("OOF AUC", "metrics", ("oof_train", "ecg", "auc")),
    ("ZS bank V-vs-rest", "zeroshot", ("results", "all/mean", "auc", "V")),
    ("ZS bank V-vs-S", "zeroshot", ("results", "all/mean", "V_vs_S")),
    ("ZS bank F vs N+V", "zeroshot", ("results", "all/mean", "F_vs_NV")),
    ("ZS bank bal. acc", "zeroshot", ("results", "all/mean", "balanced_acc")),
    ("ZS bank acc", "zeroshot", ("results", "all/mean", "accuracy")),
    ("ZS bank bal. acc, no gate", "zeroshot", ("results", "all/mean/no-gate", "balanced_acc")),
    ("ZS bank acc, no gate", "zeroshot", ("results", "all/mean/no-gate", "accuracy")),
    ("ZS names V-vs-S", "zeroshot", ("results", "name/mean", "V_vs_S")),
    ("ZS names bal. acc", "zeroshot", ("results", "name/mean", "balanced_acc")),
    ("ZS names acc", "zeroshot", ("results", "name/mean", "accuracy")),
    ("train min", "metrics", ("train_seconds",)),
)


def _get(d: dict, path: tuple) -> float:
    for k in path:
        d = d[k]
    return float(d)


def _zeroshot(run: Path, data: Path) -> dict:
    f = run / "zeroshot.json"
    if not f.is_file():
        subprocess.run([sys.executable, "-m", "scripts.eval_zeroshot", str(data), "--model", str(run), "--out", str(f)],
                       check=True, cwd=config.REPO_ROOT, capture_output=True)
    return json.loads(f.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--recipes", nargs="*", default=list(RECIPES))
    ap.add_argument("--data", type=Path, default=config.MITDB_DIR)
    ap.add_argument("--out", type=Path, default=config.REPO_ROOT / "docs" / "recipes.md")
    a = ap.parse_args()
    rows, raw = [], {}
    for r in a.recipes:
        runs = sorted((a.runs / r).glob("seed*"))
        runs = [d for d in runs if (d / "metrics.json").is_file()]
        if not runs:
            continue
        vals = {c: [] for c, *_ in COLUMNS}
        for d in runs:
            src = {"metrics": json.loads((d / "metrics.json").read_text()), "zeroshot": _zeroshot(d, a.data)}
            for c, where, path in COLUMNS:
                v = _get(src[where], path)
                vals[c].append(v / 60 if c == "train min" else v)
        raw[r] = {"seeds": [d.name for d in runs], **vals}
        rows.append((r, len(runs), {c: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"))
                                    for c, v in vals.items()}))
    pick = max(rows, key=lambda row: row[2]["OOF AUC"][0])[0] if rows else None
    head = "| recipe | seeds | " + " | ".join(c for c, *_ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for r, n, s in rows:
        cells = [f"{m:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{m:.3f}" for m, sd in s.values()]
        lines.append(f"| {r}{' (OOF pick)' if r == pick else ''} | {n} | " + " | ".join(cells) + " |")
    a.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    a.out.with_suffix(".json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
