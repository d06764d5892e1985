"""Delivery ingestion: JSON and CSV, batch replacement, all-or-nothing rejection, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.activation.helpers import (
    API,
    PAGES,
    built_segment,
    classify_pages,
    issued_deal,
    upload_inventory,
)
from tests.support import in_parallel, run_cli, slowed
from typer.testing import CliRunner

from beacon import cli
from beacon.activation.models import Delivery, to_micros
from beacon.activation.reports import deliveries
from beacon.activation.reports import repository as report_repository
from beacon.activation.reports.deliveries import file_batch_id
from beacon.activation.reports.schemas import DeliveryRow
from beacon.core.config import Settings
from beacon.core.db import Database

Headers = dict[str, str]


@pytest.fixture
def deal_id(client: TestClient, headers: Headers, db: Database, settings: Settings) -> str:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    return str(issued_deal(client, headers, db, settings, [segment["id"]])["deal_id"])


def row(deal_id: str, **changes: Any) -> dict[str, Any]:
    base = {
        "date": "2026-01-15",
        "deal_id": deal_id,
        "device": "desktop",
        "format": "banner",
        "domain": "nytimes.com",
        "geo": "US",
        "impressions": 12400,
        "clicks": 37,
        "spend": 24.80,
    }
    return {**base, **changes}


def _stored(db: Database) -> tuple[int, int, int]:
    with db.transaction() as session:
        count, impressions, micros = session.execute(
            select(
                func.count(Delivery.id),
                func.coalesce(func.sum(Delivery.impressions), 0),
                func.coalesce(func.sum(Delivery.spend_micros), 0),
            )
        ).one()
    return int(count), int(impressions), int(micros)


def test_json_batch_is_stored_and_a_repost_replaces_it(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    body = {
        "batch_id": "ssp-2026-01-15",
        "rows": [
            row(deal_id),
            row(deal_id, device="mobile", spend=17.50, impressions=8750, clicks=18),
        ],
    }
    response = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert response.status_code == 201
    assert response.json() == {
        "batch_id": "ssp-2026-01-15",
        "rows": 2,
        "replaced_rows": 0,
        "impressions": 21150,
        "clicks": 55,
        "spend": 42.3,
    }
    again = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert again.status_code == 200 and again.json()["replaced_rows"] == 2
    assert _stored(db) == (2, 21150, 42_300_000)
    unnamed = client.post(f"{API}/deliveries", headers=headers, json={"rows": [row(deal_id)]})
    assert unnamed.status_code == 201 and len(unnamed.json()["batch_id"]) == 16
    assert _stored(db) == (3, 33550, 67_100_000)


def test_csv_upload_with_batch_id_query_param(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    csv_text = (
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend,currency\n"
        f"2026-01-15,{deal_id},desktop,banner,NYTimes.com,US,100,1,0.25,USD\n"
        "\n"
        f"2026-01-16,{deal_id},ctv,video,theguardian.com,CA,200,0,1.10,USD\n"
    )
    csv_headers = {**headers, "Content-Type": "text/csv"}
    response = client.post(f"{API}/deliveries?batch_id=b1", headers=csv_headers, content=csv_text)
    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 2 and response.json()["spend"] == 1.35
    response = client.post(f"{API}/deliveries?batch_id=b1", headers=csv_headers, content=csv_text)
    assert response.status_code == 200
    assert _stored(db) == (2, 300, 1_350_000)
    with db.transaction() as session:
        assert set(session.scalars(select(Delivery.domain))) == {"nytimes.com", "theguardian.com"}
    bad_header = client.post(f"{API}/deliveries", headers=csv_headers, content="date,deal_id\n")
    assert bad_header.status_code == 400
    assert (
        "missing column(s): device, format, domain, geo, impressions, clicks, spend"
        in bad_header.json()["message"]
    )


def test_rejected_batches_name_their_lines_and_store_nothing(
    client: TestClient, headers: Headers, db: Database, deal_id: str, key_for: Callable[[str], str]
) -> None:
    body = {
        "batch_id": "b",
        "rows": [
            row(deal_id),
            row(deal_id, impressions=-5),
            row(deal_id, spend="twelve"),
            row(deal_id, clicks=1.5),
            row(deal_id, geo="uk"),
            row("nope"),
        ],
    }
    # a count past what a 64-bit sum holds is a 422 naming the row (it was a 500)
    huge = {"rows": [row(deal_id, clicks=12714819305387721130745266176)]}
    response = client.post(f"{API}/deliveries", headers=headers, json=huge)
    assert response.status_code == 422
    assert response.json()["message"].startswith("Batch rejected, nothing stored: row 1: 'clicks'")
    response = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("Batch rejected, nothing stored: row 2: 'impressions'")
    assert "row 3: 'spend'" in message and "row 4: 'clicks'" in message
    assert (
        "row 5: 'geo' 'uk' is not an ISO 3166-1 alpha-2 country code (the United Kingdom is 'GB')"
        in message
    )
    # Invalid values and unknown deals are reported together, so one fix-up pass suffices.
    assert message.endswith("; unknown deal_id 'nope' on row 6")
    body = {
        "batch_id": "b",
        "rows": [row(deal_id), row("classify-ttd-999-aaaaa"), row("nope"), row("nope")],
    }
    response = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert response.json()["message"] == (
        "Batch rejected, nothing stored: unknown deal_id 'classify-ttd-999-aaaaa' on row 2; "
        "unknown deal_id 'nope' on row 3, row 4"
    )
    csv_text = f"date,deal_id,device,format,domain,geo,impressions,clicks,spend\n2026-01-15,{deal_id},desktop,banner,a.com,US,1,0,abc\n"
    response = client.post(
        f"{API}/deliveries", headers={**headers, "Content-Type": "text/csv"}, content=csv_text
    )
    assert response.status_code == 422 and "line 2: 'spend'" in response.json()["message"]
    # Another account's deal is unknown to this one.
    other = {"X-API-Key": key_for("other")}
    response = client.post(f"{API}/deliveries", headers=other, json={"rows": [row(deal_id)]})
    assert (
        response.status_code == 422
        and f"unknown deal_id {deal_id!r} on row 1" in response.json()["message"]
    )
    assert _stored(db) == (0, 0, 0)


def test_a_rows_long_key_and_deal_id_are_quoted_cut(
    client: TestClient, headers: Headers, deal_id: str
) -> None:
    long = "a'" + "b" * 3000  # an apostrophe, then more than a message quotes
    cut = "\"a'" + "b" * 98 + '…" (3002 characters)'
    unknown = "o'" + "x" * 150  # a deal id is at most 200 characters
    body = {"rows": [row(deal_id, **{long: 1}), row(unknown)]}
    response = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["message"] == (
        f"Batch rejected, nothing stored: row 1: {cut} Extra inputs are not permitted; "
        "unknown deal_id \"o'" + "x" * 98 + '…" (152 characters) on row 2'
    )


def test_cli_ingests_a_csv_with_a_summary(
    deal_id: str, database_url: str, tmp_path: Path, db: Database
) -> None:
    export = tmp_path / "deliveries.csv"
    export.write_text(
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        + "".join(
            f"2026-01-{d:02d},{deal_id},mobile,video,nytimes.com,US,1000,3,2.00\n"
            for d in range(1, 11)
        )
    )
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "var")}
    args = ["ingest-deliveries", str(export), "--account", "acme", "--batch-id", "jan"]
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Stored 10 rows in batch jan." in result.stdout
    assert "Impressions 10000, clicks 30, spend 20.00." in result.stdout
    # The rest in-process: same command, without paying a Python start-up per run.
    runner = CliRunner()
    again = runner.invoke(cli.app, args, env=env)
    assert again.exit_code == 0 and "replacing 10 earlier rows" in again.stdout
    assert _stored(db) == (10, 10000, 20_000_000)
    missing = runner.invoke(
        cli.app, ["ingest-deliveries", str(export), "--account", "ghost"], env=env
    )
    assert missing.exit_code == 2 and "no account named 'ghost'" in missing.stderr
    export.write_text(
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        "2026-01-01,x,mobile,video,a.com,US,1,0,1\n"
    )
    rejected = runner.invoke(
        cli.app, ["ingest-deliveries", str(export), "--account", "acme"], env=env
    )
    assert rejected.exit_code == 1 and "unknown deal_id 'x' on line 2" in rejected.stderr
    assert _stored(db) == (10, 10000, 20_000_000)


def test_a_batch_id_over_100_characters_is_refused_by_the_cli_too(
    deal_id: str, database_url: str, tmp_path: Path, db: Database
) -> None:
    # The API's schema bounds batch_id at 100 characters (its column's size); the CLI passed
    # --batch-id as given: PostgreSQL refused the insert with a traceback, SQLite stored it.
    export = tmp_path / "deliveries.csv"
    export.write_text(
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f"2026-01-01,{deal_id},mobile,video,nytimes.com,US,1000,3,2.00\n"
    )
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "var")}
    args = ["ingest-deliveries", str(export), "--account", "acme", "--batch-id", "b" * 101]
    result = CliRunner().invoke(cli.app, args, env=env)
    assert result.exit_code == 1, result.output
    assert "'batch_id': must be at most 100 characters long" in result.stderr
    assert _stored(db) == (0, 0, 0)


def test_the_console_storing_one_file_twice_does_not_count_it_twice(
    client: TestClient, db: Database, deal_id: str
) -> None:
    """A double-clicked **Store** (or the same export uploaded again) without a batch id
    replaces the file's earlier copy: every report would otherwise count its rows twice."""
    from tests.console.in_process import member, sign_in

    from beacon.core.permissions import Role

    token = sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    csv_text = (
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f"2026-01-15,{deal_id},desktop,banner,nytimes.com,US,12400,37,24.80\n"
    )
    for _ in range(2):
        stored = client.post(
            "/app/activate/deliveries",
            data={"csv_text": csv_text, "batch_id": "", "csrf_token": token},
            follow_redirects=False,
        )
        assert stored.status_code == 303, stored.text[:300]
    assert _stored(db) == (1, 12400, 24_800_000)
    other = csv_text.replace(",12400,", ",100,")
    stored = client.post(
        "/app/activate/deliveries",
        data={"csv_text": other, "batch_id": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert stored.status_code == 303
    assert _stored(db) == (2, 12500, 49_600_000)  # another file is another batch


def test_an_empty_batch_or_a_blank_batch_id_is_refused(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    """As the document's schema says (``minItems: 1``, a non-blank ``batch_id``): an empty
    JSON batch was a 201 that could replace a stored batch with nothing, and a CSV's
    ``?batch_id=%20`` stored a batch named by a space."""
    stored = client.post(
        f"{API}/deliveries", headers=headers, json={"batch_id": "b", "rows": [row(deal_id)]}
    )
    assert stored.status_code == 201
    empty = client.post(f"{API}/deliveries", headers=headers, json={"batch_id": "b", "rows": []})
    assert empty.status_code == 422, empty.text
    assert empty.json()["message"].startswith("Invalid value for 'rows'")
    csv_body = (
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f"2026-01-15,{deal_id},desktop,banner,nytimes.com,US,1,0,0.5\n"
    )
    blank = client.post(
        f"{API}/deliveries?batch_id=%20",
        headers={**headers, "Content-Type": "text/csv"},
        content=csv_body,
    )
    assert blank.status_code == 422, blank.text
    assert blank.json()["message"] == "Invalid value for 'batch_id': must not be blank"
    assert _stored(db) == (1, 12400, 24_800_000)


def test_the_cli_ingesting_one_file_twice_does_not_count_it_twice(
    deal_id: str, database_url: str, tmp_path: Path, db: Database
) -> None:
    """Without ``--batch-id`` the file's content names the batch, as in the console: a re-run
    (a retried cron job, a shell history) replaces the rows instead of doubling every report."""
    export = tmp_path / "deliveries.csv"
    export.write_text(
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f"2026-01-01,{deal_id},mobile,video,nytimes.com,US,1000,3,2.00\n"
    )
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "var")}
    args = ["ingest-deliveries", str(export), "--account", "acme"]
    runner = CliRunner()
    first = runner.invoke(cli.app, args, env=env)
    again = runner.invoke(cli.app, args, env=env)
    assert first.exit_code == 0 and again.exit_code == 0, (first.output, again.output)
    assert "replacing 1 earlier rows" in again.stdout
    assert _stored(db) == (1, 1000, 2_000_000)


def test_a_row_date_is_a_yyyy_mm_dd_day_in_range(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    """As every date the APIs take (docs/measure.md): a row's date was parsed leniently, so
    ``0`` was stored as 1970-01-01, a date-time as its day, and year 1 as a day no report can
    ask for."""
    for bad in (0, "2026-01-15T00:00:00", "0001-01-01", "2026-1-5"):
        response = client.post(
            f"{API}/deliveries", headers=headers, json={"rows": [row(deal_id, date=bad)]}
        )
        assert response.status_code == 422, (bad, response.text)
        assert "row 1: 'date'" in response.json()["message"], (bad, response.text)
    assert _stored(db) == (0, 0, 0)


def test_a_row_count_or_spend_is_never_a_boolean(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    """A lax number took ``true`` as 1 impression (or $1 of spend) and stored it."""
    for field in ("impressions", "clicks", "spend"):
        response = client.post(
            f"{API}/deliveries", headers=headers, json={"rows": [row(deal_id, **{field: True})]}
        )
        assert response.status_code == 422, (field, response.text)
        assert response.json()["message"] == (
            f"Batch rejected, nothing stored: row 1: '{field}' "
            "Input should be a number, not a boolean"
        )
    assert _stored(db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"spend": "1"}, "'spend' Input should be a number, not a string"),
        ({"impressions": "8750"}, "'impressions' Input should be a number, not a string"),
        ({"clicks": "3"}, "'clicks' Input should be a number, not a string"),
    ],
)
def test_a_json_row_sends_numbers(
    client: TestClient,
    headers: Headers,
    db: Database,
    deal_id: str,
    changes: dict[str, Any],
    problem: str,
) -> None:
    """The documented rows send numbers (lax parsing took ``"spend": "1"`` as $1)."""
    body = {"rows": [row(deal_id), row(deal_id, **changes)]}
    response = client.post(f"{API}/deliveries", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "validation_error",
        "message": f"Batch rejected, nothing stored: row 2: {problem}",
    }
    assert _stored(db) == (0, 0, 0)


