"""What the benchmark writes: the results file (``docs/bench_results.md``) and the integrated-gradients
convergence check (completeness error per step count on the bundled example notes)."""
from __future__ import annotations

import cProfile
import datetime as _dt
import io
import os
import pstats
from pathlib import Path

from core.config import REPO_ROOT


def profile_top(fn, top: int = 18) -> str:
    """cProfile of one call of ``fn``: the table of the ``top`` functions by cumulative time."""
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).strip_dirs().sort_stats("cumulative").print_stats(top)
    lines = s.getvalue().splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip().startswith("ncalls")), 0)  # drop pstats' preamble
    return "\n".join(l.rstrip() for l in lines[start:] if l.strip())


def write_results(lines: list[str], path: str, section: str = "Benchmark") -> Path:
    """Write (replace) ``## section`` of the markdown file ``path`` (relative to the repo) with ``lines`` in a code block."""
    p = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    p.parent.mkdir(parents=True, exist_ok=True)
    old = p.read_text(encoding="utf-8") if p.is_file() else "# Benchmark results\n\nWritten by `python -m core bench`.\n"
    head = f"## {section}"
    block = f"{head}\n\n```\n" + "\n".join(lines) + "\n```\n"
    if head in old:
        before, rest = old.split(head, 1)
        nxt = rest.find("\n## ")
        new = before + block + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    p.write_text(new, encoding="utf-8")
    return p


def ig_convergence(model_path: str | None, write: str | None, note_steps=(2, 4, 8, 12, 16, 32),
                   fact_steps=(8, 16, 24, 32, 40, 48, 64)) -> int:
    """Completeness error |sum of attributions - (f(x) - f(baseline))| per IG step count on every bundled
    note: the fused-head note IG for a concat (v1) bundle, every recognised fact for a fact-gated (v2)
    one. Prints the table and the smallest count under ``core.explain.note.IG_TOLERANCE`` on all notes."""
    import torch

    from core import config
    from core.explain.facts import fact_completeness
    from core.explain.note import IG_TOLERANCE, ig_completeness
    from core.io import read_record
    from core.model.bundle import load_bundle
    from core.predict import analyse_case
    from core.text.encoder import load_text_encoder

    torch.set_num_threads(1)
    bundle = load_bundle(model_path)
    enc = load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    gated = getattr(bundle, "recognizer", None) is not None
    steps = fact_steps if gated else note_steps
    out = [f"{_dt.datetime.now().isoformat(timespec='seconds')} · model {bundle.path} · "
           f"{'fact IG (midpoint rule)' if gated else 'note IG (Gauss-Legendre)'} · load {os.getloadavg()[0]:.2f} · "
           f"tolerance {IG_TOLERANCE:g} (probability units)",
           "| note | " + " | ".join(f"{n} steps" for n in steps) + " |", "|---" * (len(steps) + 1) + "|"]
    worst = dict.fromkeys(steps, 0.0)
    for d in sorted(config.EXAMPLES_DIR.glob("*/note.txt")):
        note = d.read_text(encoding="utf-8")
        if gated:
            df = fact_completeness(note, bundle.recognizer, enc, enc.embed_cached, bundle.config.fact_tau, steps)
        else:
            rec = next(iter(sorted(d.parent.glob("*.hea"))), d.parent / "ecg.csv")
            df = ig_completeness(note, analyse_case(read_record(rec), note, bundle, enc), bundle, enc, steps)
        for r in df.itertuples():
            worst[int(r.n_steps)] = max(worst[int(r.n_steps)], float(r.error))
        out.append(f"| {d.parent.name} | " + " | ".join(f"{e:.1e}" for e in df["error"]) + " |")
    out.append("| worst | " + " | ".join(f"{worst[n]:.1e}" for n in steps) + " |")
    ok = [n for n in steps if worst[n] <= IG_TOLERANCE]
    out.append(f"smallest step count under {IG_TOLERANCE:g} on every note: {ok[0] if ok else 'none of ' + str(steps)}")
    print("\n".join(out))
    if write:
        write_results(out, write, f"Integrated gradients: convergence ({'fact' if gated else 'note'} IG)")
    return 0
