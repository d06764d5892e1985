"""Numbers typed into console forms and URLs: never a 500, and never a value no JSON number
holds stored in a rule."""

from __future__ import annotations

import re
import secrets

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from tests.console.in_process import member, sign_in
from tests.support import bearer_token

from beacon.console.web import whole_number
from beacon.core.auth import get_or_create_account
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.messaging.models import Contact, Segment

LONG = "9" * 5000  # ASCII digits that int() refuses (more than 4,300)


def test_whole_number_reads_ascii_digits_of_a_sane_length() -> None:
    assert whole_number("42") == 42
    assert whole_number("9" * 30) == int("9" * 30)
    assert [whole_number(text) for text in ("²", "١", "-1", "4.0", "9" * 31, LONG)] == [None] * 6


def test_a_very_long_number_in_a_url_or_a_form_is_never_a_500(
    client: TestClient, db: Database
) -> None:
    token = sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    for path in ("/app/understand/inventory", "/app/orchestrate/contacts"):
        assert client.get(path, params={"offset": LONG}).status_code == 200, path
    form = {
        "csrf_token": token,
        "name": "n",
        "match": "all",
        "rule-field": ["email"] * 2,
        "rule-op": ["contains"] * 2,
        "rule-value": ["a", "b"],
        "action": f"remove-{LONG}",
    }
    kept = client.post("/app/orchestrate/audiences", data=form)
    assert kept.status_code == 200 and 'id="rule-2"' in kept.text


def _save_a_score_rule(client: TestClient, db: Database, name: str, value: str) -> Response:
    """The audience builder's save of one rule: attribute ``score`` equals ``value``."""
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    form = {
        "csrf_token": token,
        "name": name,
        "match": "all",
        "rule-field": "attribute",
        "rule-attribute": "score",
        "rule-op": "equals",
        "rule-value": value,
        "action": "save",
    }
    return client.post("/app/orchestrate/audiences", data=form, follow_redirects=False)


def test_a_rule_value_over_its_length_is_refused_at_the_builder(
    client: TestClient, db: Database
) -> None:
    refused = _save_a_score_rule(client, db, "Scores long", LONG)
    assert refused.status_code == 422
    assert "at most 1000 characters" in refused.text


# The longest value a rule takes (messaging.audiences.segments.MAX_VALUE_LENGTH) as digits:
# beyond a double's range, like 1e999.
LONGEST = "9" * 1_000


@pytest.mark.parametrize("raw", ["nan", "inf", "1e999", LONGEST])
def test_a_builder_number_no_double_holds_stays_the_text_typed(
    client: TestClient, db: Database, raw: str
) -> None:
    saved = _save_a_score_rule(client, db, f"Scores {raw[:5]}", raw)
    assert saved.status_code == 303, saved.text[:300]
    bearer = {"Authorization": f"Bearer {bearer_token(client, db)}"}
    listed = client.get("/public/v1/segments", headers=bearer)
    assert listed.status_code == 200
    (segment,) = [s for s in listed.json()["data"] if s["name"] == f"Scores {raw[:5]}"]
    assert segment["rules"] == {
        "all": [{"field": "attributes.score", "op": "equals", "value": raw}]
    }


def test_a_rule_value_stored_before_the_limits_still_lists_its_audience(
    client: TestClient, db: Database
) -> None:
    # A "contains" value over 50,000 characters (stored through the API before the rules had
    # length limits) became a LIKE pattern SQLite refuses as too complex once a contact is
    # compared with it: the Audiences page answered 500.
    sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    stored = "x" * 50_001
    with db.transaction() as session:
        account = get_or_create_account(session=session, name="acme")
        session.add(
            Contact(
                account_id=account.id,
                email="ada@example.com",
                attributes={"plan": "pro " + stored},
                unsubscribe_token=secrets.token_hex(8),
            )
        )
        rules = {"all": [{"field": "attributes.plan", "op": "contains", "value": stored}]}
        session.add(Segment(account_id=account.id, name="Old long", kind="rules", rules=rules))

    page = client.get("/app/orchestrate/audiences")

    assert page.status_code == 200
    assert "Old long" in page.text
    assert stored not in page.text  # the value is shown shortened
    assert re.search(r'class="reach-email">\d+<', page.text)
