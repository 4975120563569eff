"""core.io: round trips on real MIT-BIH data, uploads and zips, lead choice, resampling, bad inputs."""
from __future__ import annotations

import filecmp
import importlib.util
import io
import math
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import config
from core import io as cio
from core.io import Annotations, Record, RecordReadError, read_record
from core.signal.resample import resample, resample_record, select_lead

BAD = Path(__file__).parent / "data" / "bad_inputs"


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def excerpt() -> Record:
    """20 s of MIT-BIH 100 (MLII, V5) with its annotations, read with wfdb directly."""
    import wfdb

    if (config.MITDB_DIR / "100.hea").is_file():
        base = str(config.MITDB_DIR / "100")
    elif (config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea").is_file():
        base = str(config.EXAMPLES_DIR / "nsr_100" / "nsr_100")
    else:
        pytest.skip("neither ../shared/data/mitdb nor assets/examples/nsr_100 is present")
    n = 20 * 360
    rec = wfdb.rdrecord(base, sampto=n)
    ann = wfdb.rdann(base, "atr", sampto=n)
    return Record(name="ex100", signal=rec.p_signal, fs=rec.fs, lead_names=rec.sig_name,
                  annotations=Annotations(ann.sample, ann.symbol, [a.rstrip("\x00") for a in ann.aux_note]),
                  comments=rec.comments, source_format="wfdb")


@pytest.fixture()
def wfdb_files(excerpt, tmp_path) -> dict[str, bytes]:
    """The excerpt written as a WFDB record (format 212, .atr) and read back as {filename: bytes}."""
    import wfdb

    wfdb.wrsamp("ex100", fs=excerpt.fs, units=["mV"] * 2, sig_name=excerpt.lead_names,
                p_signal=excerpt.signal.astype(np.float64), fmt=["212"] * 2, adc_gain=[200.0] * 2,
                baseline=[0, 0], comments=excerpt.comments, write_dir=str(tmp_path))
    wfdb.wrann("ex100", "atr", excerpt.annotations.sample, symbol=excerpt.annotations.symbol,
               aux_note=excerpt.annotations.aux_note, write_dir=str(tmp_path))
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _synthetic(fs: float = 360.0, seconds: float = 5.0, leads=("MLII", "V1")) -> Record:
    t = np.arange(int(fs * seconds)) / fs
    sig = np.column_stack([np.sin(2 * np.pi * (1.2 + k) * t) * (0.5 + 0.2 * k) for k in range(len(leads))])
    return Record(name="syn", signal=sig, fs=fs, lead_names=list(leads))


def _same(a: Record, b: Record) -> None:
    assert a.fs == b.fs and a.lead_names == b.lead_names and a.comments == b.comments
    np.testing.assert_array_equal(a.signal, b.signal)
    np.testing.assert_array_equal(a.annotations.sample, b.annotations.sample)
    assert a.annotations.symbol == b.annotations.symbol and a.annotations.aux_note == b.annotations.aux_note


# ------------------------------------------------------------------------------------------ WFDB on real data

def test_reads_mitdb_100_with_annotations_and_comments(mitdb_dir):
    rec = read_record(mitdb_dir / "100.hea")
    assert rec.signal.shape == (650_000, 2) and rec.signal.dtype == np.float32
    assert rec.fs == 360.0 and rec.lead_names == ["MLII", "V5"] and rec.source_format == "wfdb"
    assert rec.duration_s == pytest.approx(1805.56, abs=0.01)
    assert rec.comments[0].startswith("69 M") and "Aldomet" in rec.comments[1]
    # 11-bit ADC, gain 200/mV: every value is a multiple of 5 µV, within the ±5 mV range
    assert np.allclose(rec.signal[:3600] * 200, np.round(rec.signal[:3600] * 200), atol=1e-3)
    assert -5.2 < rec.signal.min() < rec.signal.max() < 5.2
    ann = rec.annotations
    assert len(ann) == 2274 and ann.symbol[:2] == ["+", "N"] and ann.aux_note[0] == "(N"
    assert ann.sample.dtype == np.int64 and ann.symbol.count("A") == 33
    assert rec.warnings == []
    # the same record by wfdb-style name without extension, and by its .dat
    np.testing.assert_array_equal(read_record(mitdb_dir / "100").signal[:1000], rec.signal[:1000])
    assert read_record(mitdb_dir / "100.dat").name == "100"


def test_record_api(excerpt):
    assert excerpt.n_samples == 7200 and excerpt.n_leads == 2 and excerpt.duration_s == 20.0
    np.testing.assert_array_equal(excerpt.lead("mlii"), excerpt.signal[:, 0])
    np.testing.assert_array_equal(excerpt.lead(1), excerpt.signal[:, 1])
    with pytest.raises(KeyError, match="No lead named 'II'"):
        excerpt.lead("II")
    df = excerpt.to_dataframe()
    assert list(df.columns) == ["time_s", "MLII", "V5"] and len(df) == 7200
    assert df["time_s"].iloc[360] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ round trips

def test_csv_round_trip(excerpt, tmp_path):
    path = cio.write_csv(excerpt, tmp_path / "ex100.csv")
    back = read_record(path)
    assert back.fs == 360.0 and back.lead_names == ["MLII", "V5"] and back.source_format == "csv"
    assert back.signal.shape == excerpt.signal.shape
    np.testing.assert_allclose(back.signal, excerpt.signal, atol=1e-6)  # 5 µV steps survive 6 digits
    assert back.warnings == []


def test_edf_round_trip_within_16_bit_resolution(excerpt, tmp_path):
    import pyedflib

    path = cio.write_edf(excerpt, tmp_path / "ex100.edf")
    back = read_record(path)
    assert back.fs == 360.0 and back.lead_names == ["MLII", "V5"] and back.source_format == "edf"
    assert back.signal.shape == excerpt.signal.shape
    with pyedflib.EdfReader(str(path)) as f:
        for i in range(2):
            physical = f.getPhysicalMaximum(i) - f.getPhysicalMinimum(i)
            step = physical / (f.getDigitalMaximum(i) - f.getDigitalMinimum(i))
            assert 1e-5 < step < 1e-4  # ~4 mV range over 65535 levels
            err = np.abs(back.signal[:, i] - excerpt.signal[:, i]).max()
            assert err <= step + 1e-6, (i, err, step)


def test_edf_in_microvolts_is_converted_to_mv(excerpt, tmp_path):
    import pyedflib

    x_uv = excerpt.signal[:, 0].astype(np.float64) * 1000.0
    path = tmp_path / "uv.edf"
    with pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders([{"label": "ECG II", "dimension": "uV", "sample_frequency": 360,
                             "physical_min": -3000.0, "physical_max": 3000.0,
                             "digital_min": -32768, "digital_max": 32767}])
        w.writeSamples([x_uv])
    back = read_record(path)
    assert back.lead_names == ["ECG II"]
    np.testing.assert_allclose(back.signal[:, 0], excerpt.signal[:, 0], atol=6000 / 65535 / 1000 + 1e-6)


def test_csv_time_in_ms_and_units_in_column_name(tmp_path):
    t_ms = np.arange(1000) * 4.0  # 250 Hz
    x = np.sin(2 * np.pi * 1.3 * t_ms / 1000)
    lines = ["ms;ECG (uV)"] + [f"{a:g};{b * 1000:.3f}" for a, b in zip(t_ms, x)]
    (tmp_path / "ms.csv").write_text("\n".join(lines))
    rec = read_record(tmp_path / "ms.csv")
    assert rec.fs == 250.0 and rec.lead_names == ["ECG (uV)"]
    np.testing.assert_allclose(rec.signal[:, 0], x, atol=1e-5)


# ------------------------------------------------------------------------------------------ uploads and zips

def test_upload_mapping_equals_path_and_leaves_no_files(excerpt, wfdb_files, tmp_path, monkeypatch):
    from_path = read_record(tmp_path / "ex100.hea")
    made: list[str] = []
    real = tempfile.TemporaryDirectory

    def spy(*args, **kwargs):
        d = real(*args, **kwargs)
        made.append(d.name)
        return d

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    from_upload = read_record(wfdb_files)
    _same(from_path, from_upload)
    assert len(from_upload.annotations) == len(excerpt.annotations) > 20 and from_upload.name == "ex100"
    assert made and not any(Path(d).exists() for d in made)  # privacy: the temp copy is gone


def test_upload_accepts_file_like_values(wfdb_files):
    rec = read_record({k: io.BytesIO(v) for k, v in wfdb_files.items()})
    assert rec.signal.shape == (7200, 2)


@pytest.mark.parametrize("prefix", ["", "case/", "export/case 1/"])
def test_zip_top_level_and_nested(wfdb_files, tmp_path, prefix):
    members = {prefix + k: v for k, v in wfdb_files.items()}
    members["__MACOSX/._ex100.hea"] = b"\x00\x05\x16\x07"  # archiver noise is skipped
    members[prefix + "readme.txt"] = b"exported by hand"
    data = _zip(members)
    rec = read_record({"case.zip": data})
    _same(rec, read_record(wfdb_files))
    (tmp_path / "case.zip").write_bytes(data)
    _same(read_record(tmp_path / "case.zip"), rec)


def test_bundle_with_two_records_needs_a_name(wfdb_files):
    other = {k.replace("ex100", "ex101"): v.replace(b"ex100", b"ex101") if k.endswith(".hea") else v
             for k, v in wfdb_files.items()}
    bundle = {**wfdb_files, **other}
    with pytest.raises(RecordReadError, match=r"holds 2 records \(ex100, ex101\): pass name="):
        read_record(bundle)
    assert read_record(bundle, name="ex101").name == "ex101"


def test_upload_errors_name_the_problem(wfdb_files, monkeypatch):
    with pytest.raises(RecordReadError, match="needs the signal file ex100.dat, which is missing"):
        read_record({"ex100.hea": wfdb_files["ex100.hea"]})
    with pytest.raises(RecordReadError, match="ex100.atr is an annotation file .* without its header ex100.hea"):
        read_record({"ex100.atr": wfdb_files["ex100.atr"]})
    with pytest.raises(RecordReadError, match=r"unsafe file path '\.\./ex100.hea'"):
        read_record({"../ex100.hea": wfdb_files["ex100.hea"], "ex100.dat": wfdb_files["ex100.dat"]})
    with pytest.raises(RecordReadError, match="unsafe file path '/etc/ex100.hea'"):
        read_record({"c.zip": _zip({"/etc/ex100.hea": b"x"})})
    with pytest.raises(RecordReadError, match="The upload is empty"):
        read_record({})
    with pytest.raises(RecordReadError, match="not file content"):
        read_record({"ex100.hea": 12})
    with pytest.raises(RecordReadError, match="takes a file path or a"):
        read_record(12)
    monkeypatch.setattr(config, "MAX_UPLOAD_BYTES", 4096)
    with pytest.raises(RecordReadError, match="over the 0 MB limit"):
        read_record(wfdb_files)


def test_truncated_upload_reports_sample_counts(wfdb_files):
    cut = dict(wfdb_files, **{"ex100.dat": wfdb_files["ex100.dat"][:3000]})
    with pytest.raises(RecordReadError, match="ex100.dat holds 1000 samples but ex100.hea declares 7200"):
        read_record(cut)


def test_missing_path_and_text_header_that_is_not_wfdb(tmp_path):
    with pytest.raises(RecordReadError, match="No file or folder at"):
        read_record(tmp_path / "nope.hea")
    (tmp_path / "notes.hea").write_text("Patient felt dizzy after lunch.\n")
    with pytest.raises(RecordReadError, match="is not a WFDB header"):
        read_record(tmp_path / "notes.hea")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(RecordReadError, match="unsupported file type '.pdf'"):
        read_record(tmp_path / "scan.pdf")


# ------------------------------------------------------------------------------------------ lead choice

def test_select_lead_by_name_in_114_and_102(mitdb_dir):
    r114 = read_record(mitdb_dir / "114.hea")
    assert r114.lead_names == ["V5", "MLII"]
    assert select_lead(r114) == (1, "MLII", None)
    r102 = read_record(mitdb_dir / "102.hea")
    assert r102.lead_names == ["V5", "V2"]
    assert select_lead(r102) == (0, "V5", "No MLII lead; using V5.")


def test_select_lead_is_case_insensitive_and_skips_flat_leads():
    rec = _synthetic(leads=("v1", "Lead II", "mlii"))
    assert select_lead(rec) == (2, "mlii", None)
    rec.signal[:, 2] = 0.0
    assert select_lead(rec) == (1, "Lead II", "MLII is flat; using Lead II.")
    assert select_lead(_synthetic(leads=("a", "b"))) == (
        0, "a", "No MLII lead or other known lead name; using a, the first usable lead.")


def test_one_flat_lead_is_kept_with_a_warning(tmp_path):
    rec = _synthetic()
    rec.signal[:, 1] = 0.25
    back = read_record(cio.write_csv(rec, tmp_path / "flat1.csv"))
    assert back.n_leads == 2 and back.warnings == [
        "Lead V1 is a flat line at 0.25 mV and carries no signal; it is kept but should not be used."]


# ------------------------------------------------------------------------------------------ resampling

def test_resample_250_to_360_keeps_a_sine_frequency():
    fs_in, f0 = 250.0, 7.0
    t = np.arange(2500) / fs_in
    y = resample(np.sin(2 * np.pi * f0 * t).astype(np.float32), fs_in, 360.0)
    assert y.shape == (3600,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / 360.0)[np.argmax(spectrum)] == pytest.approx(f0, abs=0.1)
    t_out = np.arange(3600) / 360.0
    mid = slice(360, 3240)  # away from the filter's edge effects
    np.testing.assert_allclose(y[mid], np.sin(2 * np.pi * f0 * t_out[mid]), atol=2e-3)


def test_resample_record_rescales_annotations(excerpt):
    down = resample_record(excerpt, 250.0)
    assert down.fs == 250.0 and down.n_samples == 5000 and down.lead_names == excerpt.lead_names
    np.testing.assert_array_equal(down.annotations.sample, np.rint(excerpt.annotations.sample * 250 / 360))
    assert down.annotations.symbol == excerpt.annotations.symbol
    assert excerpt.fs == 360.0 and excerpt.n_samples == 7200  # the input is untouched
    with pytest.raises(RecordReadError, match="not plausible"):
        resample(excerpt.signal, 360.0, 0.0)


# ------------------------------------------------------------------------------------------ bad-input corpus

ERRORS = [
    ("truncated.hea", {}, "truncated.dat holds 1000 samples but truncated.hea declares 2160: the file looks truncated"),
    ("header_only.hea", {}, "needs the signal file header_only.dat, which is missing"),
    ("annotation_only.atr", {}, "annotation file and cannot be read without its header annotation_only.hea"),
    ("unknown_format.hea", {}, "uses WFDB storage format 999, which is not supported"),
    ("junk.hea", {}, "holds binary data, not a WFDB header"),
    ("fs_zero.hea", {}, r"sampling rate in fs_zero.hea \(0.0 Hz\) is not plausible"),
    ("fs_negative.hea", {}, r"sampling rate in fs_negative.hea \(-5.0 Hz\) is not plausible"),
    ("fs_huge.hea", {}, r"sampling rate in fs_huge.hea \(1000000.0 Hz\) is not plausible"),
    ("zip_junk.zip", {}, r"No ECG record in zip_junk.zip \(found photo.jpg, readme.txt\)"),
    ("not_a_zip.zip", {}, "not_a_zip.zip is not a valid zip archive"),
    ("zip_traversal.zip", {}, r"zip_traversal.zip contains an unsafe file path '\.\./x.hea'"),
    ("text_cells.csv", {}, "column 'MLII' holds text 'lead off' at line 42"),
    ("one_column.csv", {}, "no time column, so its sampling rate is unknown: give fs"),
    ("no_fs.csv", {}, "no time column, so its sampling rate is unknown: give fs"),
    ("no_numeric_column.csv", {"fs": 100}, "has no numeric signal column"),
    ("all_zero.csv", {}, "holds no ECG: MLII is all zero; V5 is all zero"),
    ("flat_line.csv", {}, "holds no ECG: MLII is a flat line at 0.5 mV"),
    ("too_short.csv", {}, r"lasts only 1.00 s .*too short for two beats"),
    ("array.npy", {}, "bare array without a sampling rate: give fs"),
    ("junk.edf", {}, "junk.edf is not a readable EDF/EDF\\+ file"),
]
VALID = ["zip_nested.zip", "nan_short_gap.csv", "nan_long_gap.csv", "one_column.csv", "non_utf8.hea", "array.npy"]


@pytest.mark.parametrize("fname,kwargs,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_message(fname, kwargs, message):
    with pytest.raises(RecordReadError, match=message) as info:
        read_record(BAD / fname, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fname", ["junk.edf", "not_a_zip.zip"])
def test_library_errors_are_kept_as_cause(fname):
    with pytest.raises(RecordReadError) as info:
        read_record(BAD / fname)
    assert info.value.__cause__ is not None and not isinstance(info.value.__cause__, RecordReadError)


@pytest.mark.parametrize("fname", ["truncated.hea", "zip_traversal.zip", "text_cells.csv", "junk.hea"])
def test_bad_input_message_is_the_same_for_uploads(fname):
    stem = Path(fname).stem
    bundle = {p.name: p.read_bytes() for p in BAD.glob(stem + ".*")}
    with pytest.raises(RecordReadError) as from_upload:
        read_record(bundle)
    with pytest.raises(RecordReadError) as from_path:
        read_record(BAD / fname)
    assert str(from_upload.value) == str(from_path.value)


def test_corpus_valid_zip_nested_folders():
    rec = read_record(BAD / "zip_nested.zip")
    assert rec.name == "nested" and rec.fs == 360.0 and rec.signal.shape == (2160, 1)
    assert rec.annotations.symbol == ["N"] * 7 and rec.annotations.sample[0] == 108
    assert 1.0 < rec.signal.max() < 1.2  # the synthetic R waves are 1.1 mV


def test_corpus_short_nan_gap_is_interpolated():
    rec = read_record(BAD / "nan_short_gap.csv")
    assert rec.fs == 100.0 and not np.isnan(rec.signal).any()
    assert rec.warnings == ["nan_short_gap.csv: filled 3 missing values in lead MLII (first at line 52) "
                            "by linear interpolation."]
    x = rec.signal[:, 0]
    np.testing.assert_allclose(x[50:53], np.linspace(x[49], x[53], 5)[1:4], atol=1e-6)


def test_corpus_long_nan_gap_is_bridged_and_kept_as_a_gap():
    """0.6 s of empty MLII cells (a lead-off stretch): refused before ("too many to fill"); now bridged by a line and
    kept as a gap of the lead, so that the analysis reads it as lost signal."""
    rec = read_record(BAD / "nan_long_gap.csv")
    assert not np.isnan(rec.signal).any() and rec.gaps_s == {"MLII": [(0.5, 1.1)]}
    assert rec.warnings == ["nan_long_gap.csv: lead MLII has no samples for 0.6 s (line 52 to line 111); it is drawn "
                            "as a straight line and read as lost signal, with no beats counted there."]


def test_a_lead_mostly_missing_is_left_out_when_another_is_whole():
    from core.io.record import _finalise

    x = np.sin(np.linspace(0, 60, 3600))
    gappy = x.copy()
    gappy[:2000] = np.nan
    rec = _finalise("r", np.column_stack([gappy, x]), 360.0, ["MLII", "V5"], source_format="csv", label="r.csv")
    assert rec.lead_names == ["V5"] and rec.warnings == ["MLII is missing 56 % of its samples and was left out."]
    alone = _finalise("r", gappy[:, None], 360.0, ["MLII"], source_format="csv", label="r.csv")
    assert alone.gaps_s == {"MLII": [(0.0, 2000 / 360.0)]}  # the only lead: kept, its gap read as lost signal


def test_corpus_single_column_and_npy_read_with_fs():
    one = read_record(BAD / "one_column.csv", fs=100)
    arr = read_record(BAD / "array.npy", fs=100)
    assert one.lead_names == ["MLII"] and one.signal.shape == (300, 1)
    assert arr.lead_names == ["lead_1"] and arr.source_format == "npy"
    np.testing.assert_allclose(arr.signal, one.signal, atol=1e-6)


@pytest.mark.parametrize("fs", [0, -5, 1e6, math.nan, math.inf, "fast"])
def test_absurd_fs_argument_is_refused(fs):
    with pytest.raises(RecordReadError, match="The fs argument"):
        read_record(BAD / "one_column.csv", fs=fs)


def test_corpus_latin1_header_reads_with_a_warning():
    rec = read_record(BAD / "non_utf8.hea")
    assert rec.lead_names == ["MLII dérivation"] and rec.comments == ["Âge 64, traité"]
    assert rec.warnings == ["non_utf8.hea is not UTF-8 text; it was read as Latin-1 (check lead names and comments)."]


def test_corpus_is_fully_covered_and_regenerates_identically(tmp_path):
    tested = {f for f, _, _ in ERRORS} | set(VALID)
    entry_files = {p.name for p in BAD.iterdir() if p.suffix not in {".dat", ".md"}}
    assert entry_files == tested
    spec = importlib.util.spec_from_file_location("make_bad_inputs", BAD.parent / "make_bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    names = sorted(p.name for p in BAD.iterdir() if p.name != "README.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    _, mismatch, errors = filecmp.cmpfiles(BAD, tmp_path, names, shallow=False)
    assert mismatch == [] and errors == []


def test_csv_semicolon_with_decimal_commas_and_fs_argument_rules(excerpt, tmp_path):
    x = excerpt.signal[:1080, 0]
    lines = ["time_s;MLII"] + [f"{i / 360:.6f};{v:.3f}".replace(".", ",") for i, v in enumerate(x)]
    (tmp_path / "de.csv").write_text("\n".join(lines))
    rec = read_record(tmp_path / "de.csv")
    assert rec.fs == 360.0 and rec.lead_names == ["MLII"]
    np.testing.assert_allclose(rec.lead("MLII"), x, atol=1e-6)
    wf = read_record(cio.write_edf(excerpt, tmp_path / "ex.edf"), fs=250)
    assert wf.fs == 360.0 and wf.warnings == ["fs=250 Hz was ignored: ex states its own rate, 360 Hz."]


@pytest.mark.slow
def test_all_48_mitdb_records_read_with_the_right_lead(mitdb_dir):
    names = (mitdb_dir / "RECORDS").read_text().split()
    assert len(names) == 48
    n_ann = 0
    for name in names:
        rec = read_record(mitdb_dir / f"{name}.hea")
        assert rec.signal.shape == (650_000, 2) and rec.fs == 360.0 and rec.warnings == [], name
        idx, lead, notice = select_lead(rec)
        if name in ("102", "104"):
            assert (lead, notice) == ("V5", "No MLII lead; using V5."), name
        else:
            assert lead == "MLII" and notice is None and idx == rec.lead_names.index("MLII"), name
        n_ann += len(rec.annotations)
    assert n_ann == 112_647  # data/README.md
