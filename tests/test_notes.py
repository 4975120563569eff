"""core.notes: header parsing (literal MIT-BIH lines and real headers), notes without leaked
rhythm words, rhythm percentages, beat findings from measured features."""
from __future__ import annotations

import re

import numpy as np
import pytest

from core.text.findings import BEAT_NAMES, BEAT_ORIGIN, SYNONYMS, beat_attributes, beat_finding
from core.text.notes import RHYTHM_NAMES, PatientInfo, header_note, parse_header_comments, record_note, rhythm_note

RHYTHM_WORDS = re.compile(
    r"rhythm|sinus|fibrillation|flutter|bigeminy|trigeminy|tachy|brady|block|pvc|premature|ectopic|paced",
    re.IGNORECASE,
)


# ---- header --------------------------------------------------------------------------------------
def test_parse_mitdb_literal_lines():
    info = parse_header_comments(["69 M 1085 1629 x1", "Aldomet, Inderal"])
    assert info == PatientInfo(age=69, sex="male", medications=["Aldomet", "Inderal"], other=[])
    unknown = parse_header_comments(["? ? x1", "None"])
    assert unknown.age is None and unknown.sex is None and unknown.medications == []
    assert parse_header_comments(["None"]).medications == []
    assert parse_header_comments(["-1 M 742 654 x1", "Diapres, Xyloprim"]).age is None  # record 103


def test_parse_free_text_and_other_formats():
    info = parse_header_comments([
        "76 F 2777 3655 x2", "Aldomet, Inderal",
        "The rhythm is compatible with sick sinus syndrome.  There is underlying",
        "sinus bradycardia.",
    ])
    assert info.sex == "female" and info.age == 76
    assert info.other == ["The rhythm is compatible with sick sinus syndrome.",
                          "There is underlying sinus bradycardia."]
    kv = parse_header_comments(["age: 50", "sex: F", "medications: aspirin, metoprolol"])
    assert (kv.age, kv.sex, kv.medications) == (50, "female", ["aspirin", "metoprolol"])
    ptb = parse_header_comments(["<age>: 62 <sex>: M"])
    assert (ptb.age, ptb.sex) == (62, "male")
    assert parse_header_comments([]) == PatientInfo()


def test_header_note_has_demographics_and_meds_but_no_rhythm_words():
    info = parse_header_comments(["69 M 1085 1629 x1", "Aldomet, Inderal", "The PVCs are uniform."])
    note = header_note(info)
    assert note == "69-year-old man on Aldomet and Inderal. Ambulatory ECG recording."
    assert not RHYTHM_WORDS.search(note)
    assert header_note(parse_header_comments(["? ? x1", "None"])).startswith("Patient of unknown age and sex")
    assert "no medications" in header_note(PatientInfo(age=24, sex="female"))
    assert "The PVCs are uniform." in record_note(info, include_remarks=True)
    assert "PVC" not in record_note(info)


@pytest.mark.parametrize("record", ["100", "201", "203", "232"])
def test_real_mitdb_headers(mitdb_dir, record):
    wfdb = pytest.importorskip("wfdb")
    info = parse_header_comments(wfdb.rdheader(str(mitdb_dir / record)).comments)
    expected = {"100": (69, "male", "Aldomet"), "201": (68, "male", "KCl"),
                "203": (43, "male", "Coumadin"), "232": (76, "female", "Inderal")}[record]
    assert (info.age, info.sex) == expected[:2] and expected[2] in info.medications
    note = header_note(info)
    assert str(expected[0]) in note and expected[2] in note
    assert not RHYTHM_WORDS.search(note)


# ---- rhythm --------------------------------------------------------------------------------------
def _percentages(note: str) -> list[int]:
    return [int(p) for p in re.findall(r"\((\d+)%", note)]


def test_rhythm_note_synthetic():
    fs, n = 360.0, 360_000
    note = rhythm_note(np.array([0, 10, 223_200, 300_000]), ["(N", "", "(AFIB", "(N"], n, fs)
    assert note == "Rhythm: sinus rhythm (79% of the recording), atrial fibrillation (21%)."
    assert sum(_percentages(note)) == 100
    brief = rhythm_note(np.array([0, 1000, 2800]), ["(N", "(VT", "(N"], n, fs)
    assert "ventricular tachycardia (<1%, 5 s)" in brief
    assert rhythm_note(np.array([5]), ["(AFIB"], n, fs) == "Rhythm: atrial fibrillation throughout."
    assert rhythm_note(np.array([5]), ["MISSB"], n, fs) == "Rhythm: not annotated."
    # An excerpt: the change before it (negative sample) holds at its start.
    assert rhythm_note(np.array([-500, 1000]), ["(B", "(N"], 2000, fs).startswith("Rhythm: ventricular bigeminy (50%")
    with pytest.raises(ValueError, match="aux notes"):
        rhythm_note(np.array([0, 1]), ["(N"], n, fs)


