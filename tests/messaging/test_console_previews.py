"""The services behind the console's previews: the reach of unsaved rules (the count a saved
segment's evaluation then finds) and the CSV import's column mapping and rejected rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.messaging.helpers import API, post

from beacon.app import job_kinds
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.errors import BadRequest, ValidationFailed
from beacon.core.models import Account
from beacon.core.worker import Worker
from beacon.messaging.audiences import contacts, segments

PEOPLE = [
    {"externalId": "a", "email": "ann@example.com", "attributes": {"plan": "pro", "score": 90}},
    {
        "externalId": "b",
        "email": "bob@example.com",
        "phone": "+442071838750",
        "attributes": {"plan": "free", "score": 40},
    },
    {
        "externalId": "c",
        "email": "cy@example.org",
        "attributes": {"plan": "pro"},
        "subscriptions": {"email": "unsubscribed"},
    },
]


def _account_id(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalars(select(Account.id).where(Account.name == "acme")).one())


def test_reach_of_unsaved_rules_matches_the_saved_segment(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings
) -> None:
    assert post(client, "/contacts", auth, {"contacts": PEOPLE}).status_code == 200
    account_id = _account_id(db)
    cases: list[tuple[dict[str, Any], int, dict[str, int]]] = [
        (
            {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]},
            2,
            {"email": 1, "sms": 0, "direct_mail": 0},
        ),
        (
            {
                "any": [
                    {"field": "attributes.score", "op": "gt", "value": 50},
                    {"field": "phone", "op": "exists"},
                ]
            },
            2,
            {"email": 2, "sms": 1, "direct_mail": 0},
        ),
        (
            {
                "all": [
                    {"field": "attributes.plan", "op": "equals", "value": "pro"},
                    {"field": "email", "op": "contains", "value": ".org"},
                ]
            },
            1,
            {"email": 0, "sms": 0, "direct_mail": 0},
        ),
    ]
    for rules, matched, channels in cases:
        with db.transaction() as session:
            assert segments.reach_of_rules(session=session, account_id=account_id, rules=rules) == (
                matched,
                channels,
            ), rules
        saved = post(client, "/segments", auth, {"name": "s", "rules": rules})
        assert saved.status_code == 201
        Worker(db=db, kinds=job_kinds(settings)).run_until_idle()
        url = f"{API}/segments/{saved.json()['data']['id']}"
        assert client.get(url, headers=auth).json()["data"]["memberCount"] == matched
    with db.transaction() as session:  # another account's contacts are never counted
        assert segments.reach_of_rules(
            session=session, account_id=account_id + 999, rules=cases[0][0]
        ) == (0, {"email": 0, "sms": 0, "direct_mail": 0})
        with pytest.raises(ValidationFailed, match=r"rules\.all\[0\]\.field"):
            segments.reach_of_rules(
                session=session,
                account_id=account_id,
                rules={"all": [{"field": "shoe", "op": "equals", "value": 1}]},
            )


def test_guessed_columns_mapping_checks_and_rejects_csv() -> None:
    guesses = [
        contacts.guess_column(h)
        for h in (
            "E-mail",
            "First Name",
            "surname",
            "Mobile",
            "ZIP",
            "attributes.plan",
            "Plan",
            "Lifetime value ($)",
            "subscriptions.sms",
            "!!",
        )
    ]
    assert guesses == [
        "email",
        "firstName",
        "lastName",
        "phone",
        "address.postalCode",
        "attributes.plan",
        "attributes.Plan",
        "attributes.Lifetime_value",
        "subscriptions.sms",
        None,
    ]
    with pytest.raises(BadRequest, match="Map a column to email or externalId"):
        contacts.check_columns(["firstName", None])
    with pytest.raises(BadRequest, match="More than one column fills email"):
        contacts.check_columns(["email", "email"])
    with pytest.raises(BadRequest, match="Unknown contact field 'shoe'"):
        contacts.check_columns(["email", "shoe"])

    text = (
        "Mail,Name,Tier,Junk\n"
        "ann@example.com,Ann,pro,x\n"
        "=cmd|' /C calc'!A0,Eve,free,y\n"
        "\n"
        "ann@example.com,Ann again,pro,z\n"
        "bob@example.com,Bob\n"
    )
    good, rejects = contacts.check_csv_rows(
        text, columns=["email", "firstName", "attributes.tier", None]
    )
    assert [(c.email, c.first_name, c.attributes) for c in good] == [
        ("ann@example.com", "Ann", {"tier": "pro"}),
        ("bob@example.com", "Bob", None),
    ]
    assert [(r.line, r.values[0]) for r in rejects] == [
        (3, "=cmd|' /C calc'!A0"),
        (5, "ann@example.com"),
    ]
    assert "email" in rejects[0].message and rejects[1].message == "same email as line 2"
    assert contacts.preview_csv(text, rows=2) == (
        ["Mail", "Name", "Tier", "Junk"],
        [["ann@example.com", "Ann", "pro", "x"], ["=cmd|' /C calc'!A0", "Eve", "free", "y"]],
        4,
    )
    rows = list(csv.reader(io.StringIO(contacts.rejects_csv(["Mail", "=Name"], rejects))))
    assert rows[0] == ["line", "reason", "Mail", "'=Name"]
    assert rows[1][0] == "3" and rows[1][2] == "'=cmd|' /C calc'!A0"
    assert rows[2] == ["5", "same email as line 2", "ann@example.com", "Ann again", "pro", "z"]
