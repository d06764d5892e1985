"""The pixel collector over HTTP: what a hit records, what is never counted, metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.core.db import Database
from beacon.pixel.collector import TRANSPARENT_GIF
from beacon.pixel.models import PixelRollup

UA = {
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "ipad": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "roku": "Roku/DVP-12.5 (12.5.0.4178-C3)",
    "chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "gptbot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "chatgpt": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; "
    "ChatGPT-User/1.0; +https://openai.com/bot",
}
PROXY = ("10.1.2.3", 40000)  # inside BEACON_TRUSTED_PROXIES
VISITOR = ("71.192.0.1", 40000)  # a direct, untrusted peer (US, not a data center)


@pytest.fixture
def pixel_settings() -> dict[str, Any]:
    return {"trusted_proxies": "10.0.0.0/8"}  # PROXY, the test client's address


@pytest.fixture
def via_proxy(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app, client=PROXY) as client:
        yield client


@pytest.fixture
def direct(pixel_app: FastAPI, via_proxy: TestClient) -> TestClient:
    return TestClient(pixel_app, client=VISITOR)  # lifespan already running via via_proxy


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/v1/pixel/campaigns",
        json={"name": "EV", "use_case": "campaign_reporting"},
        headers=headers,
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def _assert_gif(response: Any) -> None:
    assert response.status_code == 200
    assert response.content == TRANSPARENT_GIF and len(response.content) == 43
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == "no-store"


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.transaction() as session:
        rollups = session.scalars(select(PixelRollup)).all()
        rows = [
            (
                r.domain,
                r.url,
                r.device,
                r.geo,
                r.traffic_type,
                r.agent,
                r.macros,
                r.misrepresented,
                r.hits,
            )
            for r in rollups
        ]
        dates = {r.date for r in rollups}
    assert dates <= {dt.datetime.now(dt.UTC).date()}
    return sorted(rows)


def test_hits_are_enriched_and_counted_exactly(
    via_proxy: TestClient,
    direct: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
) -> None:
    cid = _campaign(via_proxy, headers)
    gif = f"/px/{cid}.gif"
    article = "https://www.nytimes.com/2026/01/15/tech/chips.html"
    # A trusted CDN/proxy says the country. Each impression has its own cache buster, and
    # still all three count in one row: `cb` is never a macro.
    for n in range(3):
        _assert_gif(
            via_proxy.get(
                gif,
                params={"site": "nytimes.com", "creative_id": "42", "cb": f"86753{n}"},
                headers={"User-Agent": UA["iphone"], "Referer": article, "CF-IPCountry": "fr"},
            )
        )
    # `url` wins over the Referer; click ids and the fragment are not part of the page.
    _assert_gif(
        via_proxy.get(
            gif,
            params={"url": "https://News.BBC.co.uk/sport/1?gclid=abc#top", "cb": "%%CACHEBUSTER%%"},
            headers={
                "User-Agent": UA["ipad"],
                "Referer": "https://ads.example.net/",
                "CF-IPCountry": "GB",
            },
        )
    )
    # Through the proxy without a CDN header: the X-Forwarded-For client is looked up.
    _assert_gif(
        via_proxy.get(
            gif,
            headers={
                "User-Agent": UA["roku"],
                "Referer": article,
                "X-Forwarded-For": "81.2.69.142, 10.9.9.9",
            },
        )
    )
    # A direct visitor's own CF-IPCountry / X-Forwarded-For are not believed: its IP is.
    _assert_gif(
        direct.get(
            gif,
            params={"url": article},
            headers={
                "User-Agent": UA["chrome"],
                "CF-IPCountry": "DE",
                "X-Forwarded-For": "81.2.69.142",
            },
        )
    )
    # Inventory misrepresentation: the DSP says nytimes.com, the page is spam-site.biz.
    _assert_gif(
        direct.get(
            gif,
            params={"google-site": "nytimes.com", "url": "https://spam-site.biz/p/1"},
            headers={"User-Agent": UA["chrome"]},
        )
    )
    _assert_gif(direct.get(gif, params={"url": article}, headers={"User-Agent": UA["googlebot"]}))
    _assert_gif(direct.get(gif, params={"url": article}, headers={"User-Agent": UA["gptbot"]}))
    # The script tag's beacon: text/plain JSON; inside an ad iframe `ref` is the page.
    beacon = via_proxy.post(
        f"/px/{cid}",
        content=orjson.dumps(
            {
                "url": "https://tpc.googlesyndication.com/safeframe/1-0-40/html/container.html",
                "ref": article,
                "site": "nytimes.com",
                "cb": "123",
            }
        ),
        headers={
            "User-Agent": UA["chatgpt"],
            "Content-Type": "text/plain;charset=UTF-8",
            "CF-IPCountry": "US",
        },
    )
    assert beacon.status_code == 204 and beacon.headers["cache-control"] == "no-store"

    result = pixel_app.state.pixel.flush()
    assert result.counted == 10 and not result.rejected

    nyt = "https://www.nytimes.com/2026/01/15/tech/chips.html"
    assert _rows(db) == sorted(
        [
            (
                "nytimes.com",
                nyt,
                "mobile",
                "FR",
                "human",
                "",
                '{"creative_id":"42","site":"nytimes.com"}',
                False,
                3,
            ),
            (
                "bbc.co.uk",
                "https://news.bbc.co.uk/sport/1",
                "tablet",
                "GB",
                "human",
                "",
                "",
                False,
                1,
            ),
            ("nytimes.com", nyt, "ctv", "GB", "human", "", "", False, 1),
            ("nytimes.com", nyt, "desktop", "US", "human", "", "", False, 1),
            (
                "spam-site.biz",
                "https://spam-site.biz/p/1",
                "desktop",
                "US",
                "human",
                "",
                '{"google-site":"nytimes.com"}',
                True,
                1,
            ),
            ("nytimes.com", nyt, "desktop", "US", "bot", "Googlebot", "", False, 1),
            ("nytimes.com", nyt, "desktop", "US", "ai_agent", "GPTBot", "", False, 1),
            (
                "nytimes.com",
                nyt,
                "desktop",
                "US",
                "ai_agent",
                "ChatGPT-User",
                '{"site":"nytimes.com"}',
                False,
                1,
            ),
        ]
    )
    # Flushing again adds nothing.
    assert pixel_app.state.pixel.flush().counted == 0
    assert sum(row[-1] for row in _rows(db)) == 10


def test_uncountable_hits_still_get_the_gif(
    via_proxy: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(via_proxy, headers)
    _assert_gif(via_proxy.get("/px/987654.gif", headers={"User-Agent": UA["chrome"]}))
    _assert_gif(
        via_proxy.get(f"/px/{cid}.gif", params={"url": "https://a.example.com/" + "x" * 9000})
    )
    _assert_gif(via_proxy.get(f"/px/{cid}.gif", headers={"Referer": "https://a.com/" + "r" * 9000}))
    _assert_gif(via_proxy.get("/px/not-a-number.gif"))
    _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={f"k{i}": "v" for i in range(25)}))
    _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={"site": "x" * 600}))
    assert via_proxy.post(f"/px/{cid}", content=b"not json").status_code == 204
    assert via_proxy.post(f"/px/{cid}", content=b"{" + b"x" * 20000).status_code == 204

    result = pixel_app.state.pixel.flush()
    assert result.counted == 0
    assert dict(result.rejected) == {
        "unknown_campaign": 1,
        "too_many_macros": 1,
        "macro_value_too_long": 1,
        "malformed_beacon": 1,
    }
    assert _rows(db) == []
    metrics = via_proxy.get("/metrics").text
    for reason, count in [
        ("url_too_long", 2),
        ("bad_path", 1),
        ("beacon_too_large", 1),
        ("unknown_campaign", 1),
    ]:
        assert f'beacon_pixel_hits_rejected_total{{reason="{reason}"}} {count}.0' in metrics
    assert 'beacon_pixel_hits_accepted_total{source="gif"} 3.0' in metrics
    assert "beacon_pixel_spool_backlog_bytes 0.0" in metrics


def test_a_campaign_id_past_the_largest_id_is_an_unknown_campaign(
    via_proxy: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    # Anyone may request /px/2147483648.gif: on PostgreSQL (32-bit ids) the flusher's lookup of
    # that id failed with "integer out of range", so the whole spool segment, the hits of real
    # campaigns in it included, was retried forever and never counted.
    cid = _campaign(via_proxy, headers)
    _assert_gif(via_proxy.get("/px/2147483648.gif", headers={"User-Agent": UA["chrome"]}))
    assert (
        via_proxy.post("/px/99999999999", content=b'{"url": "https://a.com/"}').status_code == 204
    )
    viewable = b'{"iid": "abcdefgh12", "ev": "viewable"}'
    assert via_proxy.post("/px/2147483648", content=viewable).status_code == 204
    _assert_gif(
        via_proxy.get(
            f"/px/{cid}.gif",
            params={"url": "https://www.nytimes.com/a"},
            headers={"User-Agent": UA["chrome"]},
        )
    )
    result = pixel_app.state.pixel.flush()
    assert result.counted == 1
    assert dict(result.rejected) == {"unknown_campaign": 2}
    assert sum(row[-1] for row in _rows(db)) == 1


def test_control_characters_in_a_page_url_are_no_poison(
    via_proxy: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    # A NUL in the url field (query or host) was stored as it came: PostgreSQL refuses a NUL
    # in text, so the flush of the whole spool segment failed and was retried forever. As a
    # browser does, a control character in the query is escaped and one in the host makes no
    # URL (the Referer is the page then).
    cid = _campaign(via_proxy, headers)
    chrome = {"User-Agent": UA["chrome"]}
    _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={"url": "https://a.com/x?q=\x00\x01"}))
    body = b'{"url": "https://a\\u0000b.com/x", "ref": "https://www.nytimes.com/r"}'
    assert via_proxy.post(f"/px/{cid}", content=body, headers=chrome).status_code == 204
    result = pixel_app.state.pixel.flush()
    assert (result.counted, result.failed) == (2, 0)
    with db.transaction() as session:
        urls = set(session.scalars(select(PixelRollup.url)))
    assert urls == {"https://a.com/x?q=%00%01", "https://www.nytimes.com/r"}


def test_a_signed_agent_with_a_browser_user_agent_is_counted_as_its_agent(
    direct: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    # ChatGPT agent browses with Chrome's User-Agent and signs with Web Bot Auth: the
    # collector keeps its Signature-Agent and Signature-Input, the flusher reads them.
    cid = _campaign(direct, headers)
    article = "https://www.nytimes.com/2026/01/15/tech/chips.html"
    signed = {
        "User-Agent": UA["chrome"],
        "Signature-Agent": '"https://chatgpt.com"',
        "Signature-Input": 'sig1=("@authority" "@method" "@path" "signature-agent");'
        'created=1754340838;keyid="otMqcjr17mGyruktGvJU8oojQTSMHlVm7uO-lrcqbdg";'
        'tag="web-bot-auth"',
        "Signature": "sig1=:1AxfqHocTf693inKKMQ7NRoHoWAZ9d==:",
    }
    other = signed | {"Signature-Agent": 'sig1="https://agents.example.com"'}
    for request_headers in (signed, other):
        gif = direct.get(f"/px/{cid}.gif", params={"url": article}, headers=request_headers)
        _assert_gif(gif)
    assert pixel_app.state.pixel.flush().counted == 2
    assert _rows(db) == [
        ("nytimes.com", article, "desktop", "US", "ai_agent", "chatgpt.com", "", False, 1),
        ("nytimes.com", article, "desktop", "US", "bot", "agents.example.com", "", False, 1),
    ]


def test_head_and_other_methods(via_proxy: TestClient) -> None:
    head = via_proxy.head("/px/1.gif")
    assert head.status_code == 200 and head.headers["cache-control"] == "no-store"
    assert via_proxy.put("/px/1.gif").status_code == 405


def test_a_replayed_segment_is_not_counted_twice(
    via_proxy: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(via_proxy, headers)
    for _ in range(5):
        _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={"url": "https://example.com/"}))
    pipeline = pixel_app.state.pixel
    sealed = pipeline.spool.seal()
    copy = sealed.with_name("copy-" + sealed.name)
    copy.write_bytes(sealed.read_bytes())
    assert pipeline.consumer.process_segment(sealed).counted == 5
    # The same bytes under the same name again, as if the file survived a crash after commit.
    copy.rename(sealed)
    assert pipeline.flush().counted == 0
    assert not sealed.exists()
    assert sum(row[-1] for row in _rows(db)) == 5


def test_backlog_over_the_cap_answers_503(
    via_proxy: TestClient, pixel_app: FastAPI, headers: dict[str, str]
) -> None:
    cid = _campaign(via_proxy, headers)
    pixel_app.state.pixel.collector.overloaded = True
    assert via_proxy.get(f"/px/{cid}.gif").status_code == 503
    assert via_proxy.post(f"/px/{cid}", content=b"{}").status_code == 503
    pixel_app.state.pixel.collector.overloaded = False
    _assert_gif(via_proxy.get(f"/px/{cid}.gif"))


def test_a_poison_segment_is_quarantined_and_the_rest_flushed(
    via_proxy: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = _campaign(via_proxy, headers)
    pipeline = pixel_app.state.pixel
    enricher = pipeline.consumer.enricher
    count_key = enricher.count_key

    def buggy_count_key(record: bytes) -> Any:
        if b"poison.example" in record:
            raise KeyError("a bug in the enrichment")  # neither a database nor an OS error
        return count_key(record)

    monkeypatch.setattr(enricher, "count_key", buggy_count_key)
    _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={"url": "https://poison.example/"}))
    poison = pipeline.spool.seal()
    for _ in range(3):
        _assert_gif(via_proxy.get(f"/px/{cid}.gif", params={"url": "https://example.com/"}))

    result = pipeline.flush()
    assert (result.quarantined, result.counted, result.failed) == (1, 3, 0)
    assert not poison.exists()
    assert (pipeline.spool.directory / "quarantine" / poison.name).exists()
    assert pipeline.spool.sealed_segments() == []
    assert sum(row[-1] for row in _rows(db)) == 3
    metrics = via_proxy.get("/metrics").text
    assert "beacon_pixel_segments_quarantined_total 1.0" in metrics
    assert pipeline.flush().quarantined == 0  # moved aside: never retried
