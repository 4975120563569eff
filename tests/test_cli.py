"""The CLI contracts of DESIGN.md, run as a user would (a subprocess), on bundled examples and bad input."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import config

BAD = Path(__file__).parent / "data" / "bad_inputs"
V2 = config.MODELS_DIR / "v2"
SCORE_COLUMNS = ["record", "sample", "time_s", "p_abnormal", "predicted", "p_ecg", "p_note", "p_fused"]
needs_v2 = pytest.mark.skipif(not (V2 / "config.json").is_file(), reason="no v2 bundle")


def run_cli(*args, timeout=300):
    env = {**os.environ, "CARDIOLENS_LOG": os.devnull}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=config.REPO_ROOT, env=env)


def test_score_csv_contract(tmp_path):
    out = tmp_path / "beats.csv"
    r = run_cli("score", config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea", "--out", out)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    # the existing columns first, in their order; then the beat call and the unreadable flag
    assert list(rows[0]) == SCORE_COLUMNS + ["ref_symbol", "call", "unreadable"]
    assert 170 <= len(rows) <= 200  # 185 reference beats in this 150 s cut
    for row in rows:
        assert 0.0 <= float(row["p_abnormal"]) <= 1.0 and row["predicted"] in ("0", "1")
        assert abs(float(row["time_s"]) - int(row["sample"]) / 360.0) < 1e-3
        assert row["unreadable"] in ("0", "1")
        assert row["call"] == ("unreadable" if row["unreadable"] == "1" else "abnormal" if row["predicted"] == "1" else "normal")


def test_score_json_with_note_has_verdict_zeroshot_and_explanations(tmp_path):
    out = tmp_path / "case.json"
    case = config.EXAMPLES_DIR / "apb_232"
    r = run_cli("score", case, "--note", case / "note.txt", "--out", out)
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())["records"][0]
    assert rec["view"] == "fused" and rec["verdict"] in ("normal", "abnormal")
    assert rec["statements"] and all(isinstance(x, str) for x in rec["statements"])
    assert rec["rhythm"] and set(rec["rhythm"][0]) == {"kind", "start_s", "end_s", "confidence", "detail"}
    assert isinstance(rec["facts"], dict) and isinstance(rec["note_effect"], dict)
    assert ("agreement" in rec) == (rec["model_version"] != "v2" and rec.get("agreement") is not None)
    assert {"call", "unreadable"} <= set(rec["beats"][0])
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


#: Corpus files that are valid on purpose (tests/data/bad_inputs/README.md): a short NaN gap is filled, a long one is
#: read as lost signal, a Latin-1 header is decoded, a zip inside a folder of a zip is read. Every other corpus file
#: must be refused.
VALID_CORPUS = {"nan_short_gap.csv", "nan_long_gap.csv", "non_utf8.dat", "non_utf8.hea", "zip_nested.zip"}


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


@needs_v2
def test_score_json_v2_keys(tmp_path, monkeypatch):
    """v2 JSON: rhythm episodes, statements, the note's recognised facts and what the note changed; no
    ``agreement`` (v2 has none). Zero-shot and attention are stubbed here (their own tests cover them)."""
    import pandas as pd

    from core import case_output, explain, zeroshot
    from core.model.bundle import load_bundle
    from core.text.encoder import load_text_encoder

    monkeypatch.setattr(zeroshot, "score_case", lambda *a, **k: type("Z", (), {"record_probs": pd.Series({"N": 1.0})})())
    monkeypatch.setattr(explain, "note_attention", lambda *a, **k: pd.DataFrame({"word": ["x"], "raw": [1.0]}))
    bundle = load_bundle(V2)
    enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    folder = config.EXAMPLES_DIR / "short_10s_csv"
    from core.io import read_record
    from core.predict import analyse_case

    case = analyse_case(read_record(folder / "ecg.csv"), (folder / "note.txt").read_text(), bundle, enc)
    entry = json.loads(json.dumps(case_output.case_json(case, case_output.beat_rows(case), bundle, enc, None), default=case_output.json_default))
    assert "agreement" not in entry
    assert entry["statements"] == case.statements and len(entry["rhythm"]) == len(case.rhythm.episodes)
    assert [e["kind"] for e in entry["rhythm"]] == [e.kind for e in case.rhythm.episodes]
    tau = bundle.config.fact_tau
    assert entry["facts"] == {f: p for f, p in case.note.facts.items() if p >= tau}
    assert set(entry["note_effect"]) >= {"changed_beats", "n_changed", "p_record_without_note", "p_record_with_note"}
    assert entry["n_unreadable"] == int(case.table["unreadable"].sum())


def _batch_folder(tmp_path: Path, bad: list[str]) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    shutil.copy(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv", folder / "a_short.csv")
    for name in bad:
        shutil.copy(BAD / name, folder / name)
    return folder


@needs_v2
def test_score_folder_with_bad_files_goes_on(tmp_path):
    """Every bad file: an error row and a summary line on stderr; the run goes on; exit 1; progress bar."""
    folder = _batch_folder(tmp_path, ["flat_line.csv", "truncated.hea", "truncated.dat"])
    out = tmp_path / "beats.csv"
    r = run_cli("score", folder, "--model", V2, "--out", out)
    assert r.returncode == 1, r.stderr
    with out.open() as fh:
        reader = csv.DictReader(fh)
        cols, rows = reader.fieldnames, list(reader)
    assert cols[:8] == SCORE_COLUMNS and cols[-2:] == ["path", "error"] and {"call", "unreadable"} <= set(cols)
    good = [x for x in rows if not x["error"]]
    assert len(good) >= 10 and {x["record"] for x in good} == {"a_short"}
    assert all("." not in x["sample"] for x in rows)  # integers stay integers beside error rows
    errors = {x["record"]: x["error"] for x in rows if x["error"]}
    assert set(errors) == {"flat_line", "truncated"}
    assert "flat line" in errors["flat_line"] and "truncated" in errors["truncated"]
    assert "scored 1 of 3 records" in r.stderr and "2 records could not be scored" in r.stderr
    assert f"{folder / 'flat_line.csv'}: " in r.stderr and "3/3" in r.stderr and "Traceback" not in r.stderr


def test_score_folder_of_only_bad_files_exits_2(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ("all_zero.csv", "junk.edf"):
        shutil.copy(BAD / name, folder / name)
    out = tmp_path / "beats.csv"
    r = run_cli("score", folder, "--out", out)
    assert r.returncode == 2, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert [x["record"] for x in rows] == ["all_zero", "junk"] and all(x["error"] for x in rows)
    assert "scored 0 of 2 records" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@needs_v2
def test_score_folder_on_two_dask_workers_equals_serial(tmp_path):
    folder = _batch_folder(tmp_path, ["too_short.csv"])
    shutil.copy(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea", folder)
    shutil.copy(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.dat", folder)
    r1 = run_cli("score", folder, "--model", V2, "--out", tmp_path / "w1.csv")
    r2 = run_cli("score", folder, "--model", V2, "--workers", 2, "--out", tmp_path / "w2.csv")
    assert r1.returncode == r2.returncode == 1, r2.stderr
    assert "on 2 workers" in r2.stderr
    assert (tmp_path / "w1.csv").read_text() == (tmp_path / "w2.csv").read_text()


# ---- zeroshot: inputs checked before any model; notices as warning lines on stderr --------------------
GOOD_RECORD = config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv"
GOOD_PROMPTS = "label,prompt\nN,a normal heart beat\nV,a premature ventricular contraction\n"


@pytest.fixture
def no_models(monkeypatch):
    """The CLI's model loaders replaced by a recorder that fails: the list says whether any was called."""
    from core import cli

    calls: list[str] = []

    def loader(name):
        def load(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} loaded before the inputs were checked")
        return load

    monkeypatch.setattr(cli, "_bundle", loader("bundle"))
    monkeypatch.setattr(cli, "_text_encoder", loader("text encoder"))
    monkeypatch.setenv("CARDIOLENS_LOG", os.devnull)
    return calls


