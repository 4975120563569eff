"""CardioLens: the Streamlit router. Every page is listed here; the case lives in st.session_state.

Run with ``streamlit run app.py``. Set ``CARDIOLENS_MODEL_DIR`` to load a model bundle from another
folder than ``assets/models/<version>``.
"""
from __future__ import annotations

import streamlit as st

from core.report.tables import DISCLAIMER
from pages import _state as state
from pages._common import PAGES, current_case, model_dir
from pages._state import Key

st.set_page_config(page_title="CardioLens", page_icon=":material/monitor_heart:", layout="wide")

pages = [
    st.Page(PAGES["case"], title="Case", icon=":material/folder_open:", default=True),
    st.Page(PAGES["waveform"], title="Waveform", icon=":material/ecg:"),
    st.Page(PAGES["predictions"], title="Predictions", icon=":material/analytics:"),
    st.Page(PAGES["explanations"], title="Explanations", icon=":material/psychology:"),
    st.Page(PAGES["model_card"], title="Model card", icon=":material/description:"),
    st.Page(PAGES["report"], title="Report", icon=":material/download:"),
]
nav = st.navigation(pages)

with st.sidebar:
    st.markdown("### CardioLens")
    st.toggle("Teaching mode", key=Key.TEACHING,
              help="Hide the model's answers on Predictions and Explanations until you commit your own read.")
    # A widget key is safe here: the sidebar is drawn on every page, so its state is never dropped.
    case = current_case()
    if case is not None:
        st.markdown(f"**Case:** {state.case_label(case.record.name)}")
        summary = f"{case.record.duration_s:.0f} s · {len(case.table)} beats"
        # In teaching mode the verdict stays hidden until the reader has committed a read.
        if not state.answers_hidden():
            summary += f" · **{case.verdict}**"
        st.markdown(summary)
    else:
        st.caption("No case loaded.")
    st.caption(f"Model: {model_dir() or 'bundled'} · {DISCLAIMER}")

nav.run()
