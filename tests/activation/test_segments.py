"""Inventory and segments: uploads, classification status, rule evaluation, builds, members."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.activation.helpers import (
    API,
    PAGES,
    built_segment,
    classification,
    classify_pages,
    run_jobs,
    upload_inventory,
)

from beacon.activation.models import Activation, InventoryUrl, Segment
from beacon.activation.schemas import SegmentRules
from beacon.activation.segments.rules import SegmentMatcher
from beacon.activation.segments.service import check_rule_limits
from beacon.contextual.models import UrlClassification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.errors import InvalidValue
from beacon.core.timefmt import utcnow
from beacon.pixel.models import PixelCampaign, PixelRollup

Headers = dict[str, str]


# --- Rules (unit) ----------------------------------------------------------------------------


def _page(
    cats: list[tuple[str, float]], kws: tuple[str, ...] = (), ents: tuple[str, ...] = ()
) -> dict[str, Any]:
    return classification(cats, list(kws), list(ents), "neutral")


def test_tier1_code_matches_its_children_and_respects_min_confidence() -> None:
    matcher = SegmentMatcher.from_rules({"iab_categories": ["IAB19"], "min_confidence": 0.5})
    assert matcher.matches(_page([("IAB19-6", 0.9)]))
    assert matcher.matches(_page([("IAB19", 0.6)]))
    assert not matcher.matches(_page([("IAB19-6", 0.4)]))
    assert not matcher.matches(_page([("IAB1", 0.9), ("IAB190", 0.9)]))
    tier2 = SegmentMatcher.from_rules({"iab_categories": ["IAB19-6"]})
    assert not tier2.matches(_page([("IAB19", 0.9)]))


def test_keywords_match_whole_phrases_case_insensitively() -> None:
    matcher = SegmentMatcher.from_rules({"keywords": ["AI  Chips", "gpu"]})
    assert matcher.matches(_page([], ["new ai chips export"]))
    assert matcher.matches(_page([], ["NVIDIA GPU"]))
    assert not matcher.matches(_page([], ["GPUs"]))
    assert not matcher.matches(_page([], ["aichips"]))


def test_domains_keep_or_exclude_a_publisher() -> None:
    sports = _page([("IAB17", 0.9)], [])
    only = SegmentMatcher.from_rules({"domains": ["BBC.co.uk"], "iab_categories": ["IAB17"]})
    assert only.matches(sports, "bbc.co.uk")
    assert not only.matches(sports, "espn.com")
    unsafe = SegmentMatcher.from_rules({"exclude": {"domains": ["cheap-news.biz"]}})
    assert unsafe.matches(sports, "espn.com")
    assert not unsafe.matches(sports, "cheap-news.biz")


def test_a_domain_written_in_unicode_matches_the_stored_ascii_form() -> None:
    # The inventory stores a page's domain in its IDNA form: a rule of 'bücher.de' sent to the
    # API matched none of its pages (the console converted it; the API did not).
    page = _page([("IAB17", 0.9)], [])
    for written in ("Bücher.de", "bücher.de.", "xn--bcher-kva.de", "XN--BCHER-KVA.DE"):
        assert SegmentMatcher.from_rules({"domains": [written]}).matches(page, "xn--bcher-kva.de")
        excluded = SegmentMatcher.from_rules({"exclude": {"domains": [written]}})
        assert not excluded.matches(page, "xn--bcher-kva.de")
    assert not SegmentMatcher.from_rules({"domains": ["bucher.de"]}).matches(
        page, "xn--bcher-kva.de"
    )
    # More than a name is not read as a URL: 'böse@bank.com' is not bank.com (found by review).
    for not_a_name in ("böse@bank.com", "bank.com/ü", "bänk.com:443", "ü bank.com"):
        matcher = SegmentMatcher.from_rules({"domains": [not_a_name]})
        assert not any(matcher.matches(page, d) for d in ("bank.com", "xn--bnk-qla.com"))


def test_a_subdomain_in_a_rule_is_read_as_its_registrable_domain() -> None:
    # Inventory pages carry their registrable domain, so 'www.cheap-news.biz' in an exclude
    # list excluded nothing (a blocklist failing open) and in an include list matched nothing;
    # Measure's filters read 'www.nytimes.com' as 'nytimes.com' (docs/measure.md).
    page = _page([("IAB17", 0.9)], [])
    for written in ("www.cheap-news.biz", "News.Cheap-News.biz.", "cheap-news.biz"):
        blocked = SegmentMatcher.from_rules({"exclude": {"domains": [written]}})
        assert not blocked.matches(page, "cheap-news.biz")
        assert blocked.matches(page, "espn.com")
        assert SegmentMatcher.from_rules({"domains": [written]}).matches(page, "cheap-news.biz")
    bbc = SegmentMatcher.from_rules({"domains": ["news.bbc.co.uk"]})
    assert bbc.matches(page, "bbc.co.uk")
    assert not bbc.matches(page, "co.uk")
    blog = SegmentMatcher.from_rules({"domains": ["www.alice.blogspot.com"]})
    assert blog.matches(page, "alice.blogspot.com")
    assert not blog.matches(page, "bob.blogspot.com")


def test_keys_combine_with_and_and_exclusions_win() -> None:
    rules = {
        "iab_categories": ["IAB19"],
        "entities": ["nvidia"],
        "sentiment": ["neutral", "positive"],
        "exclude": {"iab_categories": ["IAB11"], "keywords": ["conflict"]},
    }
    matcher = SegmentMatcher.from_rules(rules)
    page = classification([("IAB19-6", 0.9)], ["gpu"], ["NVIDIA"], "neutral")
    assert matcher.matches(page)
    assert not matcher.matches({**page, "sentiment": {"label": "negative", "score": 0.1}})
    assert not matcher.matches({**page, "entities": []})
    assert not matcher.matches({**page, "keywords": ["armed conflict"]})
    assert not matcher.matches(
        {**page, "iab_categories": [*page["iab_categories"], {"id": "IAB11-4", "confidence": 0.1}]}
    )
    assert SegmentMatcher.from_rules({}).matches(page)


# --- Inventory -------------------------------------------------------------------------------


def test_inventory_json_text_and_csv_uploads_queue_classification(
    client: TestClient, headers: Headers, db: Database
) -> None:
    added = upload_inventory(
        client, headers, ["https://www.nytimes.com/a?utm_source=x", "https://www.nytimes.com/a"]
    )
    assert added == {"received": 2, "added": 1, "queued": 1}
    text = "https://example.org/one\n\nhttps://example.org/two\n"
    response = client.post(
        f"{API}/inventory", headers={**headers, "Content-Type": "text/plain"}, content=text
    )
    assert response.json() == {"received": 2, "added": 2, "queued": 2}
    csv_body = "url,notes\nhttps://example.org/two,dup\nhttps://example.net/three,x\n"
    response = client.post(
        f"{API}/inventory", headers={**headers, "Content-Type": "text/csv"}, content=csv_body
    )
    assert response.json() == {"received": 2, "added": 1, "queued": 1}
    with db.transaction() as session:
        pending = session.scalars(select(UrlClassification.url).order_by(UrlClassification.url))
        assert list(pending) == [
            "https://example.net/three",
            "https://example.org/one",
            "https://example.org/two",
            "https://www.nytimes.com/a",
        ]
    classify_pages(db, {"https://example.org/one": PAGES["https://www.cooking.example.com/pasta"]})
    page = client.get(f"{API}/inventory?limit=2&offset=1", headers=headers).json()
    assert page["pagination"] == {"limit": 2, "offset": 1, "total": 4}
    assert [(i["url"], i["domain"], i["source"], i["status"]) for i in page["data"]] == [
        ("https://example.org/one", "example.org", "upload", "ok"),
        ("https://example.org/two", "example.org", "upload", "pending"),
    ]


def test_inventory_rejects_bad_urls_and_oversized_requests(
    client: TestClient, headers: Headers, db: Database
) -> None:
    response = client.post(
        f"{API}/inventory",
        headers=headers,
        json={"urls": ["https://ok.example.com/", "ftp://x.com/a", "nonsense"]},
    )
    assert response.status_code == 422
    message = response.json()["message"]
    assert "urls[1] ('ftp://x.com/a')" in message and "urls[2] ('nonsense')" in message
    # what the classifier's fetcher never requests: a bad port, a host IDNA refuses, credentials
    bad = [
        "https://a.example.com:99999/",
        "https://a.example.com:abc/",
        "http://xn--/",
        "https://user:secret@a.example.com/",
    ]
    response = client.post(f"{API}/inventory", headers=headers, json={"urls": bad})
    assert response.status_code == 422, response.text
    assert all(f"urls[{i}]" in response.json()["message"] for i in range(4))
    response = client.post(
        f"{API}/inventory",
        headers={**headers, "Content-Type": "text/plain"},
        content="https://ok.example.com/\nhttp://127.0.0.1/x\n",
    )
    assert response.status_code == 422 and "line 2" in response.json()["message"]
    too_many = [f"https://example.com/{i}" for i in range(10_001)]
    response = client.post(f"{API}/inventory", headers=headers, json={"urls": too_many})
    assert response.status_code == 422 and "'urls'" in response.json()["message"]
    response = client.post(
        f"{API}/inventory", headers={**headers, "Content-Type": "application/xml"}, content="<a/>"
    )
    assert response.status_code == 415
    with db.transaction() as session:
        assert session.scalar(select(InventoryUrl.id)) is None


def test_inventory_refuses_a_url_classify_refuses_as_too_long(
    client: TestClient, headers: Headers, db: Database
) -> None:
    """A 20,000-character URL was stored and queued (then sat in error) while classify refuses
    it: the inventory takes the same bound, in its own error's words, JSON or text."""
    long_url = "https://www.nytimes.com/" + "a" * 20_000
    edge = "https://www.nytimes.com/" + "b" * (2048 - len("https://www.nytimes.com/"))
    response = client.post(f"{API}/classify", headers=headers, json={"url": long_url})
    assert response.status_code == 422
    assert "must be at most 2048 characters long" in response.json()["message"]
    response = client.post(f"{API}/inventory", headers=headers, json={"urls": [edge, long_url]})
    assert response.status_code == 422, response.text
    assert response.json()["message"] == (
        "Invalid value for 'urls': must be at most 2048 characters long: "
        f"urls[1] ({long_url[:100]!r}"[:-1]
        + "…' (20024 characters))"
    )
    response = client.post(
        f"{API}/inventory",
        headers={**headers, "Content-Type": "text/plain"},
        content=f"{edge}\n{long_url}\n",
    )
    assert response.status_code == 422, response.text
    assert "must be at most 2048 characters long: line 2" in response.json()["message"]
    with db.transaction() as session:
        assert session.scalar(select(InventoryUrl.id)) is None
    response = client.post(f"{API}/inventory", headers=headers, json={"urls": [edge]})
    assert response.json() == {"received": 1, "added": 1, "queued": 1}


