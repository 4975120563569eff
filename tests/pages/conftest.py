"""Fixtures for the page tests: the app pointed at the test bundle (``bundle_dir`` from tests/conftest.py)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def model_env(bundle_dir):
    """Point the app at ``bundle_dir`` through CARDIOLENS_MODEL_DIR for the whole session."""
    old = os.environ.get("CARDIOLENS_MODEL_DIR")
    os.environ["CARDIOLENS_MODEL_DIR"] = str(bundle_dir)
    yield bundle_dir
    if old is None:
        os.environ.pop("CARDIOLENS_MODEL_DIR", None)
    else:
        os.environ["CARDIOLENS_MODEL_DIR"] = old
