"""Benchmark CardioLens's pipeline against a naive one, on the same cases, in one run.

Usage::

    python -m core bench [--repeats 5] [--data ../shared/data/mitdb] [--cold 3] [--model DIR]
    python -m core.bench [same options]

What is compared (both read the same record with ``core.io.read_record`` and find the same beats
with ``core.signal.beats.extract_beats``):

- **ours**: what the app does. The model bundle and the note BERT are loaded once per process
  (``st.cache_resource`` in ``pages/_common.py``); all beats go through the model in one batch
  (``core.model.inference.predict_logits``); SHAP is the exact enumeration of ``core.explain.shap_features``
  (2^F coalitions x the bundle's background rows, one small matrix product per chunk).
- **naive**: the same code, except that the bundle and BERT are loaded again for every request, the
  model runs one forward per beat (``analyse_case(..., batch_size=1)``, no patching), and SHAP is ``shap.KernelExplainer`` over the same features and
  the same function (the beat's shown probability, waveform and note fixed) with a 500-row
  background (the bundle's background rows resampled with replacement) and shap's default number
  of coalition samples (2F + 2048).

Measured (``time.perf_counter``; p50 / p95 over the repeats; ratio = naive p50 / ours p50):

(a) the 10 s CSV example (``assets/examples/short_10s_csv``) with its note, to every result the
    pages show for it: beats + predictions + zero-shot (prompt bank) + SHAP of the most abnormal
    beat + note attention + note Integrated Gradients. *Warm*: models already in memory. *Cold*: a
    fresh ``python`` process (interpreter start, imports, model loads, the analysis) until its
    results are ready; the child's teardown is not counted.
(b) a 30-min MIT-BIH record (``--holter``, default 100) to every beat scored (ECG only).
(c) SHAP of one beat, and note attention + IG, on the 10 s case.
(d) peak resident memory (``resource.getrusage(...).ru_maxrss``) of this process once our pipeline
    has run warm (before any naive run), and of each cold child.

(e) v2 bundles: the fact recognizer and the rhythm reading on their own, and the note IG is per fact.
The slowest stage is profiled (cProfile); the load average is printed before and after; the output
is written to ``docs/bench_results.md`` (``--write``). ``--ig-convergence``: IG completeness per step count. Torch intra-op threads: our warm pipeline is
timed with 1 and with 2 threads and the rest of the run uses the faster setting (``--threads``
forces one).

Without a trained bundle at ``assets/models/<version>`` (and no ``--model``), a randomly
initialised bundle of the same architecture is built in a temporary folder and the output says so:
timings do not depend on the weights, predictions do.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.bench.pipelines import (
    Models,
    NAIVE_BACKGROUND_ROWS,
    Stages,
    _set_threads,
    _stage_fn,
    kernel_shap,
    naive_all,
    naive_background,
    naive_holter,
    ours_all,
    ours_holter,
    resolve_model,
    short_case,
    v2_steps,
    note_ig,
)
from core.bench.report import profile_top
from core.config import REPO_ROOT


TARGETS = {  # issue 14
    "warm": 0.5,
    "cold": 6.0,
    "holter": 3.0,
    "shap": 0.300,
    "attn_ig": 0.150,
}
_READY = "BENCH-READY "


# ---- small helpers ---------------------------------------------------------------------------------
def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, float), q)) if xs else float("nan")


def _rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def _hwm_mb() -> float:
    """Peak RSS of this process image in MiB: ``VmHWM`` on Linux. A spawned child inherits its parent's
    ``ru_maxrss`` across fork + exec, so the cold children report this instead."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _rss_mb()


def _load() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"{a:.2f} {b:.2f} {c:.2f} (1/5/15 min)"
    except OSError:
        return "n/a"


def _fmt(s: float) -> str:
    return "–" if s != s else (f"{s * 1000:.0f} ms" if s < 1.0 else f"{s:.2f} s")  # s != s: NaN


# ---- cold start (child process) --------------------------------------------------------------------
def cold_worker(kind: str, model_path: str, threads: int) -> int:
    """Run once in a fresh process; print the READY line as soon as every result exists."""
    t0 = time.perf_counter()
    import torch  # noqa: F401  (timed as part of the imports)

    from core import explain, predict, zeroshot  # noqa: F401

    _set_threads(threads)
    t_imp = time.perf_counter() - t0
    path, note = short_case()
    if kind == "ours":
        t1 = time.perf_counter()
        m = Models(model_path)
        t_load = time.perf_counter() - t1
        st = Stages()
        ours_all(m, path, note, st)
    else:
        st = Stages()
        naive_all(model_path, path, note, st)
        t_load = st.t.get("load models", 0.0)
    info = {"imports_s": t_imp, "load_s": t_load, "analysis_s": st.total - (t_load if kind == "naive" else 0.0),
            "in_process_s": time.perf_counter() - t0, "peak_rss_mb": _hwm_mb()}
    sys.stdout.write(_READY + json.dumps(info) + "\n")
    sys.stdout.flush()
    return 0


