"""The record verdict on 10 s strips: sensitivity for premature beats, pacing and AF/flutter, and specificity on
sinus strips with normal beats only, against the MIT-BIH reference annotations.

    python -m scripts.strip_verdicts [--split test|train] [--per-record 30] [--out docs/strip_verdicts.md]

Each record is cut into non-overlapping 10 s strips (``--per-record`` of them, spread evenly over the record);
each strip goes through ``core.predict.analyse_case`` on its own, without a note, as a 10 s clinical ECG would.
A strip is positive when the reference has an S or V beat in it ("premature"), a paced or paced-fusion beat
("pacing") or any AF/flutter time ("AF"); negative ("normal ECG") when its rhythm is sinus ("(N") throughout, every
beat is a plain normal beat ('N': bundle-branch-block beats are not a normal ECG) and the record's header does not
document AV block; anything else (F beats alone, other rhythms, BBB) is left out. Reporting only: no threshold is chosen here
(the verdict's thresholds were chosen on the training records, see ``core.predict``).
"""
from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np

from core import config
from core.io import read_record
from core.model.bundle import load_bundle
from core.predict import analyse_case

STRIP_S = 10.0
_AF = {"(AFIB", "(AFL"}


def rhythm_spans(ann, n_samples: int) -> list[tuple[str, int, int]]:
    """(label, start, end) in samples from the rhythm changes of the aux notes; end exclusive."""
    marks = [(int(s), a.strip("\x00")) for s, a in zip(ann.sample, ann.aux_note) if a.startswith("(")]
    return [(lab, s, marks[i + 1][0] if i + 1 < len(marks) else n_samples) for i, (s, lab) in enumerate(marks)]


def strip_truth(ann, spans, a: int, b: int) -> set[str] | None:
    """Reference categories of samples [a, b): a set of 'premature', 'pacing', 'AF'; empty set for a normal
    sinus strip; None when the strip is neither (left out)."""
    sel = (ann.sample >= a) & (ann.sample < b)
    classes = {config.AAMI_CLASS.get(s) for s in np.asarray(ann.symbol)[sel]} - {None}
    rhythms = {lab for lab, s, e in spans if s < b and e > a}
    found = set()
    if classes & {"S", "V"}:
        found.add("premature")
    if "Q" in classes:
        found.add("pacing")
    if rhythms & _AF:
        found.add("AF")
    if found:
        return found
    plain = set(np.asarray(ann.symbol)[sel]) <= {"N", "+", "~", "|", "x", '"'}  # beats 'N', non-beat marks allowed
    return set() if rhythms == {"(N"} and classes == {"N"} and plain else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("test", "train"), default="test")
    ap.add_argument("--per-record", type=int, default=30)
    ap.add_argument("--data", type=Path, default=config.MITDB_DIR)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    bundle = load_bundle(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION)
    records = config.TEST_RECORDS if a.split == "test" else config.TRAIN_RECORDS
    rows = []
    for r in records:
        rec = read_record(a.data / f"{r}.hea")
        ann, n = rec.annotations, rec.n_samples
        w = int(round(STRIP_S * rec.fs))
        starts = np.arange(0, n - w + 1, w)
        starts = starts[np.unique(np.linspace(0, len(starts) - 1, min(a.per_record, len(starts))).round().astype(int))]
        spans = rhythm_spans(ann, n)
        av_block = any("av block" in c.lower() for c in rec.comments)
        for s in starts:
            truth = strip_truth(ann, spans, s, s + w)
            if truth is None or (av_block and not truth):
                continue
            strip = dataclasses.replace(rec, name=f"{r}_{s}", signal=rec.signal[s:s + w].copy(), annotations=None)
            case = analyse_case(strip, None, bundle)
            rows.append((r, int(s), truth, case.verdict == "abnormal", "; ".join(case.statements),
                         case.verdict == "unreadable"))
        print(r, len(rows), flush=True)
    lines = _summary(rows, a.split)
    print("\n".join(lines))
    if a.out:
        a.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _summary(rows, split: str) -> list[str]:
    neg = [x for x in rows if not x[2]]
    spec = np.mean([not x[3] for x in neg]) if neg else float("nan")
    pos = [x for x in rows if x[2]]
    out = [f"# 10 s strip verdicts, {split} records ({len(rows)} strips; `python -m scripts.strip_verdicts --split {split}`)",
           "", "| reference | strips | called abnormal |", "|---|---|---|",
           f"| any of premature / pacing / AF | {len(pos)} | {np.mean([x[3] for x in pos]):.3f} (sensitivity) |"]
    for cat in ("premature", "pacing", "AF"):
        sub = [x for x in pos if cat in x[2]]
        if sub:
            out.append(f"| {cat} | {len(sub)} | {np.mean([x[3] for x in sub]):.3f} |")
    out.append(f"| sinus, N beats only | {len(neg)} | {1 - spec:.3f} (specificity {spec:.3f}) |")
    missed = Counter(x[0] for x in pos if not x[3])
    false_abnormal = Counter(x[0] for x in neg if x[3])
    unread = Counter(x[0] for x in rows if x[5])
    return out + ["", "Missed positive strips by record: " + ", ".join(f"{k} {v}" for k, v in missed.most_common()),
                  "False abnormal strips by record: " + ", ".join(f"{k} {v}" for k, v in false_abnormal.most_common()),
                  f"Strips called unreadable (no verdict; counted as not abnormal above): {sum(unread.values())} "
                  f"({sum(x[5] for x in pos)} positive, {sum(x[5] for x in neg)} negative)"
                  + (": " + ", ".join(f"{k} {v}" for k, v in unread.most_common()) if unread else "")]


if __name__ == "__main__":
    main()
