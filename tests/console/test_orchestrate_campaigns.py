"""Orchestrate → Campaigns in Chromium: set a draft up (segment → template → schedule), see
its preflight checklist, publish it and send it to a real SMTP sink (aiosmtpd) and watch the
funnel reach ``sent`` with the bounced recipient listed; what a viewer may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.console.conftest import (
    Console,
    assert_accessible,
    assert_fits_phone,
    shoot,
    sign_in,
    start_console,
)
from tests.messaging.engine_helpers import Mailbox, smtp_server

from beacon.core.auth import get_or_create_account
from beacon.core.db import Database
from beacon.messaging.audience_schemas import SegmentCreate, TemplateCreate
from beacon.messaging.audiences import segments
from beacon.messaging.campaign_schemas import CampaignCreate
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.templates import service as templates

pytestmark = pytest.mark.e2e

CONTACTS = [
    {
        "externalId": "ann",
        "email": "ann@example.com",
        "firstName": "Ann",
        "attributes": {"plan": "pro"},
    },
    {
        "externalId": "cy",
        "email": "cy@example.com",
        "phone": "+14155550123",
        "firstName": "Cy",
        "attributes": {"plan": "pro"},
    },
    {"externalId": "bo", "email": "bounce@example.com", "firstName": "Bo"},  # 550
]
TEMPLATE = {
    "subject": "Spring offer for {{ contact.firstName }}",
    "fromName": "Acme",
    "fromAddress": "news@acme.example",
    "html": "<p>Hi {{ contact.firstName }}</p><a href='{{ unsubscribe_url }}'>Unsubscribe</a>",
    "text": "Hi {{ contact.firstName }}\nUnsubscribe: {{ unsubscribe_url }}",
}


@pytest.fixture(scope="module")
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Console]:
    """The console with its in-process engine sending to a local SMTP sink."""
    with smtp_server(mailbox) as url:
        running = start_console(tmp_path_factory.mktemp("console"), env={"BEACON_SMTP_URL": url})
        try:
            yield running
        finally:
            running.server.stop()


@pytest.fixture(scope="module")
def made(console: Console) -> dict[str, Any]:
    """Contacts, a segment and a published email template, made through /public/v1."""
    with console.messaging_api() as api:
        assert api.post("/contacts", json={"contacts": CONTACTS}).status_code == 200
        segment = api.post(
            "/segments",
            json={
                "name": "Everyone at example.com",
                "rules": {"field": "email", "op": "contains", "value": "example.com"},
            },
        )
        assert segment.status_code == 201, segment.text
        template = api.post(
            "/templates",
            json={"name": "Spring", "channel": "email", "status": "published", "content": TEMPLATE},
        )
        assert template.status_code == 201, template.text
        return {"segment": segment.json()["data"], "template": template.json()["data"]}


def _scheduled_and_published(
    client: httpx.Client, token: str, made: dict[str, Any], name: str, timezone: str
) -> str:
    """An email campaign to the made segment, scheduled for 15 Jan 2031 08:30 in ``timezone``
    and published through the console's forms; its console URL."""
    created = client.post(
        "/app/orchestrate/campaigns",
        data={"name": name, "channel": "email", "csrf_token": token},
    )
    url: str = created.headers["location"].split("?")[0]
    form = {
        "name": name,
        "segment": made["segment"]["id"],
        "template": made["template"]["id"],
        "mode": "at",
        "send_at": "2031-01-15T08:30",
        "timezone": timezone,
        "csrf_token": token,
    }
    saved = client.post(url, data=form)
    assert saved.status_code == 303, saved.text
    assert client.post(url + "/publish", data={"csrf_token": token}).status_code == 303
    return url