@pytest.mark.parametrize("record, prompts, extra, message", [
    (BAD / "junk.edf", GOOD_PROMPTS, [], "is not a readable EDF"),
    (BAD / "too_short.csv", GOOD_PROMPTS, [], "too short for two beats"),
    (GOOD_RECORD, None, [], "does not exist"),
    (GOOD_RECORD, "label,text\nN,a normal beat\nV,a ventricular beat\n", [], "no 'prompt' column"),
    (GOOD_RECORD, "label,prompt\nN,a normal beat\nn,a sinus beat\nV,a ventricular beat\n", [], "differ only in case ('N' and 'n')"),
    (GOOD_RECORD, "label,prompt\nN,a normal beat\ntime_s,a ventricular beat\n", [], "label 'time_s' is also a column of the output"),
    (GOOD_RECORD, GOOD_PROMPTS, ["--out", "{tmp}"], "is a folder"),
])
def test_zeroshot_checks_inputs_before_loading_models(tmp_path, capsys, no_models, record, prompts, extra, message):
    from core import cli

    p = tmp_path / "prompts.csv"
    if prompts is not None:
        p.write_text(prompts, encoding="utf-8")
    argv = ["zeroshot", str(record), "--prompts", str(p), *(x.format(tmp=tmp_path) for x in extra)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert no_models == [], err


def test_zeroshot_unreadable_later_file_fails_before_loading_models(tmp_path, capsys, monkeypatch, no_models):
    from core import cli

    p = tmp_path / "prompts.csv"
    p.write_text(GOOD_PROMPTS, encoding="utf-8")
    locked = tmp_path / "locked.csv"
    shutil.copy(GOOD_RECORD, locked)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda f, mode: Path(f) != locked and real_access(f, mode))
    assert cli.main(["zeroshot", str(GOOD_RECORD), str(locked), "--prompts", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"error: {locked}: permission denied" in err and no_models == [], err


def test_zeroshot_bad_prompts_fail_without_importing_torch(tmp_path):
    """The check that makes a bad prompt file fail in about a second: torch (and so BERT) is never imported."""
    p = tmp_path / "prompts.csv"
    p.write_text("label,prompt\nN,a normal beat\nn,a sinus beat\n", encoding="utf-8")
    code = ("import sys; from core import cli; "
            f"rc = cli.main(['zeroshot', {str(GOOD_RECORD)!r}, '--prompts', {str(p)!r}]); "
            "print('torch' in sys.modules, rc)")
    env = {**os.environ, "CARDIOLENS_LOG": os.devnull}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=config.REPO_ROOT, env=env)
    assert r.stdout.split() == ["False", "2"], r.stdout + r.stderr
    assert "differ only in case" in r.stderr


def test_warn_notices_one_line_each_named_by_record(capsys):
    from core import cli

    cli._warn_notices("rec7", ["rec7.csv: filled 3 missing values.", "No MLII lead;\nusing V5.", "record7 is odd."])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["warning: rec7.csv: filled 3 missing values.",
                                         "warning: rec7: No MLII lead; using V5.",
                                         "warning: rec7: record7 is odd."]


NOTICE = "filled 3 missing values in lead MLII"  # the reader's notice for this file (tests/data/bad_inputs/README.md)


@pytest.mark.parametrize("command", ["score", "rhythm", "zeroshot", "score-json"])
def test_record_notices_are_warning_lines_on_stderr_not_stdout(tmp_path, command):
    """A reader's notice (a filled gap) is one ``warning:`` line on stderr; stdout holds the CSV alone."""
    args = [command, BAD / "nan_short_gap.csv"]
    if command == "zeroshot":
        (tmp_path / "p.csv").write_text(GOOD_PROMPTS, encoding="utf-8")
        args += ["--prompts", tmp_path / "p.csv"]
    if command == "score-json":
        args = ["score", BAD / "nan_short_gap.csv", "--out", tmp_path / "case.json"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    warned = [x for x in r.stderr.splitlines() if x.startswith("warning: ")]
    gap = [x for x in warned if NOTICE in x]
    assert len(gap) == 1 and gap[0].startswith("warning: nan_short_gap"), r.stderr
    assert "warning" not in r.stdout and "Warning" not in r.stderr  # no raw Python warning lines either
    if command == "score-json":
        assert r.stdout == ""
        assert any(NOTICE in n for n in json.loads((tmp_path / "case.json").read_text())["records"][0]["notices"])
    else:
        rows = list(csv.reader(r.stdout.splitlines()))
        assert rows[0][0] == "record" and len(rows) > 1 and all(row[0] == "nan_short_gap" for row in rows[1:])


# ---- score --note: a note the model can read, or one line saying why not ---------------------------------
@pytest.mark.parametrize("content, message", [
    (b"\x00" * 2000, "looks binary"),
    (b"chest pain\x07 since noon", "looks binary"),
    (b"\xef\xbb\xbf", "holds no readable text"),
    ("\u200b\u200b \n\u200b".encode("utf-8"), "holds no readable text"),
    (b"x" * 100_001, "the model reads only the first 256 word pieces"),
], ids=["nul-bytes", "bell", "bom-only", "zero-width-spaces", "over-100kB"])
def test_note_without_readable_text_is_refused_before_loading_models(tmp_path, capsys, no_models, content, message):
    from core import cli

    note = tmp_path / "note.txt"
    note.write_bytes(content)
    assert cli.main(["score", str(GOOD_RECORD), "--note", str(note)]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {note}: ") and message in lines[0], err
    assert no_models == [], err


def test_note_with_bom_tabs_and_line_breaks_is_read_without_the_bom(tmp_path):
    from core import cli

    note = tmp_path / "note.txt"
    note.write_bytes("\ufeffPalpitations.\tNo syncope.\r\nK+ 3.1\u200b mmol/l".encode("utf-8"))
    assert cli._note_text(str(note)) == "Palpitations.\tNo syncope.\r\nK+ 3.1\u200b mmol/l"


# ---- zeroshot on several files: a bad one is an error line, the good records' rows are still written ------
def test_zeroshot_batch_with_a_bad_file_writes_the_good_rows(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text(GOOD_PROMPTS, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("time,ecg\n0,0.1\n0.01,0.2\n", encoding="utf-8")
    out = tmp_path / "zs.csv"
    r = run_cli("zeroshot", config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea", bad, "--prompts", prompts, "--out", out)
    assert r.returncode == 1, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["record", "sample", "time_s", "N", "V"]
    assert len(rows) > 100 and {x["record"] for x in rows} == {"nsr_100"}
    errors = [x for x in r.stderr.replace("\r", "\n").splitlines() if "error: " in x]
    assert len(errors) == 1 and f"error: {bad}: " in errors[0] and "too short" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_zeroshot_batch_of_only_bad_files_exits_2_before_loading_models(tmp_path, capsys, no_models):
    from core import cli

    p = tmp_path / "prompts.csv"
    p.write_text(GOOD_PROMPTS, encoding="utf-8")
    out = tmp_path / "zs.csv"
    argv = ["zeroshot", str(BAD / "too_short.csv"), str(BAD / "flat_line.csv"), "--prompts", str(p), "--out", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert [x.split(": ")[1] for x in lines] == [str(BAD / "too_short.csv"), str(BAD / "flat_line.csv")], err
    assert all(x.startswith("error: ") for x in lines) and no_models == [] and not out.exists(), err
