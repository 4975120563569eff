"""(Re)generate the bad-input corpus in tests/data/bad_inputs/ deterministically.

Every file is synthetic (a sum-of-Gaussians ECG-like waveform, or plain bytes) and a few KB;
tests/test_io.py reads each one and checks the message it gets (see bad_inputs/README.md).
Run from the repository root::

    python tests/data/make_bad_inputs.py [OUT_DIR]
"""
from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import wfdb

OUT = Path(__file__).resolve().parent / "bad_inputs"
WFDB_FS = 360      # Hz, as MIT-BIH
WFDB_SECONDS = 6   # 2160 samples, 3240 bytes in format 212
CSV_FS = 100       # Hz; a low rate keeps the CSV files small
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep the zips byte-identical between runs


def synthetic_ecg(fs: float, seconds: float, hr_bpm: float = 72.0) -> np.ndarray:
    """ECG-like waveform in mV: P, QRS and T as Gaussians at a fixed heart rate."""
    t = np.arange(int(round(fs * seconds))) / fs
    x = np.zeros_like(t)
    for beat in np.arange(0.3, seconds, 60.0 / hr_bpm):
        for offset, amp, width in ((-0.20, 0.12, 0.025), (-0.03, -0.10, 0.010), (0.0, 1.10, 0.012),
                                   (0.03, -0.25, 0.010), (0.25, 0.30, 0.045)):
            x += amp * np.exp(-0.5 * ((t - beat - offset) / width) ** 2)
    return np.round(x, 3)


def _wfdb(name: str, out: Path, *, atr: bool = False) -> None:
    sig = synthetic_ecg(WFDB_FS, WFDB_SECONDS)[:, None]
    wfdb.wrsamp(name, fs=WFDB_FS, units=["mV"], sig_name=["MLII"], p_signal=sig, fmt=["212"],
                adc_gain=[200.0], baseline=[0], write_dir=str(out))
    if atr:
        peaks = np.arange(int(0.3 * WFDB_FS), len(sig), int(WFDB_FS * 60 / 72))
        wfdb.wrann(name, "atr", peaks, symbol=["N"] * len(peaks), write_dir=str(out))


def _csv(path: Path, columns: dict[str, list], header: bool = True) -> None:
    lines = [",".join(columns)] if header else []
    for row in zip(*columns.values()):
        lines.append(",".join("" if v is None else (v if isinstance(v, str) else f"{v:.3f}") for v in row))
    path.write_text("\n".join(lines) + "\n")


def _zip(path: Path, members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), data)
    path.write_bytes(buf.getvalue())


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    # WFDB: truncated .dat (header declares 2160 samples, file keeps the first 1000)
    _wfdb("truncated", out)
    dat = out / "truncated.dat"
    dat.write_bytes(dat.read_bytes()[:1500])

    # WFDB: header without its .dat
    _wfdb("header_only", out)
    (out / "header_only.dat").unlink()

    # WFDB: annotation file without header or signal
    _wfdb("annotation_only", out, atr=True)
    (out / "annotation_only.hea").unlink()
    (out / "annotation_only.dat").unlink()

    # WFDB: storage format code 999 does not exist
    _wfdb("unknown_format", out)
    hea = out / "unknown_format.hea"
    hea.write_text(hea.read_text().replace(" 212 ", " 999 "))

    # WFDB: random bytes named .hea
    (out / "junk.hea").write_bytes(rng.integers(0, 256, 600, dtype=np.uint8).tobytes())

    # WFDB: absurd sampling rates in the record line
    for name, fs in (("fs_zero", "0"), ("fs_negative", "-5"), ("fs_huge", "1000000")):
        _wfdb(name, out)
        hea = out / f"{name}.hea"
        lines = hea.read_text().splitlines()
        rec = lines[0].split()
        rec[2] = fs
        hea.write_text("\n".join([" ".join(rec), *lines[1:]]) + "\n")

    # WFDB: header in Latin-1 (not UTF-8): lead description and a comment with accented letters
    _wfdb("non_utf8", out)
    hea = out / "non_utf8.hea"
    text = hea.read_text().rstrip("\n").replace("MLII", "MLII dérivation") + "\n# Âge 64, traité\n"
    hea.write_bytes(text.encode("latin-1"))

    # zips: only junk members; not a zip at all; path traversal; valid record two folders deep
    _zip(out / "zip_junk.zip", {"readme.txt": b"no ECG in here\n",
                                "photo.jpg": rng.integers(0, 256, 500, dtype=np.uint8).tobytes()})
    (out / "not_a_zip.zip").write_bytes(rng.integers(0, 256, 400, dtype=np.uint8).tobytes())
    with tempfile.TemporaryDirectory() as tmp:
        _wfdb("nested", Path(tmp), atr=True)
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir())}
    _zip(out / "zip_traversal.zip", {"../x.hea": files["nested.hea"], "x.dat": files["nested.dat"]})
    _zip(out / "zip_nested.zip", {f"case/record/{n}": b for n, b in files.items()})

    # CSV files at 100 Hz, 3 s
    ecg = list(synthetic_ecg(CSV_FS, 3.0))
    t = [i / CSV_FS for i in range(len(ecg))]
    v5 = [round(0.6 * v, 3) for v in ecg]
    text = [f"{v:.3f}" for v in ecg]
    text[40] = "lead off"
    _csv(out / "text_cells.csv", {"time_s": t, "MLII": text, "V5": v5})
    gaps = list(ecg)
    gaps[50:53] = [None] * 3
    _csv(out / "nan_short_gap.csv", {"time_s": t, "MLII": gaps, "V5": v5})
    long_gap = list(ecg)
    long_gap[50:110] = [None] * 60
    _csv(out / "nan_long_gap.csv", {"time_s": t, "MLII": long_gap, "V5": v5})
    _csv(out / "one_column.csv", {"MLII": ecg})
    _csv(out / "no_fs.csv", {"MLII": ecg, "V5": v5})
    _csv(out / "all_zero.csv", {"time_s": t, "MLII": [0.0] * len(t), "V5": [0.0] * len(t)})
    _csv(out / "flat_line.csv", {"time_s": t, "MLII": [0.5] * len(t)})
    _csv(out / "too_short.csv", {"time_s": t[:CSV_FS], "MLII": ecg[:CSV_FS]})
    _csv(out / "no_numeric_column.csv", {"label": ["N"] * 300, "comment": ["ok"] * 300})

    # other single files: NPY without fs, junk named .edf
    np.save(out / "array.npy", np.asarray(ecg, dtype=np.float32))
    (out / "junk.edf").write_bytes(rng.integers(0, 256, 700, dtype=np.uint8).tobytes())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
