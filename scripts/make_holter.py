"""Write a 24-hour two-lead WFDB record (360 Hz, format 212) for the Holter benchmark: the 48 MIT-BIH
Arrhythmia Database records back to back (31.2 M samples a lead), as ambulatory-ECG users upload.

    python -m scripts.make_holter OUT_DIR [--data ../shared/data/mitdb]

Writes ``OUT_DIR/holter24.hea`` + ``.dat`` (about 190 MB; never commit it). Then time it with
``/usr/bin/time -v python -m core score OUT_DIR/holter24.hea --out OUT_DIR/holter24.csv``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import wfdb


def make_holter(data: Path, out_dir: Path, name: str = "holter24") -> Path:
    """Concatenate the digital signals of every MIT-BIH record in ``data`` (sorted by name, first two
    leads, same 200 adu/mV gain and 1024 baseline in all of them) into one record; returns its .hea path."""
    names = sorted(p.stem for p in data.glob("*.hea"))
    parts = [wfdb.rdrecord(str(data / n), physical=False).d_signal[:, :2] for n in names]
    d = np.concatenate(parts).astype(np.int16)
    out_dir.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=360, units=["mV", "mV"], sig_name=["ECG1", "ECG2"], d_signal=d, fmt=["212", "212"],
                adc_gain=[200.0, 200.0], baseline=[1024, 1024], write_dir=str(out_dir),
                comments=[f"{len(names)} MIT-BIH Arrhythmia Database records back to back"])
    return out_dir / f"{name}.hea"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    a = ap.parse_args()
    print(make_holter(a.data, a.out_dir))


if __name__ == "__main__":
    main()
