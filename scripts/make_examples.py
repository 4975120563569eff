"""Rebuild the bundled example cases in ``assets/examples/`` from the MIT-BIH Arrhythmia Database.

Each case is a short cut (150 s, one 10 s CSV) of a *test-split* record (``config.TEST_RECORDS``:
DS2 of de Chazal et al. 2004 plus the paced records 107 and 217), so a model trained on DS1 never
sees it. The segment of each record is not picked by hand: the record is scanned in 10 s steps and
the window that maximises a per-case score over the reference annotations is kept (ties go to the
earliest window), which makes the output deterministic.

Per case the script writes
  ``<case>.hea/.dat``  WFDB record, format 212, original ADC gain/baseline, lead names and header
                       comments (age, sex, medications) kept, plus one comment naming the cut;
  ``<case>.atr``       every reference annotation inside the cut (beats, rhythm changes ``+``,
                       signal quality ``~``, artefacts ``|``...) re-based to the cut, and the rhythm
                       (and noise state) in force at the cut start restated at sample 0;
  ``note.txt``         a short clinical note written for that segment;
  ``case.json``        provenance, selection rule, what it shows, AAMI counts, licence.
The ``short_10s_csv`` case is a ``time_s,MLII,V1`` CSV (mV) whose reference beats live in case.json.

Usage::

    python scripts/make_examples.py ../shared/data/mitdb            # writes assets/examples/
    python scripts/make_examples.py ../shared/data/mitdb --out /tmp/examples
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import wfdb

from core import config

AAMI_LABELS = ("N", "S", "V", "F", "Q")
SCAN_STEP_S = 10
CREDIT = (
    "MIT-BIH Arrhythmia Database v1.0.0 (Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia "
    "Database. IEEE Eng Med Biol 20(3):45-50, 2001), PhysioNet (Goldberger AL et al., Circulation "
    "101(23):e215-e220, 2000), doi:10.13026/C2F305. Open Data Commons Attribution License v1.0 "
    "(ODC-By 1.0). Cut, with annotation samples re-based, by CardioLens scripts/make_examples.py; "
    "note.txt is written for this demo, not part of the database."
)
LICENSE = "ODC-By-1.0"


@dataclass(frozen=True)
class Window:
    """Reference-annotation summary of one candidate window of a record."""

    start_s: int
    aami: collections.Counter  # beats per AAMI class
    other: collections.Counter  # non-beat annotation symbols ('+', '~', '|', ...)
    rhythm_s: collections.Counter  # seconds spent in each rhythm (aux note of '+')
    noisy_s: int  # seconds in a '~' state with any channel marked noisy
    max_rr_s: float  # longest beat-to-beat interval (s)


@dataclass(frozen=True)
class CaseSpec:
    """One bundled case: which record, how long, how its window is scored, and its texts."""

    folder: str
    record: str
    duration_s: int
    score: Callable[[Window], float]
    rule: str  # the score in words, copied to case.json
    expected_start_s: int  # guards the hand-written note: rescans must land on the same window
    why: str
    shows: str
    note: str
    csv: bool = False


CASES: tuple[CaseSpec, ...] = (
    CaseSpec(
        folder="nsr_100",
        record="100",
        duration_s=150,
        score=lambda w: -(w.aami["S"] + w.aami["V"] + w.aami["F"] + w.aami["Q"]) - w.noisy_s,
        rule="fewest non-N beats and noisy seconds (earliest such window)",
        expected_start_s=10,
        why="Negative control: the first 150 s of record 100 that contain only normal beats in "
        "sinus rhythm with no noise marking.",
        shows="Normal sinus rhythm, all beats normal (AAMI N); the model should call nothing abnormal.",
        note=(
            '69-year-old man on methyldopa (Aldomet) and propranolol (Inderal) for hypertension. Routine 24-hour Holter before elective surgery. No palpitations and no pacemaker.'
        ),
    ),
    CaseSpec(
        folder="apb_232",
        record="232",
        duration_s=150,
        score=lambda w: w.aami["S"] * (w.max_rr_s > 4.0) - w.noisy_s / 10,
        rule="most S beats among windows holding a pause > 4 s, minus noisy seconds / 10",
        expected_start_s=1440,
        why="Record 232 is the hardest test record for the beat classifier (frequent atrial "
        "premature beats on a slow RBBB background); this window has the most APBs together with a "
        "long sinus pause and no noise marking.",
        shows="Sinus bradycardia (~43 bpm) with right bundle branch block, runs of ectopic atrial "
        "beats at ~80 bpm and a 4.3 s pause; the APBs have the same QRS shape as the sinus beats "
        "(template correlation 0.996 in MLII), so only timing and P waves separate S from N here.",
        note=(
            '76-year-old woman on methyldopa (Aldomet) and propranolol (Inderal). Known sick sinus syndrome with pauses. First-degree AV block on previous ECGs. Holter requested for dizzy spells.'
        ),
    ),
    CaseSpec(
        folder="pvc_bigeminy_200",
        record="200",
        duration_s=150,
        score=lambda w: w.rhythm_s["(B"] + w.aami["V"] - w.noisy_s,
        rule="most seconds in ventricular bigeminy plus V beats, minus noisy seconds",
        expected_start_s=1080,
        why="The DS2 window with the longest ventricular bigeminy and most PVCs (DS1 records such as "
        "119 or 208 are excluded).",
        shows="Ventricular bigeminy for most of the strip, multiform PVCs, couplets, two 3-4 beat "
        "salvos of ventricular tachycardia and brief returns to sinus rhythm.",
        note=(
            '64-year-old man on digoxin and quinidine. Referred for palpitations. Holter to quantify ectopy; noise expected in the lower channel.'
        ),
    ),
    CaseSpec(
        folder="paced_107",
        record="107",
        duration_s=150,
        score=lambda w: w.aami["Q"] + 5 * min(w.aami["V"], 6),
        rule="most paced beats, up to 6 PVCs rewarded",
        expected_start_s=1630,
        why="Paced test record (complete heart block with a ventricular pacemaker); the window "
        "keeps a handful of PVCs among the paced beats.",
        shows="Ventricular paced rhythm (AAMI Q) at ~70 bpm with occasional PVCs (AAMI V).",
        note=(
            '63-year-old man with complete heart block and a permanent pacemaker. On digoxin. Holter for pacemaker follow-up.'
        ),
    ),
    CaseSpec(
        folder="noisy_105",
        record="105",
        duration_s=150,
        score=lambda w: w.noisy_s + 10 * w.other["|"],
        rule="most noisy seconds plus 10 x isolated artefacts ('|')",
        expected_start_s=990,
        why="High-grade noise is the predominant feature of record 105 (its header says so); "
        "this window has the most marked noise and "
        "isolated QRS-like artefacts, to show how the app behaves on poor signal quality.",
        shows="Sinus rhythm obscured for long stretches by high-grade noise and artefact in both "
        "leads; isolated artefacts that can mimic QRS complexes; one PVC.",
        note=(
            '73-year-old woman on digoxin, nitropaste and procainamide (Pronestyl). Ambulatory Holter recorded at home. The technician reports a loose lead and heavy artefact on this tape.'
        ),
    ),
    CaseSpec(
        folder="afib_219",
        record="219",
        duration_s=150,
        score=lambda w: 1000 * w.rhythm_s["(AFIB"] - w.aami["V"] - w.noisy_s,
        rule="whole window in atrial fibrillation, fewest PVCs and noisy seconds",
        expected_start_s=640,
        why="Atrial fibrillation from the test split (201 and 203 are DS1): 150 s entirely in AF "
        "with almost no ectopy, so the only abnormality is the rhythm.",
        shows="Atrial fibrillation with an irregularly irregular ventricular response and no P "
        "waves; the beats themselves are normally conducted (AAMI N), one PVC.",
        note=(
            'Man, age not recorded, on digoxin. Known atrial fibrillation with conversions to sinus rhythm. Referred for a 24-hour Holter to check rate control. No pacemaker.'
        ),
    ),
    CaseSpec(
        folder="short_10s_csv",
        record="213",
        duration_s=10,
        score=lambda w: 100 * sum(w.aami[c] > 0 for c in "NSVF") + w.aami["V"] + w.aami["F"],
        rule="most distinct AAMI classes among N, S, V, F, then most V + F beats",
        expected_start_s=510,
        why="A 10 s two-lead strip as CSV to exercise the CSV upload path and to time a 10 s "
        "analysis; record 213 is chosen for its fusion beats.",
        shows="Sinus tachycardia (~110 bpm) with one APB, two PVCs and three fusion beats in 10 s "
        "(all four classes N, S, V, F).",
        note=(
            '61-year-old man on digoxin. Palpitations at rest. This is a 10-second strip from a 24-hour Holter.'
        ),
        csv=True,
    ),
)


def _state_per_second(sample: np.ndarray, values: list, n_seconds: int, fs: float, initial) -> list:
    """Value of a piecewise-constant annotation state (rhythm, noise) at the start of each second."""
    out, cur, j = [], initial, 0
    for k in range(n_seconds):
        while j < len(sample) and sample[j] <= k * fs:
            cur = values[j]
            j += 1
        out.append(cur)
    return out


def scan_windows(ann: wfdb.Annotation, sig_len: int, fs: float, duration_s: int) -> list[Window]:
    """Summarise every window of ``duration_s`` starting at a multiple of ``SCAN_STEP_S``."""
    sample = np.asarray(ann.sample)
    symbol = np.asarray(ann.symbol)
    aux = [_clean_aux(a) for a in ann.aux_note]
    n_seconds = int(sig_len // fs)
    is_rhythm = symbol == "+"
    is_noise = symbol == "~"
    rhythm = _state_per_second(sample[is_rhythm], [aux[i] for i in np.flatnonzero(is_rhythm)],
                               n_seconds, fs, "")
    noisy = _state_per_second(sample[is_noise], [int(s) != 0 for s in np.asarray(ann.subtype)[is_noise]],
                              n_seconds, fs, False)
    is_beat = np.isin(symbol, list(config.AAMI_CLASS))
    windows = []
    for start in range(0, n_seconds - duration_s + 1, SCAN_STEP_S):
        inside = (sample >= start * fs) & (sample < (start + duration_s) * fs)
        beats = sample[inside & is_beat]
        windows.append(Window(
            start_s=start,
            aami=collections.Counter(config.AAMI_CLASS[s] for s in symbol[inside & is_beat]),
            other=collections.Counter(symbol[inside & ~is_beat].tolist()),
            rhythm_s=collections.Counter(rhythm[start:start + duration_s]),
            noisy_s=int(sum(noisy[start:start + duration_s])),
            max_rr_s=float(np.diff(beats).max() / fs) if len(beats) > 1 else 0.0,
        ))
    return windows


def _clean_aux(note: str | None) -> str:
    """MIT-BIH aux strings carry a trailing NUL; drop it so '(AFIB' compares equal."""
    return (note or "").rstrip("\x00")


def cut_annotations(ann: wfdb.Annotation, start: int, stop: int) -> dict[str, list]:
    """Annotations with ``start <= sample < stop``, re-based to the cut.

    The rhythm ('+') and signal-quality ('~') states in force at ``start`` are restated at sample 0
    unless the source already has such an annotation exactly there, so a reader of the cut alone
    knows the rhythm and noise state from the first sample.
    """
    sample = np.asarray(ann.sample)
    cols = {
        "sample": sample,
        "symbol": list(ann.symbol),
        "subtype": np.asarray(ann.subtype),
        "chan": np.asarray(ann.chan),
        "num": np.asarray(ann.num),
        "aux_note": [_clean_aux(a) for a in ann.aux_note],
    }
    out = {k: [] for k in cols}
    for state in ("+", "~"):
        before = [i for i in range(len(sample)) if cols["symbol"][i] == state and sample[i] < start]
        at_start = any(cols["symbol"][i] == state and sample[i] == start for i in range(len(sample)))
        if not before or at_start:
            continue
        i = before[-1]
        if state == "~" and int(cols["subtype"][i]) == 0:
            continue  # clean signal is the default; restating it adds nothing
        for k in cols:
            out[k].append(0 if k == "sample" else cols[k][i])
    for i in np.flatnonzero((sample >= start) & (sample < stop)):
        for k in cols:
            out[k].append(int(sample[i] - start) if k == "sample" else cols[k][i])
    out["subtype"] = [int(v) for v in out["subtype"]]
    out["chan"] = [int(v) for v in out["chan"]]
    out["num"] = [int(v) for v in out["num"]]
    return out


def aami_counts(symbols: list[str]) -> dict[str, int]:
    """Reference beats per AAMI class (N, S, V, F, Q), zeros included."""
    c = collections.Counter(config.AAMI_CLASS[s] for s in symbols if s in config.AAMI_CLASS)
    return {label: int(c[label]) for label in AAMI_LABELS}


def build_case(spec: CaseSpec, mitdb_dir: Path, out_dir: Path) -> dict:
    """Scan ``spec.record``, cut the best window and write the case folder; return its case.json."""
    if spec.record not in config.TEST_RECORDS:
        raise ValueError(f"Record {spec.record} is a training record; bundle only config.TEST_RECORDS.")
    path = str(mitdb_dir / spec.record)
    header = wfdb.rdheader(path)
    ann = wfdb.rdann(path, "atr")
    fs = float(header.fs)
    windows = scan_windows(ann, header.sig_len, fs, spec.duration_s)
    best = max(windows, key=spec.score)  # max() keeps the first (earliest) of equal scores
    if best.start_s != spec.expected_start_s:
        raise RuntimeError(
            f"{spec.folder}: the scan now picks {best.start_s} s instead of {spec.expected_start_s} s; "
            "re-read that window, rewrite its note and update expected_start_s."
        )
    start = int(round(best.start_s * fs))
    stop = start + int(round(spec.duration_s * fs))
    rec = wfdb.rdrecord(path, sampfrom=start, sampto=stop, physical=False)
    cut = cut_annotations(ann, start, stop)

    case_dir = out_dir / spec.folder
    case_dir.mkdir(parents=True)
    comment = (f"CardioLens example: MIT-BIH record {spec.record}, samples {start}-{stop} "
               f"({best.start_s}-{best.start_s + spec.duration_s} s)")
    files: dict[str, str]
    if spec.csv:
        files = {"signal": "ecg.csv"}
        _write_csv(rec, case_dir / files["signal"], fs)
    else:
        rec.record_name = spec.folder
        rec.file_name = [f"{spec.folder}.dat"] * rec.n_sig
        rec.init_value = [int(v) for v in rec.d_signal[0]]
        rec.comments = list(header.comments) + [comment]
        rec.wrsamp(write_dir=str(case_dir))
        wfdb.wrann(spec.folder, "atr", np.asarray(cut["sample"], dtype=np.int64), symbol=cut["symbol"],
                   subtype=np.asarray(cut["subtype"]), chan=np.asarray(cut["chan"]),
                   num=np.asarray(cut["num"]), aux_note=cut["aux_note"], fs=fs,
                   write_dir=str(case_dir))
        files = {"record": spec.folder, "header": f"{spec.folder}.hea", "signal": f"{spec.folder}.dat",
                 "annotations": f"{spec.folder}.atr"}
    (case_dir / "note.txt").write_text(spec.note + "\n", encoding="utf-8")

    beat_symbols = [s for s in cut["symbol"] if s in config.AAMI_CLASS]
    rhythms = [{"onset_s": round(s / fs, 3), "rhythm": a}
               for s, sym, a in zip(cut["sample"], cut["symbol"], cut["aux_note"]) if sym == "+"]
    case = {
        "case": spec.folder,
        "format": "csv" if spec.csv else "wfdb",
        "files": files,
        "source": {
            "database": "MIT-BIH Arrhythmia Database v1.0.0 (PhysioNet)",
            "record": spec.record,
            "split": "DS2 (test)" if spec.record in config.DS2 else "paced (test)",
            "start_s": float(best.start_s),
            "end_s": float(best.start_s + spec.duration_s),
            "start_sample": start,
            "end_sample": stop,
            "header_comments": list(header.comments),
        },
        "fs_hz": fs,
        "duration_s": float(spec.duration_s),
        "n_samples": stop - start,
        "leads": list(rec.sig_name),
        "units": "mV",
        "selection_rule": f"{spec.duration_s} s windows every {SCAN_STEP_S} s; kept: {spec.rule}",
        "why_chosen": spec.why,
        "shows": spec.shows,
        "aami_counts": aami_counts(beat_symbols),
        "beat_symbol_counts": dict(sorted(collections.Counter(beat_symbols).items())),
        "rhythms": rhythms,
        "noisy_seconds": best.noisy_s,
        "longest_rr_s": round(best.max_rr_s, 3),
        "license": LICENSE,
        "credit": CREDIT,
    }
    if spec.csv:
        keep = [i for i, s in enumerate(cut["symbol"]) if s in config.AAMI_CLASS]
        case["reference_beats"] = {"sample": [cut["sample"][i] for i in keep],
                                   "symbol": [cut["symbol"][i] for i in keep]}
    (case_dir / "case.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")
    return case


def _write_csv(rec: wfdb.Record, path: Path, fs: float) -> None:
    """``time_s,<lead>...`` in mV; MIT-BIH steps are 1/200 mV, so three decimals are exact."""
    phys = (rec.d_signal - np.asarray(rec.baseline)) / np.asarray(rec.adc_gain)
    t = np.arange(len(phys)) / fs
    lines = ["time_s," + ",".join(rec.sig_name)]
    lines += [f"{ti:.6f}," + ",".join(f"{v:.3f}" for v in row) for ti, row in zip(t, phys)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def verify_case(case_dir: Path, case: dict) -> None:
    """Read the written case back and check it against the source-derived summary."""
    if case["format"] == "wfdb":
        rec = wfdb.rdrecord(str(case_dir / case["files"]["record"]))
        ann = wfdb.rdann(str(case_dir / case["files"]["record"]), "atr")
        assert rec.fs == case["fs_hz"] and rec.sig_len == case["n_samples"], case_dir
        assert rec.units == ["mV"] * rec.n_sig and rec.sig_name == case["leads"], case_dir
        assert ann.sample.min() >= 0 and ann.sample.max() < rec.sig_len, case_dir
        assert aami_counts(ann.symbol) == case["aami_counts"], case_dir
        assert ann.symbol[0] == "+" and ann.sample[0] == 0, case_dir


def write_readme(out_dir: Path, cases: list[dict]) -> None:
    """assets/examples/README.md: one table row per case and the credit line."""
    rows = []
    for c in cases:
        s = c["source"]
        counts = " / ".join(f"{k} {v}" for k, v in c["aami_counts"].items())
        rows.append(f"| `{c['case']}` | {s['record']} ({s['split']}) "
                    f"| {s['start_s']:.0f}-{s['end_s']:.0f} s "
                    f"({c['duration_s']:.0f} s, {c['format'].upper()}) | {c['shows']} | {counts} |")
    text = f"""# Bundled example cases

