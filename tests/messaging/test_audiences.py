"""Contacts (upsert, CSV), segment rules compiled to SQL, reach evaluation, templates, proofs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.messaging.helpers import API, make_campaign, make_template, post

from beacon.app import job_kinds
from beacon.core.config import Settings
from beacon.core.db import Database, is_postgres
from beacon.core.models import Account
from beacon.core.worker import Worker
from beacon.messaging.audiences import contacts, repository, segments
from beacon.messaging.delivery import engine
from beacon.messaging.models import Campaign, Contact

PEOPLE = [
    {
        "externalId": "a",
        "email": "Ann@Example.com",
        "firstName": "Ann",
        "attributes": {"plan": "pro", "score": 90, "vip": True, "tags": ["ev", "news"]},
    },
    {
        "externalId": "b",
        "email": "bob@example.com",
        "firstName": "Bob",
        "phone": "+442071838750",
        "attributes": {"plan": "free", "score": 40, "tags": ["news"]},
    },
    {
        "externalId": "c",
        "email": "cy@example.org",
        "attributes": {"plan": "pro", "score": "n/a"},
        "subscriptions": {"email": "unsubscribed"},
    },
    {
        "email": "dee@example.com",
        "address": {"line1": "1 Main", "city": "Boston", "postalCode": "02134", "country": "us"},
    },
]


def _upsert(client: TestClient, auth: dict[str, str], rows: list[dict[str, Any]]) -> Any:
    return post(client, "/contacts", auth, {"contacts": rows})


def test_upsert_creates_then_updates_and_merges(client: TestClient, auth: dict[str, str]) -> None:
    first = _upsert(client, auth, PEOPLE)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["created"] == 4 and first.json()["data"]["updated"] == 0
    again = _upsert(
        client,
        auth,
        [
            {"externalId": "a", "lastName": "Lee", "attributes": {"score": 95}},
            {"email": "DEE@example.com", "subscriptions": {"direct_mail": "bounced"}},
            {"externalId": "e", "email": "new@example.com"},
        ],
    )
    assert again.json()["data"]["created"] == 1 and again.json()["data"]["updated"] == 2
    listed = client.get(f"{API}/contacts?limit=10", headers=auth).json()
    assert listed["pagination"]["total"] == 5
    ann = next(c for c in listed["data"] if c["externalId"] == "a")
    assert (
        ann["email"] == "ann@example.com" and ann["firstName"] == "Ann" and ann["lastName"] == "Lee"
    )
    assert ann["attributes"]["score"] == 95 and ann["attributes"]["plan"] == "pro"
    dee = next(c for c in listed["data"] if c["email"] == "dee@example.com")
    assert dee["subscriptions"] == {
        "email": "subscribed",
        "sms": "subscribed",
        "direct_mail": "bounced",
    }
    assert dee["address"]["country"] == "US"


def test_upsert_validation(client: TestClient, auth: dict[str, str]) -> None:
    bad_phone = _upsert(client, auth, [{"email": "x@example.com", "phone": "555-1234"}])
    assert (
        bad_phone.status_code == 422 and "contacts[0].phone" in bad_phone.json()["error"]["message"]
    )
    bad_email = _upsert(client, auth, [{"email": "not-an-email"}])
    assert (
        bad_email.status_code == 422 and "contacts[0].email" in bad_email.json()["error"]["message"]
    )
    no_key = _upsert(client, auth, [{"firstName": "x"}])
    assert no_key.status_code == 422
    duplicate = _upsert(client, auth, [{"externalId": "a"}, {"externalId": "a"}])
    assert duplicate.status_code == 422 and "contacts[1]" in duplicate.json()["error"]["message"]
    too_many = _upsert(client, auth, [{"externalId": str(i)} for i in range(10_001)])
    assert too_many.status_code == 422
    _upsert(client, auth, [{"externalId": "a", "email": "a@example.com"}])
    taken = _upsert(client, auth, [{"externalId": "b", "email": "a@example.com"}])
    assert taken.status_code == 409


@pytest.mark.parametrize(
    ("country", "hint"),
    [
        ("UK", "the United Kingdom is 'GB'"),
        ("ZZ", "such as 'GB'"),
        ("G1", "such as 'GB'"),
        ("GBR", "such as 'GB'"),
        ("", "such as 'GB'"),
        # Two ASCII letters: str.upper() made "ß" 'SS' (South Sudan) and "ﬆ" 'ST', and
        # str.strip() took the no-break and em spaces around "gb".
        ("ß", "such as 'GB'"),
        ("ﬆ", "such as 'GB'"),
        ("\xa0gb\u2003", "such as 'GB'"),
    ],
)
def test_an_address_country_is_an_assigned_iso_code(
    client: TestClient, auth: dict[str, str], country: str, hint: str
) -> None:
    """Two letters were enough: "UK" and "ZZ" were stored, and a bad one was answered with the
    regular expression ("String should match pattern '^[A-Za-z]{2}$'")."""
    response = _upsert(client, auth, [{"email": "x@example.com", "address": {"country": country}}])
    assert response.status_code == 422, response.text
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": f"Invalid value for 'contacts[0].address.country': {country!r} is not an "
            f"ISO 3166-1 alpha-2 country code ({hint})",
            "details": {"field": "contacts[0].address.country"},
        },
    }
    imported = client.post(
        f"{API}/contacts/import",
        headers={**auth, "Content-Type": "text/csv"},
        content=f"email,address.country\nx@example.com,{country or 'ZZ'}\n",
    )
    assert imported.status_code == 422, imported.text
    assert imported.json()["error"]["message"] == (
        f"Invalid value for 'line 2.address.country': {country or 'ZZ'!r} is not an ISO 3166-1 "
        f"alpha-2 country code ({hint})"
    )
    assert client.get(f"{API}/contacts", headers=auth).json()["pagination"]["total"] == 0


def test_a_contact_stored_with_an_unassigned_country_still_reads_and_updates(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    stored = _upsert(client, auth, [{"externalId": "k", "address": {"country": " gb "}}])
    assert stored.status_code == 200, stored.text
    with db.transaction() as session:
        contact = session.scalars(select(Contact)).one()
        contact.address = {**(contact.address or {}), "country": "UK"}  # stored before the check
    listed = client.get(f"{API}/contacts", headers=auth)
    assert listed.status_code == 200 and listed.json()["data"][0]["address"]["country"] == "UK"
    renamed = _upsert(client, auth, [{"externalId": "k", "lastName": "Lee"}])
    assert renamed.status_code == 200 and renamed.json()["data"]["updated"] == 1
    kept = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert kept["lastName"] == "Lee" and kept["address"]["country"] == "UK"
    # An address sent is validated and replaces the stored one whole: the city alone is kept,
    # the stored 'UK' with the rest of the old address is gone (nothing merges it back).
    moved = _upsert(client, auth, [{"externalId": "k", "address": {"city": "Leeds"}}])
    assert moved.status_code == 200 and moved.json()["data"]["updated"] == 1
    assert client.get(f"{API}/contacts", headers=auth).json()["data"][0]["address"] == {
        "city": "Leeds"
    }
    resent = _upsert(client, auth, [{"externalId": "k", "address": {"country": "UK"}}])
    assert resent.status_code == 422


def test_ten_thousand_contacts_in_one_request(client: TestClient, auth: dict[str, str]) -> None:
    rows = [{"externalId": f"x{i}", "attributes": {"n": i}} for i in range(10_000)]
    assert _upsert(client, auth, rows).json()["data"]["created"] == 10_000
    assert _upsert(client, auth, rows).json()["data"]["updated"] == 10_000


def test_an_email_of_another_contact_is_refused_by_name(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Giving a contact (matched by externalId) the email of another stored contact was a
    409 asking to retry, which never succeeds: it says whose email it is, and changes nothing."""
    stored = [
        {"externalId": "A", "email": "a@example.com"},
        {"externalId": "B", "email": "b@example.com"},
        {"email": "c@example.com"},
    ]
    ids = post(client, "/contacts", auth, {"contacts": stored}).json()["data"]["ids"]
    for email, owner in (("B@example.com", "with externalId B"), ("c@example.com", ids[2])):
        body = {"contacts": [{"externalId": "A", "email": email, "firstName": "Changed"}]}
        refused = post(client, "/contacts", auth, body)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "CONFLICT"
        assert error["message"] == f"Email {email.lower()} belongs to the contact {owner}"
        assert "retry" not in error["message"]
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    assert sorted((c["externalId"] or "", c["email"], c["firstName"]) for c in listed) == [
        ("", "c@example.com", None),
        ("A", "a@example.com", None),
        ("B", "b@example.com", None),
    ]
    # an email an earlier entry of the request frees is free
    moves = [
        {"externalId": "B", "email": "b2@example.com"},
        {"externalId": "A", "email": "b@example.com"},
    ]
    assert post(client, "/contacts", auth, {"contacts": moves}).status_code == 200


