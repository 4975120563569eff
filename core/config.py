"""One source of truth for paths, rates and thresholds shared by the CLI, the pages and the tests."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
EXAMPLES_DIR = ASSETS_DIR / "examples"
PROMPTS_DIR = ASSETS_DIR / "prompts"
MODELS_DIR = ASSETS_DIR / "models"

#: The model version the app and the CLI load unless told otherwise (env CARDIOLENS_MODEL).
DEFAULT_MODEL_VERSION = os.environ.get("CARDIOLENS_MODEL", "v2")
#: The bundle `python -m core zeroshot` uses unless told otherwise (env CARDIOLENS_ZEROSHOT_MODEL): zs, the
#: CLIP recipe seed001 trained with S and Q as the only abnormal classes, so V and F beats never entered its
#: training and its V/F scores are zero-shot (v2's classifier saw V labels).
ZEROSHOT_MODEL_VERSION = os.environ.get("CARDIOLENS_ZEROSHOT_MODEL", "zs")
DEFAULT_PROMPT_BANK = PROMPTS_DIR / "bank.csv"

#: Rate every signal is resampled to before beats are cut (Hz) and the beat window (samples = 1 s).
MODEL_FS = 360.0
BEAT_WINDOW = 360

#: Leads preferred for the single-lead views, in order (MIT-BIH names first).
PREFERRED_LEADS = ("MLII", "II", "ML2", "LEAD II", "ECG", "V5", "V1", "V2", "V4", "I")

#: The shared data folder beside the repo (development and CI only; the app never needs it).
SHARED_DATA_DIR = Path(os.environ.get("CARDIOLENS_DATA", REPO_ROOT.parent / "shared" / "data"))
MITDB_DIR = SHARED_DATA_DIR / "mitdb"

#: Inter-patient split (de Chazal 2004) plus paced records: 102, 104 train; 107, 217 test.
DS1 = ("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230").split()
DS2 = ("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234").split()
TRAIN_RECORDS = tuple(DS1 + ["102", "104"])
TEST_RECORDS = tuple(DS2 + ["107", "217"])

#: MIT-BIH beat symbols -> AAMI classes.
AAMI_CLASS = {
    **dict.fromkeys("N L R e j".split(), "N"),
    **dict.fromkeys("A a J S".split(), "S"),
    **dict.fromkeys("V E".split(), "V"),
    "F": "F",
    **dict.fromkeys("/ f Q".split(), "Q"),
}


def aami_of(symbols) -> np.ndarray:
    """AAMI class of each MIT-BIH beat symbol ('' for a symbol that is not a beat), as an object array."""
    return np.array([AAMI_CLASS.get(s, "") for s in symbols], dtype=object)


#: A detected beat matches a reference beat within this many seconds (150 ms, as in ANSI/AAMI EC57).
MATCH_TOLERANCE_S = 0.150

#: Binary target of seed 000: N -> 0, S and Q -> 1; V and F kept out of training (zero-shot test).
BINARY_LABEL = {"N": 0, "S": 1, "Q": 1}

#: File suffixes the CLI and the pages accept as one record.
RECORD_SUFFIXES = (".hea", ".csv", ".edf", ".npy", ".zip")

#: Upper bound for an uploaded case (bytes); a 30-min two-lead MIT-BIH record is ~2 MB in format 212.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
