"""Print the model card's headline tables (markdown) from a bundle's metrics.json and zeroshot.json.

    python scripts/metrics_table.py [assets/models/v1]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

COLS = [("auc", "AUC"), ("S_vs_N_auc", "S-vs-N AUC"), ("accuracy", "acc"), ("precision", "prec"), ("recall", "recall"),
        ("f1", "F1"), ("S_sensitivity", "S se"), ("S_ppv", "S PPV"), ("Q_sensitivity", "Q se"), ("ece", "ECE")]


def table(rep: dict) -> str:
    lines = ["| view | " + " | ".join(c for _, c in COLS) + " |", "|---" * (len(COLS) + 1) + "|"]
    for view, r in rep.items():
        if view.startswith("_"):
            continue
        lines.append(f"| {view} | " + " | ".join(f"{r[k]:.3f}" for k, _ in COLS) + " |")
    return "\n".join(lines)


def main(folder: str = "assets/models/v1") -> None:
    m = json.loads((Path(folder) / "metrics.json").read_text())
    for peaks, rep in m["test"].items():
        n = next(v for k, v in rep.items() if not k.startswith("_"))
        print(f"\n**DS2 + 107, 217 — {peaks.replace('_', ' ')}** ({n['n_N']} N, {n['n_S']} S, {n['n_Q']} Q beats; "
              f"thresholds from record-grouped OOF on DS1)\n")
        print(table(rep))
        if "_matching" in rep:
            print(f"\nmatching: {rep['_matching']}")
    if "ablations" in m:
        print("\n**Ablations (seed table 4), DS2 reference peaks, threshold-free**\n")
        print("| variant | ECG-only AUC | ECG-only S-vs-N | fused AUC | fused S-vs-N |\n|---|---|---|---|---|")
        for name, r in m["ablations"].items():
            e, f = r["ecg_only"], r["fused (header note)"]
            print(f"| {name} | {e['auc']:.3f} | {e['S_vs_N_auc']:.3f} | {f['auc']:.3f} | {f['S_vs_N_auc']:.3f} |")
    print("\n**Out-of-fold on DS1 (training records, record-grouped, used for calibration/threshold)**\n")
    print(table(m["oof_train"]))
    print(f"\ntraining class counts: {m['train_class_counts']}; training time {m['train_seconds'] / 60:.1f} min")
    zs_path = Path(folder) / "zeroshot.json"
    if zs_path.is_file():
        zs = json.loads(zs_path.read_text())
        print("\n**Zero-shot on DS2 + 107, 217 (V and F never trained)**\n")
        rows = zs.get("results", zs)
        keys = ["V_vs_S", "balanced_acc", "F_vs_NV", "macro_auc", "accuracy"]
        print("| prompts / ensemble | V vs S AUC | balanced acc | F vs N+V AUC | macro AUC | accuracy | V-vs-rest AUC |")
        print("|---|---|---|---|---|---|---|")
        for name, r in rows.items():
            if isinstance(r, dict):
                print(f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + f" | {r['auc'].get('V', float('nan')):.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
