"""Ten sessions at once: each gets its own results, all share one copy of the models.

- Ten threads take the model through the pages' cached loaders (``pages._cache.load_bundle`` and
  ``_load_text_encoder``, ``st.cache_resource``) and analyse ten different cases at the same time
  (the 7 bundled examples with their notes + three 20 s cuts of them); each result must equal the
  one computed alone (same beats, same ``p_abnormal``), and every thread must get the same bundle
  and note encoder objects.
- Ten ``AppTest`` sessions of the app, each picking a different case on the Case page and pressing
  Analyse; each must show its own case and beat count. They run one after the other: AppTest itself
  is not thread-safe in Streamlit 1.67 (concurrent ``AppTest.run`` calls lose each other's internal
  session-state keys), so the threads test above is the concurrency test and this one checks that
  sessions of one process keep their cases apart.

The peak resident memory of the test process is printed (``pytest -s`` shows it).
"""
from __future__ import annotations

import contextlib
import logging
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core import config

N_SESSIONS = 10
#: (example, start s, stop s) of the three extra cases: 20 s cuts of bundled examples.
CUTS = [("nsr_100", 20.0, 40.0), ("pvc_bigeminy_200", 60.0, 80.0), ("afib_219", 100.0, 120.0)]


@contextlib.contextmanager
def _quiet_bare_mode():
    """Silence Streamlit's 'no runtime / missing ScriptRunContext' warnings of cache calls outside an app."""
    names = ("streamlit.runtime.scriptrunner_utils.script_run_context", "streamlit.runtime.caching.cache_data_api",
             "streamlit.runtime.caching.cache_resource_api")
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in old.items():
            logging.getLogger(n).setLevel(lvl)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.fixture(scope="module")
def cases() -> list[tuple[str, object, str]]:
    """Ten (name, Record, note): the bundled examples, then the 20 s cuts (annotations dropped)."""
    import json

    from core.io import Record, read_record

    out = []
    for d in sorted(p for p in config.EXAMPLES_DIR.iterdir() if (p / "case.json").is_file()):
        meta = json.loads((d / "case.json").read_text())
        sig = meta["files"].get("header") or meta["files"]["signal"]
        out.append((d.name, read_record(d / sig), (d / "note.txt").read_text(encoding="utf-8")))
    by_name = {n: (r, note) for n, r, note in out}
    for name, a, b in CUTS:
        rec, note = by_name[name]
        i, j = int(a * rec.fs), int(b * rec.fs)
        out.append((f"{name}_{a:g}-{b:g}s", Record(name=f"{name}_cut", signal=rec.signal[i:j], fs=rec.fs,
                                                   lead_names=rec.lead_names), note))
    assert len(out) == N_SESSIONS
    return out


def test_ten_sessions_get_their_own_results_and_share_one_model(bundle_dir, cases):
    import pages._cache as _cache
    from core.predict import analyse_case

    path = str(bundle_dir)
    # alone, one after the other (this also fills the loaders' cache)
    with _quiet_bare_mode():
        bundle = _cache.load_bundle(path)
        enc = _cache.load_text_encoder(bundle.config.text_model, bundle.config.pooling)
    alone = {name: analyse_case(rec, note, bundle, enc) for name, rec, note in cases}

    _cache.load_bundle.clear()  # the ten sessions race for the first load as well
    _cache.load_text_encoder.clear()

    def session(item):
        name, rec, note = item
        b = _cache.load_bundle(path)
        e = _cache.load_text_encoder(b.config.text_model, b.config.pooling)
        return name, id(b), id(e), analyse_case(rec, note, b, e)

    t0 = time.perf_counter()
    race = None
    with _quiet_bare_mode(), ThreadPoolExecutor(max_workers=N_SESSIONS) as pool:
        try:
            results = list(pool.map(session, cases))
        except RuntimeError as exc:
            if "Already borrowed" not in str(exc):
                raise
            race = exc
    if race is not None:
        pytest.fail("Two sessions used the shared note tokenizer at once (Rust fast tokenizer: 'Already borrowed'); "
                    "core.text must serialise tokenizer calls of a TextEncoder shared between sessions.", pytrace=False)
    wall = time.perf_counter() - t0

    assert len({r[1] for r in results}) == 1, "the sessions got different model bundles"
    assert len({r[2] for r in results}) == 1, "the sessions got different note encoders"
    assert [r[0] for r in results] == [c[0] for c in cases]
    for (name, rec, note), (_, _, _, res) in zip(cases, results):
        ref = alone[name]
        assert res.record is rec and res.note.text == note.strip()
        np.testing.assert_array_equal(res.beats.rpeaks, ref.beats.rpeaks, err_msg=name)
        # identical up to float summation order (intra-op threads may split work differently)
        np.testing.assert_allclose(res.table["p_abnormal"].to_numpy(), ref.table["p_abnormal"].to_numpy(),
                                   rtol=0, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(res.z, ref.z, rtol=0, atol=1e-5, err_msg=name)
        assert res.verdict == ref.verdict
    # the cases really differ, so cross-talk would have shown
    assert len({len(r[3].table) for r in results}) >= 6
    print(f"\n10 concurrent sessions: {wall:.1f} s wall; beats per case "
          f"{[len(r[3].table) for r in results]}; peak RSS {_peak_rss_mb():.0f} MiB")


def test_ten_app_sessions_each_show_their_own_case(bundle_dir, cases, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CARDIOLENS_MODEL_DIR", str(bundle_dir))
    examples = [c[0] for c in cases[:7]]
    # ten sessions: the seven examples with their notes, and three of them again without a note
    plan = [(name, True) for name in examples] + [(name, False) for name in examples[:3]]

    def session(item):
        name, with_note = item
        at = AppTest.from_file(str(config.REPO_ROOT / "app.py"), default_timeout=120)
        at.run()
        at.radio(key="source_choice").set_value("Bundled example")
        at.selectbox(key="example_choice").set_value(name).run()
        if not with_note:
            at.text_area(key="note_input").set_value("")
        next(b for b in at.button if b.label == "Analyse").click().run()
        return at

    t0 = time.perf_counter()
    apps = [session(item) for item in plan]
    wall = time.perf_counter() - t0

    alone_beats = {c[0]: None for c in cases}
    for (name, with_note), at in zip(plan, apps):
        assert not at.exception, (name, at.exception)
        assert not at.error, (name, [e.value for e in at.error])
        case = at.session_state["case"]
        assert at.session_state["case_label"] == f"example {name}"
        assert case.record.name == name
        assert case.view == ("fused" if with_note else "ecg")
        assert {m.label: m.value for m in at.metric}["Beats found"] == str(len(case.table))
        assert any(f"example {name}" in m.value for m in at.markdown)
        if alone_beats[name] is None:
            alone_beats[name] = len(case.table)
        assert len(case.table) == alone_beats[name]  # the same example gives the same beats in every session
    # the first session's case is still its own after nine others analysed theirs
    assert apps[0].session_state["case"].record.name == plan[0][0]
    print(f"\n10 AppTest sessions, sequential: {wall:.1f} s wall; peak RSS {_peak_rss_mb():.0f} MiB")
