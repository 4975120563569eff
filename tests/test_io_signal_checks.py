"""Signal plausibility checks in `core.io.record._finalise`: unit mistakes (µV/ADC counts or volts written
as mV), values beyond float32, single-sample glitches, empty leads, and lead-name normalisation."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import config
from core.io import RecordReadError, read_record
from core.io.record import Record, _norm_lead
from core.signal.resample import select_lead

NSR = config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea"
FS = 360.0


@pytest.fixture(scope="module")
def nsr() -> np.ndarray:
    """The first 10 s of the bundled MIT-BIH 100 excerpt, [3600, 2] (MLII, V5) in mV, float64."""
    return read_record(NSR).signal[: int(10 * FS)].astype(np.float64)


def _csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    n = len(next(iter(columns.values())))
    pd.DataFrame({"time_s": np.arange(n) / FS, **columns}).to_csv(path, index=False, float_format="%.9g")
    return path


def _read_quietly(path: Path) -> Record:
    """read_record with every warning (e.g. numpy RuntimeWarning on overflow) turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_record(path)


# ------------------------------------------------------------------------------------------ 1. too large

@pytest.mark.parametrize("scale", [1e3, 1e30, 1e300])
def test_values_far_too_large_are_refused_as_uv_or_adc_counts(nsr, tmp_path, scale):
    path = _csv(tmp_path / "big.csv", {"MLII": nsr[:, 0] * scale, "V5": nsr[:, 1] * scale})
    with pytest.raises(RecordReadError, match=r"MLII: typical peak-to-peak .* mV; V5: typical peak-to-peak .* "
                                              r"far above an ECG's \(0.5–5 mV\): the values look like µV or ADC "
                                              r"counts; give the unit") as info:
        _read_quietly(path)
    assert "\n" not in str(info.value)


def test_x1000_message_gives_the_typical_range(nsr, tmp_path):
    path = _csv(tmp_path / "big.csv", {"MLII": nsr[:, 0] * 1000})
    with pytest.raises(RecordReadError, match=r"MLII: typical peak-to-peak 1,\d{3} mV, far above"):
        read_record(path)


def test_one_implausible_lead_refuses_the_record_and_is_named(nsr, tmp_path):
    path = _csv(tmp_path / "v5big.csv", {"MLII": nsr[:, 0], "V5": nsr[:, 1] * 1000})
    with pytest.raises(RecordReadError, match=r"V5: typical peak-to-peak") as info:
        read_record(path)
    assert "MLII" not in str(info.value).split("(e.g.")[0]


def test_one_value_beyond_float32_counts_as_missing(nsr, tmp_path):
    x = nsr[:, 0].copy()
    x[1000] = 1e300
    rec = _read_quietly(_csv(tmp_path / "one_huge.csv", {"MLII": x}))
    assert np.isfinite(rec.signal).all() and abs(rec.signal[1000, 0]) < 5
    assert any("filled 1 missing value in lead MLII" in w for w in rec.warnings)


def test_plausible_record_reads_unchanged(nsr, tmp_path):
    rec = read_record(_csv(tmp_path / "ok.csv", {"MLII": nsr[:, 0], "V5": nsr[:, 1]}))
    assert rec.warnings == []
    np.testing.assert_allclose(rec.signal, nsr, atol=1e-6)


# ------------------------------------------------------------------------------------------ 2. too small

def test_values_in_volts_are_refused_not_called_flat(nsr, tmp_path):
    path = _csv(tmp_path / "volts.csv", {"MLII": nsr[:, 0] / 1000, "V5": nsr[:, 1] / 1000})
    with pytest.raises(RecordReadError, match=r"the values look like volts \(typical peak-to-peak 0.0\d+ mV\): "
                                              r"give the unit, e.g. 'MLII \(V\)'") as info:
        read_record(path)
    assert "flat" not in str(info.value)


def test_constant_and_two_step_leads_are_still_flat(nsr, tmp_path):
    steps = np.where(np.arange(len(nsr)) % 7 == 3, 0.505, 0.5)  # 1 ADC step of noise: flat, not volts
    rec = read_record(_csv(tmp_path / "flat.csv", {"MLII": nsr[:, 0], "V1": steps}))
    assert rec.warnings == ["Lead V1 is a flat line at 0.5 mV and carries no signal; it is kept but should not "
                            "be used."]


