"""Markdown tables of a v2 ``metrics.json`` (per-seed experiment, ``core.training.seeds``): mean +/- sd over
seeds for the test views (headline: our own R-peak detector), the counterfactual notes, the out-of-fold
figures the thresholds came from, the SVDB record-grouped cross-validation and the fact tests."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

#: Columns of the seed tables: key in ``binary_report`` -> header.
SEED_COLUMNS = {"auc": "AUC", "S_vs_N_auc": "S-vs-N AUC", "S_sensitivity": "S se", "S_ppv": "S PPV",
                "N_flagged_rate": "N flagged", "Q_sensitivity": "Q se", "V_flagged_rate": "V flagged", "ece": "ECE"}
HEADLINE_VIEWS = ("ecg_only", "fused (own note)", "note_only (own note)")
COUNTERFACTUAL_VIEWS = ("ecg_only", "fused (own note)", "fused (shuffled note)", "fused (administrative note)",
                        "fused (nonsense note)")


def _cell(stat: Mapping | None) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['sd']:.3f}" if stat.get("n", 1) > 1 else f"{stat['mean']:.3f}"


def _table(section: Mapping, views, suffix: str = "") -> str:
    rows = [{"view": v + suffix, **{lab: _cell(section.get(v + suffix, {}).get(k)) for k, lab in SEED_COLUMNS.items()}}
            for v in views if v + suffix in section]
    df = pd.DataFrame(rows, columns=["view", *SEED_COLUMNS.values()])
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def _fact_lines(per_seed: list) -> list[str]:
    out = ["| seed | pacemaker 107: paced p before → after (others max drop) | pacemaker 217 | known AF 219: N flagged in AF before → after | known AF 221 |",
           "|---|---|---|---|---|"]
    for s in per_seed:
        f = s.get("fact_tests") or {}
        pm = lambda r: (f"{f[r]['paced_mean_p_before']:.3f} → {f[r]['paced_mean_p_after']:.3f} ({f[r]['others_max_decrease']:.3f})"  # noqa: E731
                        if r in f else "–")
        af = lambda r: (f"{f[r]['flagged_before']} → {f[r]['flagged_after']} of {f[r]['normal_beats_in_af']}" if r in f else "–")  # noqa: E731
        out.append(f"| {s['seed']} | {pm('pacemaker_107')} | {pm('pacemaker_217')} | {af('known_af_219')} | {af('known_af_221')} |")
    return out


#: The model issue's targets: (section, view, key, ">=" or "<=", target); judged on the mean over seeds.
TARGETS = [("test", "ecg_only", k, op, t) for k, op, t in (
    ("auc", ">=", 0.985), ("S_vs_N_auc", ">=", 0.97), ("S_sensitivity", ">=", 0.80), ("S_ppv", ">=", 0.50),
    ("N_flagged_rate", "<=", 0.02), ("Q_sensitivity", ">=", 0.99), ("V_flagged_rate", ">=", 0.95), ("ece", "<=", 0.03))] + [
    ("oof_svdb", "ecg", k, op, t) for k, op, t in (
        ("auc", ">=", 0.97), ("S_sensitivity", ">=", 0.80), ("S_ppv", ">=", 0.60), ("N_flagged_rate", "<=", 0.03))]
_SECTION_NAMES = {"test": "DS2 + 107, 217, detected peaks, ECG only", "oof_svdb": "SVDB record-grouped CV, ECG only"}


def targets_table(summary: Mapping) -> str:
    """The model issue's targets beside the mean ± sd over seeds, each marked met or missed (on the mean)."""
    lines = ["| where | figure | target | mean ± sd | |", "|---|---|---|---|---|"]
    for section, view, key, op, target in TARGETS:
        stat = summary.get(section, {}).get(view, {}).get(key)
        if not stat or stat.get("mean") is None:
            continue
        met = stat["mean"] >= target if op == ">=" else stat["mean"] <= target
        lines.append(f"| {_SECTION_NAMES[section]} | {SEED_COLUMNS[key]} | {op} {target:g} | {_cell(stat)} | "
                     f"{'met' if met else '**missed**'} |")
    return "\n".join(lines)


def seed_tables_markdown(metrics: Mapping) -> str:
    """All v2 result tables, in the order the README and the model card show them."""
    seeds = metrics["seeds"]
    summ = seeds["summary"]
    n = len(seeds["seeds"])
    test = summ["test"]
    out = [f"**DS2 + 107, 217, our own R-peak detector — mean ± sd over {n} training seeds ({', '.join(map(str, seeds['seeds']))}); "
           f"thresholds from record-grouped OOF on the training records ({metrics.get('threshold_rule', '')}); shipped seed "
           f"{seeds['shipped_seed']} ({seeds['rule']})**", _table(test, HEADLINE_VIEWS),
           "**The model issue's targets** (mean over seeds)", targets_table(summ),
           "**The same without record 202** (same patient as training record 201)", _table(test, HEADLINE_VIEWS, " without 202"),
           "**What the note does (counterfactual notes on the same ECGs)**", _table(test, COUNTERFACTUAL_VIEWS),
           f"beats whose flag differs between the two irrelevant notes: {_cell(test.get('_flag_changes_between_irrelevant_notes'))}; "
           f"between the nonsense note and no note: {_cell(test.get('_flag_changes_irrelevant_vs_ecg_only'))}; "
           f"beats called unreadable: {_cell(test.get('_unreadable_beats'))}",
           "**Fact tests** (detected peaks; 'Permanent pacemaker in situ.' / 'Known atrial fibrillation.' against no note)",
           "\n".join(_fact_lines(seeds.get("per_seed", []))),
           "**Reference R-peaks** (same test beats at the annotated peaks)", _table(summ["test_reference_peaks"], HEADLINE_VIEWS),
           "**Out-of-fold on the training records** (record-grouped; calibration and thresholds come from here)",
           _table({f"{k} (all training records)": v for k, v in summ["oof_train"].items()} |
                  {f"{k} (SVDB records: record-grouped CV)": v for k, v in summ["oof_svdb"].items()} |
                  {f"{k} (MIT-BIH DS1 + 102, 104)": v for k, v in summ["oof_mitdb"].items()},
                  [f"{k} ({w})" for w in ("all training records", "SVDB records: record-grouped CV", "MIT-BIH DS1 + 102, 104")
                   for k in ("ecg", "fused")]),
           f"training class counts (shipped seed): {metrics.get('train_class_counts')}; training time per seed "
           f"{_cell(summ.get('train_minutes'))} min"]
    return "\n\n".join(out)
