"""The enrichment caches change nothing: cached and uncached paths give identical keys."""

from __future__ import annotations

import datetime as dt
import random
from urllib.parse import parse_qsl, quote

import orjson
import pytest

from beacon.pixel.enrich import HitRejected
from beacon.pixel.geo import CountryResolver
from beacon.pixel.hits import HitEnricher
from beacon.pixel.ivt import ActivityRule, InvalidTrafficDetector
from beacon.pixel.payloads import query_fields
from beacon.pixel.records import beacon_record, event_record, gif_record
from beacon.pixel.rollups import RollupKey

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
AGENTS = [
    CHROME,
    IPHONE,
    "Roku/DVP-9.10 (519.10E04111A)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)",
    "HeadlessChrome/120.0",
    "",
    "-",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Ã©tÃ© Mobile",  # UTF-8 read as latin-1
]
# Home addresses (some repeated a lot, to trip the activity rule), a data center (AWS), a
# private proxy, IPv6, garbage, and the trusted proxy whose headers are believed.
ADDRESSES = ["71.192.0.1", "81.2.69.142", "1.178.1.9", "192.168.1.4", "2001:4860::8", "x"]
ADDRESSES += ["10.0.0.7", "[2a00:1450::1]:443", "203.0.113.9:5555"]
HEADERS: list[dict[str, str] | None] = [
    None,
    {},
    {"x-forwarded-for": "81.2.69.142, 10.0.0.2"},
    {"cf-ipcountry": "de"},
    {"cf-ipcountry": "T1", "x-forwarded-for": "71.192.0.1"},
    {"sec-purpose": "prefetch"},
    {"signature-agent": '"https://chatgpt.com"'},
    {"signature-agent": 'sig1="https://agents.example.com"', "signature-input": "x"},
    {"signature-agent": "?1"},
]
PAGES = [
    "https://www.bbc.co.uk/news/1",
    "https://News.Example.com:443/a?utm_source=x&id=3&gclid=9#top",
    "https://alice.blogspot.com/p?twclid=1&k=v",
    "https://tpc.googlesyndication.com/safeframe/1-0-40/html/container.html",
    "http://[2001:db8::1]:8080/x",
    "ftp://nope.example.com/",
    "not a url",
    "https://bücher.de/seite",
]
MIDNIGHT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
TIMES = [MIDNIGHT - 1e-7, MIDNIGHT - 3e-7, MIDNIGHT - 2e-6, MIDNIGHT, MIDNIGHT + 59.5, 1.0]


def busters(rng: random.Random) -> list[str | None]:
    return [
        None,
        "",
        str(rng.randrange(10**12)),
        "%%CACHEBUSTER%%",
        quote("%%CACHEBUSTER%%", safe=""),
        "a+b%20c",
        "7" * 80,
        "[timestamp]",
        "42",  # a fixed buster: replays of one client are activity
    ]


def gif_query(rng: random.Random) -> str:
    page = rng.choice(PAGES)
    fields = [f"url={quote(page, safe='')}"]
    if rng.random() < 0.3:
        fields.append(f"ref={quote(rng.choice(PAGES), safe='')}")
    fields.append(f"site={rng.choice(['bbc.co.uk', 'example.com', '%25%25SITE%25%25', ''])}")
    fields.append(f"creative_id={rng.randrange(3)}")
    if rng.random() < 0.1:
        fields.append("page_url=https%253A%252F%252Fwww.bbc.co.uk%252Fx")
    if rng.random() < 0.05:
        fields.append("k" * 70 + "=v")  # macro key too long
    if rng.random() < 0.05:
        fields.append("bad=%01")  # control character
    if rng.random() < 0.03:
        fields.extend(f"m{i}=v" for i in range(25))  # too many macros
    if rng.random() < 0.02:
        fields.extend("x=1" for _ in range(100))  # too many fields
    if rng.random() < 0.05:
        fields.append("note=caf%C3%A9+cr%C3%A8me")
    buster = rng.choice(busters(rng))
    if buster is not None:
        fields.insert(rng.randrange(len(fields) + 1), f"cb={buster}")
    if rng.random() < 0.04:
        fields.append(f"cb={rng.randrange(100)}")  # two cache busters
    if rng.random() < 0.04:
        fields.insert(0, "c%62=encoded")  # a cache buster under an encoded name
    if rng.random() < 0.03:
        fields.append("&&empty=&noequals")
    query = "&".join(fields)
    if rng.random() < 0.03:
        query = "note=été&" + query  # non-ASCII bytes, as the collector stores them
    return query


