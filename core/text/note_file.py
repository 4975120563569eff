"""A clinical note read from a file or an upload: checked plain text, or a clear reason why not.

Pure and light (no torch, no model): the CLI (``score --note``) and the Case page read notes through it.
"""
from __future__ import annotations

import unicodedata

__all__ = ["MAX_NOTE_BYTES", "NoteFileError", "read_note_bytes"]

#: Largest note accepted (bytes); the model reads only the first ``core.text.encoder.MAX_NOTE_TOKENS`` word
#: pieces, and a 10 MB note took a minute and 2.7 GB to tokenise.
MAX_NOTE_BYTES = 100_000


class NoteFileError(ValueError):
    """The note cannot be used; the message says why and what to do."""


def read_note_bytes(raw: bytes, name: str, size_bytes: int | None = None) -> str:
    """The note text of ``raw`` (``name``: the file name, for messages; ``size_bytes``: the file's size when only
    its start was read): UTF-8 with a leading BOM dropped, at most ``MAX_NOTE_BYTES``, no control characters but
    tab and line breaks, some visible text (not only format characters such as U+200B)."""
    size = len(raw) if size_bytes is None else int(size_bytes)
    if size > MAX_NOTE_BYTES:
        from core.text.encoder import MAX_NOTE_TOKENS  # torch: only on this path

        raise NoteFileError(f"{name}: the note is {size // 1000} kB, over the {MAX_NOTE_BYTES // 1000} kB limit; "
                            f"the model reads only the first {MAX_NOTE_TOKENS} word pieces of a note, so give the "
                            "referral note only")
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM is not part of the note
    except UnicodeDecodeError:
        raise NoteFileError(f"{name}: the note is not UTF-8 text; save it as UTF-8 and try again") from None
    if not raw.strip():
        raise NoteFileError(f"{name}: the note file is empty")
    if any(c < " " and c not in "\t\n\r" for c in text):
        raise NoteFileError(f"{name}: the note file looks binary (it holds NUL or other control characters); "
                            "give the clinical note as a plain UTF-8 text file")
    if not "".join(c for c in text if unicodedata.category(c) != "Cf").strip():
        raise NoteFileError(f"{name}: the note file holds no readable text: only invisible characters (a BOM, "
                            "zero-width spaces) and white space; give the clinical note as plain text")
    return text