@pytest.mark.parametrize("record", ["201", "203"])
def test_rhythm_note_on_records_with_atrial_fibrillation(mitdb_dir, record):
    wfdb = pytest.importorskip("wfdb")
    ann = wfdb.rdann(str(mitdb_dir / record), "atr")
    note = rhythm_note(ann.sample, ann.aux_note, 650_000, 360.0)
    assert "atrial fibrillation" in note
    assert sum(_percentages(note)) == 100
    assert "rhythm '" not in note                      # every MIT-BIH code has a name


def test_rhythm_names_cover_mitdb():
    mitdb = "(AB (AFIB (AFL (B (BII (IVR (N (NOD (P (PREX (SBR (SVTA (T (VFL (VT".split()
    assert set(mitdb) <= set(RHYTHM_NAMES)


# ---- beats ---------------------------------------------------------------------------------------
PREMATURE_NARROW = {
    "rr_pre_ms": 560.0, "rr_local_ms": 800.0, "rr_pre_local_ratio": 0.70, "rr_post_pre_ratio": 1.6,
    "qrs_ms": 84.0, "pr_ms": 150.0, "p_amp_mv": 0.12, "t_inverted": 0.0,
}


def test_beat_finding_premature_narrow_atrial_beat():
    text = beat_finding("A", PREMATURE_NARROW)
    assert text.startswith("Atrial premature beat")
    assert "premature (RR 560 ms, local 800 ms)" in text and "narrow QRS (84 ms)" in text
    assert "compensatory pause" in text and "normal P wave" in text
    assert "inverted" not in text
    assert text == beat_finding("A", dict(PREMATURE_NARROW))           # deterministic without rng


def test_beat_attributes_from_measured_features():
    at = beat_attributes("A", PREMATURE_NARROW)
    assert at == {"name": "atrial premature beat", "origin": "supraventricular", "timing": "premature",
                  "pause": "compensatory", "qrs": "narrow", "p_wave": "normal", "pr": "normal",
                  "t_wave": "not inverted"}
    pvc = beat_attributes("V", {"rr_pre_local_ratio": 0.6, "rr_post_pre_ratio": 1.8, "qrs_ms": 150.0,
                                "p_amp_mv": np.nan, "t_inverted": 1.0})
    assert (pvc["origin"], pvc["qrs"], pvc["p_wave"], pvc["t_wave"]) == ("ventricular", "wide", "absent", "inverted")
    late = beat_attributes("j", {"rr_pre_local_ratio": 1.5, "qrs_ms": 115.0, "p_amp_mv": -0.08, "pr_ms": 90.0})
    assert (late["timing"], late["qrs"], late["p_wave"], late["pr"]) == ("late", "borderline", "abnormal", "short")
    unknown = beat_attributes("N", {})
    assert {unknown[k] for k in ("timing", "qrs", "p_wave", "pr", "t_wave")} == {"unknown"}
    assert beat_finding("N", {}) == "Normal beat: supraventricular origin."
    assert set(BEAT_ORIGIN) == set(BEAT_NAMES)
    with pytest.raises(ValueError, match="unknown beat symbol"):
        beat_attributes("+", {})


def test_paced_beat_mentions_pacemaker_stimulus():
    text = beat_finding("/", {"rr_pre_local_ratio": 1.0, "qrs_ms": 170.0, "t_inverted": 1.0})
    assert "pacemaker stimulus" in text and "wide QRS (170 ms)" in text and "inverted T wave" in text


def test_beat_finding_paraphrases_keep_the_attributes():
    rng = np.random.default_rng(0)
    texts = {beat_finding("A", PREMATURE_NARROW, rng) for _ in range(40)}
    assert len(texts) > 3                                           # wording varies
    for text in texts:
        assert text.lower().startswith("atrial premature beat")
        assert any(p in text for p in SYNONYMS["premature"])
        assert any(p in text for p in SYNONYMS["narrow"]) and "(84 ms)" in text
        assert any(p in text for p in SYNONYMS["compensatory"])
        assert not any(p in text for p in SYNONYMS["wide"] + SYNONYMS["late"] + SYNONYMS["t_inverted"])
    # Same seed, same text: paraphrasing is reproducible.
    assert beat_finding("V", PREMATURE_NARROW, np.random.default_rng(3)) == \
        beat_finding("V", PREMATURE_NARROW, np.random.default_rng(3))


def test_note_bytes_are_checked_for_the_cli_and_the_case_page():
    import pytest

    from core.text.note_file import MAX_NOTE_BYTES, NoteFileError, read_note_bytes

    assert read_note_bytes("\ufeffKnown AF on digoxin.\n".encode(), "n.txt") == "Known AF on digoxin.\n"
    for raw, why in ((b"\x00" * 2000, "looks binary"), ("\u200b\u200b \n".encode(), "no readable text"),
                     (b"  \n", "empty"), ("caf\xe9".encode("latin-1"), "not UTF-8"),
                     (b"a" * (MAX_NOTE_BYTES + 1), "over the 100 kB limit")):
        with pytest.raises(NoteFileError, match=why):
            read_note_bytes(raw, "n.txt")
