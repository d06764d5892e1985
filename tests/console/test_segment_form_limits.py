"""The segment builder refuses what the API refuses, through the same service check
(``segments.service.check_rule_limits``), and says so at the field."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in

from beacon.core.db import Database
from beacon.core.permissions import Role


def test_the_builder_refuses_terms_and_lists_over_the_limits_at_their_field(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    token = sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    many_domains = ", ".join(f"site{i}.com" for i in range(1001))
    for fields, name, message in [
        ({"keywords": f"gpu, {'k' * 201}"}, "keywords", "Keywords: each at most 200 characters"),
        (
            {"iab_categories": "IAB19", "exclude_keywords": "k" * 201},
            "exclude_keywords",
            "Exclude keywords: each at most 200 characters",
        ),
        ({"domains": many_domains}, "domains", "Domains: at most 1000"),
        ({"keywords": "gpu", "exclude_domains": "d" * 254}, "exclude_domains", "at most 253"),
        (
            {"keywords": "gpu", "exclude_domains": "https://www.cheap-news.biz/x"},
            "exclude_domains",
            "Exclude domains: 'https://www.cheap-news.biz/x' is not a domain name: "
            "write 'cheap-news.biz'",
        ),
        ({"domains": "co.uk"}, "domains", "Domains: 'co.uk' is a public suffix"),
    ]:
        form = {"name": "Long", "csrf_token": token, **fields}
        created = client.post("/app/activate/segments", data=form, follow_redirects=False)
        assert created.status_code == 422, (name, created.status_code)
        page = html.unescape(created.text)
        assert f'id="error-{name}"' in page, name
        assert message in page, (name, page[page.find("error-summary") :][:600])
        previewed = client.post(
            "/app/activate/segments/preview", data=form, headers={"hx-request": "true"}
        )
        assert previewed.status_code == 200
        assert message in html.unescape(previewed.text), name
    assert client.get("/v1/clsfy/segments", headers=headers).json() == []
    # The limits themselves are accepted.
    form = {"name": "At the limits", "csrf_token": token, "keywords": "k" * 200}
    created = client.post("/app/activate/segments", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    assert [s["name"] for s in client.get("/v1/clsfy/segments", headers=headers).json()] == [
        "At the limits"
    ]
