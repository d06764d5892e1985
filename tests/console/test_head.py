"""HEAD on console pages answers as GET would (uptime monitors and link checkers use it): the
same status and headers, no body, and none of a GET's effects that a look must not have."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from tests.console.in_process import member, sign_in
from tests.console.test_measure_pages import add_hits, analyst, campaign  # noqa: F401

from beacon.console import router as console
from beacon.console import web
from beacon.console.pages import reports as report_pages
from beacon.core.auth import find_account
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jsonbody import api_routes
from beacon.core.permissions import Role
from beacon.core.worker import Worker
from beacon.people import invitations
from beacon.people.models import User
from beacon.people.service import Member
from beacon.pixel.tasks import report_job

# Headers that differ between any two responses, whatever the method.
_PER_RESPONSE = {"x-request-id", "date", "set-cookie"}


def _same_as_get(client: TestClient, path: str) -> Response:
    got = client.get(path, follow_redirects=False)
    head = client.head(path, follow_redirects=False)
    assert head.status_code == got.status_code, path
    # A 404 page names the request's method ("No route matches HEAD /app/nope"): its length
    # differs by the method's.
    skip = _PER_RESPONSE | ({"content-length"} if got.status_code == 404 else set())
    assert {k: v for k, v in head.headers.items() if k not in skip} == {
        k: v for k, v in got.headers.items() if k not in skip
    }, path
    # (no body: the server drops it for HEAD; the TestClient drops it too, so not asserted)
    return head


def test_head_on_a_signed_in_page_answers_as_get(client: TestClient, db: Database) -> None:
    sign_in(client, member(db, "owner@acme.example.com", Role.owner))

    for path in (
        "/app/activate/activations",
        "/app/activate/activations/new",
        "/app/settings/members",
        "/app/understand/inventory",
        "/app/static/console.css",
    ):
        head = _same_as_get(client, path)
        assert head.status_code == 200, path
    assert head.headers["content-type"].startswith("text/css")
    page = client.head("/app/activate/activations")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == web.CSP
    assert int(page.headers["content-length"]) == len(client.get(page.url).content)


def test_head_on_the_sign_in_page_answers_as_get(client: TestClient) -> None:
    head = _same_as_get(client, "/app/login")

    assert head.status_code == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"


def test_head_on_a_page_that_needs_sign_in_redirects_as_get(client: TestClient) -> None:
    head = _same_as_get(client, "/app/activate/activations?offset=2")

    assert head.status_code == 303
    assert head.headers["location"] == "/app/login?next=/app/activate/activations%3Foffset%3D2"


def test_head_on_a_redirecting_path_redirects_as_get(client: TestClient, db: Database) -> None:
    sign_in(client, member(db, "owner@acme.example.com", Role.owner))

    assert _same_as_get(client, "/app/activate/activations/").status_code == 308
    assert _same_as_get(client, "/app/settings").status_code == 303
    assert _same_as_get(client, "/app").status_code == 303


def test_head_on_an_unknown_path_is_a_404_as_get(client: TestClient, db: Database) -> None:
    assert _same_as_get(client, "/app/nope").status_code == 404
    sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    for path in ("/app/nope", "/app/activate/activations/999999", "/app/static/nope.css"):
        head = _same_as_get(client, path)
        assert head.status_code == 404, path
        assert head.headers["content-type"] == "text/html; charset=utf-8"


def test_head_does_not_use_up_an_invitation_link(client: TestClient, db: Database) -> None:
    owner = member(db, "owner@acme.example.com", Role.owner)
    with db.transaction() as session:
        account = find_account(session=session, name="acme")
        user = session.scalar(select(User).where(User.email == owner))
        assert account is not None and user is not None
        inviter = Member(user.id, owner, "", account.id, "acme", Role.owner)
        token = invitations.invite(
            session=session, member=inviter, email="eve@acme.example", role=Role.admin
        ).token

    for _ in range(2):
        assert _same_as_get(client, f"/app/invite/{token}").status_code == 200

    page = client.get(f"/app/invite/{token}")
    assert page.status_code == 200 and "eve@acme.example" in page.text


def test_every_console_get_page_answers_head() -> None:
    routes = list(api_routes(console.router.routes))
    gets = [r for r in routes if "GET" in (r.methods or ())]
    assert len(gets) > 40  # the page modules' routes, inside their included routers
    assert [r.path for r in gets if "HEAD" not in (r.methods or ())] == []


def test_the_apis_answer_to_head_is_unchanged(client: TestClient, headers: dict[str, str]) -> None:
    # The API families keep their wire behaviour: HEAD where GET works is their 405 (reported,
    # not changed here: the seed does not say the API answers HEAD).
    refused = client.head("/v1/clsfy/activations", headers=headers)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"
    assert client.head("/v1/nope", headers=headers).status_code == 404


def test_head_on_a_csv_export_answers_its_headers_without_running_the_export(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    analyst: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starlette runs a streamed body's generator for a HEAD too, and the server drops what it
    makes: a monitor probing an export link would pay for the whole export each time."""
    cid = campaign(client, headers, "campaign_reporting", "Spring")
    add_hits(db, cid)
    created = client.post(
        "/app/pixel/reports",
        data={
            "csrf_token": analyst,
            "campaign_id": str(cid),
            "start_date": "2026-01-15",
            "end_date": "2026-01-16",
            "dimensions": ["domain", "device"],
        },
        follow_redirects=False,
    )
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    csv_url = f"{created.headers['location']}/csv"
    written: list[str] = []
    real = report_pages.csv_lines

    def counted(header: list[str], rows: Any) -> Any:
        for chunk in real(header, rows):
            written.append(chunk)
            yield chunk

    monkeypatch.setattr(report_pages, "csv_lines", counted)
    head = _same_as_get(client, csv_url)  # the GET streams the export once
    assert head.status_code == 200
    assert head.headers["content-disposition"].startswith("attachment; filename=")
    exported = len(written)
    assert exported > 0 and "domain" in written[0]
    client.head(csv_url)
    assert len(written) == exported  # the HEADs started nothing