def test_one_contact_twice_in_a_request_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Two entries that are one contact (by email, or each by another key) answered 200 with
    'updated: 1' and the contact's id twice, and only the second entry's changes were kept;
    two new entries sharing an email were a 409 asking to retry, which never succeeds."""
    existing = {"contacts": [{"externalId": "X", "email": "x@example.com", "firstName": "X"}]}
    assert post(client, "/contacts", auth, existing).status_code == 200
    requests = [
        [{"email": "x@example.com", "firstName": "One"}, {"externalId": "X", "lastName": "Two"}],
        [
            {"email": "x@example.com", "firstName": "One"},
            {"externalId": "Y", "email": "x@example.com"},
        ],
        [{"externalId": "N1", "email": "n@example.com"}, {"email": "N@example.com"}],
    ]
    for entries in requests:
        refused = post(client, "/contacts", auth, {"contacts": entries})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"] == {"field": "contacts[1]"}
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    assert [(c["externalId"], c["firstName"], c["lastName"]) for c in listed] == [("X", "X", None)]
    good, rejects = contacts.check_csv_rows(
        "externalId,email\nN1,n@example.com\nN2,n@example.com\n"
    )  # the console's import
    assert [c.external_id for c in good] == ["N1"]
    assert [(r.line, r.message) for r in rejects] == [(3, "same email as line 2")]


def test_csv_errors_name_the_line_of_the_file(client: TestClient, auth: dict[str, str]) -> None:
    """The API's import named a row by its count (a blank line and a quoted value over two
    lines put the bad row of line 6 at 'line 4'); the console's import reads the file's line."""
    csv_text = 'email,firstName\n\nann@example.com,"Ann\nLee"\nbo@example.com,Bo\nbad,Cy\n'
    refused = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=csv_text
    )
    assert refused.status_code == 422, refused.text
    assert "'line 6.email'" in refused.json()["error"]["message"]
    _, rejects = contacts.check_csv_rows(csv_text)  # the console's import
    assert [r.line for r in rejects] == [6]


def test_csv_rows_wider_than_the_header_are_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A comma left unquoted in a value shifts the row: its cells were silently cut to the
    header's width and stored in the wrong columns ('Lee' as firstName, ' Ann' as lastName)."""
    csv_text = "email,firstName,lastName\nann@example.com,Lee, Ann,Smith\nbo@example.com,Bo,,\n"
    refused = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=csv_text
    )
    assert refused.status_code == 422, refused.text
    assert "'line 2'" in refused.json()["error"]["message"]
    assert client.get(f"{API}/contacts", headers=auth).json()["pagination"]["total"] == 0
    good, rejects = contacts.check_csv_rows(csv_text)  # the console's import
    assert [c.email for c in good] == ["bo@example.com"]
    assert [(r.line, "more filled cell" in r.message) for r in rejects] == [(2, True)]
    # empty trailing cells, as spreadsheets pad rows, are fine
    padded = "email,firstName\ncy@example.com,Cy,,\n"
    accepted = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=padded
    )
    assert accepted.status_code == 200, accepted.text


