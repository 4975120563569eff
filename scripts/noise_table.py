"""How the per-beat `unreadable` call matches the MIT-BIH '~' noise annotations.

Usage: python -m scripts.noise_table [mitdb_dir] [--cut S]. Prints the training records pooled, DS1 + 102, 104 and
SVDB (``svdb`` beside ``mitdb_dir``), where the noise index was fitted (so in-sample here; its out-of-fold
figures are in ``core/signal/noise_model.json``), then each test record with annotated noise (report only).
A beat is "in noise" when the '~' code in force at its peak marks the analysed lead
(``core.training.noise_fit.noise_mask``). V and paced ('/') counts are of beats outside noise, labels
matched within 150 ms. ``--cut S``: every record analysed as consecutive S-second pieces, each alone (as an
uploaded strip is), instead of whole.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from core import config
from core.training.noise_fit import record_beats


def record_row(folder: Path, name: str, cut_s: float | None = None) -> dict:
    """Beats in and out of '~' noise in one record, and how many of each the shipped call makes unreadable."""
    b = record_beats(folder, name, cut_s)
    noise, u, sym = b.noise.to_numpy(bool), b.unreadable.to_numpy(bool), b.symbol.to_numpy(object)
    v, p = (sym == "V") & ~noise, (sym == "/") & ~noise
    return {"record": name, "noise": int(noise.sum()), "noise_unr": int((u & noise).sum()),
            "clean": int((~noise).sum()), "clean_unr": int((u & ~noise).sum()),
            "V": int(v.sum()), "V_unr": int((u & v).sum()), "paced": int(p.sum()), "paced_unr": int((u & p).sum())}


def main(folder: Path, cut_s: float | None = None) -> None:
    svdb = folder.parent / "svdb"
    sets = [("train (DS1 + 102, 104)", folder, config.TRAIN_RECORDS)]
    if (svdb / "RECORDS").exists():
        sets.append(("train (SVDB)", svdb, (svdb / "RECORDS").read_text().split()))
    sets.append(("test", folder, config.TEST_RECORDS))
    for label, where, names in sets:
        t = pd.DataFrame([record_row(where, n, cut_s) for n in names]).set_index("record")
        t["noise_frac"] = (t.noise_unr / t.noise.clip(lower=1)).round(3)
        t["clean_frac"] = (t.clean_unr / t.clean).round(4)
        s = t.sum()
        print(f"{label}: in-noise unreadable {s.noise_unr}/{s.noise} = {s.noise_unr / max(s.noise, 1):.3f}; "
              f"clean unreadable {s.clean_unr}/{s.clean} = {s.clean_unr / s.clean:.4f} (worst {t.clean_frac.max():.4f}, "
              f"{t.clean_frac.idxmax()}); V {s.V_unr}/{s.V}; paced {s.paced_unr}/{s.paced}")
        print(t[t.noise > 0].to_string() if label == "test" else t.sort_values("clean_frac").tail(5).to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mitdb_dir", nargs="?", type=Path, default=config.MITDB_DIR)
    ap.add_argument("--cut", type=float, default=None, help="analyse S-second pieces of each record, each alone")
    args = ap.parse_args()
    main(args.mitdb_dir, args.cut)
