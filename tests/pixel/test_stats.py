"""`GET /v1/pixel/campaigns/{id}/stats`: exact numbers from every table it reads, validation,
isolation and the stats cache following new hits."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel.rollups import RollupKey, canonical_macros, increment

D1, D2, D3 = dt.date(2026, 1, 15), dt.date(2026, 1, 16), dt.date(2026, 1, 20)
NYT = canonical_macros({"google-site": "nytimes.com"})


def new_campaign(client: TestClient, headers: dict[str, str], use_case: str) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "c", "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def add_hits(db: Database, counts: dict[RollupKey, int]) -> None:
    with db.transaction() as session:
        increment(session, counts)


def stats_url(cid: int, **params: Any) -> str:
    query = {"start_date": "2026-01-15", "end_date": "2026-01-16", **params}
    return f"/v1/pixel/campaigns/{cid}/stats?" + "&".join(
        f"{k}={v}"
        for k, values in query.items()
        for v in (values if isinstance(values, list) else [values])
    )


def get_stats(
    client: TestClient, headers: dict[str, str], cid: int, **params: Any
) -> dict[str, Any]:
    response = client.get(stats_url(cid, **params), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def campaign(client: TestClient, headers: dict[str, str], db: Database) -> int:
    cid = new_campaign(client, headers, "campaign_reporting")

    def key(day: dt.date, domain: str, path: str, device: str, geo: str, **kw: Any) -> RollupKey:
        return RollupKey(
            cid, day, domain, f"https://{domain}{path}" if domain else "", device, geo, **kw
        )

    add_hits(
        db,
        {
            key(D1, "nytimes.com", "/a", "desktop", "US", macros=NYT): 5,
            key(D1, "nytimes.com", "/b", "mobile", "GB"): 3,
            key(D1, "bbc.com", "/x", "desktop", "GB"): 4,
            key(D1, "nytimes.com", "/a", "desktop", "US", traffic_type="bot", agent="Googlebot"): 2,
            key(
                D1, "nytimes.com", "/a", "desktop", "US", traffic_type="ai_agent", agent="GPTBot"
            ): 1,
            key(D2, "cheap.biz", "/z", "mobile", "US", macros=NYT, misrepresented=True): 6,
            key(D2, "bbc.com", "/x", "tablet", "DE"): 2,
            key(D2, "", "", "ctv", "", traffic_type="bot"): 1,
            key(D3, "nytimes.com", "/a", "desktop", "US"): 100,
        },
    )
    return cid


def test_totals_series_and_every_breakdown_are_exact(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    stats = get_stats(client, headers, campaign)
    assert stats["interval"] == "day" and stats["timezone"] == "UTC"
    totals = stats["totals"]
    assert totals | {"shares": None} == {
        "loads": 24, "human": 20, "bot": 3, "ai_agent": 1, "impressions": 20,
        "shares": None, "misrepresented_impressions": 6, "misrepresented_share": 0.3,
        # no hit came from the script tag: nothing was measurable
        "measurable_impressions": 0, "viewable_impressions": 0, "viewability_rate": None,
    }  # fmt: skip
    assert totals["shares"] == {
        "human": round(20 / 24, 6),
        "bot": 0.125,
        "ai_agent": round(1 / 24, 6),
    }
    assert stats["series"] == [
        {"period": "2026-01-15", "loads": 15, "human": 12, "bot": 2, "ai_agent": 1},
        {"period": "2026-01-16", "loads": 9, "human": 8, "bot": 1, "ai_agent": 0},
    ]
    b = stats["breakdowns"]
    assert [(r["value"], r["loads"], r["human"]) for r in b["domain"]] == [
        ("nytimes.com", 11, 8), ("bbc.com", 6, 6), ("cheap.biz", 6, 6), (None, 1, 0),
    ]  # fmt: skip
    assert [(r["url"], r["impressions"]) for r in b["url"]] == [
        ("https://bbc.com/x", 6), ("https://cheap.biz/z", 6),
        ("https://nytimes.com/a", 5), ("https://nytimes.com/b", 3),
    ]  # fmt: skip
    assert b["url"][0]["share"] == 0.3 and b["url"][0]["domain"] == "bbc.com"
    assert [(r["value"], r["loads"]) for r in b["device"]] == [
        ("desktop", 12), ("mobile", 9), ("tablet", 2), ("ctv", 1),
    ]  # fmt: skip
    assert [(r["value"], r["loads"]) for r in b["country"]] == [
        ("US", 14), ("GB", 7), ("DE", 2), (None, 1),
    ]  # fmt: skip
    assert [(a["agent"], a["type"], a["loads"]) for a in b["agent"]] == [
        ("Googlebot", "bot", 2), ("GPTBot", "ai_agent", 1), (None, "bot", 1),
    ]  # fmt: skip
    gpt = b["agent"][1]
    assert gpt["operator"] == "OpenAI" and gpt["share"] == round(1 / 24, 6)
    operators = {o["operator"]: (o["bot"], o["ai_agent"], o["agents"]) for o in b["operator"]}
    assert operators == {None: (3, 0, ["Googlebot"]), "OpenAI": (0, 1, ["GPTBot"])}
    assert b["misrepresented"] == [
        {
            "declared_domain": "nytimes.com",
            "observed_domain": "cheap.biz",
            "impressions": 6,
            "share": 0.3,
        }
    ]


def test_dimension_selects_breakdowns_and_top_limits_rows(
    client: TestClient, headers: dict[str, str], campaign: int
) -> None:
    stats = get_stats(client, headers, campaign, dimension=["device,country", "url"], top=2)
    assert set(stats["breakdowns"]) == {"device", "country", "url"}
    assert [r["value"] for r in stats["breakdowns"]["device"]] == ["desktop", "mobile"]
    assert len(stats["breakdowns"]["url"]) == 2


@pytest.mark.parametrize(
    "filters",
    [
        {"domain": "nytimes.com"},  # site-days
        {"device": "desktop"},  # stats cache (plus full grain for domains)
        {"country": ["US", "gb"]},
        {"domain": "www.nytimes.com", "device": "desktop"},  # full grain
        {"domain": "nytimes.com,bbc.com", "country": "GB", "device": ["mobile", "desktop"]},
        {"device": "mobile,desktop"},  # comma-separated, as the document says (it was a 422)
        # Device and country without a domain: bots and AI agents read 0 (the console's
        # dashboard showed "0 bots" for a country and device whose bot hits it had counted).
        {"device": "desktop", "country": "US"},
        {"device": ["mobile", "desktop"], "country": ["GB", "US"]},
    ],
)
def test_filters_match_a_brute_force_count(
    client: TestClient, headers: dict[str, str], db: Database, filters: dict[str, Any]
) -> None:
    cid = new_campaign(client, headers, "campaign_optimization")
    rng = random.Random(7)
    counts: Counter[RollupKey] = Counter()
    for _ in range(400):
        domain = rng.choice(["nytimes.com", "bbc.com", "cheap.biz", ""])
        kind, agent = rng.choice(
            [
                ("human", ""),
                ("human", ""),
                ("bot", "Googlebot"),
                ("ai_agent", "ClaudeBot"),
                ("bot", ""),
            ]
        )
        spoof = domain == "cheap.biz" and rng.random() < 0.5
        key = RollupKey(
            cid, D1 + dt.timedelta(days=rng.randrange(3)), domain,
            f"https://{domain}/{rng.randrange(5)}" if domain else "",
            rng.choice(["desktop", "mobile", ""]), rng.choice(["US", "GB", ""]),
            kind, agent, NYT if spoof else "", spoof,
        )  # fmt: skip
        counts[key] += rng.randrange(1, 4)
    add_hits(db, dict(counts))
    stats = get_stats(client, headers, cid, end_date="2026-01-17", top=100, **filters)

    def wanted(values: Any) -> list[str]:
        return [
            v.lower()
            for value in ([values] if isinstance(values, str) else values)
            for v in value.split(",")
        ]

    domains = {d.removeprefix("www.") for d in wanted(filters.get("domain", []))}
    devices = set(wanted(filters.get("device", [])))
    countries = {c.upper() for c in wanted(filters.get("country", []))}
    kept = {
        k: n for k, n in counts.items()
        if (not domains or k.domain in domains) and (not devices or k.device in devices)
        and (not countries or k.geo in countries)
    }  # fmt: skip
    by_type: Counter[str] = Counter()
    for k, n in kept.items():
        by_type[k.traffic_type] += n
    totals = stats["totals"]
    assert (totals["human"], totals["bot"], totals["ai_agent"]) == (
        by_type["human"],
        by_type["bot"],
        by_type["ai_agent"],
    )
    assert totals["misrepresented_impressions"] == sum(
        n for k, n in kept.items() if k.misrepresented and k.traffic_type == "human"
    )
    for dimension, attr in (("domain", "domain"), ("device", "device"), ("country", "geo")):
        expected: Counter[str | None] = Counter()
        for k, n in kept.items():
            expected[getattr(k, attr) or None] += n
        got = {r["value"]: r["loads"] for r in stats["breakdowns"][dimension]}
        assert got == {v: n for v, n in expected.items() if n}, dimension
    urls: Counter[str | None] = Counter()
    for k, n in kept.items():
        if k.traffic_type == "human":
            urls[k.url or None] += n
    assert {r["url"]: r["impressions"] for r in stats["breakdowns"]["url"]} == dict(urls)
    agents: Counter[tuple[str | None, str]] = Counter()
    for k, n in kept.items():
        if k.traffic_type != "human":
            agents[(k.agent or None, k.traffic_type)] += n
    assert {(a["agent"], a["type"]): a["loads"] for a in stats["breakdowns"]["agent"]} == dict(
        agents
    )
    per_day: Counter[str] = Counter()
    for k, n in kept.items():
        per_day[k.date.isoformat()] += n
    assert {p["period"]: p["loads"] for p in stats["series"]} == {
        (D1 + dt.timedelta(days=i)).isoformat(): per_day[(D1 + dt.timedelta(days=i)).isoformat()]
        for i in range(3)
    }


def test_cached_days_follow_new_hits(
    client: TestClient, headers: dict[str, str], db: Database, campaign: int
) -> None:
    before = get_stats(client, headers, campaign, dimension="device")
    assert before["breakdowns"]["device"][0] == {
        "value": "desktop", "loads": 12, "human": 9, "bot": 2, "ai_agent": 1, "share": 0.5,
    }  # fmt: skip
    add_hits(db, {RollupKey(campaign, D1, "bbc.com", "https://bbc.com/y", "desktop", "FR"): 7})
    after = get_stats(client, headers, campaign, dimension="device,country")
    assert after["breakdowns"]["device"][0]["loads"] == 19
    assert ("FR", 7) in [(r["value"], r["loads"]) for r in after["breakdowns"]["country"]]
    assert after["totals"]["loads"] == 31


def test_without_dates_the_last_30_days_ending_today(
    client: TestClient, headers: dict[str, str], db: Database, campaign: int
) -> None:
    today = utcnow().date()
    add_hits(db, {RollupKey(campaign, today, "bbc.com", "https://bbc.com/t", "mobile", "GB"): 3})
    response = client.get(f"/v1/pixel/campaigns/{campaign}/stats", headers=headers)
    assert response.status_code == 200
    stats = response.json()
    assert stats["end_date"] == today.isoformat()
    assert stats["start_date"] == (today - dt.timedelta(days=29)).isoformat()
    assert len(stats["series"]) == 30 and stats["series"][-1]["loads"] == 3
    assert stats["totals"]["loads"] == 3


def test_empty_campaign_has_zero_filled_series(client: TestClient, headers: dict[str, str]) -> None:
    cid = new_campaign(client, headers, "publisher_bot_detection")
    stats = get_stats(client, headers, cid)
    assert stats["totals"]["loads"] == 0 and stats["totals"]["shares"]["human"] == 0.0
    assert [p["loads"] for p in stats["series"]] == [0, 0]
    assert all(rows == [] for rows in stats["breakdowns"].values())


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "message"}
    return str(payload["message"])


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"start_date": "yesterday"}, 400, "'start_date'"),
        ({"end_date": "2026-13-01"}, 400, "'end_date'"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-31"}, 422, "is before start_date"),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, 422, "at most 366"),
        ({"interval": "hour"}, 422, "hourly stats are not available"),
        ({"interval": "week"}, 422, "'interval'"),
        ({"dimension": "os"}, 422, "unknown dimension 'os'"),
        ({"country": "XX"}, 422, "'country'"),
        ({"device": "phone"}, 422, "Invalid value for 'device': unknown device 'phone'"),
        ({"device": "mobile,,desktop"}, 422, "Invalid value for 'device': an item is empty"),
        ({"domain": ",,"}, 422, "Invalid value for 'domain': an item is empty"),
        ({"domain": "nytimes.com,"}, 422, "Invalid value for 'domain': an item is empty"),
        ({"country": ["US", ""]}, 422, "Invalid value for 'country': an item is empty"),
        ({"dimension": "device,,url"}, 422, "Invalid value for 'dimension': an item is empty"),
        ({"domain": "not a domain"}, 422, "'domain'"),
        ({"top": 0}, 422, "'top'"),
        ({"top": 101}, 422, "'top'"),
        ({"colour": "red"}, 400, "Unknown parameter 'colour'"),
    ],
)
def test_bad_parameters_answer_in_the_envelope(
    client: TestClient,
    headers: dict[str, str],
    campaign: int,
    params: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    message = error(client.get(stats_url(campaign, **params), headers=headers), status)
    assert needle in message


def test_another_accounts_campaign_is_404_and_a_key_is_required(
    client: TestClient, campaign: int, key_for: Callable[[str], str]
) -> None:
    other = {"X-API-Key": key_for("globex")}
    message = error(client.get(stats_url(campaign), headers=other), 404)
    assert message == f"Campaign with ID {campaign} not found"
    error(client.get(stats_url(999999), headers=other), 404)
    error(client.get(stats_url(campaign)), 401)
    error(client.get("/v1/pixel/campaigns/0/stats", headers=other), 400)