def test_pixel_urls_join_the_inventory(
    client: TestClient, headers: Headers, db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("other")
    with db.transaction() as session:
        from beacon.core.models import Account

        acme = session.scalar(select(Account.id).where(Account.name == "acme"))
        other = session.scalar(select(Account.id).where(Account.name == "other"))
        for account_id, url in (
            (acme, "https://www.nytimes.com/pixel-page"),
            (other, "https://foreign.example.com/x"),
        ):
            campaign = PixelCampaign(account_id=account_id, name="c", use_case="campaign_reporting")
            session.add(campaign)
            session.flush()
            session.add(
                PixelRollup(
                    campaign_id=campaign.id,
                    date=dt.date(2026, 1, 15),
                    dims_hash=f"h{account_id}",
                    domain="nytimes.com",
                    url=url,
                    hits=3,
                )
            )
    items = client.get(f"{API}/inventory", headers=headers).json()["data"]
    assert [(i["url"], i["source"], i["status"]) for i in items] == [
        ("https://www.nytimes.com/pixel-page", "pixel", "pending")
    ]
    assert client.get(f"{API}/inventory", headers=headers).json()["pagination"]["total"] == 1


# --- Segments --------------------------------------------------------------------------------

AI_RULES = {
    "iab_categories": ["IAB19"],
    "min_confidence": 0.5,
    "exclude": {"iab_categories": ["IAB11"], "sentiment": ["negative"]},
}


def test_segment_build_lifecycle_counts_and_members(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    response = client.post(
        f"{API}/segments",
        headers=headers,
        json={"name": "AI chips", "description": "Tech, brand safe", "rules": AI_RULES},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "pending"
    assert created["url_count"] is None and created["processed_date"] is None
    assert "error" not in created
    assert created["rules"] == AI_RULES
    run_jobs(db, settings)
    segment = client.get(f"{API}/segments/{created['id']}", headers=headers).json()
    assert segment["status"] == "complete"
    assert segment["processed_date"] is not None
    # IAB19-6@0.93 (nytimes gpu) and IAB19@0.88 (guardian chips); ev page has IAB19-6@0.40 only;
    # war report is excluded (IAB11, negative).
    assert (segment["url_count"], segment["domain_count"]) == (2, 2)
    assert segment["top_domains"] == [
        {"domain": "nytimes.com", "url_count": 1},
        {"domain": "theguardian.com", "url_count": 1},
    ]
    urls = client.get(f"{API}/segments/{created['id']}/urls?limit=1", headers=headers).json()
    assert urls == {
        "data": [{"url": "https://www.nytimes.com/2026/01/gpu-shortage", "domain": "nytimes.com"}],
        "pagination": {"limit": 1, "offset": 0, "total": 2},
    }
    domains = client.get(f"{API}/segments/{created['id']}/domains?offset=1", headers=headers)
    assert domains.json()["data"] == [{"domain": "theguardian.com", "url_count": 1}]
    assert [s["id"] for s in client.get(f"{API}/segments", headers=headers).json()] == [
        created["id"]
    ]


def test_put_with_new_rules_rebuilds_and_name_only_does_not(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, AI_RULES)
    renamed = client.put(f"{API}/segments/{segment['id']}", headers=headers, json={"name": "New"})
    assert renamed.json()["status"] == "complete" and renamed.json()["name"] == "New"
    rules = {"keywords": ["pasta", "battery range"]}
    updated = client.put(f"{API}/segments/{segment['id']}", headers=headers, json={"rules": rules})
    assert updated.json()["status"] == "pending" and updated.json()["url_count"] is None
    run_jobs(db, settings)
    rebuilt = client.get(f"{API}/segments/{segment['id']}", headers=headers).json()
    assert rebuilt["status"] == "complete" and rebuilt["url_count"] == 2
    assert rebuilt["top_domains"] == [
        {"domain": "example.com", "url_count": 1},
        {"domain": "nytimes.com", "url_count": 1},
    ]
    response = client.put(f"{API}/segments/{segment['id']}", headers=headers, json={"name": None})
    assert response.status_code == 422


def test_segment_validation_errors_name_the_field(client: TestClient, headers: Headers) -> None:
    cases = [
        ({"iab_categories": ["IAB99"]}, "rules.iab_categories[0]"),
        ({"sentiment": ["happy"]}, "rules.sentiment[0]"),
        ({"iab_categories": ["IAB19"], "min_confidence": 1.5}, "rules.min_confidence"),
        ({"exclude": {"keywords": [""]}}, "rules.exclude.keywords[0]"),
        ({"keywords": []}, "rules.keywords"),
        ({"exclude": {"iab_categories": []}}, "rules.exclude.iab_categories"),
    ]
    for rules, field in cases:
        response = client.post(
            f"{API}/segments", headers=headers, json={"name": "x", "rules": rules}
        )
        assert response.status_code == 422, rules
        assert f"Invalid value for '{field}'" in response.json()["message"]
    response = client.post(
        f"{API}/segments", headers=headers, json={"name": "x", "rules": {"min_confidence": 0.5}}
    )
    assert response.json()["message"] == (
        "Invalid value for 'rules.min_confidence': applies to iab_categories: "
        "give iab_categories in the same rules"
    )
    response = client.post(f"{API}/segments", headers=headers, json={"name": " ", "rules": {}})
    assert response.json()["message"] == "Invalid value for 'name': must not be empty"
    for body, message in [
        ({"name": "x"}, "Missing required parameter 'rules'"),
        ({"name": "x", "rules": {"colour": ["red"]}}, "Unknown parameter 'rules.colour'"),
        (
            {"name": "x", "rules": {"iab_categories": ["IAB19"], "min_confidence": True}},
            "Invalid type for 'rules.min_confidence': expected number",
        ),
    ]:
        response = client.post(f"{API}/segments", headers=headers, json=body)
        assert (response.status_code, response.json()["message"]) == (400, message)
    assert client.get(f"{API}/segments", headers=headers).json() == []


def test_delete_is_refused_while_an_active_deal_uses_the_segment(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, AI_RULES)
    body = {"segment_ids": [segment["id"]], "dsp": "The Trade Desk", "buyer_seat": "seat-1"}
    pending = client.post(f"{API}/activations", headers=headers, json=body).json()
    response = client.delete(f"{API}/segments/{segment['id']}", headers=headers)
    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "validation_error",
            "message": f"Segment {segment['id']} is being activated "
            f"(activation {pending['id']}, status: pending)",
        },
    )
    run_jobs(db, settings)
    deal = client.get(f"{API}/activations/{pending['id']}", headers=headers).json()
    response = client.delete(f"{API}/segments/{segment['id']}", headers=headers)
    assert response.status_code == 422
    assert response.json()["message"] == (
        f"Segment {segment['id']} is used by active deal {deal['deal_id']} "
        f"(activation {deal['id']}); delete it once the deal has expired"
    )
    with db.transaction() as session:
        row = session.get(Activation, deal["id"])
        assert row is not None
        row.processed_date = utcnow() - dt.timedelta(hours=721)
    assert client.delete(f"{API}/segments/{segment['id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/segments/{segment['id']}", headers=headers).status_code == 404
    # The expired deal keeps its history; only the link to the deleted segment is gone.
    after = client.get(f"{API}/activations/{deal['id']}", headers=headers).json()
    assert (after["status"], after["expired"]) == ("complete", True)


def test_build_waits_for_the_inventory_to_be_classified(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    gpu, chips = (
        "https://www.nytimes.com/2026/01/gpu-shortage",
        "https://www.theguardian.com/tech/chips",
    )
    classify_pages(db, {gpu: PAGES[gpu]})
    upload_inventory(client, headers, [gpu, chips])  # chips: queued, not classified yet
    created = client.post(
        f"{API}/segments", headers=headers, json={"name": "AI", "rules": AI_RULES}
    ).json()
    run_jobs(db, settings)
    waiting = client.get(f"{API}/segments/{created['id']}", headers=headers).json()
    assert waiting["status"] == "pending" and waiting["url_count"] is None
    with db.transaction() as session:
        row = session.get(Segment, created["id"])
        assert row is not None and row.run_after is not None and row.attempts == 0
    classify_pages(db, {chips: PAGES[chips]})
    _make_due(db, created["id"])
    run_jobs(db, settings)
    built = client.get(f"{API}/segments/{created['id']}", headers=headers).json()
    assert (built["status"], built["url_count"]) == ("complete", 2)
    # Past BEACON_SEGMENT_BUILD_WAIT_SECONDS it builds from what is classified.
    upload_inventory(client, headers, ["https://www.example.org/unclassified"])
    impatient = settings.model_copy(update={"segment_build_wait_seconds": 0})
    client.put(
        f"{API}/segments/{created['id']}",
        headers=headers,
        json={"rules": {"keywords": ["semiconductor"]}},
    )
    run_jobs(db, impatient)
    rebuilt = client.get(f"{API}/segments/{created['id']}", headers=headers).json()
    assert (rebuilt["status"], rebuilt["url_count"]) == ("complete", 1)


def _make_due(db: Database, segment_id: int) -> None:
    with db.transaction() as session:
        row = session.get(Segment, segment_id)
        assert row is not None
        row.run_after = utcnow() - dt.timedelta(seconds=1)


def test_segments_are_isolated_between_accounts_and_paging_is_bounded(
    client: TestClient, headers: Headers, key_for: Callable[[str], str]
) -> None:
    segment = client.post(f"{API}/segments", headers=headers, json={"name": "a", "rules": {}})
    segment_id = segment.json()["id"]
    other = {"X-API-Key": key_for("other")}
    for path in ("", "/urls", "/domains"):
        response = client.get(f"{API}/segments/{segment_id}{path}", headers=other)
        assert response.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "message": f"Segment with ID {segment_id} not found",
        }
    assert client.get(f"{API}/segments", headers=other).json() == []
    assert client.delete(f"{API}/segments/{segment_id}", headers=other).status_code == 404
    for path in ("/urls", "/domains"):
        response = client.get(f"{API}/segments/{segment_id}{path}?offset={2**63}", headers=headers)
        assert response.status_code == 422 and "'offset'" in response.json()["message"]
        response = client.get(f"{API}/segments/{segment_id}{path}?limit=10001", headers=headers)
        assert response.status_code == 422 and "'limit'" in response.json()["message"]


def test_keyword_and_entity_lists_are_bounded(client: TestClient, headers: Headers) -> None:
    """At most 1,000 keywords (or entities) per rule set; the limit itself is accepted."""
    terms = [f"phrase {i}" for i in range(1001)]
    for rules, field in [
        ({"keywords": terms}, "rules.keywords"),
        ({"entities": terms}, "rules.entities"),
        ({"iab_categories": ["IAB19"], "exclude": {"keywords": terms}}, "rules.exclude.keywords"),
    ]:
        response = client.post(
            f"{API}/segments", headers=headers, json={"name": "x", "rules": rules}
        )
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith(f"Invalid value for '{field}'")
        assert "1000" in response.json()["message"]
    assert client.get(f"{API}/segments", headers=headers).json() == []
    accepted = client.post(
        f"{API}/segments",
        headers=headers,
        json={"name": "Long list", "rules": {"keywords": terms[:1000]}},
    )
    assert accepted.status_code in (201, 202), accepted.text
    assert accepted.json()["rules"]["keywords"] == terms[:1000]


# a domain name at its longest: 253 characters, in labels of at most 63
LONGEST_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])