Real two-lead ambulatory ECG cut from the MIT-BIH Arrhythmia Database, **test split only**
(`core.config.TEST_RECORDS`: DS2 of de Chazal et al. 2004 plus paced 107 and 217), so the
bundled model never trained on them. Built by `python scripts/make_examples.py ../shared/data/mitdb`
(deterministic: each record is scanned in {SCAN_STEP_S} s steps and the window that maximises the
case's rule, given in its `case.json`, is kept).

Each folder holds a WFDB record (`.hea`, `.dat` format 212 at 360 Hz in mV with the original lead
names, gain/baseline and header comments: age, sex, medications), its `.atr` with every reference
annotation inside the cut re-based to sample 0 (beats, rhythm `+` with aux note such as `(AFIB`,
noise `~`, artefact `|`; the rhythm, and any noise state, in force at the cut start is restated at
sample 0), a short clinical `note.txt`, and `case.json` (source, segment, why chosen, what it shows,
AAMI counts, licence). `short_10s_csv` is a `time_s,MLII,V1` CSV (mV) whose reference beats are in
`case.json` (`reference_beats`).

AAMI classes (ANSI/AAMI EC57): N = N L R e j, S = A a J S, V = V E, F = F, Q = / f Q.

| folder | source record | segment | what it shows | AAMI N / S / V / F / Q |
|---|---|---|---|---|
{chr(10).join(rows)}

The notes are written for this demo from the header comments and the reference annotations of each
segment; they are not part of the database.

## Credit and licence
MIT-BIH Arrhythmia Database v1.0.0, Open Data Commons Attribution License v1.0 (ODC-By 1.0).
Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol
20(3):45-50 (2001). Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation
101(23):e215-e220 (2000). PhysioNet doi:10.13026/C2F305.
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mitdb", type=Path, help="folder with the MIT-BIH .hea/.dat/.atr files")
    parser.add_argument("--out", type=Path, default=config.EXAMPLES_DIR,
                        help="output folder (case folders in it are replaced)")
    args = parser.parse_args(argv)
    if not (args.mitdb / "100.hea").is_file():
        parser.error(f"{args.mitdb} does not look like the MIT-BIH folder (no 100.hea); pass its path.")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.iterdir():  # replace only what this script made before
        if (old / "case.json").is_file():
            shutil.rmtree(old)
    cases = []
    for spec in CASES:
        case = build_case(spec, args.mitdb, args.out)
        verify_case(args.out / spec.folder, case)
        size_kb = sum(f.stat().st_size for f in (args.out / spec.folder).iterdir()) / 1024
        print(f"{spec.folder:18s} record {spec.record} {case['source']['start_s']:6.0f}-"
              f"{case['source']['end_s']:.0f} s  {case['aami_counts']}  {size_kb:.0f} KB")
        cases.append(case)
    write_readme(args.out, cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
