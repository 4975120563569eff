"""The pages with a v2 (fact-gated) bundle through AppTest: statements, rhythm band, episode jump,
tachogram, unreadable beats counted apart, "What the note changed", fact IG beside attention, and the
Case page's note hint and typed-note bug. Skipped when assets/models/v2 is not there."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core import config

APP = str(config.REPO_ROOT / "app.py")
V2 = config.MODELS_DIR / "v2"
TIMEOUT = 90

pytestmark = pytest.mark.skipif(not (V2 / "config.json").is_file(), reason=f"no v2 bundle at {V2}")


@pytest.fixture
def v2_env(monkeypatch):
    monkeypatch.setenv("CARDIOLENS_MODEL_DIR", str(V2))
    return V2


@pytest.fixture(scope="module")
def v2_models():
    from core.model.bundle import load_bundle
    from core.text.encoder import load_text_encoder

    bundle = load_bundle(V2)
    assert bundle.config.fusion == "fact_gated"
    return bundle, load_text_encoder(bundle.config.text_model, bundle.config.pooling)


@pytest.fixture(scope="module")
def afib(v2_models):
    """The AF example (afib_219) with its note, analysed with the v2 bundle."""
    from core.io import read_record
    from core.predict import analyse_case, content_hash

    bundle, enc = v2_models
    folder = config.EXAMPLES_DIR / "afib_219"
    note = (folder / "note.txt").read_text()
    rec = read_record(folder / "afib_219.hea")
    return analyse_case(rec, note, bundle, enc), note, content_hash(rec, note)


@pytest.fixture(scope="module")
def noisy(v2_models):
    """nsr_100 with 15 s of heavy noise (30-45 s) and no note: beats there are unreadable."""
    from core.io import read_record
    from core.predict import analyse_case, content_hash

    rec = read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea")
    sig = rec.signal.copy()
    i0, i1 = int(30 * rec.fs), int(45 * rec.fs)
    rng = np.random.default_rng(0)
    sig[i0:i1] += rng.normal(0, 1.5, (i1 - i0, sig.shape[1])) + 2 * np.sin(2 * np.pi * 7 * np.arange(i1 - i0)[:, None] / rec.fs)
    rec = dataclasses.replace(rec, signal=sig, annotations=None, name="noisy_100")
    case = analyse_case(rec, None, v2_models[0])
    assert case.table["unreadable"].sum() >= 1, "the noise should make some beats unreadable"
    return case, "", content_hash(rec, None)


def _app(state: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at


def _state(analysed, **extra) -> dict:
    case, note, h = analysed
    return {"case": case, "case_hash": h, "case_note": note, "case_label": "example", **extra}


def _open(at, page: str, errors_ok: bool = False):
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    if not errors_ok:
        assert not at.error, [e.value for e in at.error]
    return at


def _frames(at) -> list:
    """The page's dataframes AppTest can read back (it cannot decode categorical columns)."""
    out = []
    for d in at.dataframe:
        try:
            out.append(d.value)
        except TypeError:
            continue
    return out


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "info", "caption", "success", "warning") for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def test_waveform_rhythm_band_episodes_tachogram(v2_env, afib):
    case = afib[0]
    assert any(e.kind == "AF" for e in case.rhythm.episodes)
    at = _open(_app(_state(afib)), "pages/waveform.py")
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert '"rhythm AF"' in specs[0] and '"text":["AF"]' in specs[0]  # the band above the strip, labelled
    assert any("RR (ms)" in s and "whole record" in s for s in specs)  # tachogram
    assert "Atrial fibrillation" in _texts(at)
    eps = [d for d in _frames(at) if "rhythm" in d.columns]
    assert eps and "AF" in set(eps[0]["rhythm"])


def test_waveform_episode_jump_moves_window(v2_env, noisy):
    case = noisy[0]
    k = next(j for j, e in enumerate(case.rhythm.episodes) if e.kind == "UNREADABLE")
    ep = case.rhythm.episodes[k]
    at = _open(_app(_state(noisy, beat_index=0)), "pages/waveform.py")
    start0 = at.session_state["win_start"]
    at.selectbox(key="episode_pick").set_value(k).run()
    assert not at.exception
    t0 = at.session_state["win_start"]
    assert t0 != start0 and t0 <= ep.start_s <= t0 + 2.0  # the onset, 1 s into the strip
    assert at.selectbox(key="episode_pick").value is None  # cleared, so the same episode can be picked again
    spec = at.get("plotly_chart")[0].proto.spec
    assert "unreadable stretch" in spec or "unreadable beat" in spec


def test_unreadable_never_the_most_abnormal(v2_env, noisy):
    from pages._common import most_abnormal_beat

    case = noisy[0]
    i = most_abnormal_beat(case)
    assert int(case.table["unreadable"].iloc[i]) == 0
    at = _open(_app(_state(noisy)), "pages/explanations.py")
    sb = at.selectbox[0]
    assert int(case.table["unreadable"].iloc[int(sb.value)]) == 0
    unread = int(np.flatnonzero(case.table["unreadable"].to_numpy() == 1)[0])
    assert "unreadable signal, not called" in sb.format_func(unread)