def test_each_keyword_entity_and_domain_is_bounded(client: TestClient, headers: Headers) -> None:
    """A 5,000-character keyword was stored with a 201; a term has the length of a name (200
    characters), a domain that of a domain name (253), and the limit itself is accepted."""
    for rules, field, limit in [
        ({"keywords": ["k" * 5000]}, "rules.keywords[0]", 200),
        ({"entities": ["e", "e" * 201]}, "rules.entities[1]", 200),
        (
            {"iab_categories": ["IAB19"], "exclude": {"keywords": ["k" * 201]}},
            "rules.exclude.keywords[0]",
            200,
        ),
        ({"domains": ["d" * 250 + ".com"]}, "rules.domains[0]", 253),
        ({"domains": [f"site{i}.com" for i in range(1001)]}, "rules.domains", 1000),
    ]:
        response = client.post(
            f"{API}/segments", headers=headers, json={"name": "x", "rules": rules}
        )
        assert response.status_code == 422, response.text
        message = response.json()["message"]
        assert message.startswith(f"Invalid value for '{field}'")
        assert str(limit) in message, message
    assert client.get(f"{API}/segments", headers=headers).json() == []
    accepted = client.post(
        f"{API}/segments",
        headers=headers,
        json={
            "name": "Long terms",
            "rules": {"keywords": ["k" * 200], "domains": [LONGEST_DOMAIN]},
        },
    )
    assert accepted.status_code in (201, 202), accepted.text