# ------------------------------------------------------------------------------------------ 3. spikes

def test_single_sample_spikes_are_replaced_with_a_warning(nsr, tmp_path):
    x = nsr[:, 0].copy()
    at = [500, 1700, 2900]
    x[at] = 32.767
    rec = read_record(_csv(tmp_path / "spikes.csv", {"MLII": x, "V5": nsr[:, 1]}))
    assert rec.warnings == ["MLII: replaced 3 single-sample spikes (> 5 mV from both neighbours; a recorder "
                            "glitch, not the heart)."]
    for i in at:
        assert rec.signal[i, 0] == pytest.approx((nsr[i - 1, 0] + nsr[i + 1, 0]) / 2, abs=1e-6)
    keep = np.setdiff1d(np.arange(len(x)), at)
    np.testing.assert_allclose(rec.signal[keep], nsr[keep], atol=1e-6)


def test_many_spikes_are_left_alone_with_a_warning(nsr, tmp_path):
    x = nsr[:, 0].copy()
    x[10:3500:50] = 20.0  # 70 spikes = 1.9 % of the samples: not a rare glitch
    rec = read_record(_csv(tmp_path / "many.csv", {"MLII": x}))
    np.testing.assert_allclose(rec.signal[:, 0], x, atol=1e-6)
    assert len(rec.warnings) == 1 and "MLII: 70 single-sample spikes" in rec.warnings[0]
    assert "left as they are" in rec.warnings[0]


def test_real_mitdb_records_have_no_spikes_replaced(mitdb_dir):
    headers = sorted(mitdb_dir.glob("*.hea"))
    assert headers
    for hea in headers:
        rec = read_record(hea)
        assert not [w for w in rec.warnings if "spike" in w], hea.name


# ------------------------------------------------------------------------------------------ 4. empty lead

def test_all_nan_primary_lead_is_left_out(nsr, tmp_path):
    rec = read_record(_csv(tmp_path / "nan_mlii.csv", {"MLII": np.full(len(nsr), np.nan), "V5": nsr[:, 1]}))
    assert rec.lead_names == ["V5"] and rec.n_leads == 1
    assert rec.warnings == ["MLII holds no values and was left out."]
    np.testing.assert_allclose(rec.signal[:, 0], nsr[:, 1], atol=1e-6)


def test_all_leads_nan_is_still_refused(nsr, tmp_path):
    empty = np.full(len(nsr), np.nan)
    with pytest.raises(RecordReadError, match="holds no ECG: MLII holds no values; V5 holds no values"):
        read_record(_csv(tmp_path / "nan_all.csv", {"MLII": empty, "V5": empty}))


# ------------------------------------------------------------------------------------------ 5. lead names

@pytest.mark.parametrize("name,norm", [
    ("II (mV)", "II"), ("ECG II", "II"), ("EKG II", "II"), ("Lead II", "II"), ("DII", "II"), ("D2", "II"),
    ("MLII_mV", "MLII"), ("MLII (uV)", "MLII"), ("MLII (µV)", "MLII"), ("V5 [V]", "V5"), ("DI", "I"),
    ("D3", "III"), ("diii", "III"), ("mlii", "MLII"), ("ECG", "ECG"), ("V1", "V1")])
def test_norm_lead_strips_units_and_prefixes(name, norm):
    assert _norm_lead(name) == norm


def test_lead_ii_with_unit_is_chosen_as_primary():
    t = np.arange(int(5 * FS)) / FS
    sig = np.column_stack([np.sin(2 * np.pi * 1.2 * t), 0.8 * np.sin(2 * np.pi * 1.3 * t)])
    rec = Record(name="units", signal=sig, fs=FS, lead_names=["V1", "II (mV)"])
    assert select_lead(rec) == (1, "II (mV)", "No MLII lead; using II (mV).")
    np.testing.assert_array_equal(rec.lead("II"), rec.signal[:, 1])
