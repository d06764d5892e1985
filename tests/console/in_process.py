"""Console pages served in-process (the ``client`` fixture's app: no worker, no browser): people
to sign in as, and signing a test client in."""

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
    page = client.get("/app/pixel/campaigns")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    return csrf.group(1)