def test_set_up_preflight_publish_and_send(
    page: Page, console: Console, mailbox: Mailbox, made: dict[str, Any]
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/campaigns")
    assert_accessible(page)
    page.get_by_label("Campaign name").fill("Spring sale")
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"/app/orchestrate/campaigns/[0-9a-f-]{36}\?done=created$"))
    expect(page.locator("#campaign-status")).to_have_text("draft")

    # Saving without a template: the checklist says what fails and publishing is refused.
    page.get_by_label("Everyone at example.com", exact=True).check()
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.get_by_role("status").first).to_contain_text("preflight run")
    expect(page.locator("#preflight-status")).to_have_text("failed")
    expect(page.locator("#preflight-checks")).to_contain_text("fail")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".error-summary")).to_contain_text("Preflight failed")
    expect(page.locator("#campaign-status")).to_have_text("draft")

    # A time in the campaign's zone is shown in UTC and in that zone.
    page.get_by_label("Template").select_option(label="Spring (published)")
    page.get_by_label("Send at a time").check()
    page.get_by_label("Send at (campaign time zone)").fill("2030-07-01T09:00")
    page.get_by_label("Time zone", exact=True).fill("Europe/Paris")
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.locator("#schedule-times")).to_contain_text("1 Jul 2030, 07:00 UTC")
    expect(page.locator("#schedule-times")).to_contain_text("2030-07-01 09:00 Europe/Paris")
    checks = page.locator("#preflight-checks li")
    expect(checks.first).to_be_visible()
    assert checks.count() >= 4
    expect(page.locator("#preflight-checks")).to_contain_text("pass")
    expect(page.locator("#preflight-checks")).not_to_contain_text("fail")
    shoot(page, "orchestrate-campaign-preflight")
    assert_accessible(page)

    # Back to "send now", publish and send to the SMTP sink.
    page.get_by_label("Send when I press Send now").check()
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.locator("#schedule-times")).to_have_count(0)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#campaign-status")).to_have_text("published")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("status").first).to_contain_text("Send queued")
    expect(page.locator("#funnel-sent .funnel-count")).to_have_text("2", timeout=30_000)
    expect(page.locator("#funnel-failed .funnel-count")).to_have_text("1")
    expect(page.locator("#execution-state")).to_have_text("completed")
    failed = page.locator("#failed-recipients tbody tr")
    expect(failed).to_have_count(1)
    expect(failed.first).to_contain_text("b***@example.com")
    # throughput beside the funnel: the 2 messages sent over the finished run
    expect(page.locator("#throughput-sent")).to_contain_text(re.compile(r"^2 in \d+(\.\d)? s$"))
    expect(page.locator("#throughput-average")).to_have_text(re.compile(r"^\d+\.\d messages/s$"))
    expect(page.locator("#throughput-current")).to_have_count(0)  # not running any more
    bars = page.locator("#throughput rect.throughput-bar")
    assert 1 <= bars.count() <= 30
    assert any(float(bars.nth(i).get_attribute("height") or 0) > 0 for i in range(bars.count()))
    assert_fits_phone(page)
    shoot(page, "orchestrate-campaign-execution")
    assert_accessible(page)
    assert sorted(r.rcpt for r in mailbox.received) == ["ann@example.com", "cy@example.com"]

    # Sent once, "Send now" would send to the whole audience again: the button says so and
    # asks for a tick first; a post without it (a second press, a stale tab) sends nothing.
    campaign_url = page.url.split("?")[0]
    page.goto(campaign_url)
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)
    # the box is required in the page; without it (a script-less client) the server refuses
    page.evaluate("document.getElementById('field-again').removeAttribute('required')")
    page.get_by_role("button", name="Send again").click()
    expect(page.locator("#error-again")).to_contain_text(
        'tick "Send to the whole audience again" to send it again'
    )
    assert len(mailbox.received) == 2
    page.get_by_label(
        re.compile(r"^Send to the whole audience again \(its runs have sent 2 ")
    ).check()
    page.get_by_role("button", name="Send again").click()
    expect(page.get_by_role("status").first).to_contain_text("Send queued")
    expect(page.locator("#execution-state")).to_have_text("completed", timeout=30_000)
    assert len(mailbox.received) == 4

    page.goto("/app/orchestrate/campaigns")
    row = page.locator("#campaigns-table tbody tr", has_text="Spring sale")
    expect(row).to_contain_text("published")
    expect(row).to_contain_text("completed")
    assert made["segment"]["id"]


