"""Shared fixtures: paths to bundled examples and to the MIT-BIH data beside the repo.

Slow tests (training, DS2 evaluation, the full R-peak run) need ../shared/data; they run with
``--runslow`` or when ``CI=true`` and are skipped with a reason otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import config


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")



def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs ../shared/data, minutes")


def _slow_enabled(pytest_config) -> bool:
    return pytest_config.getoption("--runslow") or os.environ.get("CI", "").lower() == "true"


def pytest_runtest_setup(item):
    if item.get_closest_marker("slow"):
        if not _slow_enabled(item.config):
            pytest.skip("slow test: run with --runslow (CI=true runs it)")
        if not config.MITDB_DIR.is_dir():
            pytest.skip(f"MIT-BIH data not found at {config.MITDB_DIR}")


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    if not config.MITDB_DIR.is_dir():
        pytest.skip(f"MIT-BIH data not found at {config.MITDB_DIR}")
    return config.MITDB_DIR


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return config.EXAMPLES_DIR