def sample(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    records: list[bytes] = []
    for i in range(count):
        ts = rng.choice(TIMES) + (i // 50) * 0.5
        ip, ua = rng.choice(ADDRESSES), rng.choice(AGENTS)
        headers, referer = rng.choice(HEADERS), rng.choice(["", *PAGES])
        roll = rng.random()
        if roll < 0.8:
            records.append(gif_record(ts, 1 + i % 3, ip, gif_query(rng), referer, ua, headers))
        elif roll < 0.88:
            beacon = {"url": rng.choice(PAGES), "cb": rng.choice([str(i), "42", 7, None])}
            beacon |= rng.choice(BEACON_EXTRAS)
            if rng.random() < 0.5:
                beacon["iid"] = f"{i:032x}"
            body = orjson.dumps(beacon).decode()
            records.append(beacon_record(ts, 1, ip, body, referer, ua, headers))
        elif roll < 0.94:
            records.append(
                event_record(
                    ts=ts, campaign_id=2, url=rng.choice(PAGES), user_agent=ua,
                    ip=rng.choice([None, ip]), country=rng.choice([None, "FR"]),
                    macros={"site": "example.com"},
                )
            )  # fmt: skip
        else:
            records.append(rng.choice(CORRUPT))
    return records


BEACON_EXTRAS: list[dict[str, object]] = [
    {"site": "bbc.co.uk"},
    {"site": "example.com", "ref": "https://www.bbc.co.uk/"},
    {"creative_id": 12.5, "flag": True},  # a boolean: malformed
    {f"m{n}": "v" for n in range(25)},  # too many macros
    {"k" * 70: "v"},
    {"note": "caf\u00e9"},  # non-ASCII once the collector decoded it as latin-1
]
CORRUPT = [
    b'["b", 1.0, 1, "1.2.3.4", "not json", "", "UA", null]',
    b'["b", 1.0, 1, "1.2.3.4", "[1, 2]", "", "UA", null]',
    b"not json",
    b'["g", 1.0, 1]',
    b'["g", "x", 1, "1.2.3.4", "", "", "", null]',
    b'["g", 1e300, 1, "1.2.3.4", "", "", "", null]',
    b'["g", 1.0, 1, 7, "url=https%3A%2F%2Fa.com%2F", "", "UA", null]',
    b'["g", 1.0, 1, "1.2.3.4", 5, "", "UA", null]',
    b'["g", 1.0, 1, "1.2.3.4", "cb=1", "", "UA", ["list"]]',
    b'["g", 1.0, 1, "1.2.3.4", "cb=1", "", "UA", {"cf-ipcountry": 5}]',
    b'["g", 1.0, 1, "1.2.3.4", "cb=1", null, "UA", null]',
    b'["z", 1.0, 1, "1.2.3.4", "", "", "UA", null]',
]


def enricher(cache_entries: int) -> HitEnricher:
    detector = InvalidTrafficDetector(activity=ActivityRule(max_per_minute=5))
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    return HitEnricher(resolver, detector, cache_entries=cache_entries)


def outcomes(enricher: HitEnricher, records: list[bytes]) -> list[RollupKey | str]:
    results: list[RollupKey | str] = []
    for record in records:
        try:
            results.append(enricher.count_key(record))
        except HitRejected as exc:
            results.append(f"rejected {exc.reason}: {exc}")
        except Exception as exc:  # whatever the reference path lets through, both must
            results.append(f"raised {type(exc).__name__}")
    return results


@pytest.mark.parametrize("cache_entries", [65_536, 3])
def test_cached_keys_are_the_uncached_keys(cache_entries: int) -> None:
    records = sample(seed=19, count=6000)
    records += records  # the second pass is answered from the caches
    uncached = outcomes(enricher(0), records)
    cached_enricher = enricher(cache_entries)
    cached = outcomes(cached_enricher, records)
    assert cached == uncached
    keys = [key for key in uncached if isinstance(key, RollupKey)]
    reasons = {key.ivt_reason for key in keys}
    rejections = {result.split(":")[0] for result in uncached if isinstance(result, str)}
    # The sample exercises what the caches must not change.
    assert {"", "activity", "datacenter", "prefetch", "known_crawler", "empty_ua"} <= reasons
    assert {"rejected corrupt_record", "rejected too_many_params"} <= rejections
    assert {"rejected macro_key_too_long", "rejected too_many_macros"} <= rejections
    assert {key.date for key in keys} >= {dt.date(2026, 2, 28), dt.date(2026, 3, 1)}
    assert any(key.geo == "DE" for key in keys) and any(key.misrepresented for key in keys)
    assert "rejected malformed_beacon" in rejections
    for cache in ("pages", "beacon_pages"):
        info = cached_enricher.cache_info()[cache]
        assert info.hits > 0 and info.currsize <= cache_entries


def test_the_activity_rule_still_counts_every_cached_hit() -> None:
    # One client loading one page: every load after the fifth in a minute is activity, although
    # all of them share the cached page, client and User-Agent entries.
    cached = enricher(65_536)
    query = "url=https%3A%2F%2Fwww.bbc.co.uk%2Fnews%2F1&site=bbc.co.uk"
    keys = [
        cached.count_key(gif_record(MIDNIGHT + i, 1, "71.192.0.1", f"{query}&cb={i}", "", CHROME, None))
        for i in range(8)
    ]  # fmt: skip
    assert [key.ivt_reason for key in keys] == [""] * 5 + ["activity"] * 3
    assert cached.cache_info()["pages"].hits == 7
    replay = gif_record(MIDNIGHT + 9, 2, "81.2.69.142", f"{query}&cb=77", "", CHROME, None)
    assert [cached.count_key(replay).ivt_reason for _ in range(2)] == ["", "activity"]


def test_the_count_key_is_a_rollup_key() -> None:
    record = gif_record(MIDNIGHT, 4, "81.2.69.142", "url=https%3A%2F%2Fa.bbc.co.uk%2F&cb=1", "", IPHONE, None)  # fmt: skip
    key = enricher(65_536).count_key(record)
    assert isinstance(key, RollupKey)
    assert (key.campaign_id, key.domain, key.url, key.device, key.geo) == (
        4, "bbc.co.uk", "https://a.bbc.co.uk/", "mobile", "GB",
    )  # fmt: skip
    assert key == enricher(0).count_key(record)


def test_the_cached_query_parser_is_parse_qsl() -> None:
    rng = random.Random(5)
    alphabet = "ab=&%+2F0C3é€ 9x"
    for _ in range(20_000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randrange(20)))
        assert query_fields(query) == parse_qsl(query, errors="replace"), query
