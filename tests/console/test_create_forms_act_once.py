"""Console create forms act once (``people.form_nonces``, as the API key and activation forms):
the same page's form posted again (a double click, a reload, the back button) opens what the
first post made instead of making a second one; a form with a malformed nonce makes nothing.
Members' Remove pressed twice is done, not a 404."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from tests.console.in_process import member, sign_in

from beacon.activation.models import Segment, SegmentReport
from beacon.core.db import Database
from beacon.core.jobs import COMPLETE
from beacon.core.permissions import Role
from beacon.messaging.models import Campaign, Template
from beacon.messaging.models import Segment as Audience
from beacon.people.models import Membership, User
from beacon.pixel.models import PixelCampaign
from beacon.pixel.reports.models import PixelReport


def _nonce(html: str) -> str:
    found = re.search(r'name="form_nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _count(db: Database, model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _posted_twice(
    client: TestClient, page: str, action: str, form: dict[str, Any]
) -> tuple[str, str]:
    """The locations the first and a second post of ``page``'s form were sent to."""
    posted = {**form, "form_nonce": _nonce(client.get(page).text)}
    first = client.post(action, data=posted, follow_redirects=False)
    assert first.status_code == 303, first.text[-800:]
    again = client.post(action, data=posted, follow_redirects=False)
    assert again.status_code == 303, again.text[-800:]
    return first.headers["location"], again.headers["location"]


def _stale_is_refused(client: TestClient, action: str, form: dict[str, Any]) -> None:
    """A form whose nonce is not one the page made (an older page) makes nothing."""
    stale = client.post(action, data={**form, "form_nonce": "old"}, follow_redirects=False)
    assert stale.status_code == 422 and "out of date" in stale.text


def _admin(client: TestClient, db: Database) -> str:
    return sign_in(client, member(db, "admin@acme.example.com", Role.admin))


