"""core.training.evaluate through the CLI: the metrics tables of the shipped bundle, without training."""
import json
import subprocess
import sys

import pytest

from core import config


@pytest.mark.slow
def test_evaluate_cli_on_two_records(mitdb_dir, tmp_path):
    out = tmp_path / "metrics.json"
    r = subprocess.run([sys.executable, "-m", "core", "evaluate", "--data", str(mitdb_dir), "--records", "232", "107",
                        "--out", str(out)], capture_output=True, text=True, timeout=1200, cwd=config.REPO_ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(out.read_text())
    assert m["records"] == ["232", "107"] and set(m["test"]) == {"reference_peaks", "detected_peaks"}
    ref = m["test"]["reference_peaks"]
    from core.model.bundle import load_bundle

    if load_bundle().config.fusion == "fact_gated":  # v2: referral notes, counterfactual notes, unreadable beats
        assert {"ecg_only", "fused (own note)", "note_only (own note)", "fused (shuffled note)", "fused (nonsense note)"} <= set(ref)
        assert "ecg_only without 202" in ref and ref["_unreadable_beats"] >= 0
        assert m["test"]["detected_peaks"]["ecg_only"]["n_beats"] > 0.95 * ref["ecg_only"]["n_beats"]
    else:
        assert set(ref) == {"ecg_only", "note_only (header note)", "fused (header note)", "fused (header + reference rhythm note)"}
        assert m["test"]["detected_peaks"]["_matching"]["matched_to_reference"] > 0.95 * ref["ecg_only"]["n_beats"]
        assert "| ecg_only |" in r.stdout and "reference peaks" in r.stdout
    assert ref["ecg_only"]["n_S"] > 1000 and ref["ecg_only"]["n_Q"] > 1000  # 232: APBs; 107: paced
    assert 0.5 < ref["ecg_only"]["auc"] <= 1.0


def test_evaluate_cli_refuses_a_missing_record(tmp_path):
    r = subprocess.run([sys.executable, "-m", "core", "evaluate", "--data", str(tmp_path), "--records", "999"],
                       capture_output=True, text=True, timeout=300, cwd=config.REPO_ROOT)
    assert r.returncode == 2 and "no record 999" in r.stderr and "Traceback" not in r.stderr
