"""Every page of the app through Streamlit's AppTest, with and without a case loaded.

The analysed case is computed once (module fixture) and put into session state, as a page switch
would leave it; one test clicks through the Case page (example + Analyse) for real.
"""
from __future__ import annotations

import pytest

from core import config

APP = str(config.REPO_ROOT / "app.py")
PAGES = ["pages/case.py", "pages/waveform.py", "pages/predictions.py", "pages/explanations.py",
         "pages/model_card.py", "pages/report.py"]
TITLES = {"pages/case.py": "Case", "pages/waveform.py": "Waveform", "pages/predictions.py": "Predictions",
          "pages/explanations.py": "Explanations", "pages/model_card.py": "Model card", "pages/report.py": "Report"}
EXAMPLE = "short_10s_csv"
TIMEOUT = 60


@pytest.fixture(scope="module")
def analysed(model_env):
    """(case, note) of the 10 s CSV example with its note, analysed once with the test bundle."""
    from core.io import read_record
    from core.model.bundle import load_bundle
    from core.predict import analyse_case, content_hash
    from core.text.encoder import load_text_encoder

    folder = config.EXAMPLES_DIR / EXAMPLE
    note = (folder / "note.txt").read_text()
    bundle = load_bundle(model_env)
    case = analyse_case(read_record(folder / "ecg.csv"), note, bundle,
                        load_text_encoder(bundle.config.text_model, bundle.config.pooling))
    return case, note, content_hash(case.record, note)


