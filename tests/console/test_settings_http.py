"""The Settings pages over HTTP (no browser), where the thing to check is what a crafted request
gets: the browser tests (test_settings.py) drive the same pages in Chromium."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.people import service as people

PASSWORD = "correct horse battery staple"


def member(db: Database, email: str, role: Role, account: str = "acme") -> str:
    with db.transaction() as session:
        people.ensure_member(
            session=session, account_name=account, email=email, role=role, password=PASSWORD
        )
    return email


def sign_in(client: TestClient, email: str) -> str:
    """Sign ``client`` in; returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/app/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/app/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/app/settings/members")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    return csrf.group(1)


def test_a_link_cannot_put_words_in_the_members_pages_alert(
    db: Database, client: TestClient
) -> None:
    # ?error= was shown as the page's "There is a problem" alert: anyone could send a member a
    # console link whose alert said what they liked ("Your session expired: sign in at ...").
    sign_in(client, member(db, "owner@acme.example", Role.owner))
    bait = "Your session expired. Sign in again at https://beacon-login.example"

    page = client.get("/app/settings/members", params={"error": bait})

    assert page.status_code == 200
    assert "owner@acme.example" in page.text
    assert "beacon-login.example" not in page.text
    assert "There is a problem" not in page.text