def test_build_an_audience_from_several_rules_with_its_live_reach(
    page: Page, console: Console, made: dict[str, Any]
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/audiences")
    # the empty builder says what is missing instead of a count
    expect(page.locator("#reach-problem")).to_contain_text("Rule 1: enter the attribute key")
    assert_accessible(page)
    page.get_by_label("Segment name").fill("Pro plan or Bo")
    page.get_by_label("Attribute key of rule 1").fill("plan")
    page.get_by_label("Operator of rule 1").select_option("equals")
    page.get_by_label("Value of rule 1").fill("pro")
    # live reach of the unsaved rule: ann and cy, both with an email, cy with a phone
    expect(page.locator("#reach-matched")).to_have_text("2")
    expect(page.locator("#reach-live-email")).to_have_text("2")
    expect(page.locator("#reach-live-sms")).to_have_text("1")
    expect(page.locator("#reach-live-direct_mail")).to_have_text("0")

    page.get_by_role("button", name="Add a rule").click()
    expect(page.locator("#rule-list > li")).to_have_count(2)
    page.get_by_label("Field of rule 2").select_option("firstName")
    page.get_by_label("Value of rule 2").fill("Bo")
    expect(page.locator("#reach-matched")).to_have_text("0")  # plan pro AND named Bo
    page.get_by_label("Any rule (OR)").check()
    expect(page.locator("#reach-matched")).to_have_text("3")
    page.get_by_role("button", name="Add a rule").click()
    expect(page.locator("#rule-list > li")).to_have_count(3)
    expect(page.get_by_label("Value of rule 2")).to_have_value("Bo")  # kept across the swap
    page.get_by_role("button", name="Remove rule 3").click()
    expect(page.locator("#rule-list > li")).to_have_count(2)
    expect(page.locator("#reach-matched")).to_have_text("3")
    # Bo's address may be suppressed by now (the send test's hard bounce): the saved
    # segment's reach per channel is the one shown before saving
    live = {c: page.locator(f"#reach-live-{c}").inner_text() for c in ("email", "sms")}
    shoot(page, "orchestrate-audience-builder")
    assert_accessible(page)
    assert_fits_phone(page)

    page.get_by_role("button", name="Create segment").last.click()
    row = page.locator("#audiences-table tbody tr", has_text="Pro plan or Bo")
    expect(row.locator(".reach-count")).to_have_text("3", timeout=20_000)
    expect(row.locator(".reach-email")).to_have_text(live["email"])
    expect(row.locator(".reach-sms")).to_have_text(live["sms"])
    expect(row).to_contain_text('attributes.plan equals "pro" OR firstName equals "Bo"')
    shoot(page, "orchestrate-audiences")
    assert_accessible(page)

    # A rule the service refuses is a message on the form, not an error page.
    page.get_by_label("Segment name").fill("Bad")
    page.get_by_label("Attribute key of rule 1").fill("bad key!")
    page.get_by_label("Value of rule 1").fill("x")
    expect(page.locator("#reach-problem")).to_contain_text("rule 1")
    page.get_by_role("button", name="Create segment").last.click()
    expect(page.locator(".error-summary")).to_contain_text("rule 1 (field)")
    expect(page.get_by_label("Attribute key of rule 1")).to_have_value("bad key!")
    expect(page.locator("#audiences-table tbody tr", has_text="Bad")).to_have_count(0)


def test_the_audience_builder_without_javascript(console: Console, made: dict[str, Any]) -> None:
    rule = {"rule-field": "attribute", "rule-attribute": "plan", "rule-op": "in"}
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        form = {
            "csrf_token": token,
            "name": "Plans",
            "match": "all",
            **rule,
            "rule-value": "pro, 1",
        }
        added = client.post("/app/orchestrate/audiences", data={**form, "action": "add"})
        assert added.status_code == 200
        assert 'id="rule-2"' in added.text and 'value="pro, 1"' in added.text
        counted = client.post("/app/orchestrate/audiences", data={**form, "action": "count"})
        assert counted.status_code == 200
        assert '<strong id="reach-matched">2</strong>' in counted.text
        saved = client.post("/app/orchestrate/audiences", data={**form, "action": "save"})
        assert saved.status_code == 303
        listing = client.get("/app/orchestrate/audiences").text
        assert 'attributes.plan in ["pro", 1]' in listing.replace("&#34;", '"')
        empty = client.post("/app/orchestrate/audiences", data={**form, "rule-value": ""})
        assert empty.status_code == 422 and "Rule 1: enter a value" in empty.text
        # a row number written in other digits ('²' passes str.isdigit) removes nothing
        two_rules = {**form, "rule-field": ["attribute"] * 2, "rule-attribute": ["plan"] * 2}
        two_rules |= {"rule-op": ["in"] * 2, "rule-value": ["pro", "free"]}
        kept = client.post("/app/orchestrate/audiences", data={**two_rules, "action": "remove-²"})
        assert kept.status_code == 200 and 'id="rule-2"' in kept.text
        removed = client.post(
            "/app/orchestrate/audiences", data={**two_rules, "action": "remove-1"}
        )
        assert removed.status_code == 200 and 'id="rule-2"' not in removed.text


def test_edit_a_drafts_name_channel_type_and_exclusions(
    page: Page, console: Console, made: dict[str, Any]
) -> None:
    with console.messaging_api() as api:
        pro = api.post(
            "/segments",
            json={
                "name": "Pro only",
                "rules": {"field": "attributes.plan", "op": "equals", "value": "pro"},
            },
        )
        assert pro.status_code == 201, pro.text
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/campaigns")
    page.get_by_label("Campaign name").fill("Autumn")
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"\?done=created$"))
    campaign_id = page.url.split("/")[-1].split("?")[0]

    page.get_by_label("Campaign name").fill("Autumn sale")
    page.get_by_label("Everyone at example.com", exact=True).check()
    page.get_by_label("Exclude Pro only").check()
    page.get_by_label("Template").select_option(label="Spring (published)")
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.get_by_role("status").first).to_contain_text("Campaign saved")
    expect(page.get_by_role("heading", level=1)).to_have_text("Autumn sale")
    expect(page.get_by_label("Campaign name")).to_have_value("Autumn sale")
    expect(page.get_by_label("Exclude Pro only")).to_be_checked()
    shoot(page, "orchestrate-campaign-details")
    assert_accessible(page)
    assert_fits_phone(page)
    with console.messaging_api() as api:
        stored = api.get(f"/campaigns/{campaign_id}").json()["data"]
    assert stored["name"] == "Autumn sale"
    assert stored["audience"]["included"] == [made["segment"]["id"]]
    assert stored["audience"]["excluded"] == [pro.json()["data"]["id"]]
    assert stored["templateId"] == made["template"]["id"]

    # A new channel clears the template (the list showed the old channel's templates).
    page.get_by_label("Channel").select_option("sms")
    page.get_by_label("Campaign type").select_option("triggered")
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.get_by_role("status").first).to_contain_text("choose a template of that channel")
    expect(page.get_by_label("Channel")).to_have_value("sms")
    expect(page.get_by_label("Campaign type")).to_have_value("triggered")
    expect(page.get_by_label("Template")).to_have_value("")
    with console.messaging_api() as api:
        stored = api.get(f"/campaigns/{campaign_id}").json()["data"]
    assert (stored["channel"], stored["campaignType"], stored["templateId"]) == (
        "sms",
        "triggered",
        None,
    )

    page.get_by_label("Campaign name").fill("   ")
    page.get_by_role("button", name="Save and run preflight").click()
    expect(page.locator(".error-summary")).to_contain_text("name")
    expect(page.get_by_role("heading", level=1)).to_have_text("Autumn sale")

    # A published campaign's details cannot change (one made here: the tests of this module
    # may run on different workers, so none relies on another's campaigns).
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        _scheduled_and_published(client, token, made, "Published one", "UTC")
    page.goto("/app/orchestrate/campaigns")
    page.get_by_role("link", name="Published one").click()
    expect(page.get_by_label("Campaign name")).to_be_disabled()
    expect(page.locator("#step-details")).to_contain_text("Only a draft can be changed")