def test_csv_import(client: TestClient, auth: dict[str, str]) -> None:
    csv_text = (
        "externalId,email,firstName,address.city,subscriptions.sms,attributes.plan\n"
        "k1,k1@example.com,Kim,Paris,unsubscribed,pro\n"
        "k2,k2@example.com,,,,free\n"
    )
    raw = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=csv_text
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["data"]["created"] == 2
    multipart = client.post(
        f"{API}/contacts/import",
        headers=auth,
        files={"file": ("c.csv", csv_text.encode(), "text/csv")},
    )
    assert multipart.json()["data"]["updated"] == 2
    # the CSV as a plain form field (no filename), as `curl -F 'file=<c.csv'` sends it
    field = client.post(f"{API}/contacts/import", headers=auth, files={"file": (None, csv_text)})
    assert field.status_code == 200, field.text
    assert field.json()["data"]["updated"] == 2
    missing = client.post(f"{API}/contacts/import", headers=auth, files={"other": (None, csv_text)})
    assert missing.status_code == 400 and "'file'" in missing.json()["error"]["message"]
    bad = client.post(
        f"{API}/contacts/import",
        headers={**auth, "Content-Type": "text/csv"},
        content="externalId,email\nk3,broken\n",
    )
    assert bad.status_code == 422 and "line 2.email" in bad.json()["error"]["message"]
    unknown = client.post(
        f"{API}/contacts/import",
        headers={**auth, "Content-Type": "text/csv"},
        content="color\nred\n",
    )
    assert unknown.status_code == 400
    twice = client.post(
        f"{API}/contacts/import",
        headers={**auth, "Content-Type": "text/csv"},
        content="email,email\na@example.com,b@example.com\n",
    )
    assert twice.status_code == 400, twice.text
    assert twice.json()["error"]["message"] == "The CSV names column 'email' more than once"


