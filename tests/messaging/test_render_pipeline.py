"""The send pipeline renders through the same guarded render processes as the preview: a
missing field fails that recipient naming it, a template past a limit fails the batch at once."""

from __future__ import annotations

import time

from pydantic import SecretStr
from tests.messaging.engine_helpers import (
    EMAIL_CONTENT,
    Mailbox,
    execution,
    person,
    rows,
    run_execution,
    seed_campaign,
    send_now,
    smtp_server,
)

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.templates import render_pool


def test_a_missing_first_name_fails_that_recipient_only(db: Database, settings: Settings) -> None:
    people = [person(0), person(1, firstName=None), person(2)]
    content = {**EMAIL_CONTENT, "text": "Hi {{ contact.firstName|default('there') }}"}
    campaign_id = seed_campaign(db, people=people, content=content)
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, settings.model_copy(update={"smtp_url": SecretStr(url)}))
    assert execution(db, execution_id).status == "completed"
    outcome = sorted((r.stage, r.reason or "") for r in rows(db, execution_id))
    assert [stage for stage, _ in outcome] == ["failed", "sent", "sent"]
    assert "'contact.firstName' is undefined" in outcome[0][1]
    assert len(mailbox.received) == 2
    assert not any(b"None" in r.message.as_bytes() for r in mailbox.received)


def test_a_template_past_its_limit_fails_the_batch_after_one_kill(
    db: Database, settings: Settings
) -> None:
    hostile = {**EMAIL_CONTENT, "text": "{{ contact.firstName }}{{ lipsum(200000)|length }}"}
    campaign_id = seed_campaign(db, people=[person(i) for i in range(6)], content=hostile)
    mailbox = Mailbox()
    pool = render_pool.shared()
    replaced = pool.replaced
    with smtp_server(mailbox) as url:
        execution_id = send_now(db, campaign_id)
        started = time.monotonic()
        run_execution(db, settings.model_copy(update={"smtp_url": SecretStr(url)}))
        elapsed = time.monotonic() - started
    assert execution(db, execution_id).status == "completed"
    reasons = [r.reason or "" for r in rows(db, execution_id)]
    assert len(reasons) == 6
    assert all("template exceeded its time/memory limit" in r for r in reasons), reasons
    assert not mailbox.received
    assert render_pool.shared().replaced == replaced + 1  # one kill for the whole batch
    assert elapsed < 10, elapsed
