"""Zip safety for uploads: bytes from upload objects, safe member names, in-memory unzip (nothing on disk),
and library messages scrubbed of file paths.
"""
from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from core import config
from core.io.record import RecordReadError, _SUPPORTED, _ZIP_NOISE, _mb


def _as_bytes(value: Any, label: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    for attr in ("getvalue", "read"):  # Streamlit UploadedFile, BytesIO, open files
        if hasattr(value, attr):
            data = getattr(value, attr)()
            if isinstance(data, (bytes, bytearray)):
                return bytes(data)
    raise RecordReadError(f"The upload {label} is not file content (got {type(value).__name__}): "
                          f"pass the file's bytes.")


def _safe_basename(member: str, *, where: str) -> str:
    """Basename of an archive member or upload key; refuses names that climb out of their folder."""
    posix = member.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or PureWindowsPath(member).drive or ".." in parts:
        raise RecordReadError(f"{where} contains an unsafe file path '{member}' (absolute or with '..'): "
                              f"re-create it with plain relative names.")
    return parts[-1] if parts else ""


def _scrub(text: str, path: Any = None, label: str = "") -> str:
    """A library's error text without file paths: `path` shown as `label`, temporary folders cut out."""
    if path is not None:
        text = text.replace(str(path), label)
    return re.sub(re.escape(tempfile.gettempdir()) + r"[\\/]cardiolens-[^\\/\s'\"]*[\\/]", "", text)


def _unzip(zip_name: str, data: bytes) -> dict[str, bytes]:
    """Members of a zip, read into memory by basename; nothing is extracted to disk."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise RecordReadError(f"{zip_name} is not a valid zip archive: create the zip again.") from exc
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:  # check every name before reading any content
            _safe_basename(info.filename, where=zip_name)
        infos = [i for i in infos if not _ZIP_NOISE.search(i.filename)]
        if sum(i.file_size for i in infos) > config.MAX_UPLOAD_BYTES:
            raise RecordReadError(f"{zip_name} unpacks to more than {_mb(config.MAX_UPLOAD_BYTES)}: "
                                  f"send a shorter excerpt.")
        out: dict[str, bytes] = {}
        for info in infos:
            base = _safe_basename(info.filename, where=zip_name)
            if base.lower().endswith(".zip"):
                raise RecordReadError(f"{zip_name} contains another zip ({base}): zip the record files directly.")
            if base in out:
                raise RecordReadError(f"{zip_name} holds two files named {base} in different folders: "
                                      f"keep one record per zip.")
            if info.flag_bits & 0x1:
                raise RecordReadError(f"{zip_name} is password-protected: upload an unencrypted zip.")
            try:
                out[base] = zf.read(info)
            except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, EOFError) as exc:
                raise RecordReadError(f"{zip_name} is damaged ({base} cannot be unpacked): "
                                      f"create the zip again.") from exc
    if not out:
        raise RecordReadError(f"{zip_name} is empty: zip the record's files ({_SUPPORTED}).")
    return out