def test_a_viewer_cannot_publish(console: Console) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        created = client.post(
            "/app/orchestrate/campaigns",
            data={"name": "Viewer check", "channel": "email", "csrf_token": token},
        )
        assert created.status_code == 303
        campaign_url = created.headers["location"].split("?")[0]

    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        listing = client.get("/app/orchestrate/campaigns")
        assert listing.status_code == 200 and "Viewer check" in listing.text
        assert "Create campaign" not in listing.text
        audiences = client.get("/app/orchestrate/audiences")
        assert audiences.status_code == 200 and "Create segment" not in audiences.text
        for action in ("save", "add", "count"):
            refused = client.post(
                "/app/orchestrate/audiences",
                data={
                    "name": "X",
                    "rule-field": "email",
                    "rule-op": "exists",
                    "action": action,
                    "csrf_token": token,
                },
            )
            assert refused.status_code == 403
        page = client.get(campaign_url)
        assert page.status_code == 200
        assert "Publish" not in page.text and "Save and run preflight" not in page.text
        assert '<fieldset class="card" id="step-details" disabled>' in page.text
        for action in ("/publish", "/send", "/cancel", ""):
            refused = client.post(campaign_url + action, data={"csrf_token": token})
            assert refused.status_code == 403, action
            assert "cannot manage campaigns" in refused.text
        refused = client.post(
            "/app/orchestrate/campaigns",
            data={"name": "Nope", "channel": "sms", "csrf_token": token},
        )
        assert refused.status_code == 403
        still = client.get(campaign_url)
        assert 'id="campaign-status">draft<' in still.text

    with console.http() as client:  # another account's owner
        console.http_sign_in(client, "other")
        assert client.get(campaign_url).status_code == 404
        assert client.get(campaign_url + "/execution").status_code == 404