def _app(state: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at


def _with_case(analysed, **extra) -> dict:
    case, note, h = analysed
    return {"case": case, "case_hash": h, "case_note": note, "case_label": f"example {EXAMPLE}",
            "beat_index": int(case.table["p_abnormal"].idxmax()), **extra}


def _open(at, page: str):
    at.run()
    if page != "pages/case.py":
        at.switch_page(page).run()
    return at


def _texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.info] + [e.value for e in at.caption]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_without_case(model_env, page):
    at = _open(_app(), page)
    assert not at.exception
    assert at.title[0].value == TITLES[page]
    assert not at.error, [e.value for e in at.error]
    if page in ("pages/waveform.py", "pages/predictions.py", "pages/explanations.py", "pages/report.py"):
        assert any("No case loaded yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_page_with_case(model_env, analysed, page):
    case = analysed[0]
    at = _open(_app(_with_case(analysed)), page)
    assert not at.exception
    assert at.title[0].value == TITLES[page]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["case"] is case  # page switches keep the case
    if page == "pages/case.py":
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Beats found"] == str(len(case.table))
        assert metrics["Rate"] == "360 Hz"
    if page == "pages/predictions.py":
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Record verdict"] == case.verdict
        assert metrics["Beats flagged abnormal"] == f"{case.n_flagged} / {len(case.table)}"
        assert len(at.get("data_editor")) == 1 or len(at.dataframe) >= 3
    if page == "pages/explanations.py":
        heads = [h.value for h in at.subheader]
        assert "Which measurements pushed this beat's probability (SHAP)" in heads
        assert "What the model read in the note" in heads
    if page == "pages/model_card.py":
        assert any("not a diagnostic device" in w.value for w in at.warning)
        tables = [d.value for d in at.dataframe]
        if "seeds" in case_bundle_metrics(model_env):  # v2: the seed tables, rendered as markdown (core.report.seed_tables)
            text = "\n".join(m.value for m in at.markdown)
            assert "| ecg_only |" in text and "±" in text and "without 202" in text and "reference rhythm annotation" in text
            assert "The seed systems side by side (mean ± sd over seeds)" in [h.value for h in at.subheader]
            assert "| seed001" in text and "ZS bank bal. acc" in text  # docs/recipes*.md, scripts.recipe_table
        else:
            metric_rows = [t for t in tables if "view" in t.columns]
            assert metric_rows and "ecg_only" in set(metric_rows[0]["view"])
        if (model_env / "zeroshot.json").is_file():
            zs = [t for t in tables if "macro AUC" in t.columns]  # core.report.tables.zeroshot_table
            assert zs and "all/mean" in set(zs[0]["prompts / ensemble"])
    if page == "pages/report.py":
        assert len(at.get("download_button")) == 1


def test_case_page_example_and_analyse(model_env):
    at = _app().run()
    at.radio(key="source_choice").set_value("Bundled example")
    at.selectbox(key="example_choice").set_value(EXAMPLE).run()
    note = at.text_area(key="note_input").value
    assert note == (config.EXAMPLES_DIR / EXAMPLE / "note.txt").read_text()  # prefilled from note.txt
    at.button[0].click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    case = at.session_state["case"]
    assert case.record.fs == 360.0 and case.record.n_leads == 2
    assert 10 <= len(case.table) <= 25  # 18 reference beats in this 10 s strip
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Duration"] == "10.0 s"
    # the case survives a page switch
    at.switch_page("pages/waveform.py").run()
    assert not at.exception and at.session_state["case"] is case
    assert len(at.get("plotly_chart")) >= 1


def test_teaching_mode_hides_answers_until_read(model_env, analysed):
    at = _open(_app(_with_case(analysed, teaching=True)), "pages/predictions.py")
    assert not at.exception
    assert "Record verdict" not in [m.label for m in at.metric]
    assert any(s.value.startswith("Your read first") for s in at.subheader)
    at.radio[0].set_value("abnormal")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert "Record verdict" in [m.label for m in at.metric]
    assert any("Your read: **abnormal**" in s.value for s in [*at.success, *at.warning])


def test_note_markup_is_rendered_inert(model_env, analysed):
    from core.model.bundle import load_bundle
    from core.predict import analyse_case, content_hash
    from core.text.encoder import load_text_encoder

    case0 = analysed[0]
    note = "Palpitations. <script>alert('x')</script> <b>bold</b> PVCs seen."
    bundle = load_bundle(model_env)
    case = analyse_case(case0.record, note, bundle, load_text_encoder(bundle.config.text_model, bundle.config.pooling))
    state = {"case": case, "case_hash": content_hash(case.record, note), "case_note": note, "case_label": "x"}
    at = _open(_app(state), "pages/explanations.py")
    assert not at.exception
    fact_gated = bundle.config.fusion == "fact_gated"  # v2: IG of the recognised facts
    at.button(key="btn_fact_gradients" if fact_gated else "btn_gradients").click().run()  # computed on demand
    assert not at.exception
    html_blocks = [m.value for m in at.markdown if 'class="note"' in m.value]
    assert len(html_blocks) == 2  # attention and gradients
    for block in html_blocks:
        assert "<script" not in block and "<b>" not in block  # no live tag survives
        assert "&lt;" in block and "&gt;" in block and "alert" in block  # shown as text instead


def test_teaching_mode_hides_reference_letters_until_read(model_env):
    """The reference annotation letters are the answer key: not drawn in teaching mode before a read."""
    from core.io import read_record
    from core.model.bundle import load_bundle
    from core.predict import analyse_case, content_hash

    rec = read_record(config.EXAMPLES_DIR / "nsr_100" / "nsr_100.hea")
    case = analyse_case(rec, None, load_bundle(model_env))
    h = content_hash(rec, None)
    state = {"case": case, "case_hash": h, "case_label": "x", "beat_index": 0, "teaching": True}
    at = _open(_app(state), "pages/waveform.py")
    assert not at.exception
    spec = at.get("plotly_chart")[0].proto.spec
    assert "reference annotation" not in spec
    assert any("hidden until you commit" in c.value for c in at.caption)
    at2 = _open(_app({**state, "reads": {h: {"call": "normal", "comment": ""}}}), "pages/waveform.py")
    assert not at2.exception and "reference annotation" in at2.get("plotly_chart")[0].proto.spec


def case_bundle_metrics(folder) -> dict:
    import json

    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def test_note_after_upload_clears_an_examples_note_when_the_uploaded_txt_is_unreadable():
    """An unreadable .txt is not the note, and the previous example's note must not be read as this recording's."""
    from types import SimpleNamespace

    from pages._common import note_after_upload

    upload = lambda name, data: SimpleNamespace(name=name, getvalue=lambda: data)  # noqa: E731
    example = "73-year-old woman on digoxin."
    bad = [upload("x.csv", b"1,2"), upload("bad.txt", b"\x00\x00binary")]
    note, error = note_after_upload(bad, example, {example})
    assert note == "" and "looks binary" in error
    assert note_after_upload(bad, "typed by hand", {example})[0] == "typed by hand"
    assert note_after_upload([upload("n.txt", "\ufeffKnown AF.".encode())], example, {example}) == ("Known AF.", None)
    assert note_after_upload([upload("x.csv", b"1,2")], example, {example}) == ("", None)


def test_note_after_source_change_keeps_typed_text_and_never_carries_an_examples_note_to_an_upload():
    from pages._common import note_after_source_change

    example = "Known atrial fibrillation, on digoxin."
    assert note_after_source_change(False, example, example, {example}) == ""
    assert note_after_source_change(False, "typed by hand", example, {example}) == "typed by hand"
    assert note_after_source_change(True, "", example, {example}) == example
    assert note_after_source_change(True, "typed by hand", example, {example}) == "typed by hand"


def test_switching_to_upload_clears_the_example_note_and_it_is_not_refilled(model_env):
    """Seen in Chromium: the example selectbox is not drawn while uploading, Streamlit dropped its key, and the page's
    first-visit prefill put the first example's note (known AF, digoxin) back: an uploaded EDF was read with it."""
    from pages._common import list_examples

    at = _app()
    at.run()
    first = next(iter(list_examples()))
    assert at.text_area[0].value == list_examples()[first]["note"]
    at.radio[0].set_value("Upload files").run()
    assert at.text_area[0].value == ""
    at.run()  # a later rerun (the upload's) must not prefill it again
    assert at.text_area[0].value == ""
    at.radio[0].set_value("Bundled example").run()
    assert at.text_area[0].value == list_examples()[first]["note"]
