"""The scale-out run (bench/scaleout/run.py) in small: 2 servers and 2 workers on one
PostgreSQL, one worker killed inside a report job and one inside an SMTP hand-over, then every
total, job and message checked in the database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench.scaleout.checks import summary
from bench.scaleout.run import run_scale_out
from bench.scaleout.scenario import Sizes
from sqlalchemy import make_url

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SMALL = Sizes(hits=200, threads=4, reports=3, activations=2, contacts=150)


def scaleout_database_url() -> str | None:
    """A database of the run's own on the test server: ``<db>_scaleout`` (its schema is reset)."""
    url = os.environ.get("BEACON_TEST_POSTGRES_URL")
    if not url:
        return None
    base = make_url(url)
    return base.set(database=f"{base.database}_scaleout").render_as_string(hide_password=False)


def test_scale_out_run_keeps_every_total_exact(tmp_path: Path) -> None:
    url = scaleout_database_url()
    if url is None:
        pytest.skip(
            "the scale-out run needs PostgreSQL: set BEACON_TEST_POSTGRES_URL "
            "(it runs in a <database>_scaleout database on that server)"
        )
    outcome = run_scale_out(database_url=url, sizes=SMALL, work_dir=tmp_path)
    assert outcome.passed, summary(outcome)
