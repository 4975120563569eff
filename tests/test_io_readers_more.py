"""Reader fixes from a fuzz pass: time-like CSV columns, unit suffixes, decimal commas, WFDB defaults,
bundle ambiguity, leads-first arrays and a string fs."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import config
from core.io import RecordReadError, read_record

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "examples"
CSV = ASSETS / "short_10s_csv" / "ecg.csv"
NSR = ASSETS / "nsr_100"


@pytest.fixture(scope="module")
def ecg() -> pd.DataFrame:
    """The shipped 10 s CSV (time_s, MLII, V1 in mV at 360 Hz)."""
    return pd.read_csv(CSV)


def test_csv_epoch_timestamp_column_is_time_not_a_lead(tmp_path, ecg):
    df = pd.DataFrame({"timestamp": 1.7e9 + np.arange(len(ecg)) / 360, "MLII": ecg["MLII"]})
    df.to_csv(tmp_path / "ts.csv", index=False, float_format="%.6f")
    rec = read_record(tmp_path / "ts.csv", fs=360)
    assert rec.lead_names == ["MLII"] and rec.fs == 360.0
    assert read_record(tmp_path / "ts.csv").fs == 360.0  # the rate comes from the timestamps


def test_csv_unknown_ramp_column_is_skipped_with_a_notice(tmp_path, ecg):
    df = pd.DataFrame({"clock": 1.7e9 + np.arange(len(ecg)) / 360, "MLII": ecg["MLII"]})
    df.to_csv(tmp_path / "ramp.csv", index=False, float_format="%.6f")
    rec = read_record(tmp_path / "ramp.csv", fs=360)
    assert rec.lead_names == ["MLII"]
    assert any("column 'clock' rises or falls steadily" in w for w in rec.warnings)
    df[["clock"]].to_csv(tmp_path / "only_ramp.csv", index=False, float_format="%.6f")
    with pytest.raises(RecordReadError, match=r"only numeric column \(clock\) rises steadily"):
        read_record(tmp_path / "only_ramp.csv", fs=360)


def test_csv_unit_suffix_is_dropped_from_a_lead_name(tmp_path, ecg):
    df = pd.DataFrame({"time_s": ecg["time_s"], "II (mV)": ecg["MLII"], "V1 [uV]": ecg["V1"] * 1000})
    df.to_csv(tmp_path / "units.csv", index=False)
    rec = read_record(tmp_path / "units.csv")
    assert rec.lead_names == ["II", "V1"]
    np.testing.assert_allclose(rec.signal[:, 1], ecg["V1"], atol=1e-4)  # uV still converted


@pytest.mark.parametrize("style", ["tab", "quoted_comma", "semicolon_late"])
def test_csv_decimal_commas_for_every_separator(tmp_path, ecg, style):
    df = ecg[["time_s", "MLII"]].copy()
    path = tmp_path / f"{style}.csv"
    if style == "tab":
        df.to_csv(path, sep="\t", decimal=",", index=False)
    elif style == "quoted_comma":
        rows = ['"time_s","MLII"'] + [f'"{t:.6f}","{x:.3f}"'.replace(".", ",") for t, x in zip(df.time_s, df.MLII)]
        path.write_text("\n".join(rows) + "\n")
    else:
        x = df.MLII.to_numpy().copy()
        rows = ["MLII"] + ["0" if i < 10 else f"{v:.3f}".replace(".", ",") for i, v in enumerate(x)]
        path.write_text("\n".join(rows) + "\n")
    rec = read_record(path, fs=360)
    assert rec.lead_names == ["MLII"] and rec.fs == 360.0
    np.testing.assert_allclose(rec.signal[20:, 0], df.MLII.to_numpy()[20:], atol=1e-3)


def test_csv_semicolon_with_decimal_dots_still_reads(tmp_path, ecg):
    ecg[["time_s", "MLII"]].to_csv(tmp_path / "dots.csv", sep=";", index=False)
    rec = read_record(tmp_path / "dots.csv")
    np.testing.assert_allclose(rec.signal[:, 0], ecg.MLII, atol=1e-5)


def _nsr_copy(tmp_path: Path, header: str) -> Path:
    (tmp_path / "nsr_100.dat").write_bytes((NSR / "nsr_100.dat").read_bytes())
    (tmp_path / "nsr_100.hea").write_text(header)
    return tmp_path / "nsr_100.hea"


def test_wfdb_header_without_rate_reads_at_250_hz_with_a_notice(tmp_path):
    lines = (NSR / "nsr_100.hea").read_text().splitlines()
    hea = _nsr_copy(tmp_path, "\n".join(["nsr_100 2", *lines[1:]]) + "\n")
    rec = read_record(hea)
    assert rec.fs == 250.0
    assert ("nsr_100.hea gives no sampling rate; read at WFDB's default 250 Hz — if the recorder used another "
            "rate, add it to the header's first line (e.g. 'nsr_100 2 360').") in rec.warnings


def test_wfdb_zero_gain_notes_the_assumed_200_adu_per_mv(tmp_path):
    text = (NSR / "nsr_100.hea").read_text().replace("200.0(1024)/mV", "0(1024)/mV", 1)
    rec = read_record(_nsr_copy(tmp_path, text))
    assert any("MLII has no gain (0, uncalibrated)" in w and "200 adu/mV was assumed" in w for w in rec.warnings)
    assert not any("no gain" in w for w in read_record(NSR / "nsr_100.hea").warnings)


def test_bundle_with_duplicate_base_names_is_refused():
    data = CSV.read_bytes()
    with pytest.raises(RecordReadError, match=r"two files named ecg\.csv \(a/ecg\.csv and b/ecg\.csv\)"):
        read_record({"a/ecg.csv": data, "b/ecg.csv": data})


def test_zip_with_a_csv_and_a_wfdb_record_is_ambiguous():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ecg.csv", CSV.read_bytes())
        for ext in (".hea", ".dat"):
            zf.writestr("nsr_100" + ext, (NSR / ("nsr_100" + ext)).read_bytes())
    with pytest.raises(RecordReadError, match=r"holds 2 records \(nsr_100, ecg\).*upload one record at a time"):
        read_record({"case.zip": buf.getvalue()})
    assert read_record({"case.zip": buf.getvalue()}, name="ecg").source_format == "csv"
    assert read_record({"case.zip": buf.getvalue()}, name="nsr_100").source_format == "wfdb"


def test_npy_leads_first_with_many_leads_is_transposed(tmp_path):
    mlii = read_record(NSR / "nsr_100.hea").signal[:, 0]
    np.save(tmp_path / "arr.npy", np.tile(mlii, (20, 1)))  # [20, 54000]
    rec = read_record(tmp_path / "arr.npy", fs=360)
    assert rec.signal.shape == (54000, 20)
    assert "arr.npy: read as 20 leads × 54000 samples (the array was leads-first)." in rec.warnings


def test_fs_given_as_text(tmp_path):
    assert read_record(CSV, fs="360").fs == 360.0
    with pytest.raises(RecordReadError, match="fs must be a number of Hz"):
        read_record(CSV, fs="fast")


def test_wfdb_signals_without_a_description_are_named_by_position(tmp_path):
    """WFDB header lines may stop before the description; the leads are lead_1, lead_2, not 'None'."""
    import wfdb

    x = wfdb.rdrecord(str(config.EXAMPLES_DIR / "nsr_100" / "nsr_100")).p_signal
    wfdb.wrsamp("nodesc", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=x, fmt=["16", "16"],
                write_dir=str(tmp_path))
    hea = tmp_path / "nodesc.hea"
    lines = hea.read_text().splitlines()
    hea.write_text("\n".join([lines[0]] + [" ".join(line.split()[:8]) for line in lines[1:]]) + "\n")
    assert read_record(hea).lead_names == ["lead_1", "lead_2"]


def test_csv_flag_columns_are_not_leads_and_repeated_names_are_said(tmp_path):
    t = np.arange(3600) / 360.0
    x = 0.1 * np.sin(2 * np.pi * 1.2 * t)
    p = tmp_path / "flags.csv"
    p.write_text("time_s,MLII,MLII,artefact\n" + "\n".join(f"{a:.5f},{b:.4f},{b:.4f},{'True' if i % 7 else 'False'}"
                                                          for i, (a, b) in enumerate(zip(t, x))) + "\n")
    rec = read_record(p)
    assert rec.lead_names == ["MLII", "MLII.1"]
    assert any("'artefact' holds True/False" in w for w in rec.warnings)
    assert any("'MLII' appears more than once" in w for w in rec.warnings)