def run_cold(kind: str, model_path: str, threads: int) -> tuple[float, dict]:
    """Wall time from spawning ``python -m core.bench --cold-worker`` to its READY line."""
    cmd = [sys.executable, "-m", "core.bench", "--cold-worker", kind, "--model", model_path, "--threads", str(threads)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO_ROOT), env=env)
    info, wall = None, float("nan")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_READY):
            wall = time.perf_counter() - t0
            info = json.loads(line[len(_READY):])
            break
    _out, err = proc.communicate()
    if info is None:
        raise RuntimeError(f"cold {kind} run failed (exit {proc.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}")
    return wall, info


# ---- the benchmark ---------------------------------------------------------------------------------
def _time(fn, repeats: int) -> tuple[list[float], list]:
    ts, outs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs.append(fn())
        ts.append(time.perf_counter() - t0)
    return ts, outs


def _stage_table(title: str, runs: list[dict]) -> list[str]:
    names = list(runs[0].keys()) if runs else []
    return [f"  {title}: " + " | ".join(f"{n} {_fmt(_pct([r.get(n, np.nan) for r in runs], 50))}" for n in names)]


def _row(label: str, target: float | None, ours: list[float], naive: list[float] | None) -> str:
    o50, o95 = _pct(ours, 50), _pct(ours, 95)
    n50, n95 = (_pct(naive, 50), _pct(naive, 95)) if naive else (float("nan"), float("nan"))
    ratio = f"{n50 / o50:.1f}x" if naive and o50 > 0 else "–"
    tgt = f"<= {_fmt(target)}" if target else ""
    ok = "" if target is None else ("yes" if o50 <= target else "NO")
    return f"| {label:<44} | {tgt:>10} | {_fmt(o50):>9} | {_fmt(o95):>9} | {_fmt(n50):>9} | {_fmt(n95):>9} | {ratio:>7} | {ok:>4} |"