def test_preview_counts_what_the_build_selects_and_browse_filters_the_inventory(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> None:
    from beacon.activation.inventory import service as inventory
    from beacon.activation.schemas import SegmentRules
    from beacon.activation.segments import service as segments

    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    with db.transaction() as session:
        account_id = session.scalars(select(InventoryUrl.account_id)).first()
        assert account_id is not None
        preview = segments.preview_rules(
            session=session, account_id=account_id, rules=SegmentRules.model_validate(AI_RULES)
        )
        tech = inventory.browse_inventory(
            session=session, account_id=account_id, category="IAB19", limit=10, offset=0
        )
        classified = inventory.browse_inventory(
            session=session, account_id=account_id, status="ok", limit=10, offset=0
        )
    created = client.post(
        f"{API}/segments", headers=headers, json={"name": "AI", "rules": AI_RULES}
    ).json()
    run_jobs(db, settings)
    built = client.get(f"{API}/segments/{created['id']}", headers=headers).json()
    assert (preview.url_count, preview.domain_count) == (built["url_count"], built["domain_count"])
    assert {m.url for m in preview.sample} == {
        u["url"]
        for u in client.get(f"{API}/segments/{created['id']}/urls", headers=headers).json()["data"]
    }

    # Every page tagged IAB19 or one of its children (whatever the confidence), and no other.
    def is_tech(item: inventory.BrowsedUrl) -> bool:
        return any(c["id"] == "IAB19" or c["id"].startswith("IAB19-") for c in item.categories)

    assert 0 < tech.total < len(PAGES)
    assert {i.url for i in tech.items} == {i.url for i in classified.items if is_tech(i)}
    assert classified.total == len(PAGES)
    assert classified.counts.get("ok") == len(PAGES)


def test_put_validation_errors_name_the_wire_field(client: TestClient, headers: Headers) -> None:
    # ``rules`` is a union with null on PUT (omitted or given): pydantic names the union's
    # branch in the error location, which must not reach the message.
    created = client.post(f"{API}/segments", headers=headers, json={"name": "x", "rules": {}})
    url = f"{API}/segments/{created.json()['id']}"
    cases = [
        (
            {"rules": {"exclude": {"keywords": [""]}}},
            422,
            "Invalid value for 'rules.exclude.keywords[0]'",
        ),
        ({"rules": {"keywords": []}}, 422, "Invalid value for 'rules.keywords'"),
        (
            {"rules": {"exclude": {"colour": ["red"]}}},
            400,
            "Unknown parameter 'rules.exclude.colour'",
        ),
        ({"rules": {"keywords": "x"}}, 400, "Invalid type for 'rules.keywords'"),
    ]
    for body, status, message in cases:
        response = client.put(url, headers=headers, json=body)
        assert response.status_code == status, body
        assert response.json()["message"].startswith(message), response.json()["message"]
        assert "SegmentRules" not in response.json()["message"]


def test_two_uploads_of_one_url_at_once_store_it_once(
    client: TestClient, headers: Headers, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads in parallel (a client splitting a list) that share a URL: both looked it up
    before either stored it, and the second insert broke the unique key (a 500)."""
    from beacon.activation.inventory import repository as inventory_repository
    from beacon.activation.inventory import service as inventory

    upload_inventory(client, headers, ["https://example.org/first"])  # the account exists
    with db.transaction() as session:
        account_id = session.scalars(select(InventoryUrl.account_id)).one()
    looked = threading.Barrier(2)
    original = inventory_repository.known_inventory_hashes

    def known_then_wait(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            looked.wait(timeout=2)
        return found

    monkeypatch.setattr(inventory_repository, "known_inventory_hashes", known_then_wait)
    added: list[int] = []
    failed: list[BaseException] = []

    def upload(urls: list[str]) -> None:
        try:
            with db.transaction() as session:
                labelled = [(f"urls[{i}]", url) for i, url in enumerate(urls)]
                result = inventory.add_urls(
                    session=session, account_id=account_id, labelled_urls=labelled
                )
                added.append(result.added)
        except BaseException as exc:  # the test reports it
            failed.append(exc)

    threads = [
        threading.Thread(target=upload, args=(["https://example.org/shared", url],))
        for url in ("https://example.org/a", "https://example.org/b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failed == []
    assert sorted(added) == [1, 2]  # the shared URL counts as added once
    with db.transaction() as session:
        stored = session.scalars(select(InventoryUrl.url).order_by(InventoryUrl.url)).all()
    assert stored == [
        "https://example.org/a",
        "https://example.org/b",
        "https://example.org/first",
        "https://example.org/shared",
    ]


def test_an_update_keeps_terms_stored_before_the_length_limits(
    client: TestClient, headers: Headers, db: Database
) -> None:
    # A segment stored before cf1bf58 may hold a keyword longer than 200 characters: a client
    # that read it and sent it back (renamed, or with one more keyword) got a 422 for it.
    long_keyword, long_entity, long_domain = "k" * 300, "e" * 250, "d" * 300 + ".com"
    stored = {
        "keywords": ["gpu", long_keyword],
        "domains": [long_domain],
        "exclude": {"entities": [long_entity]},
    }
    url, read = _stored_before_the_limits(client, headers, db, stored)
    for body in (
        {"name": read["name"], "description": read["description"], "rules": read["rules"]},
        {"name": "Renamed", "rules": read["rules"]},
        {"rules": {**read["rules"], "keywords": [*read["rules"]["keywords"], "chips"]}},
    ):
        response = client.put(url, headers=headers, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["rules"]["exclude"] == {"entities": [long_entity]}
        assert long_keyword in response.json()["rules"]["keywords"]
    # A long term the update adds is refused as a create refuses it, the envelope the same.
    rules = {**read["rules"], "exclude": {"entities": [long_entity, "n" * 201]}}
    refused = client.put(url, headers=headers, json={"rules": rules})
    fresh = {"keywords": ["gpu"], "exclude": {"entities": ["e", "n" * 201]}}
    created_so = client.post(f"{API}/segments", headers=headers, json={"name": "x", "rules": fresh})
    assert refused.status_code == created_so.status_code == 422
    expected = "Invalid value for 'rules.exclude.entities[1]'"
    assert refused.json()["message"] == created_so.json()["message"]
    assert refused.json()["message"].startswith(expected), refused.json()
    assert refused.json().keys() == created_so.json().keys()
    moved = {"keywords": ["gpu"], "exclude": {"keywords": [long_keyword]}}  # not where it was
    response = client.put(url, headers=headers, json={"rules": moved})
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("Invalid value for 'rules.exclude.keywords[0]'")
    assert client.get(url, headers=headers).json()["rules"]["exclude"] == {
        "entities": [long_entity]
    }


def _refusal(field: str, limit: int) -> dict[str, str]:
    """The 422 body of a rules limit, as clients read it (bounds in words, core.errors): a
    list's count in items, a term's length in characters."""
    bound = f"must have at most {limit} items"
    if field.endswith("]"):
        bound = f"must be at most {limit} characters long"
    return {"error": "validation_error", "message": f"Invalid value for '{field}': {bound}"}


def test_limit_refusals_have_the_same_exact_body_on_create_and_update(
    client: TestClient, headers: Headers
) -> None:
    # Pinned before the limits moved from the pydantic models into the segments service: the
    # status, code and field path stay what clients read before; a term's bound is now said in
    # characters (it said "items", pydantic's word for a list).
    too_many_domains = [f"site{i}.com" for i in range(1001)]
    too_many_keywords = [f"phrase {i}" for i in range(1001)]
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"keywords": ["k" * 201]}, _refusal("rules.keywords[0]", 200)),
        ({"keywords": ["gpu", "k" * 5000]}, _refusal("rules.keywords[1]", 200)),
        ({"entities": ["e", "e" * 201]}, _refusal("rules.entities[1]", 200)),
        ({"domains": ["d" * 250 + ".com"]}, _refusal("rules.domains[0]", 253)),
        (
            {"iab_categories": ["IAB19"], "exclude": {"keywords": ["k" * 201]}},
            _refusal("rules.exclude.keywords[0]", 200),
        ),
        ({"domains": too_many_domains}, _refusal("rules.domains", 1000)),
        (
            {"keywords": ["gpu"], "exclude": {"domains": too_many_domains}},
            _refusal("rules.exclude.domains", 1000),
        ),
        ({"keywords": too_many_keywords}, _refusal("rules.keywords", 1000)),
        # The first refusal in the order of the fields: main rules before exclude, a list's
        # count before its terms, terms in order.
        (
            {"keywords": ["k" * 201, "x" * 300], "domains": too_many_domains},
            _refusal("rules.keywords[0]", 200),
        ),
        (
            {"keywords": ["gpu"], "domains": ["d" * 254], "exclude": {"keywords": ["k" * 201]}},
            _refusal("rules.domains[0]", 253),
        ),
        ({"keywords": ["k" * 201, *too_many_keywords]}, _refusal("rules.keywords", 1000)),
    ]
    created = client.post(
        f"{API}/segments", headers=headers, json={"name": "Kept", "rules": {"keywords": ["gpu"]}}
    ).json()
    url = f"{API}/segments/{created['id']}"
    for rules, body in cases:
        refused = client.post(
            f"{API}/segments", headers=headers, json={"name": "x", "rules": rules}
        )
        assert (refused.status_code, refused.json()) == (422, body), rules
        refused = client.put(url, headers=headers, json={"name": "Renamed", "rules": rules})
        assert (refused.status_code, refused.json()) == (422, body), rules
    assert [s["id"] for s in client.get(f"{API}/segments", headers=headers).json()] == [
        created["id"]
    ]
    read = client.get(url, headers=headers).json()
    assert (read["name"], read["rules"]) == ("Kept", {"keywords": ["gpu"]})
    # The limits are counted on the term as stored: surrounding whitespace is dropped first.
    padded = client.post(
        f"{API}/segments",
        headers=headers,
        json={"name": "Padded", "rules": {"keywords": ["  " + "k" * 200 + "\n"]}},
    )
    assert padded.status_code == 201, padded.text
    assert padded.json()["rules"]["keywords"] == ["k" * 200]


def test_an_update_sends_back_the_domains_stored_over_the_cap(
    client: TestClient, headers: Headers, db: Database
) -> None:
    # A segment stored before cf1bf58 may hold more than 1,000 domains: a client that read it
    # and sent it back unchanged (GET then PUT) got a 422 for the list it had just read.
    domains = [f"site{i}.com" for i in range(1005)]
    stored = {"keywords": ["gpu"], "domains": domains, "exclude": {"domains": domains[:1002]}}
    url, read = _stored_before_the_limits(client, headers, db, stored)
    sent_back = {"name": read["name"], "description": read["description"], "rules": read["rules"]}
    response = client.put(url, headers=headers, json=sent_back)
    assert response.status_code == 200, response.text
    assert response.json()["rules"] == stored
    # Kept with other changes, or shrunk while still over the cap: accepted.
    shrunk = {**stored, "keywords": ["gpu", "chips"], "domains": domains[:1003]}
    response = client.put(url, headers=headers, json={"name": "Renamed", "rules": shrunk})
    assert response.status_code == 200, response.text
    assert response.json()["rules"] == shrunk
    # Grown, or a new domain in place of a stored one while over the cap: refused as a create.
    for rules, field in [
        ({**shrunk, "domains": domains[:1004]}, "rules.domains"),
        ({**shrunk, "domains": [*domains[:1002], "new.com"]}, "rules.domains"),
        ({**shrunk, "exclude": {"domains": [*domains[:1002], "new.com"]}}, "rules.exclude.domains"),
        ({**shrunk, "exclude": {"domains": domains[:1003]}}, "rules.exclude.domains"),
        # moved to another list: not what that list holds
        ({"keywords": ["gpu"], "exclude": {"domains": domains[:1005]}}, "rules.exclude.domains"),
    ]:
        response = client.put(url, headers=headers, json={"rules": rules})
        assert (response.status_code, response.json()) == (422, _refusal(field, 1000)), field
    assert client.get(url, headers=headers).json()["rules"] == shrunk
    # Back under the cap, the list is a new segment's: 1,000 at most again.
    under = {"keywords": ["gpu"], "domains": domains[:1000]}
    assert client.put(url, headers=headers, json={"rules": under}).status_code == 200
    response = client.put(url, headers=headers, json={"rules": {**under, "domains": domains}})
    assert (response.status_code, response.json()) == (422, _refusal("rules.domains", 1000))


def _stored_before_the_limits(
    client: TestClient, headers: Headers, db: Database, stored: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A segment whose stored rules are ``stored`` (written past the API, as a segment stored
    before the limits holds them): its URL and the API's answer to GET."""
    created = client.post(
        f"{API}/segments", headers=headers, json={"name": "Old", "rules": {"keywords": ["gpu"]}}
    ).json()
    url = f"{API}/segments/{created['id']}"
    with db.transaction() as session:
        segment = session.get(Segment, created["id"])
        assert segment is not None
        segment.rules = json.dumps(stored)
    read: dict[str, Any] = client.get(url, headers=headers).json()
    assert read["rules"] == stored
    return url, read


def test_a_domain_rule_that_no_page_can_match_is_refused(
    client: TestClient, headers: Headers, db: Database
) -> None:
    # A URL or a public suffix in a domain list was stored and matched nothing: in an exclude
    # list (a brand-safety blocklist) the pages it meant to keep out went into the segment.
    for rules, field, problem in [
        (
            {"keywords": ["gpu"], "exclude": {"domains": ["https://www.cheap-news.biz/x"]}},
            "rules.exclude.domains[0]",
            "'https://www.cheap-news.biz/x' is not a domain name: write 'cheap-news.biz'",
        ),
        (
            {"domains": ["nytimes.com", "bbc co uk"]},
            "rules.domains[1]",
            "'bbc co uk' is not a domain name",
        ),
        (
            {"domains": ["co.uk"]},
            "rules.domains[0]",
            "'co.uk' is a public suffix, under which sites register their domains; no page's "
            "domain is a public suffix: name the sites",
        ),
    ]:
        response = client.post(
            f"{API}/segments", headers=headers, json={"name": "s", "rules": rules}
        )
        assert response.status_code == 422, response.text
        assert response.json() == {
            "error": "validation_error",
            "message": f"Invalid value for '{field}': {problem}",
        }
    # what the inventory keys pages by is accepted: a site, a subdomain, an IDN, and a host
    # without a registrable domain (an intranet page, with private networks allowed)
    fine = {
        "domains": ["nytimes.com", "www.bbc.co.uk", "bücher.de", "intranet", "10.0.0.7", "[::1]"]
    }
    created = client.post(f"{API}/segments", headers=headers, json={"name": "ok", "rules": fine})
    assert created.status_code == 201, created.text
    # a segment stored with such a domain before the check can be sent back as it was read
    stored = {"keywords": ["gpu"], "exclude": {"domains": ["http://old.example.com/"]}}
    url, read = _stored_before_the_limits(client, headers, db, stored)
    response = client.put(url, headers=headers, json={"name": "x", "rules": read["rules"]})
    assert response.status_code == 200, response.text
    grown = {**stored, "exclude": {"domains": ["http://old.example.com/", "co.uk"]}}
    refused = client.put(url, headers=headers, json={"rules": grown})
    assert refused.status_code == 422
    assert refused.json()["message"].startswith("Invalid value for 'rules.exclude.domains[1]'")


@pytest.mark.parametrize(
    ("rules", "field", "problem", "details"),
    [
        (
            {"keywords": ["gpu", "k" * 201]},
            "rules.keywords[1]",
            "must be at most 200 characters long",
            {"field": "keywords", "per_term": True, "limit": 200},
        ),
        (
            {"keywords": ["gpu"], "exclude": {"domains": [f"s{i}.com" for i in range(1001)]}},
            "rules.exclude.domains",
            "must have at most 1000 items",
            {"field": "exclude.domains", "per_term": False, "limit": 1000},
        ),
    ],
)
def test_a_limit_refusal_is_an_invalid_value_at_its_field(
    rules: dict[str, Any], field: str, problem: str, details: dict[str, Any]
) -> None:
    # One kind of service field error (core.errors.InvalidValue) for the console to read: the
    # field and the problem apart, ``details`` naming the builder's list and its limit.
    with pytest.raises(InvalidValue) as refused:
        check_rule_limits(rules=SegmentRules.model_validate(rules))
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert refused.value.details == details
    assert refused.value.message == f"Invalid value for '{field}': {problem}"
