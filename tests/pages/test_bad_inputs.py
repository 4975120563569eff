"""Every file of the bad-input corpus (tests/data/bad_inputs) uploaded through the Case page.

Each gets a specific message (st.error, never an exception), and what the user already entered — the
note — is still there afterwards. Files that share a stem (x.hea + x.dat) are uploaded together.
Run with -s to print the table of messages.
"""
from collections import defaultdict
from pathlib import Path

import pytest

from core import config

BAD = Path(__file__).resolve().parent.parent / "data" / "bad_inputs"
NOTE = "Note typed before the upload: palpitations <b>at night</b>."


def _groups() -> dict[str, list[Path]]:
    groups = defaultdict(list)
    for p in sorted(BAD.iterdir()) if BAD.is_dir() else []:
        if p.suffix != ".md":
            groups[p.stem].append(p)
    return dict(groups)




@pytest.mark.parametrize("stem", sorted(_groups()))
def test_bad_upload_gets_a_message_and_keeps_the_note(model_env, stem):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(config.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.radio(key="source_choice").set_value("Upload files").run()
    at.text_area(key="note_input").set_value(NOTE).run()
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in _groups()[stem]]
    at.file_uploader(key="upload").set_value(files).run()
    analyse = [b for b in at.button if b.label == "Analyse"]
    if analyse:
        analyse[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="note_input").value == NOTE
    errors = [e.value for e in at.error]
    warnings = [w.value for w in at.warning]
    if errors:
        assert len(errors[0]) > 20 and "Traceback" not in errors[0]
    else:  # a valid file of the corpus (nested zip, short NaN gap, Latin-1 header, one column with fs ...)
        assert "case" in at.session_state or warnings, f"{stem}: neither read nor explained"
