"""Fixtures: ``db`` is a fresh database of each backend (MariaDB, PostgreSQL, SQLite)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BACKENDS, TestDb  # noqa: E402


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDb]:
    database = TestDb(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()