def build_parser() -> argparse.ArgumentParser:
    from core import config

    ap = argparse.ArgumentParser(prog="python -m core bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="warm repeats per measurement (default 5)")
    ap.add_argument("--naive-repeats", type=int, default=None, help="repeats of the naive pipeline (default: min(repeats, 3))")
    ap.add_argument("--cold", type=int, default=3, help="cold runs (fresh processes) per pipeline (default 3; 0 skips)")
    ap.add_argument("--data", default=str(config.MITDB_DIR), help="MIT-BIH folder for the 30-min record (default ../shared/data/mitdb)")
    ap.add_argument("--holter", default="100", help="MIT-BIH record for (b) (default 100; 208 is the busiest)")
    ap.add_argument("--model", default=None, help="model bundle folder (default assets/models/<version>)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: the faster of 1 and 2, measured)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile of the slowest stage")
    ap.add_argument("--write", default="docs/bench_results.md", help="markdown file for the output ('' to skip)")
    ap.add_argument("--ig-convergence", action="store_true",
                    help="only the completeness check of the note/fact IG per step count on the bundled notes")
    ap.add_argument("--cold-worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `python -m core bench -- --repeats 3`: argparse.REMAINDER keeps the separator
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.cold_worker:
        return cold_worker(args.cold_worker, args.model, args.threads or 1)
    if args.ig_convergence:
        from core.bench.report import ig_convergence

        return ig_convergence(args.model, args.write)
    with tempfile.TemporaryDirectory(prefix="cardiolens-bench-") as tmp:
        return _bench(args, tmp)


def _bench(args, tmp: str) -> int:
    import torch

    from core import explain

    out: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        out.append(s)

    reps = max(1, args.repeats)
    nreps = max(1, args.naive_repeats if args.naive_repeats is not None else min(reps, 3))
    model_path, is_random = resolve_model(args.model, tmp)
    say(f"CardioLens benchmark — {_dt.datetime.now().isoformat(timespec='seconds')}")
    say(f"machine: {platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · torch {torch.__version__}")
    say(f"load average at start: {_load()}")
    say(f"model: {model_path}" + ("  ** RANDOM WEIGHTS (no trained bundle found): timings valid, predictions not **" if is_random else ""))
    say(f"repeats: ours {reps}, naive {nreps}; cold runs {args.cold} each")
    say()

    path, note = short_case()
    t0 = time.perf_counter()
    m = Models(model_path)
    say(f"model + BERT + prompt bank load (this process, warm cache of the OS): {_fmt(time.perf_counter() - t0)}")
    ours_all(m, path, note)  # warm-up: first-call costs (lazy imports, allocator) are not 'warm'

    # -- threads: 1 vs 2 on our warm pipeline --
    hea = Path(args.data) / f"{args.holter}.hea"
    have_holter = hea.is_file()
    thread_res: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(reps):  # interleaved, so a change in the machine's load hits both settings alike
        for n in (1, 2):
            _set_threads(n)
            thread_res[n] += _time(lambda: ours_all(m, path, note), 1)[0]
    threads = args.threads or min(thread_res, key=lambda n: _pct(thread_res[n], 50))
    say(f"torch threads, ours warm 10 s all results: 1 thread p50 {_fmt(_pct(thread_res[1], 50))}, "
        f"2 threads p50 {_fmt(_pct(thread_res[2], 50))} -> using {threads}" + (" (forced)" if args.threads else ""))
    _set_threads(threads)

    # -- (a) warm, ours --
    stage_runs: list[dict] = []
    warm_ours, res_ours = _time(lambda: ours_all(m, path, note, Stages()), reps)
    stage_runs = [r["stages"] for r in res_ours]
    case = res_ours[-1]["case"]
    top = res_ours[-1]["top"]

    # -- (c) stages on the 10 s case, ours --
    shap_ours, shaps = _time(lambda: explain.shap_features(case, m.bundle, top), reps)
    attig_ours, _ = _time(lambda: (explain.note_attention(note, m.enc), note_ig(note, case, m.bundle, m.enc)), reps)
    sal_ours, _ = _time(lambda: explain.beat_saliency(case, m.bundle, top), reps)
    # zero-shot: how much of it is embedding the (case-independent) prompt bank through BERT
    from core.zeroshot import prompt_vectors

    pv_ours, _ = _time(lambda: prompt_vectors(m.prompts, m.bundle, m.enc), reps)
    v2_ours = {k: _time(fn, reps)[0] for k, fn in v2_steps(m, case, note).items()}

    # -- (b) Holter, ours --
    holter_ours, holter_stages, n_holter = [], [], 0
    holter_thr: dict[int, list[float]] = {}
    if have_holter:
        for n in (2, 1):
            _set_threads(n)
            holter_thr[n], _ = _time(lambda: ours_holter(m, hea), 1)
        _set_threads(threads)
        holter_ours, hres = _time(lambda: ours_holter(m, hea, Stages()), reps)
        holter_stages = [h[1] for h in hres]
        n_holter = len(hres[-1][0].table)
    rss_ours = _rss_mb()

    # -- naive --
    warm_naive, res_naive = _time(lambda: naive_all(model_path, path, note, Stages()), nreps)
    naive_stage_runs = [r["stages"] for r in res_naive]
    bg500 = naive_background(m.bundle)
    shap_naive, kvals = _time(lambda: kernel_shap(case, m.bundle, top, bg500), nreps)

    def naive_attig():
        from core.text.encoder import load_text_encoder

        enc = load_text_encoder(m.bundle.config.text_model, m.bundle.config.pooling)
        return explain.note_attention(note, enc), note_ig(note, case, m.bundle, enc, cached=False)

    attig_naive, _ = _time(naive_attig, nreps)
    v2_naive = {k: _time(fn, nreps)[0] for k, fn in v2_steps(m, case, note, cached=False).items()}
    holter_naive, holter_naive_stages = [], []
    if have_holter:
        holter_naive, hn = _time(lambda: naive_holter(model_path, hea, Stages()), nreps)
        holter_naive_stages = [h[1] for h in hn]
        dp_h = float(np.nanmax(np.abs(hn[-1][0].table["p_abnormal"].to_numpy() - hres[-1][0].table["p_abnormal"].to_numpy())))
    rss_all = _rss_mb()

    # -- cold --
    cold_ours, cold_naive, cold_info = [], [], {"ours": [], "naive": []}
    for _ in range(max(0, args.cold)):
        for kind, bucket in (("ours", cold_ours), ("naive", cold_naive)):
            wall, info = run_cold(kind, model_path, threads)
            bucket.append(wall)
            cold_info[kind].append(info)

    dp = float(np.nanmax(np.abs(res_naive[-1]["case"].table["p_abnormal"].to_numpy() - case.table["p_abnormal"].to_numpy())))
    exact = shaps[-1].values if shaps else np.zeros(1)
    shap_method = shaps[-1].meta.get("method", "ours") if shaps else "ours"
    kern = kvals[-1] if kvals else np.zeros(1)
    r = float(np.corrcoef(exact, kern)[0, 1]) if np.std(kern) > 0 and np.std(exact) > 0 else float("nan")

    say()
    say(f"10 s case: {len(case.table)} beats, view '{case.view}', top beat {top} (p = {case.table['p_abnormal'].iloc[top]:.3f}); "
        f"{len(m.prompts)} prompts / {m.prompts['label'].nunique()} labels; note {len(note.split())} words")
    if have_holter:
        say(f"30-min record {args.holter}: {n_holter} beats scored")
    say()
    say(f"| {'measurement':<44} | {'target':>10} | {'ours p50':>9} | {'ours p95':>9} | {'naive p50':>9} | {'naive p95':>9} | {'naive/ours':>7} | {'met':>4} |")
    say(f"|{'-' * 46}|{'-' * 12}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 12}|{'-' * 6}|")
    say(_row("(a) 10 s case -> all results, warm", TARGETS["warm"], warm_ours, warm_naive))
    if cold_ours:
        say(_row(f"(a) 10 s case -> all results, cold (n={len(cold_ours)})", TARGETS["cold"], cold_ours, cold_naive))
    else:
        say("| (a) cold: skipped (--cold 0)")
    if have_holter:
        say(_row(f"(b) 30-min record {args.holter} -> every beat scored", TARGETS["holter"], holter_ours, holter_naive))
    else:
        say(f"| (b) 30-min record: skipped, {hea} not found (give --data)")
    say(_row(f"(c) SHAP of one beat ({shap_method} vs KernelSHAP)", TARGETS["shap"], shap_ours, shap_naive))
    say(_row("(c) note attention + IG (naive: + BERT load)", TARGETS["attn_ig"], attig_ours, attig_naive))
    for k, ts in v2_ours.items():  # v2 steps; naive = sentence embeddings recomputed (no cache)
        say(_row(f"(c) {k} (v2; naive: no embedding cache)", None, ts, v2_naive.get(k)))
    say(_row("(c) beat saliency IG (no target; ours only)", None, sal_ours, None))
    say()
    say(f"(d) peak RSS of this process after our warm pipeline (before any naive run): {rss_ours:.0f} MiB; "
        f"after the naive runs too: {rss_all:.0f} MiB")
    for kind in ("ours", "naive"):
        if cold_info[kind]:
            ci = cold_info[kind]
            say(f"    cold {kind:<5}: peak RSS {np.median([c['peak_rss_mb'] for c in ci]):.0f} MiB; in-process p50: imports "
                f"{_fmt(_pct([c['imports_s'] for c in ci], 50))}, model loads {_fmt(_pct([c['load_s'] for c in ci], 50))}, "
                f"analysis {_fmt(_pct([c['analysis_s'] for c in ci], 50))}")
    say()
    say("stage p50s (one warm run):")
    for line in _stage_table("ours  10 s", stage_runs) + _stage_table("naive 10 s", naive_stage_runs):
        say(line)
    if have_holter:
        for line in _stage_table(f"ours  {args.holter}", holter_stages) + _stage_table(f"naive {args.holter}", holter_naive_stages):
            say(line)
        say(f"  Holter single runs by threads: 1 -> {_fmt(holter_thr[1][0])}, 2 -> {_fmt(holter_thr[2][0])}")
    say()
    say(f"checks: naive vs ours p_abnormal max |diff| = {dp:.2e} on the 10 s case"
        + (f", {dp_h:.2e} on {args.holter}" if have_holter else "")
        + f"; KernelSHAP ({NAIVE_BACKGROUND_ROWS} bg rows) vs our SHAP ({shap_method}): Pearson r = {r:.3f}, "
        f"max |diff| = {np.max(np.abs(exact - kern)):.4f}, sum |ours| = {np.abs(exact).sum():.4f} (prob. units)")
    zs50 = _pct([s_["zero-shot"] for s_ in stage_runs], 50)
    say(f"zero-shot: embedding the {len(m.prompts)} prompts (core.zeroshot.prompt_vectors, redone for every case) "
        f"p50 {_fmt(_pct(pv_ours, 50))} of the stage's {_fmt(zs50)}")
    say(f"load average at end: {_load()}")

    # -- profile the slowest stage of our pipeline --
    if not args.no_profile:
        candidates = {f"10 s: {k}": _pct([s[k] for s in stage_runs], 50) for k in stage_runs[0]}
        if have_holter:
            candidates.update({f"{args.holter}: {k}": _pct([s[k] for s in holter_stages], 50) for k in holter_stages[0]})
        slowest = max(candidates, key=candidates.get)
        fn = _stage_fn(slowest, m, path, note, case, top, hea)
        say()
        say(f"profile of the slowest stage of our pipeline: '{slowest}' (p50 {_fmt(candidates[slowest])}); cProfile, top by cumulative time:")
        say(profile_top(fn))
    if args.write:
        from core.bench.report import write_results

        say()
        say(f"written: {write_results(out, args.write, 'Latest run (python -m core bench)')}")
    return 0