def test_a_csv_cell_is_text_and_a_days_clicks_may_exceed_its_impressions(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    """A CSV cell is parsed; an export dates a click by when it happened, so a day's row can
    carry clicks on the previous day's impressions: the batch is stored as sent."""
    header = "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
    csv_headers = {**headers, "Content-Type": "text/csv"}
    late = f"{header}2026-01-15,{deal_id},desktop,banner,a.com,US,10,50,1\n"
    response = client.post(f"{API}/deliveries", headers=csv_headers, content=late)
    assert response.status_code == 201, response.text
    assert _stored(db) == (1, 10, 1_000_000)
    with db.transaction() as session:
        assert session.scalar(select(func.sum(Delivery.clicks))) == 50


def test_a_files_batch_id_is_the_same_however_its_lines_end() -> None:
    """The console sends a textarea's text with CRLF; the command line reads the file as saved:
    one file is one batch either way (else stored from both it counted twice)."""
    saved = "date,impressions\n2026-11-01,10\n"
    same = [saved, saved.replace("\n", "\r\n"), "\ufeff" + saved, saved + "\n\n", saved.rstrip()]
    assert {file_batch_id(text) for text in same} == {file_batch_id(saved)}
    assert file_batch_id("date,impressions\n2026-11-01,11\n") != file_batch_id(saved)


def test_a_row_out_of_bounds_is_told_in_the_apis_words(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    response = client.post(
        f"{API}/deliveries", headers=headers, json={"rows": [row(deal_id, impressions=-1)]}
    )
    assert response.status_code == 422
    assert response.json()["message"] == (
        "Batch rejected, nothing stored: row 1: 'impressions' must be at least 0"
    )
    assert _stored(db) == (0, 0, 0)


def test_a_json_rows_nan_is_told_as_any_bad_row(
    client: TestClient, headers: Headers, db: Database, deal_id: str
) -> None:
    """A JSON ``NaN`` answered the body parser's words (``Invalid value for 'rows[0].spend'``);
    the documented form names the row, as a CSV's NaN does."""
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        rows = [row(deal_id), row(deal_id, spend="SPEND")]
        text = json.dumps({"rows": rows}).replace('"SPEND"', literal)
        response = client.post(
            f"{API}/deliveries",
            headers={**headers, "Content-Type": "application/json"},
            content=text,
        )
        assert response.status_code == 422, (literal, response.text)
        assert response.json()["message"] == (
            f"Batch rejected, nothing stored: row 2: 'spend' {literal} is not a finite number"
        )
    assert _stored(db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("www.nytimes.com.", "www.nytimes.com"),
        ("WWW.NYTimes.com", "www.nytimes.com"),
        (" sub.wired.com ", "sub.wired.com"),
    ],
)
def test_a_rows_domain_is_stored_in_one_spelling(
    client: TestClient, headers: Headers, db: Database, deal_id: str, sent: str, stored: str
) -> None:
    """Lower case, IDNA ASCII, no root dot, subdomains kept: one site is one report row."""
    for content_type, send in (
        ("application/json", lambda: {"json": {"rows": [row(deal_id, domain=sent)]}}),
        (
            "text/csv",
            lambda: {
                "content": "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
                f'2026-01-15,{deal_id},desktop,banner,"{sent}",US,1,0,1\n'
            },
        ),
    ):
        response = client.post(
            f"{API}/deliveries",
            headers={**headers, "Content-Type": content_type},
            params={"batch_id": "one"},
            **send(),
        )
        assert response.status_code in (200, 201), response.text
        with db.transaction() as session:
            assert session.scalars(select(Delivery.domain)).all() == [stored]


@pytest.mark.parametrize(
    "sent", ["https://www.nytimes.com/x", "a b <script>", "<b>x</b>", "a..com", "nytimes.com/x"]
)
def test_a_rows_domain_that_is_no_host_name_rejects_the_batch(
    client: TestClient, headers: Headers, db: Database, deal_id: str, sent: str
) -> None:
    response = client.post(
        f"{API}/deliveries", headers=headers, json={"rows": [row(deal_id, domain=sent)]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(
        f"Batch rejected, nothing stored: row 1: 'domain' {sent!r} is not a host name"
    )
    csv_text = (
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f'2026-01-15,{deal_id},desktop,banner,"{sent}",US,1,0,1\n'
    )
    response = client.post(
        f"{API}/deliveries", headers={**headers, "Content-Type": "text/csv"}, content=csv_text
    )
    assert response.status_code == 422, response.text
    assert "line 2: 'domain'" in response.json()["message"]
    assert _stored(db) == (0, 0, 0)


def test_a_rows_lower_case_country_is_stored_in_upper_case() -> None:
    # One country-code rule for every family (core.codes): 'gb' was a 422 here only.
    assert DeliveryRow.model_validate(row("deal-1", geo="gb")).geo == "GB"


def test_parallel_posts_of_a_new_batch_replace_each_other(
    client: TestClient,
    headers: Headers,
    db: Database,
    deal_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Posts of one new batch_id that overlap: one creates the batch (201, nothing replaced),
    each later one replaces the rows the one before it stored (200, replaced_rows 2), as
    sequential posts do. On SQLite every post answered 201 with replaced_rows 0."""
    # Every post reads "no such batch" before any creates it, and each waits once it has its
    # batch: on SQLite the creator's batch was committed (still empty) by then.
    slowed(monkeypatch, report_repository, "batch_for_update")
    slowed(monkeypatch, deliveries, "_batch")
    body = {"batch_id": "overlap", "rows": [row(deal_id), row(deal_id, device="mobile")]}

    responses = in_parallel(
        lambda: client.post(f"{API}/deliveries", headers=headers, json=body), n=3
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 201], [r.text for r in responses]
    assert sorted(r.json()["replaced_rows"] for r in responses) == [0, 2, 2]
    assert _stored(db) == (2, 24800, 49_600_000)


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        (0.1, 100_000),
        (123456789.123456, 123_456_789_123_456),
        (1e12, 10**18),
        (5e-7, 0),
        (1.5e-6, 2),
    ],
)
def test_spend_is_kept_in_micros_from_its_shortest_decimal_form(amount: float, micros: int) -> None:
    """0.1 is 100,000 micros (not the binary float's 100,000.0000000000055...); half a micro
    rounds to even."""
    assert to_micros(amount) == micros
