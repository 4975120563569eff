"""core.report.tables: the README's results tables are exactly what the renderer makes of metrics.json."""
import json

import pytest

from core import config
from core.report.tables import MARKERS, metrics_tables_markdown, readme_blocks, render_readme, view_table

BUNDLE = config.MODELS_DIR / config.DEFAULT_MODEL_VERSION
ZEROSHOT_BUNDLE = config.MODELS_DIR / config.ZEROSHOT_MODEL_VERSION


@pytest.mark.skipif(not (BUNDLE / "metrics.json").is_file(), reason="no shipped bundle metrics")
def test_readme_tables_match_metrics_json():
    readme = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for begin, end in MARKERS.values():
        assert readme.count(begin) == 1 and readme.count(end) == 1
    assert render_readme(readme, readme_blocks(BUNDLE, ZEROSHOT_BUNDLE)) == readme, (
        "README tables differ from metrics.json: run `python -m scripts.metrics_table --write`")
    assert "0.121" not in readme.split(MARKERS["zeroshot"][0])[1].split(MARKERS["zeroshot"][1])[0]


def test_one_renderer_for_the_card_and_the_readme():
    rep = {"ecg_only": {"auc": 0.91234, "S_vs_N_auc": 0.8, "n_N": 3, "n_S": 1, "n_Q": 0}, "_matching": {"detected_beats": 4}}
    df = view_table(rep)
    assert list(df["view"]) == ["ecg_only"] and df["AUC"].iloc[0] == 0.91234
    md = metrics_tables_markdown({"test": {"reference_peaks": rep}})
    assert "| ecg_only | 0.912 | 0.800 |" in md and "detected beats 4" in md
    assert json.dumps(md)  # plain text