LONG_NAME = "a'" + "b" * 3000  # an apostrophe, then more than a message quotes
LONG_QUOTED = "\"a'" + "b" * 98 + '…" (3002 characters)'


def test_a_long_csv_column_name_is_quoted_cut(client: TestClient, auth: dict[str, str]) -> None:
    def imported(header: str) -> str:
        response = client.post(
            f"{API}/contacts/import",
            headers={**auth, "Content-Type": "text/csv"},
            content=f"{header}\nx@example.com,1,2\n",
        )
        assert response.status_code == 400, response.text
        return str(response.json()["error"]["message"])

    assert imported(f"email,{LONG_NAME},x") == f"Unknown CSV column {LONG_QUOTED}"
    assert imported(f"email,{LONG_NAME},{LONG_NAME}") == (
        f"The CSV names column {LONG_QUOTED} more than once"
    )


def test_a_rules_unknown_keys_are_each_quoted_and_cut(
    client: TestClient, auth: dict[str, str]
) -> None:
    rule = {"field": "email", "op": "equals", "value": "x", LONG_NAME: 1, "z": 2}
    response = _segment(client, auth, rule)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == (
        f"Invalid value for 'rules': unknown key(s) {LONG_QUOTED}, 'z'"
    )


def _segment(client: TestClient, auth: dict[str, str], rules: dict[str, Any]) -> Any:
    return post(client, "/segments", auth, {"name": "s", "rules": rules})


def _members(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    settings: Settings,
    rules: dict[str, Any],
) -> int | None:
    response = _segment(client, auth, rules)
    assert response.status_code == 201, response.text
    Worker(db=db, kinds=job_kinds(settings)).run_until_idle()
    got = client.get(f"{API}/segments/{response.json()['data']['id']}", headers=auth).json()["data"]
    assert got["reach"]["status"] == "ok" and got["reach"]["isStale"] is False
    count: int | None = got["reach"]["evaluatedCount"]
    return count


