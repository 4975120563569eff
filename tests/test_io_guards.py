"""core.io guards found by fuzzing: inputs that used to read as a wrong record or give a misleading message.

Every bad file is built in tmp_path: WFDB with wfdb.wrsamp then an edited header, EDF with pyedflib, CSV
as text. Each test fails on the readers as they were before the guard.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from core import config
from core.io import RecordReadError, read_record
from core.io.archive import _scrub
from core.io.record import MIN_FS_HZ
from tests.test_io import _zip

_spec = importlib.util.spec_from_file_location("make_bad_inputs", Path(__file__).parent / "data" / "make_bad_inputs.py")
_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_corpus)
synthetic_ecg = _corpus.synthetic_ecg
BAD = Path(__file__).parent / "data" / "bad_inputs"
FS = 360


def _wfdb(folder: Path, name: str = "rec", fmt: str = "16", seconds: float = 6.0, n_sig: int = 1) -> Path:
    """A WFDB record of synthetic ECG (mV) written by wfdb itself; returns its .hea path."""
    import wfdb

    x = synthetic_ecg(FS, seconds)
    sig = np.column_stack([x * (1.0 - 0.3 * k) for k in range(n_sig)])
    gain = 100.0 if fmt == "80" else 200.0  # format 80 holds 8 bits: 1.1 mV R waves need a lower gain
    wfdb.wrsamp(name, fs=FS, units=["mV"] * n_sig, sig_name=["MLII", "V5", "V1"][:n_sig], p_signal=sig,
                fmt=[fmt] * n_sig, adc_gain=[gain] * n_sig, baseline=[0] * n_sig, write_dir=str(folder))
    return folder / f"{name}.hea"


def _edit_header(hea: Path, *, record_field: int | None = None, value: str = "", fmt: str | None = None) -> None:
    """Replace one field of the record line, or the storage format of every signal line."""
    lines = hea.read_text().splitlines()
    if record_field is not None:
        tok = lines[0].split()
        tok[record_field] = value
        lines[0] = " ".join(tok)
    if fmt is not None:
        lines[1:] = [" ".join([t[0], fmt, *t[2:]]) for t in (ln.split() for ln in lines[1:]) if t]
    hea.write_text("\n".join(lines) + "\n")


def _bundle(hea: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in hea.parent.iterdir() if p.stem == hea.stem}


def _csv(path: Path, seconds: float = 10.0, time_col: str = "time_s", scale: float = 1.0, fmt: str = "{:.6f}") -> Path:
    """One-lead CSV at 360 Hz; the time column holds sample / 360 * `scale` (scale 1000: ms)."""
    x = synthetic_ecg(FS, seconds)
    t = np.arange(len(x)) / FS * scale
    path.write_text(f"{time_col},MLII\n" + "\n".join(f"{fmt.format(a)},{b:.3f}" for a, b in zip(t, x)) + "\n")
    return path


def _edf(path: Path, channels: list[tuple[str, str, int]], seconds: int = 10) -> Path:
    """An EDF+ file with one synthetic ECG (about 1 mV) per (label, physical dimension, rate in Hz), written in
    its channel's unit (V, mV, uV; any other unit as mV)."""
    import pyedflib

    per_mv = [{"V": 1e-3, "uV": 1e3}.get(dim, 1.0) for _, dim, _ in channels]
    with pyedflib.EdfWriter(str(path), len(channels), file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders([{"label": lab, "dimension": dim, "sample_frequency": fs, "physical_min": -5.0 * k,
                             "physical_max": 5.0 * k, "digital_min": -32768, "digital_max": 32767}
                            for (lab, dim, fs), k in zip(channels, per_mv)])
        w.writeSamples([k * synthetic_ecg(fs, seconds).astype(np.float64) for (_, _, fs), k in zip(channels, per_mv)])
    return path


# ------------------------------------------------------------------------------------------ 1. sig_len 0

def test_wfdb_header_declaring_zero_samples_is_refused(tmp_path):
    hea = _wfdb(tmp_path, "zero")
    _edit_header(hea, record_field=3, value="0")
    for source in (hea, _bundle(hea)):
        with pytest.raises(RecordReadError, match=r"zero.hea: the header declares 0 samples per signal"):
            read_record(source)


# ------------------------------------------------------------------------------------------ 2. fmt vs .dat size

@pytest.mark.parametrize("declared", ["80", "212"])
def test_wfdb_format_code_larger_file_than_declared_is_refused(tmp_path, declared):
    hea = _wfdb(tmp_path, "f", fmt="16")
    _edit_header(hea, fmt=declared)
    msg = (rf"f.dat is 4,320 bytes but f.hea declares 2,160 samples in storage format {declared} .*"
           r"the header's format or length does not match the data file")
    for source in (hea, _bundle(hea)):
        with pytest.raises(RecordReadError, match=msg):
            read_record(source)


@pytest.mark.parametrize("written,declared", [("16", "24"), ("16", "32"), ("212", "16")])
def test_wfdb_format_code_smaller_file_than_declared_names_the_format(tmp_path, written, declared):
    hea = _wfdb(tmp_path, "f", fmt=written)
    _edit_header(hea, fmt=declared)
    with pytest.raises(RecordReadError, match=rf"f.hea declares 2160: the file looks truncated, or the header's "
                                              rf"storage format \({declared}\) does not match the data file"):
        read_record(hea)


def test_wfdb_sample_count_far_below_the_file_is_refused(tmp_path):
    hea = _wfdb(tmp_path, "short", fmt="16")
    _edit_header(hea, record_field=3, value="1000")  # the .dat holds 2160 samples
    with pytest.raises(RecordReadError, match="the header's format or length does not match the data file"):
        read_record(hea)


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212"])  # the formats wfdb writes
@pytest.mark.parametrize("n_sig", [1, 3])
def test_wfdb_records_written_by_wfdb_read_as_before(tmp_path, fmt, n_sig):
    hea = _wfdb(tmp_path, "ok", fmt=fmt, seconds=6.0 + 1 / FS, n_sig=n_sig)  # odd length: 212 pads a byte
    rec = read_record(hea)
    assert rec.fs == FS and rec.signal.shape == (2161, n_sig) and rec.warnings == []
    np.testing.assert_allclose(rec.signal[:, 0], synthetic_ecg(FS, 6.0 + 1 / FS), atol=0.0051)


def test_wfdb_byte_offset_prelude_is_not_taken_for_a_format_mismatch(tmp_path):
    hea = _wfdb(tmp_path, "off", fmt="16")
    dat = tmp_path / "off.dat"
    dat.write_bytes(b"\0" * 4000 + dat.read_bytes())
    _edit_header(hea, fmt="16+4000")
    rec = read_record(hea)
    np.testing.assert_allclose(rec.signal[:, 0], synthetic_ecg(FS, 6.0), atol=0.003)


def test_bundled_examples_and_shared_records_still_read():
    heads = sorted(config.EXAMPLES_DIR.glob("*/*.hea"))
    assert heads, "no bundled WFDB example"
    for sub, names in (("mitdb", ("100", "203", "232")), ("svdb", ("800", "850"))):
        heads += [h for n in names if (h := config.SHARED_DATA_DIR / sub / f"{n}.hea").is_file()]
    for hea in heads:
        rec = read_record(hea)
        assert rec.fs in (128.0, 360.0) and rec.n_samples > 0 and rec.warnings == [], hea


# ------------------------------------------------------------------------------------------ 3. non-ASCII names

@pytest.mark.parametrize("name", ["ré100", unicodedata.normalize("NFD", "ré100"), "心电100"],
                         ids=["nfc", "nfd", "cjk"])
def test_non_ascii_wfdb_record_name_is_refused_early(tmp_path, name):
    src = _wfdb(tmp_path, "r100")
    for ext in ("hea", "dat"):
        (tmp_path / f"{name}.{ext}").write_bytes((tmp_path / f"r100.{ext}").read_bytes().replace(
            b"r100", name.encode()) if ext == "hea" else (tmp_path / f"r100.{ext}").read_bytes())
    hea = tmp_path / f"{name}.hea"
    msg = "WFDB record names must be ASCII, .* rename the files"
    with pytest.raises(RecordReadError, match=msg) as from_path:
        read_record(hea)
    with pytest.raises(RecordReadError, match=msg) as from_upload:
        read_record(_bundle(hea))
    assert str(from_path.value) == str(from_upload.value)
    assert "/" not in str(from_upload.value) and src.is_file()


def test_non_ascii_hea_name_over_an_ascii_header_is_refused_too(tmp_path):
    hea = _wfdb(tmp_path, "r100")
    with pytest.raises(RecordReadError, match="'ré100' is not: rename the files .*e.g. 're100'"):
        read_record({"ré100.hea": hea.read_bytes(), "r100.dat": (tmp_path / "r100.dat").read_bytes()})


# ------------------------------------------------------------------------------------------ 4. EDF without ECG

def test_edf_with_only_non_ecg_channels_is_refused(tmp_path):
    path = _edf(tmp_path / "psg.edf", [("EEG Fpz-Cz", "uV", 100), ("Resp oro-nasal", "", 100),
                                       ("Temp rectal", "degC", 100)])
    with pytest.raises(RecordReadError, match=r"psg.edf has no ECG channel \(channels: EEG Fpz-Cz \(uV\), "
                                              r"Resp oro-nasal, Temp rectal \(degC\)\)"):
        read_record(path)


@pytest.mark.parametrize("label,dim", [("SpO2", "%"), ("Imp", "Ohm"), ("Pleth", ""), ("ABP", "mmHg"),
                                       ("EMG chin", "uV"), ("ECG", "degC")])
def test_edf_channel_that_is_not_ecg_by_label_or_unit_is_refused(tmp_path, label, dim):
    with pytest.raises(RecordReadError, match="has no ECG channel"):
        read_record(_edf(tmp_path / "x.edf", [(label, dim, 250)]))


def test_edf_keeps_the_ecg_channels_of_a_psg_and_their_own_rate(tmp_path):
    path = _edf(tmp_path / "psg.edf", [("EEG C3-A2", "uV", 100), ("EEG C4-A1", "uV", 100), ("EOG L", "uV", 100),
                                       ("ECG II", "mV", 200), ("Resp", "", 10)])
    rec = read_record(path)
    assert rec.lead_names == ["ECG II"] and rec.fs == 200.0
    assert rec.warnings == ["psg.edf: left out channels that are not ECG: EEG C3-A2 (uV), EEG C4-A1 (uV), "
                            "EOG L (uV), Resp."]


def test_edf_lead_names_and_voltage_units_are_kept(tmp_path):
    leads = [("I", "mV", 250), ("II", "uV", 250), ("V1", "mV", 250), ("MLII", "", 250), ("ECG1", "V", 250),
             ("Channel 5", "mV", 250)]
    rec = read_record(_edf(tmp_path / "leads.edf", leads))
    assert rec.lead_names == [lab for lab, _, _ in leads] and rec.fs == 250.0


def test_wfdb_dat_whose_samples_miss_the_header_checksum_gets_a_notice(tmp_path):
    hea = _wfdb(tmp_path, "sum", n_sig=2)
    assert not any("checksum" in w for w in read_record(hea).warnings)
    dat = tmp_path / "sum.dat"
    raw = bytearray(dat.read_bytes())
    raw[400:440] = bytes(40)  # a damaged stretch: the same length, other samples
    dat.write_bytes(bytes(raw))
    for source in (hea, _bundle(hea)):
        notes = [w for w in read_record(source).warnings if "checksum" in w]
        assert len(notes) == 2 and notes[0].startswith("sum.hea: the samples of MLII do not match the header's checksum")


def test_truncated_edf_reads_its_complete_records_with_a_notice_and_a_clean_stdout(tmp_path, capfd):
    full = _edf(tmp_path / "full.edf", [("ECG II", "mV", 250)], seconds=10).read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(full[:len(full) // 2])  # an interrupted copy: 10 data records declared, 4 whole ones present
    for source in (cut, {"cut.edf": cut.read_bytes()}):
        rec = read_record(source)
        assert rec.signal.shape == (4 * 250, 1) and rec.fs == 250.0
        assert any(w.startswith("cut.edf is cut short: it holds 4 of the 10 data records") for w in rec.warnings)
    # pyedflib's C library printed 'filesize ... != ...' to fd 1, which broke the CLI's JSON on stdout
    assert capfd.readouterr().out == ""


def test_edf_header_without_one_complete_data_record_is_refused(tmp_path, capfd):
    full = _edf(tmp_path / "full.edf", [("ECG II", "mV", 250)], seconds=10).read_bytes()
    stub = tmp_path / "stub.edf"
    stub.write_bytes(full[:512 + 40])
    with pytest.raises(RecordReadError, match=r"^stub.edf holds a header but no complete data record"):
        read_record(stub)
    assert capfd.readouterr().out == ""


# ------------------------------------------------------------------------------------------ 5. ms time, minimum fs

def test_csv_time_column_in_ms_under_a_seconds_name_is_refused(tmp_path):
    path = _csv(tmp_path / "ms.csv", time_col="time", scale=1000.0, fmt="{:.2f}")
    with pytest.raises(RecordReadError, match=r"the time column 'time' steps by 2.78 per sample, 0.36 Hz if in "
                                              r"seconds: it is probably in milliseconds \(360 Hz\); rename"):
        read_record(path)
    rec = read_record(path, fs=360)  # a given fs that agrees with the column read as ms
    assert rec.fs == 360.0 and "is in milliseconds, not seconds" in rec.warnings[0]


@pytest.mark.parametrize("col", ["time_ms", "Time (ms)", "timestamp_ms", "time in ms", "msec"])
def test_csv_time_column_named_in_ms_is_converted(tmp_path, col):
    rec = read_record(_csv(tmp_path / "ms.csv", time_col=col, scale=1000.0, fmt="{:.4f}"))
    assert rec.fs == 360.0 and rec.lead_names == ["MLII"] and rec.warnings == []


def test_rates_below_the_minimum_are_refused(tmp_path):
    assert MIN_FS_HZ == 50.0
    slow = _csv(tmp_path / "slow.csv", time_col="time_s", scale=10.0)  # 36 Hz in seconds, 36 kHz in ms
    with pytest.raises(RecordReadError, match=r"time column 'time_s' of slow.csv \(36 Hz\) is below 50 Hz"):
        read_record(slow)
    with pytest.raises(RecordReadError, match=r"The fs argument \(20 Hz\) is below 50 Hz"):
        read_record(BAD / "one_column.csv", fs=20)
    with pytest.raises(RecordReadError, match=r"The fs argument \(20 Hz\) is below 50 Hz"):
        read_record(BAD / "array.npy", fs=20)
    hea = _wfdb(tmp_path, "low")
    _edit_header(hea, record_field=2, value="25")
    with pytest.raises(RecordReadError, match=r"sampling rate in low.hea \(25 Hz\) is below 50 Hz"):
        read_record(hea)
    assert read_record(BAD / "one_column.csv", fs=MIN_FS_HZ).fs == MIN_FS_HZ


# ------------------------------------------------------------------------------------------ 6. fs vs time column

def test_fs_argument_that_disagrees_with_the_time_column_is_an_error(tmp_path):
    path = _csv(tmp_path / "t.csv")
    with pytest.raises(RecordReadError, match=r"t.csv: fs=250 Hz was given but the time column 'time_s' "
                                              r"implies 360 Hz"):
        read_record(path, fs=250)
    assert read_record(path, fs=360).warnings == []
    near = read_record(path, fs=350)  # within 5 %: the given rate wins, with a warning
    assert near.fs == 350.0 and near.warnings == ["t.csv: the time column implies 360 Hz but fs=350 Hz was "
                                                  "given; using 350 Hz."]


@pytest.mark.parametrize("fs,message", [("36", "The fs argument (36 Hz) is below 50 Hz"),
                                        ("250", "fs=250 Hz was given but the time column 'time_s' implies 360 Hz")])
def test_cli_fs_that_contradicts_the_file_exits_with_the_reason(tmp_path, fs, message):
    path = _csv(tmp_path / "t.csv")
    r = subprocess.run([sys.executable, "-m", "core", "score", str(path), "--fs", fs], capture_output=True,
                       text=True, timeout=300, cwd=config.REPO_ROOT, env={**os.environ, "CARDIOLENS_LOG": os.devnull})
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""


# ------------------------------------------------------------------------------------------ 7. no temp paths

def test_junk_edf_upload_message_names_the_upload_not_a_temp_path():
    data = (BAD / "junk.edf").read_bytes()
    for source in ({"scan 3.edf": data}, {"case.zip": _zip({"scan 3.edf": data})}):
        with pytest.raises(RecordReadError, match=r"^scan 3.edf is not a readable EDF/EDF\+ file") as info:
            read_record(source)
        text = str(info.value)
        assert tempfile.gettempdir() not in text and "cardiolens-" not in text and "upload.edf" not in text


def test_scrub_cuts_temporary_folders_and_names_the_file():
    tmp = Path(tempfile.gettempdir()) / "cardiolens-ab12_x9"
    assert _scrub(f"{tmp / 'upload.edf'}: not EDF", tmp / "upload.edf", "mine.edf") == "mine.edf: not EDF"
    assert _scrub(f"No such file: '{tmp / 'r100.dat'}'") == "No such file: 'r100.dat'"
    assert _scrub("nothing to cut") == "nothing to cut"


def test_a_record_built_in_code_below_the_minimum_rate_is_refused_before_analysis():
    from core.io import Record
    from core.signal.beats import extract_beats

    rec = Record(name="slow", signal=synthetic_ecg(40, 10)[:, None], fs=40.0, lead_names=["II"])
    with pytest.raises(RecordReadError, match=r"The sampling rate of slow \(40 Hz\) is below 50 Hz"):
        extract_beats(rec)


def test_wfdb_invalid_samples_are_a_gap_and_keep_the_checksum(tmp_path):
    """A lead-off stretch stored as WFDB's invalid sample (-32768 in format 16): read as a gap of the lead, not
    refused, and the checksum (which counts the invalid values) still matches."""
    import wfdb

    x = synthetic_ecg(FS, 10.0)
    d = np.round(x * 200).astype(np.int64)
    d[int(4 * FS):int(6 * FS)] = -32768
    wfdb.wrsamp("off", fs=FS, units=["mV"], sig_name=["MLII"], d_signal=d[:, None], fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(tmp_path))
    rec = read_record(tmp_path / "off.hea")
    assert rec.gaps_s == {"MLII": [(4.0, 6.0)]}
    assert not any("checksum" in w for w in rec.warnings)
    assert any(w.startswith("off.hea: lead MLII has no samples for 2.0 s (4.00 s to 6.00 s)") for w in rec.warnings)


def _multisegment(folder: Path) -> Path:
    """A variable-layout multi-segment record (as in MIMIC): 4 s, a 2 s null segment ('~', no signal), 4 s; returns
    the master .hea."""
    import wfdb

    for seg in ("ms_1", "ms_2"):
        x = synthetic_ecg(FS, 4.0)
        wfdb.wrsamp(seg, fs=FS, units=["mV"], sig_name=["MLII"], p_signal=x[:, None], fmt=["16"],
                    adc_gain=[200.0], baseline=[0], write_dir=str(folder))
    n = int(4 * FS)
    (folder / "ms_layout.hea").write_text(f"ms_layout 1 {FS} 0\n~ 16 200/mV 16 0 0 0 0 MLII\n")
    (folder / "ms.hea").write_text(f"ms/4 1 {FS} {n * 2 + 2 * FS}\nms_layout 0\nms_1 {n}\n~ {2 * FS}\nms_2 {n}\n"
                                   "# 70 M\n")
    return folder / "ms.hea"


def test_multisegment_record_reads_as_one_with_its_null_segment_a_gap(tmp_path):
    master = _multisegment(tmp_path)
    uploads = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for source in (master, tmp_path, uploads):
        rec = read_record(source)
        assert rec.n_samples == int(10 * FS) and rec.lead_names == ["MLII"]
        assert rec.gaps_s == {"MLII": [(4.0, 6.0)]}
        assert rec.warnings[0] == "ms.hea: a multi-segment record, read as one record from its 2 segments."
        assert "70 M" in rec.comments


def test_multisegment_record_with_a_missing_segment_names_it(tmp_path):
    master = _multisegment(tmp_path)
    (tmp_path / "ms_2.dat").unlink()
    with pytest.raises(RecordReadError, match=r"ms_2.hea needs the signal file ms_2.dat, which is missing"):
        read_record(master)
    (tmp_path / "ms_2.hea").unlink()
    with pytest.raises(RecordReadError, match=r"ms.hea is a multi-segment record whose segment ms_2.hea is missing"):
        read_record(master)
