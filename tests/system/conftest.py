"""The system tests' shared Friday: the demo plays one day at the Complex once per session (tests/system/friday.py),
and every test that reads such a day (the day-scenario scores, the dashboards' SQL, the reports) reads its copy."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.friday import FridayRun, drop_databases, run_friday


@pytest.fixture(scope="session")
def friday() -> Iterator[FridayRun]:
    # Not under pytest's /tmp/pytest-of-<user>: the demo's PostgreSQL runs as the postgres account, which needs
    # to traverse the ancestors, and a pytest session starting meanwhile makes that directory 0700 again.
    work_dir = Path(tempfile.mkdtemp(prefix="sc-friday-"))
    try:
        run = run_friday(work_dir)
        try:
            yield run
        finally:
            drop_databases(run.database_names)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