def test_segment_rules_compile_on_this_database(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings
) -> None:
    _upsert(client, auth, PEOPLE)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"field": "attributes.plan", "op": "equals", "value": "pro"}, 2),
        ({"field": "attributes.score", "op": "gt", "value": 50}, 1),
        ({"field": "attributes.score", "op": "lte", "value": 90}, 2),
        ({"field": "attributes.score", "op": "equals", "value": 40}, 1),
        ({"field": "attributes.vip", "op": "equals", "value": True}, 1),
        ({"field": "attributes.tags", "op": "contains", "value": "news"}, 2),
        ({"field": "attributes.plan", "op": "contains", "value": "RO"}, 2),
        ({"field": "attributes.plan", "op": "in", "value": ["free", "gold"]}, 1),
        ({"field": "attributes.score", "op": "in", "value": [40, 90.0, "n/a"]}, 3),
        ({"field": "attributes.score", "op": "in", "value": ["40", 41]}, 0),  # typed
        ({"field": "attributes.vip", "op": "in", "value": [True, "yes"]}, 1),
        ({"field": "attributes.tags", "op": "exists"}, 2),
        ({"field": "attributes.tags", "op": "exists", "value": False}, 2),
        ({"field": "email", "op": "contains", "value": "example.com"}, 3),
        ({"field": "email", "op": "equals", "value": "ANN@example.com"}, 1),
        ({"field": "phone", "op": "exists"}, 1),
        ({"field": "address.city", "op": "equals", "value": "Boston"}, 1),
        ({"field": "subscriptions.email", "op": "equals", "value": "unsubscribed"}, 1),
        ({"field": "externalId", "op": "in", "value": ["a", "b", "zz"]}, 2),
        (
            {
                "all": [
                    {"field": "attributes.plan", "op": "equals", "value": "pro"},
                    {
                        "any": [
                            {"field": "attributes.vip", "op": "exists"},
                            {"field": "email", "op": "contains", "value": ".org"},
                        ]
                    },
                ]
            },
            2,
        ),
        (
            {
                "any": [
                    {"field": "attributes.plan", "op": "equals", "value": "free"},
                    {"field": "address.country", "op": "equals", "value": "US"},
                ]
            },
            2,
        ),
    ]
    for rules, expected in cases:
        assert _members(client, auth, db, settings, rules) == expected, rules


def test_segment_validation_static_lists_and_staleness(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings
) -> None:
    for rules, field in (
        ({"field": "shoe", "op": "equals", "value": 1}, "rules.field"),
        ({"field": "email", "op": "like", "value": "x"}, "rules.op"),
        ({"all": []}, "rules.all"),
        ({"all": [{"field": "email", "op": "in", "value": "x"}]}, "rules.all[0].value"),
    ):
        response = _segment(client, auth, rules)
        assert response.status_code == 422 and f"'{field}'" in response.json()["error"]["message"]
    ids = _upsert(client, auth, PEOPLE).json()["data"]["ids"]
    static = post(client, "/segments", auth, {"name": "list", "contactIds": ids[:2]})
    assert static.status_code == 201
    assert static.json()["data"]["type"] == "static" and static.json()["data"]["memberCount"] == 2
    assert static.json()["data"]["reach"]["status"] == "pending"
    unknown = post(
        client,
        "/segments",
        auth,
        {"name": "x", "contactIds": ["4130bada-9264-465f-bc0c-a26bebcfcc81"]},
    )
    assert unknown.status_code == 422
    Worker(db=db, kinds=job_kinds(settings)).run_until_idle()
    url = f"{API}/segments/{static.json()['data']['id']}"
    assert client.get(url, headers=auth).json()["data"]["reach"]["isStale"] is False
    _upsert(client, auth, [{"externalId": "a", "firstName": "Changed"}])
    assert client.get(url, headers=auth).json()["data"]["reach"]["isStale"] is True
    assert client.get(f"{API}/segments", headers=auth).json()["pagination"]["total"] == 1


