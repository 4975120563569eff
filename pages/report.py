"""Report page: export the case as one self-contained HTML file."""
from __future__ import annotations

import datetime as dt
import logging
import re

import streamlit as st

from core.report.html import case_report_html
from pages import _state as state
from pages._common import (explain_module, get_bundle, get_text_encoder, memo, memo_get, require_case, run_page,
                           selected_beat, teaching_on)

log = logging.getLogger(__name__)


def _optional(name: str, fn, omitted: dict[str, str]):
    """A part of the report that may be missing (e.g. no explain assets): None, with the reason recorded
    in ``omitted`` (the report says "<name> omitted: <reason>") and the traceback logged."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the report is still useful without this part
        log.exception("report section %s omitted", name)
        omitted[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}"
        return None


def body() -> None:
    st.title("Report")
    case = require_case()
    if case is None:
        return
    h = state.case_hash()
    if teaching_on() and not state.has_committed_read():
        st.info("Teaching mode: commit your own read on the Predictions page before exporting the report.")
        return
    bundle = get_bundle()
    i = selected_beat(case)
    note = state.case_note()
    st.write("Download the case as one HTML file that opens offline in any browser: recording details, the "
             "verdict of each head, ECG strips, beat table, zero-shot labels, explanations of the selected beat, "
             "the note (shown as plain text), model version and a timestamp.")
    with st.spinner("Building the report…"):
        ex = explain_module()
        expl = sal = att = grad = None
        omitted: dict[str, str] = {}
        if ex is None:
            omitted["explanations"] = "core.explain is not available in this build"
        elif i is not None:
            expl = _optional("SHAP explanation", lambda: memo((h, "shap", i), lambda: ex.shap_features(case, bundle, i)), omitted)
            sal = _optional("beat saliency", lambda: memo((h, "saliency", i), lambda: ex.beat_saliency(case, bundle, i)), omitted)
            if case.note is not None and note.strip():
                enc = get_text_encoder()
                att = _optional("note attention", lambda: memo((h, "attention"), lambda: ex.note_attention(note, enc)), omitted)
                grad = memo_get((h, "gradients"))  # only when already computed on Explanations (slow)
        zs = state.last_zeroshot(h)
        html_text = case_report_html(case, note=note, explanation=expl, beat_index=i, attention=att, gradients=grad,
                                     saliency=sal, zeroshot=zs, user_read=state.committed_read(),
                                     source_label=state.case_label() or None,
                                     thresholds=bundle.config.thresholds, omitted=omitted)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    fname = f"cardiolens_{re.sub(r'[^A-Za-z0-9_-]+', '_', case.record.name)}_{stamp}.html"
    st.download_button("Download the HTML report", data=html_text.encode("utf-8"), file_name=fname, mime="text/html",
                       type="primary", icon=":material/download:")
    st.caption(f"{len(html_text) / 1e6:.1f} MB (the plotting library is inside the file, so it needs no network). "
               f"Selected beat: {i}. Zero-shot included: {'yes' if zs is not None else 'no (open Predictions first)'}.")
    st.caption("PDF export is not offered: print the HTML file to PDF from the browser if you need one.")


run_page(body)