def test_cancel_a_scheduled_send(console: Console, made: dict[str, Any]) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        url = _scheduled_and_published(client, token, made, "Later", "America/New_York")
        page = client.get(url)
        assert "15 Jan 2031, 13:30 UTC" in page.text  # 08:30 in New York (EST)
        assert 'id="execution-state">scheduled<' in page.text
        assert 'hx-trigger="every 2s"' in page.text and "Cancel the send" in page.text
        cancelled = client.post(url + "/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 303
        after = client.get(url + "/execution")
        assert 'id="execution-state">not scheduled<' in after.text
        assert "every 2s" not in after.text and "Cancel the send" not in after.text
        assert "Shown once the run starts" in after.text  # no throughput before a run
        again = client.post(url + "/cancel", data={"csrf_token": token})
        assert again.status_code == 409 and "no scheduled or running execution" in again.text
        bad = client.post(url, data={"name": "Later", "timezone": "Mars/Base", "csrf_token": token})
        assert bad.status_code in (409, 422) and "error-summary" in bad.text


@pytest.mark.parametrize(
    ("send_at", "timezone", "shown"),
    [
        # 01:30 happens twice on 2 Nov 2031 in New York: this is the second (EST)
        ("2031-11-02T06:30:00.000Z", "America/New_York", "2031-11-02T01:30"),
        ("2031-01-15T08:30:45.000Z", "UTC", "2031-01-15T08:30"),  # the field has no seconds
    ],
)
def test_saving_a_draft_keeps_a_send_time_its_field_cannot_show(
    console: Console, made: dict[str, Any], send_at: str, timezone: str, shown: str
) -> None:
    """The form re-sent the field's local minute: a second 01:30 became the first (an hour
    earlier) and seconds were cut, though the person only renamed the draft."""
    with console.messaging_api() as api:
        created = api.post(
            "/campaigns",
            json={
                "name": "Fall back",
                "channel": "email",
                "schedule": {"mode": "at", "sendAt": send_at, "timezone": timezone},
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["data"]["campaignId"]
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        url = f"/app/orchestrate/campaigns/{campaign_id}"
        assert f'name="send_at" value="{shown}"' in client.get(url).text
        form = {
            "name": "Fall back, renamed",
            "mode": "at",
            "send_at": shown,
            "timezone": timezone,
            "csrf_token": token,
        }
        assert client.post(url, data=form).status_code == 303
    with console.messaging_api() as api:
        stored = api.get(f"/campaigns/{campaign_id}").json()["data"]
    assert stored["name"] == "Fall back, renamed"
    assert stored["schedule"]["sendAt"] == send_at


def test_saving_a_draft_keeps_segments_and_a_template_beyond_the_listed_ones(
    console: Console,
) -> None:
    """The form offered the 200 newest segments and templates and posts what it offers: a
    draft using older ones lost them when saved (in another account: 200 more of each)."""
    database = Database(console.database_url)  # 400 rows: more than the API's write quota
    try:
        with database.transaction() as session:
            account_id = get_or_create_account(session=session, name=console.other_account).id
            made_ids = []
            for i in range(201):  # the first made is the oldest
                segment = segments.create_segment(
                    session=session,
                    account_id=account_id,
                    data=SegmentCreate.model_validate({"name": f"S{i}", "contactIds": []}),
                )
                template = templates.create_template(
                    session=session,
                    account_id=account_id,
                    data=TemplateCreate.model_validate(
                        {"name": f"T{i}", "channel": "email", "content": TEMPLATE}
                    ),
                )
                session.flush()
                made_ids.append((str(segment.id), str(template.id)))
    finally:
        database.dispose()
    segment_id, template_id = made_ids[0]
    with console.messaging_api(console.other_account) as api:
        created = api.post(
            "/campaigns",
            json={
                "name": "Old parts",
                "channel": "email",
                "audience": {"included": [segment_id]},
                "templateId": template_id,
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["data"]["campaignId"]
    with console.http() as client:
        token = console.http_sign_in(client, "other")
        url = f"/app/orchestrate/campaigns/{campaign_id}"
        page = client.get(url).text
        assert f'name="segment" value="{segment_id}" checked' in page
        assert f'<option value="{template_id}" selected>' in page
        form = {
            "name": "Old parts, renamed",
            "segment": segment_id,  # what the browser posts: the boxes and option shown
            "template": template_id,
            "mode": "now",
            "timezone": "UTC",
            "csrf_token": token,
        }
        assert client.post(url, data=form).status_code == 303
    with console.messaging_api(console.other_account) as api:
        stored = api.get(f"/campaigns/{campaign_id}").json()["data"]
    assert stored["audience"]["included"] == [segment_id]
    assert stored["templateId"] == template_id


def test_every_campaign_is_reached_through_the_lists_pages(console: Console) -> None:
    """The list showed the 200 newest campaigns and no way to the others; an offset of
    '²' or of 20 digits (pages of the contacts list too) answered 500."""
    database = Database(console.database_url)  # more than the API's write quota allows
    try:
        with database.transaction() as session:
            account_id = get_or_create_account(session=session, name=console.other_account).id
            for i in range(201):
                data = CampaignCreate.model_validate({"name": f"Page {i}", "channel": "sms"})
                campaigns.create_campaign(session=session, account_id=account_id, data=data)
    finally:
        database.dispose()
    with console.http() as client:
        console.http_sign_in(client, "other")
        seen: set[str] = set()
        path: str | None = "/app/orchestrate/campaigns"
        while path is not None:
            page = client.get(path)
            assert page.status_code == 200
            seen |= set(re.findall(r">(Page \d+)</a>", page.text))
            following = re.search(r'<a href="(\?offset=\d+)">Next</a>', page.text)
            path = "/app/orchestrate/campaigns" + following.group(1) if following else None
        assert seen == {f"Page {i}" for i in range(201)}
        for odd in ("%C2%B2", "99999999999999999999"):
            for listing in ("campaigns", "contacts"):
                assert client.get(f"/app/orchestrate/{listing}?offset={odd}").status_code == 200


def test_the_send_time_in_utc_reads_utc_in_any_browser_time_zone(
    browser: Browser, console: Console, made: dict[str, Any]
) -> None:
    # The line said "<time> UTC" while the script rewrote <time> into the browser's zone: in
    # New York, 07:00 UTC read "03:00 UTC".
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        url = _scheduled_and_published(client, token, made, "New York reader", "Europe/Paris")
    context = browser.new_context(
        base_url=console.base_url, timezone_id="America/New_York", locale="en-GB"
    )
    try:
        page = context.new_page()
        sign_in(page, console.email("admin"), console.password("admin"))
        page.goto(url.removeprefix(console.base_url))
        times = page.locator("#schedule-times")
        expect(times).to_contain_text("15 Jan 2031, 07:30 UTC")
        expect(times).to_contain_text("2031-01-15 08:30 Europe/Paris")
        expect(times).not_to_contain_text("02:30")
    finally:
        context.close()