def test_templates_validate_render_and_publish(client: TestClient, auth: dict[str, str]) -> None:
    syntax = post(
        client,
        "/templates",
        auth,
        {"name": "t", "channel": "email", "content": {"html": "{% if %}"}},
    )
    assert syntax.status_code == 422 and syntax.json()["error"]["code"] == "TEMPLATE_SYNTAX_ERROR"
    unpublishable = post(
        client,
        "/templates",
        auth,
        {"name": "t", "channel": "email", "status": "published", "content": {"html": "x"}},
    )
    assert (
        unpublishable.status_code == 422
        and "content.subject" in unpublishable.json()["error"]["message"]
    )
    bad_sender = post(
        client,
        "/templates",
        auth,
        {"name": "t", "channel": "email", "content": {"fromAddress": "nope"}},
    )
    assert (
        bad_sender.status_code == 422
        and "content.fromAddress" in bad_sender.json()["error"]["message"]
    )
    template_id = make_template(client, auth)
    got = client.get(f"{API}/templates/{template_id}", headers=auth).json()["data"]
    assert got["variables"] == ["contact", "unsubscribe_url"] and got["status"] == "published"
    ids = _upsert(
        client, auth, [{"externalId": "a", "email": "a@example.com", "firstName": "<Ann>"}]
    ).json()["data"]["ids"]
    proof = post(client, f"/templates/{template_id}/render", auth, {"contactId": ids[0]})
    assert proof.status_code == 200, proof.text
    rendered = proof.json()["data"]["rendered"]
    assert rendered["subject"] == "Hello <Ann>"
    assert "Hi &lt;Ann&gt;" in rendered["html"]  # HTML parts are autoescaped
    assert "/u/" in rendered["html"]  # the engine's unsubscribe link, GET /u/{token}
    patched = client.patch(
        f"{API}/templates/{template_id}",
        headers=auth,
        json={"content": {"text": "{{ contact.attributes.missing }}"}},
    )
    assert patched.status_code == 200
    failing = post(
        client,
        f"/templates/{template_id}/render",
        auth,
        {"contact": {"email": "z@example.com", "firstName": "Zoe"}},
    )
    assert (
        failing.status_code == 422 and failing.json()["error"]["code"] == "TEMPLATE_RENDER_FAILED"
    )
    assert failing.json()["error"]["details"]["field"] == "content.text"
    sandboxed = client.patch(
        f"{API}/templates/{template_id}",
        headers=auth,
        json={"content": {"text": "{{ contact.__class__.__mro__ }}"}},
    )
    assert sandboxed.status_code == 200
    escaped = post(client, f"/templates/{template_id}/render", auth, {"contactId": ids[0]})
    assert escaped.status_code == 422
    assert (
        client.get(f"{API}/templates?channel=email", headers=auth).json()["pagination"]["total"]
        == 1
    )


def test_unsubscribe_link(client: TestClient, auth: dict[str, str], db: Database) -> None:
    ids = _upsert(client, auth, [{"email": "u@example.com", "firstName": "Ulla"}]).json()["data"][
        "ids"
    ]
    with db.transaction() as session:
        token = session.get(Contact, uuid.UUID(ids[0])).unsubscribe_token  # type: ignore[union-attr]
    page = client.get(f"/u/{token}")  # the engine's link: GET /u/{token}, an HTML page
    assert page.status_code == 200 and "Stop receiving these emails" in page.text
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert contact["subscriptions"]["email"] == "subscribed"  # a GET changes nothing
    page = client.post(f"/u/{token}")  # its button
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert contact["subscriptions"]["email"] == "unsubscribed"
    assert client.get(f"{API}/unsubscribe/nope").status_code == 404
    assert client.post(f"{API}/unsubscribe/nope").status_code == 404


