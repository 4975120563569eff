"""``python -m core train --recipe NAME``: recipes as presets of ``TrainOptions`` and the seed/aggregate
plumbing. No training runs here: ``run_seed``, ``aggregate_seeds`` and ``run_experiment`` are replaced by
recorders (a real run takes 30+ minutes)."""
from __future__ import annotations

from pathlib import Path

import pytest

from core import cli, config
from core.training.recipes import RECIPES, V2_PIPELINE, build_train_parser, recipe_options


@pytest.fixture
def fake_data(tmp_path):
    mitdb, svdb = tmp_path / "mitdb", tmp_path / "svdb"
    for d in (mitdb, svdb):
        d.mkdir()
        (d / "RECORDS").write_text("100\n")
    rec = tmp_path / "rec"
    rec.mkdir()
    for n in ("fact_recognizer.json", "fact_recognizer.npz"):
        (rec / n).write_text("{}")
    return mitdb, svdb, rec


@pytest.fixture
def recorder(monkeypatch):
    from core.training import experiment, seeds

    calls: dict[str, list] = {"run_seed": [], "aggregate": [], "v1": []}
    monkeypatch.setattr(seeds, "run_seed", lambda *a, **k: calls["run_seed"].append(a) or {})
    monkeypatch.setattr(seeds, "aggregate_seeds", lambda *a, **k: calls["aggregate"].append(a) or {})
    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: calls["v1"].append((a, k)) or {})
    return calls


def test_every_recipe_is_the_v2_pipeline_plus_its_own_options():
    from core.training.loop import TrainOptions

    default = TrainOptions()
    for name, (own, text) in RECIPES.items():
        opts = recipe_options(name, seed=2)
        assert opts.seed == 2 and text
        for k, v in {**V2_PIPELINE, **own}.items():
            assert getattr(opts, k) == v, (name, k)
    assert recipe_options("ours").abnormal_classes == ("S", "V", "Q") and recipe_options("ours").fusion == "fact_gated"
    assert recipe_options("seed000").encoder == "mlp" and recipe_options("seed000").temperature == 0.05
    assert recipe_options("seed001").fn_mitigation == "none" and recipe_options("seed001").contrastive == "ntxent"
    assert recipe_options("merl").unimodal_weight == 1.0 and recipe_options("merl").latent_dropout == 0.1
    assert recipe_options("fgclep").contrastive == "siglip" and recipe_options("fgclep").fn_mitigation == "similarity"
    assert recipe_options("merit").recon_weight == 1.0 and default.recon_weight == 0.0
    # the seed systems differ from ours only where their paper does
    ours = recipe_options("ours")
    assert [k for k in vars(ours) if getattr(recipe_options("merl"), k) != getattr(ours, k)] == ["unimodal_weight"]


def test_train_recipe_runs_each_seed_then_aggregates(tmp_path, fake_data, recorder):
    mitdb, svdb, rec = fake_data
    argv = ["train", "--recipe", "merl", "--seeds", "0", "2", "--data", str(mitdb), "--svdb", str(svdb),
            "--recognizer", str(rec), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--epochs", "3"]
    assert cli.main(argv) == 0
    assert len(recorder["run_seed"]) == 2
    for k, (m, s, out, opts, r) in zip((0, 2), recorder["run_seed"]):
        assert (Path(m), Path(s), Path(r)) == (mitdb, svdb, rec)
        assert Path(out) == tmp_path / "runs" / "merl" / f"seed{k}"
        assert opts.seed == k and opts.unimodal_weight == 1.0 and opts.epochs == 3  # flag over recipe
        assert opts.oof_epochs == 5 and opts.batch_size == 512 and opts.threads == 1
    (dirs, out), = recorder["aggregate"]
    assert [Path(d).name for d in dirs] == ["seed0", "seed2"] and Path(out) == tmp_path / "out"
    assert recorder["v1"] == []


def test_train_defaults(tmp_path, fake_data, recorder):
    mitdb, svdb, rec = fake_data
    args = build_train_parser().parse_args(["--recipe", "ours"])
    assert Path(args.recognizer) == config.MODELS_DIR / "v2" and Path(args.runs) == config.REPO_ROOT / "build" / "runs"
    assert cli.main(["train", "--recipe", "ours", "--data", str(mitdb), "--svdb", str(svdb), "--recognizer", str(rec),
                     "--runs", str(tmp_path / "runs")]) == 0
    assert [opts.seed for *_, opts, _ in recorder["run_seed"]] == [0, 1, 2]
    assert Path(recorder["aggregate"][0][1]) == tmp_path / "runs" / "ours" / "shipped"


def test_train_v1_keeps_the_old_experiment(tmp_path, fake_data, recorder):
    mitdb, *_ = fake_data
    assert cli.main(["train", "--recipe", "v1", "--data", str(mitdb), "--out", str(tmp_path / "v1"), "--seed", "4",
                     "--encoder", "mlp", "--no-ablations"]) == 0
    ((data, out, opts), kw), = recorder["v1"]
    assert Path(data) == mitdb and out == str(tmp_path / "v1") and opts.seed == 4 and opts.encoder == "mlp"
    assert opts.fusion == "concat" and kw == {"version": "v1", "ablations": False}
    assert recorder["run_seed"] == []


def test_train_bad_arguments_are_one_line(tmp_path, fake_data, recorder, capsys):
    mitdb, svdb, _ = fake_data
    assert cli.main(["train", "--recipe", "ours", "--data", str(mitdb), "--svdb", str(svdb),
                     "--recognizer", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "fact_recognizer" in err[0]
    assert cli.main(["train", "--recipe", "ours", "--data", str(tmp_path)]) == 2
    assert "no RECORDS file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--recipe", "clip"])
    assert recorder["run_seed"] == []


def test_train_help_names_every_recipe_and_the_budget(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for name in ("ours", "seed000", "seed001", "merl", "fgclep", "merit", "v1"):
        assert f"  {name}: " in out
    assert "departs" in out and "CPU budget" in out