def test_a_new_pixel_campaign_form_posted_twice_makes_one_campaign(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    form = {"csrf_token": csrf, "name": "Spring", "use_case": "campaign_reporting"}
    first, again = _posted_twice(client, "/app/pixel/campaigns/new", "/app/pixel/campaigns", form)
    assert first.endswith("/code?created=1")
    assert again == first.removesuffix("?created=1")
    assert _count(db, PixelCampaign) == 1
    _stale_is_refused(client, "/app/pixel/campaigns", form)


def test_a_new_segment_form_posted_twice_makes_one_segment(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    form = {"csrf_token": csrf, "name": "Sport", "iab_categories": "IAB17"}
    first, again = _posted_twice(
        client, "/app/activate/segments/new", "/app/activate/segments", form
    )
    assert again == first and re.fullmatch(r"/app/activate/segments/\d+", first)
    assert _count(db, Segment) == 1
    _stale_is_refused(client, "/app/activate/segments", form)


def test_a_new_segment_report_form_posted_twice_makes_one_report(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    made = client.post(
        "/app/activate/segments",
        data={"csrf_token": csrf, "name": "Sport", "iab_categories": "IAB17"},
        follow_redirects=False,
    )
    segment_id = made.headers["location"].rsplit("/", 1)[1]
    form = {
        "csrf_token": csrf,
        "segment_ids": segment_id,
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
    }
    first, again = _posted_twice(client, "/app/activate/reports/new", "/app/activate/reports", form)
    assert again == first and re.fullmatch(r"/app/activate/reports/\d+", first)
    assert _count(db, SegmentReport) == 1
    _stale_is_refused(client, "/app/activate/reports", form)


def test_a_new_pixel_report_form_posted_again_after_it_was_built_makes_no_second(
    client: TestClient, db: Database
) -> None:
    # An identical report still in flight was already the same report; once built, the form
    # posted again (the back button) queued another.
    csrf = _admin(client, db)
    made = client.post(
        "/app/pixel/campaigns",
        data={"csrf_token": csrf, "name": "Spring", "use_case": "campaign_reporting"},
        follow_redirects=False,
    )
    campaign_id = made.headers["location"].split("/")[-2]
    form = {
        "csrf_token": csrf,
        "campaign_id": campaign_id,
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
        "dimensions": ["date"],
    }
    posted = {**form, "form_nonce": _nonce(client.get("/app/pixel/reports/new").text)}
    first = client.post("/app/pixel/reports", data=posted, follow_redirects=False)
    assert first.status_code == 303, first.text[-800:]
    with db.transaction() as session:
        session.execute(update(PixelReport).values(status=COMPLETE))
    again = client.post("/app/pixel/reports", data=posted, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert _count(db, PixelReport) == 1
    stale = client.post("/app/pixel/reports", data={**form, "form_nonce": "old"})
    assert stale.status_code == 422 and "out of date" in stale.text


def test_a_new_messaging_campaign_form_posted_twice_makes_one_campaign(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    form = {"csrf_token": csrf, "name": "Spring sale", "channel": "email"}
    page = "/app/orchestrate/campaigns"
    first, again = _posted_twice(client, page, page, form)
    assert first.endswith("?done=created")
    assert again == first.removesuffix("?done=created")
    assert _count(db, Campaign) == 1
    _stale_is_refused(client, page, form)


def test_a_new_template_form_posted_twice_makes_one_template(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    form = {"csrf_token": csrf, "name": "Welcome", "channel": "email"}
    page = "/app/orchestrate/templates"
    first, again = _posted_twice(client, page, page, form)
    assert again == first
    assert _count(db, Template) == 1
    _stale_is_refused(client, page, form)


def test_a_new_audience_form_posted_twice_makes_one_segment(
    client: TestClient, db: Database
) -> None:
    csrf = _admin(client, db)
    form = {
        "csrf_token": csrf,
        "name": "Pro plan",
        "match": "all",
        "rule-field": "attribute",
        "rule-attribute": "plan",
        "rule-op": "equals",
        "rule-value": "pro",
        "action": "save",
    }
    page = "/app/orchestrate/audiences"
    first, again = _posted_twice(client, page, page, form)
    assert again == first == page
    assert _count(db, Audience) == 1
    _stale_is_refused(client, page, form)


def _user_id(db: Database, email: str) -> int:
    with db.transaction() as session:
        found = session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def test_remove_pressed_twice_is_done_and_another_accounts_member_stays_404(
    client: TestClient, db: Database
) -> None:
    # The second post of Remove (a double click, the back button) answered "Page not found"
    # though the member was removed.
    member(db, "bob@acme.example.com", Role.viewer)
    member(db, "bob@acme.example.com", Role.viewer, account="globex")
    member(db, "eve@globex.example.com", Role.viewer, account="globex")
    csrf = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    bob, eve = _user_id(db, "bob@acme.example.com"), _user_id(db, "eve@globex.example.com")
    page = client.get("/app/settings/members").text
    action = f"/app/settings/members/{bob}/remove"
    form = re.search(rf'action="{action}">(.*?)</form>', page, re.S)
    assert form is not None
    posted = {"csrf_token": csrf, "form_nonce": _nonce(form.group(1))}

    for _ in range(2):
        done = client.post(action, data=posted, follow_redirects=False)
        assert done.status_code == 303, done.text[-800:]
        assert done.headers["location"] == "/app/settings/members?done=removed"

    with db.transaction() as session:  # still in globex, whose member nobody removed
        assert session.scalar(select(func.count()).select_from(Membership)) == 3
    for user_id in (eve, 999_999):
        for nonce in (posted["form_nonce"], "n" * 43, ""):
            refused = client.post(
                f"/app/settings/members/{user_id}/remove",
                data={"csrf_token": csrf, "form_nonce": nonce},
            )
            assert refused.status_code == 404


def test_remove_from_a_second_tab_is_done_but_not_for_another_session(
    client: TestClient, db: Database
) -> None:
    # The members page open in two tabs (two forms, two nonces): Remove in the first removed
    # the member, Remove in the second answered "Page not found".
    member(db, "bob@acme.example.com", Role.viewer)
    csrf = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    bob = _user_id(db, "bob@acme.example.com")
    action = f"/app/settings/members/{bob}/remove"

    def tab() -> dict[str, str]:
        form = re.search(
            rf'action="{action}">(.*?)</form>', client.get("/app/settings/members").text, re.S
        )
        assert form is not None
        return {"csrf_token": csrf, "form_nonce": _nonce(form.group(1))}

    first, second = tab(), tab()
    assert first["form_nonce"] != second["form_nonce"]
    for posted in (first, second):
        done = client.post(action, data=posted, follow_redirects=False)
        assert done.status_code == 303, done.text[-800:]
        assert done.headers["location"] == "/app/settings/members?done=removed"
    page = client.get("/app/settings/members?done=removed")
    assert page.status_code == 200 and "bob@acme.example.com" not in page.text

    # Another admin's session did not remove bob: to it, he is any unknown member, a 404.
    other = sign_in(client, member(db, "admin2@acme.example.com", Role.admin))
    refused = client.post(action, data={"csrf_token": other, "form_nonce": "m" * 43})
    assert refused.status_code == 404
