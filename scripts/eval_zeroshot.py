"""Zero-shot evaluation on the MIT-BIH test records: name prompts vs descriptive prompts (and both).

    python scripts/eval_zeroshot.py ../shared/data/mitdb [--prompts assets/prompts/bank.csv]
        [--model assets/models/v1] [--out assets/models/v1/zeroshot.json] [--records 100 200 ...]

Scores every reference beat of the test records (``config.TEST_RECORDS``: DS2 + 107, 217) against
each prompt set, with CLIP prompt ensembling (mean) and the FG-CLEP max ensemble (seed 003), with the normal
gate (as ``python -m core zeroshot``) and without it (``/no-gate``: the plain similarity softmax), prints one
table row per (prompt set, ensemble, gate) and writes everything to ``zeroshot.json`` in the bundle.
Metrics: ``core.zeroshot.zero_shot_metrics`` (same definitions as ../shared/checks/eval_zs.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from core import config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", help="MIT-BIH folder (../shared/data/mitdb)")
    ap.add_argument("--prompts", default=str(config.DEFAULT_PROMPT_BANK))
    ap.add_argument("--model", default=None, help="bundle folder (default assets/models/<default version>)")
    ap.add_argument("--out", default=None, help="JSON output (default <bundle>/zeroshot.json)")
    ap.add_argument("--records", nargs="*", default=list(config.TEST_RECORDS))
    ap.add_argument("--ensembles", nargs="*", default=["mean", "max"], choices=["mean", "max"])
    args = ap.parse_args(argv)

    from core.training.dataset import build_beat_table
    from core.model.bundle import load_bundle
    from core.text.encoder import load_text_encoder
    from core.zeroshot import PromptError, load_prompts
    from core.training.evaluate import evaluate_zero_shot, zero_shot_inputs

    try:
        bank = load_prompts(args.prompts)
        bundle = load_bundle(args.model)
    except (PromptError, FileNotFoundError) as e:
        print(f"eval_zeroshot: {e}", file=sys.stderr)
        return 2
    te = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    t0 = time.time()
    table = build_beat_table(Path(args.data_dir), list(args.records), "reference")
    sets = {"all": bank}
    for kind in ("name", "descriptive"):
        sub = bank[bank["kind"] == kind]
        if sub["label"].nunique() >= 2:
            sets[kind] = sub
    inputs = zero_shot_inputs(bundle, table, args.records)
    results = {}
    for set_name, prompts in sets.items():
        for ens in args.ensembles:
            for gate, suffix in ((True, ""), (False, "/no-gate")):
                results[f"{set_name}/{ens}{suffix}"] = evaluate_zero_shot(bundle, te, args.data_dir, prompts, args.records,
                                                                          ens, gate=gate, inputs=inputs)
    out = Path(args.out) if args.out else Path(bundle.path) / "zeroshot.json"
    payload = {"model_version": bundle.version, "prompts": str(args.prompts), "records": list(args.records),
               "temperature": float(bundle.config.zeroshot_temperature), "results": results,
               "seconds": round(time.time() - t0, 1)}
    out.write_text(json.dumps(payload, indent=2, default=float))

    labels = list(dict.fromkeys(bank["label"]))
    head = f"{'prompts/ensemble':<30}" + "".join(f"{'AUC ' + c:>8}" for c in labels) + f"{'V_vs_S':>8}{'F_vs_NV':>9}{'macro':>7}{'bal.acc':>8}{'acc':>7}"
    print(f"zero-shot on {next(iter(results.values()))['n_beats']} reference beats of {len(args.records)} test records "
          f"(T = {payload['temperature']})")
    print(head)
    fmt = lambda v, w: f"{v:>{w}.3f}" if isinstance(v, float) else f"{'-':>{w}}"
    for name, r in results.items():
        print(f"{name:<30}" + "".join(fmt(r["auc"].get(c), 8) for c in labels) + fmt(r["V_vs_S"], 8) + fmt(r["F_vs_NV"], 9)
              + fmt(r["macro_auc"], 7) + fmt(r["balanced_acc"], 8) + fmt(r["accuracy"], 7))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