def test_the_json_unsubscribe_acts_on_post_only(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    """The JSON form follows RFC 8058's rule as /u/ does: a link scanner's GET changes nothing."""
    ids = _upsert(client, auth, [{"email": "j@example.com"}]).json()["data"]["ids"]
    with db.transaction() as session:
        token = session.get(Contact, uuid.UUID(ids[0])).unsubscribe_token  # type: ignore[union-attr]
    status = client.get(f"{API}/unsubscribe/{token}")
    assert status.status_code == 200 and status.json() == {
        "success": True,
        "data": {"unsubscribed": False},
    }
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert contact["subscriptions"]["email"] == "subscribed"
    done = client.post(f"{API}/unsubscribe/{token}")
    assert done.status_code == 200 and done.json() == {
        "success": True,
        "data": {"unsubscribed": True},
    }
    assert client.get(f"{API}/unsubscribe/{token}").json() == {
        "success": True,
        "data": {"unsubscribed": True},
    }
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert contact["subscriptions"]["email"] == "unsubscribed"


def test_a_proof_for_a_stored_contact_carries_no_working_unsubscribe_link(
    client: TestClient, auth: dict[str, str], token_for: Callable[..., dict[str, str]], db: Database
) -> None:
    """A read-only caller rendering a stored contact gets the placeholder link, which
    unsubscribes nobody; the contact's own token appears in no proof."""
    template_id = make_template(client, auth)
    ids = _upsert(client, auth, [{"email": "p@example.com", "firstName": "Pia"}]).json()["data"][
        "ids"
    ]
    reader = token_for(scopes="templates:read audiences:read")
    proof = post(client, f"/templates/{template_id}/render", reader, {"contactId": ids[0]})
    assert proof.status_code == 200, proof.text
    html = proof.json()["data"]["rendered"]["html"]
    link = html.split("href='")[1].split("'")[0]
    assert link.endswith("/u/preview-placeholder"), link
    with db.transaction() as session:
        token = session.get(Contact, uuid.UUID(ids[0])).unsubscribe_token  # type: ignore[union-attr]
    assert token not in proof.text
    for follow in (client.get, client.post):
        page = follow(link[link.index("/u/") :])
        assert page.status_code == 404 and "Preview link" in page.text
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    assert contact["subscriptions"]["email"] == "subscribed"


def test_an_import_without_content_type_says_the_header_is_missing(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(f"{API}/contacts/import", content=b"email\n", headers=auth)
    assert response.status_code == 415
    assert response.json()["error"]["message"] == (
        "No Content-Type header: send text/csv or multipart/form-data"
    )


def test_an_address_full_of_unsafe_characters_gets_a_bounded_message(
    client: TestClient, auth: dict[str, str]
) -> None:
    """email_validator names each unsafe character: 200 of them made a 965-character reason."""
    spaces = "".join(chr(0x2000 + i) for i in range(200))
    response = _upsert(client, auth, [{"email": f"a@{spaces}.com"}])
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "unsafe characters: EN QUAD" in message
    assert "characters)" in message and len(message) < 450, message


# (externalId, the CSV cell of its score): only the plain decimals are numbers to a number rule
CSV_SCORES = [
    ("int", "42"),
    ("neg", "-3.5"),
    ("zeros", "0042.50"),
    ("small", "7"),
    ("suffix", "42abc"),
    ("exp", "1e999"),
    ("exp2", "4.2e1"),
    ("spaced", " 42"),
    ("plus", "+42"),
    ("dot", "42."),
    ("lead", ".5"),
    ("twodots", "4.2.1"),
    ("minus", "-"),
    ("inner", "4-2"),
    ("nan", "NaN"),
    ("inf", "Infinity"),
    ("huge", "9" * 400),  # no double holds it: PostgreSQL's cast would raise
    ("word", "n/a"),
]


def test_a_number_rule_matches_csv_imported_plain_decimals(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings
) -> None:
    """A CSV import stores every attribute as a string: a number rule reached none of them
    ("42" was neither `gt 10` nor `equals 42`). Now a plain decimal string compares as its
    number, on the reach job, the console's live reach and a run's snapshot alike; any other
    string is never matched by a number rule, and never makes the query fail."""
    csv_text = "externalId,email,attributes.score\n" + "".join(
        f'{name},{name}@example.com,"{score}"\n' for name, score in CSV_SCORES
    )
    imported = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=csv_text
    )
    assert imported.status_code == 200, imported.text
    typed = [
        {"externalId": "number", "email": "number@example.com", "attributes": {"score": 42}},
        {"externalId": "empty", "email": "empty@example.com", "attributes": {"score": ""}},
    ]
    assert _upsert(client, auth, typed).status_code == 200
    score = "attributes.score"
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"field": score, "op": "gt", "value": 10}, {"int", "zeros", "number"}),
        ({"field": score, "op": "equals", "value": 42}, {"int", "number"}),
        ({"field": score, "op": "equals", "value": 42.5}, {"zeros"}),
        ({"field": score, "op": "lt", "value": 0}, {"neg"}),
        ({"field": score, "op": "lte", "value": 7}, {"neg", "small"}),
        (
            {"field": score, "op": "gte", "value": -1e308},
            {"int", "neg", "zeros", "small", "number"},
        ),
        ({"field": score, "op": "in", "value": [7, -3.5]}, {"neg", "small"}),
        # a string rule compares strings, as before: "42" only, never the number 42
        ({"field": score, "op": "equals", "value": "42"}, {"int"}),
        ({"field": score, "op": "in", "value": ["-3.5", "n/a", 1]}, {"neg", "word"}),
    ]
    with db.transaction() as session:
        account_id = int(session.scalars(select(Account.id).where(Account.name == "acme")).one())
    for rules, expected in cases:
        with db.transaction() as session:
            reached = session.scalars(
                select(Contact.external_id).where(
                    repository.compile_rules(rules, postgres=is_postgres(session)),
                    Contact.account_id == account_id,
                )
            )
            assert set(reached) == expected, rules
            live, _ = segments.reach_of_rules(session=session, account_id=account_id, rules=rules)
            assert live == len(expected), rules  # the console's audience builder
        saved = _segment(client, auth, rules)
        assert saved.status_code == 201, saved.text
        Worker(db=db, kinds=job_kinds(settings)).run_until_idle()
        segment_id = saved.json()["data"]["id"]
        got = client.get(f"{API}/segments/{segment_id}", headers=auth).json()["data"]
        assert got["reach"]["evaluatedCount"] == len(expected), rules  # the reach job
        campaign = make_campaign(client, auth, segment_id=segment_id)
        with db.transaction() as session:
            stored = session.get(Campaign, uuid.UUID(campaign["campaignId"]))
            assert stored is not None
            snapshot = engine.snapshot_condition(session, stored)
            assert repository.count_contacts(session, snapshot) == len(expected), rules  # a run


def test_a_number_no_double_holds_fails_no_rule(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    """jsonb keeps any number: a 401-digit score made PostgreSQL's cast to a double raise, so
    every number rule on the attribute failed (reach, preview, a run's snapshot). It now
    matches no number rule, on either backend, and the others are reached as before."""
    people = [
        {"externalId": "huge", "email": "huge@example.com", "attributes": {"score": 10**400}},
        {"externalId": "fine", "email": "fine@example.com", "attributes": {"score": 50}},
    ]
    assert _upsert(client, auth, people).status_code == 200
    with db.transaction() as session:
        account_id = int(session.scalars(select(Account.id).where(Account.name == "acme")).one())
    for rules, expected in [
        ({"field": "attributes.score", "op": "gt", "value": 10}, {"fine"}),
        ({"field": "attributes.score", "op": "lt", "value": 10}, set()),
    ]:
        with db.transaction() as session:
            reached = session.scalars(
                select(Contact.external_id).where(
                    repository.compile_rules(rules, postgres=is_postgres(session)),
                    Contact.account_id == account_id,
                )
            )
            assert set(reached) == expected, rules
