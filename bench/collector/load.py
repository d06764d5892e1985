"""The pixel traffic the collector benchmarks send: N distinct page URLs over many domains.

Each URL is the GIF fallback of Beacon's script tag with a DSP's macros expanded: the page
(`url`, as `location.href`) plus `site`, `page_url`, creative, placement and deal ids and a
cache buster. 200 URLs over 10 news sites is the load the first collector figures used;
real publisher networks and DSP campaigns spread impressions over tens of thousands of
pages a day, so `distinct_urls=50_000` spreads them over 2,000 domains (25 pages each).
"""

from __future__ import annotations

import random
from urllib.parse import quote

UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Roku/DVP-12.5 (12.5.0.4178-C3)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
]  # fmt: skip
SITES = ["www.nytimes.com", "www.bbc.co.uk", "edition.cnn.com", "www.theguardian.com", "www.espn.com",
         "www.lemonde.fr", "www.spiegel.de", "techcrunch.com", "www.reuters.com", "spam-site.biz"]  # fmt: skip
PAGES_PER_DOMAIN = 25
_TLDS = ("com", "co.uk", "de", "fr", "net", "org", "com.au", "io")


def domains(distinct_urls: int) -> list[str]:
    """The publisher hosts: the 10 news sites up to 200 URLs, else one per 25 pages."""
    if distinct_urls <= 200:
        return SITES
    rng = random.Random(11)
    count = max(len(SITES), distinct_urls // PAGES_PER_DOMAIN)
    return [f"www.publisher{i}-{rng.randrange(10**6)}.{rng.choice(_TLDS)}" for i in range(count)]


def pixel_paths(campaign_id: int, distinct_urls: int = 200) -> list[str]:
    """``distinct_urls`` GIF request targets, each for its own page URL (deterministic)."""
    rng = random.Random(7)
    hosts = domains(distinct_urls)
    paths = []
    for i in range(distinct_urls):
        site = hosts[i % len(hosts)] if distinct_urls > 200 else rng.choice(hosts)
        page = f"https://{site}/2026/01/{rng.randrange(1, 28):02d}/article-{i}-{rng.randrange(5000)}.html"
        declared = site.removeprefix("www.") if rng.random() > 0.05 else "nytimes.com"
        query = (
            f"url={quote(page, safe='')}&site={declared}&page_url={quote(page, safe='')}"
            f"&creative_id={rng.randrange(10**6)}&placement_id={rng.randrange(10**4)}"
            f"&deal_id=classify-ttd-{i % 13}&cb={rng.randrange(10**12)}"
        )
        paths.append(f"/px/{campaign_id}.gif?{query}")
    rng.shuffle(paths)
    return paths