def test_predictions_statements_unreadable_no_agreement(v2_env, noisy):
    case = noisy[0]
    at = _open(_app(_state(noisy)), "pages/predictions.py")
    texts = _texts(at) + "\n".join(e.value for e in at.error)
    for s in case.statements:
        assert s in texts
    metrics = {m.label: m.value for m in at.metric}
    n_u = int(case.table["unreadable"].sum())
    assert metrics["Unreadable beats"] == f"{n_u} / {len(case.table)}"
    assert metrics["Beats flagged abnormal"] == f"{case.n_flagged} / {len(case.table) - n_u}"
    assert "ECG–note agreement" not in metrics
    counts = next(d for d in _frames(at) if "call" in d.columns and "beats" in d.columns)
    assert int(counts.set_index("call").loc["unreadable", "beats"]) == n_u
    assert any("No note was given" in i.value for i in at.info)
    rule = next(c.value for c in at.caption if c.value.startswith("Verdict rule"))
    assert case.rhythm.confident_p == 0.9 and "≥ 0.90 (lower on a short record" in rule


def test_predictions_verdict_caption_states_a_short_records_level(v2_env, v2_models):
    """A 10 s strip is abnormal from one beat at a lower p than a Holter; the caption says which level applied."""
    from core.io import read_record
    from core.predict import analyse_case, content_hash

    rec = read_record(config.EXAMPLES_DIR / "short_10s_csv" / "ecg.csv")
    case = analyse_case(rec, None, v2_models[0])
    level = case.rhythm.confident_p
    assert level < 0.9
    at = _open(_app(_state((case, "", content_hash(rec, None)))), "pages/predictions.py")
    rule = next(c.value for c in at.caption if c.value.startswith("Verdict rule"))
    assert f"≥ {level:.2f} for a record this short (0.90 on a Holter)" in rule


def test_predictions_note_changed(v2_env, afib):
    case = afib[0]
    at = _open(_app(_state(afib)), "pages/predictions.py")
    assert "What the note changed" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Record p(abnormal) without the note"] == f"{case.note_effect['p_record_without_note']:.2f}"
    assert metrics["with the note"] == f"{case.note_effect['p_record_with_note']:.2f}"
    frames = _frames(at)
    changed = [f for f in frames if "p fused" in f.columns]
    if case.note_effect["n_changed"]:
        assert changed and len(changed[0]) == case.note_effect["n_changed"]
    else:  # the note moved no flag across the threshold: the page says so instead of an empty table
        assert not changed and any("every beat has the same flag" in c.value for c in at.caption)
    facts = [f for f in frames if "clause that carried it" in f.columns]
    used = set(case.note_effect["facts_used"])
    assert facts and set(facts[0]["fact"]) == used
    assert "ECG–note agreement" not in metrics
    assert "Atrial fibrillation, mean ventricular rate" in _texts(at)


def test_explanations_attention_and_fact_ig(v2_env, afib):
    at = _open(_app(_state(afib)), "pages/explanations.py")
    assert any("Attention is not an attribution" in m.value for m in at.markdown)
    at.button(key="btn_fact_gradients").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]  # beat SHAP (permutation), saliency and note sections all work
    blocks = [m.value for m in at.markdown if 'class="note"' in m.value]
    assert len(blocks) == 2  # attention and IG side by side
    ig = [d for d in _frames(at) if "total" in d.columns]
    assert ig and set(afib[0].note_effect["facts_used"]) <= set(ig[0].columns)
    assert any("Where they agree" in m.value for m in at.markdown)
    # v2 has 29 features: the SHAP caption must not claim an exact enumeration
    shap_caps = [c.value for c in at.caption if "Shapley values" in c.value]
    assert shap_caps and all("estimated by" in c and "Exact" not in c for c in shap_caps)


def test_case_page_hint_and_typed_note_kept(v2_env):
    at = _app({}).run()
    assert any("What a useful note contains" in c.value for c in at.caption)
    assert any("no pacemaker" in m.value for m in at.markdown)  # the full hint in the expander
    # the race: the example is changed and a note typed before that rerun ran; the typed note must stay
    first = at.selectbox(key="example_choice").value
    assert at.text_area(key="note_input").value == (config.EXAMPLES_DIR / first / "note.txt").read_text()
    at.selectbox(key="example_choice").set_value("nsr_100")
    at.text_area(key="note_input").input("Known LBBB. On bisoprolol.")
    at.run()
    assert not at.exception
    assert at.text_area(key="note_input").value == "Known LBBB. On bisoprolol."
    use = next(b for b in at.button if b.label.startswith("Use the note of nsr_100"))
    use.click().run()
    assert at.text_area(key="note_input").value == (config.EXAMPLES_DIR / "nsr_100" / "note.txt").read_text()
    # an example's own note in the box is still replaced when another example is picked
    at.selectbox(key="example_choice").set_value("paced_107").run()
    assert at.text_area(key="note_input").value == (config.EXAMPLES_DIR / "paced_107" / "note.txt").read_text()


def test_predictions_of_an_unreadable_record_give_no_verdict_and_say_why(v2_env, v2_models):
    """A lead of Gaussian noise: the record verdict is 'unreadable', with the reason and what to do."""
    from core.io import Record
    from core.predict import analyse_case, content_hash

    rec = Record("white_noise", np.random.default_rng(0).normal(0.0, 0.3, (360 * 60, 1)), 360.0, ["MLII"])
    case = analyse_case(rec, None, v2_models[0])
    assert case.verdict == "unreadable"
    at = _open(_app(_state((case, "", content_hash(rec, None)))), "pages/predictions.py")
    assert "Unreadable" in _texts(at)
    assert any("no record verdict is given" in w.value and "record again" in w.value for w in at.warning)
