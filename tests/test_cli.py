"""The CLI contracts of DESIGN.md, run as a user would (a subprocess), on bundled examples and bad input."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from core import config

BAD = Path(__file__).parent / "data" / "bad_inputs"


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=config.REPO_ROOT)


def test_score_csv_contract(tmp_path):
    out = tmp_path / "beats.csv"
    r = run_cli("score", config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea", "--out", out)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert {"record", "sample", "time_s", "p_abnormal", "predicted"} <= set(rows[0])
    assert 170 <= len(rows) <= 200  # 185 reference beats in this 150 s cut
    for row in rows:
        assert 0.0 <= float(row["p_abnormal"]) <= 1.0 and row["predicted"] in ("0", "1")
        assert abs(float(row["time_s"]) - int(row["sample"]) / 360.0) < 1e-3


def test_score_json_with_note_has_verdict_zeroshot_and_explanations(tmp_path):
    out = tmp_path / "case.json"
    case = config.EXAMPLES_DIR / "apb_232"
    r = run_cli("score", case, "--note", case / "note.txt", "--out", out)
    assert r.returncode == 0, r.stderr
    import json

    rec = json.loads(out.read_text())["records"][0]
    assert rec["view"] == "fused" and rec["verdict"] in ("normal", "abnormal")
    assert set(rec["zeroshot_record"]) == {"N", "S", "V", "F", "Q"}
    ex = rec["explanation_top_beat"]
    assert abs(ex["base_value"] + sum(x["shap"] for x in ex["shap"]) - ex["prediction"]) < 1e-3
    assert rec["note_attention"]


def test_zeroshot_contract(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("label,prompt\nN,a normal heart beat\nS,an atrial premature beat\nV,a premature ventricular contraction\n")
    out = tmp_path / "zs.csv"
    r = run_cli("zeroshot", config.EXAMPLES_DIR / "pvc_bigeminy_200", "--prompts", prompts, "--out", out)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:3] == ["record", "sample", "time_s"] and {"N", "S", "V"} <= set(rows[0])
    for row in rows:
        assert abs(sum(float(row[k]) for k in "NSV") - 1) < 1e-4


#: Corpus files that are valid on purpose (tests/data/bad_inputs/README.md): a short NaN gap is filled, a Latin-1
#: header is decoded, a zip inside a folder of a zip is read. Every other corpus file must be refused.
VALID_CORPUS = {"nan_short_gap.csv", "non_utf8.dat", "non_utf8.hea", "zip_nested.zip"}


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.iterdir() if p.suffix != ".md") if BAD.is_dir() else [])
def test_bad_input_gives_one_line_and_nonzero_exit(name):
    r = run_cli("score", BAD / name)
    if name in VALID_CORPUS:
        assert r.returncode == 0 and r.stdout.startswith("record,"), r.stderr
        return
    assert r.returncode == 2
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr


def test_missing_file_and_bad_prompts(tmp_path):
    r = run_cli("score", tmp_path / "nope.hea")
    assert r.returncode == 2 and "no such file" in r.stderr
    bad = tmp_path / "p.csv"
    bad.write_text("label,text\nN,x\n")
    r = run_cli("zeroshot", config.EXAMPLES_DIR / "nsr_100", "--prompts", bad)
    assert r.returncode == 2 and "prompt" in r.stderr.lower() and "Traceback" not in r.stderr
