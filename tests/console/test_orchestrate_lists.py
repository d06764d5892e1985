"""The Orchestrate lists served in-process: templates and audience segments page like the
Campaigns list (50 a page, newest first, Previous / Next), so none is out of reach."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in

from beacon.core.auth import get_or_create_account
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.messaging.audience_schemas import ContactIn
from beacon.messaging.audiences import contacts
from beacon.messaging.models import Segment, Template

COUNT = 205  # the lists stopped at 200 items, with no way to see the rest


def _store(db: Database, kind: str) -> None:
    with db.transaction() as session:
        account = get_or_create_account(session=session, name="acme")
        for i in range(COUNT):
            name = f"{kind}-{i:03d}"
            if kind == "template":
                session.add(Template(account_id=account.id, name=name, channel="sms", content={}))
            else:
                rules = {"all": [{"field": "email", "op": "exists", "value": True}]}
                session.add(Segment(account_id=account.id, name=name, kind="rules", rules=rules))


@pytest.mark.parametrize(
    ("kind", "path"),
    [("template", "/app/orchestrate/templates"), ("segment", "/app/orchestrate/audiences")],
)
def test_every_item_of_a_long_list_is_on_one_of_its_pages(
    client: TestClient, db: Database, kind: str, path: str
) -> None:
    sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    _store(db, kind)
    seen: list[str] = []
    url = path
    for _ in range(COUNT):  # at most one page an item: a pager that loops fails the test
        page = client.get(url)
        assert page.status_code == 200
        seen += re.findall(rf">({kind}-\d{{3}})<", page.text)
        following = re.search(r'<a href="([^"]+)">Next</a>', page.text)
        if following is None:
            break
        url = following.group(1).replace("&amp;", "&")
    assert sorted(seen) == [f"{kind}-{i:03d}" for i in range(COUNT)]
    assert len(seen) == COUNT  # each once
    last = client.get(f"{path}?offset=200")
    assert f"201 to {COUNT}" in last.text
    assert re.search(r'<a href="[^"]+\?offset=150">Previous</a>', last.text)
    past = client.get(f"{path}?offset=400")
    assert past.status_code == 200
    assert f"This page is past the end: there are {COUNT} {kind}s" in past.text
    assert f'href="{path}?offset=200">Go to the last page' in past.text


def test_a_contacts_attributes_read_as_json_not_python(client: TestClient, db: Database) -> None:
    # A true attribute read "True" and an object "{'tier': ['gold', 1]}" (Python's repr) where
    # the API and templates say true and {"tier": ["gold", 1]}.
    sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    person = ContactIn.model_validate(
        {
            "email": "ana@example.com",
            "attributes": {"vip": True, "loyalty": {"tier": ["gold", 1]}, "city": "Zürich"},
        }
    )
    with db.transaction() as session:
        account = get_or_create_account(session=session, name="acme")
        made = contacts.upsert_contacts(session=session, account_id=account.id, contacts=[person])
    page = client.get(f"/app/orchestrate/contacts/{made.ids[0]}")
    assert page.status_code == 200
    table = page.text.split('id="attributes"')[1].split("</table>")[0]
    cells = re.findall(r'<td class="wrap-anywhere">(.*?)</td>', table)
    assert cells == ["Zürich", "{&#34;tier&#34;: [&#34;gold&#34;, 1]}", "true"]
