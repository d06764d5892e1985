"""What the scale-out run sends: its sizes, the traffic, the requests, the shared settings."""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ACCOUNT = "scale"
WEBHOOK_SECRET = "scale-out-webhook-secret"
SEED = 20261123

HUMAN_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
)
BOT_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
AI_AGENTS = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
)
# domain -> (IAB category, sentiment): every page of a domain has its site's topic
SITES = {
    "scale-autoweekly.com": ("IAB2", "positive"),
    "scale-chipwire.com": ("IAB19", "neutral"),
    "scale-sportsdaily.com": ("IAB17", "positive"),
    "scale-wanderlust.com": ("IAB20", "positive"),
    "scale-kitchentable.com": ("IAB8", "positive"),
    "scale-worldreport.com": ("IAB17", "negative"),
    "scale-moneydesk.com": ("IAB13", "neutral"),
    "scale-arbitrage-clicks.com": ("IAB19", "neutral"),
}
PATHS = ("/", "/latest", "/2026/11/review", "/2026/11/guide", "/2026/11/interview")
# The arbitrage site declares a premium domain in the DSP's site macro: a misrepresentation.
DECLARED_SITE = {"scale-arbitrage-clicks.com": "scale-chipwire.com"}
SEGMENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Tech and autos", {"iab_categories": ["IAB19", "IAB2"], "min_confidence": 0.5}),
    (
        "Sports and travel, brand safe",
        {"iab_categories": ["IAB17", "IAB20"], "exclude": {"sentiment": ["negative"]}},
    ),
)
DSPS = ("The Trade Desk", "DV360", "Xandr", "Amazon DSP")
# (first day back, last day back, dimensions); a range without today expects no hit
REPORTS: tuple[tuple[int, int, list[str]], ...] = (
    (29, 0, ["domain", "device"]),
    (6, 0, ["date"]),
    (13, 0, ["device"]),
    (0, 0, ["url"]),
    (60, 31, ["domain"]),
    (2, 0, ["geo", "device"]),
)
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
TEMPLATE = {
    "name": "Scale-out newsletter",
    "channel": "email",
    "status": "published",
    "content": {
        "subject": "{{ contact.firstName }}, this week's picks",
        "html": "<p>Hi {{ contact.firstName }},</p><p>This week's picks.</p>"
        "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
        "text": "Hi {{ contact.firstName }}, this week's picks. Unsubscribe: {{ unsubscribe_url }}",
        "fromName": "Beacon Scale-out",
        "fromAddress": "news@scale-shop.com",
    },
}


@dataclass(frozen=True)
class Sizes:
    """How big the run is: the defaults are the documented run; the e2e test passes less."""

    hits: int = 4000
    threads: int = 8
    reports: int = 6
    activations: int = 4
    contacts: int = 3000
    lease_seconds: float = 3.0

    @property
    def batch_size(self) -> int:
        """Recipients per messaging batch: several batches for each worker."""
        return max(20, self.contacts // 8)

    @property
    def chunk_size(self) -> int:
        """Recipients handed to the provider between two commits."""
        return max(5, self.batch_size // 5)


def pages() -> list[str]:
    """Every page the pixel hits come from, all classified before the run."""
    return [f"https://www.{domain}{path}" for domain in SITES for path in PATHS]


def prepare_account(database_url: str) -> dict[str, str]:
    """Classify every page, as the contextual worker would (nothing is fetched: the pages do
    not exist), and create the account's OAuth client; its credentials."""
    from beacon.contextual.classification_repository import save_classification
    from beacon.contextual.engine import ENGINE_VERSION
    from beacon.core.db import Database
    from beacon.core.timefmt import utcnow
    from beacon.messaging.oauth import service as oauth

    db = Database(database_url)
    with db.transaction() as session:
        for page in pages():
            domain = page.split("/")[2].removeprefix("www.")
            category, sentiment = SITES[domain]
            save_classification(
                session,
                url=page,
                domain=domain,
                classification={
                    "iab_categories": [{"id": category, "name": category, "confidence": 0.9}],
                    "keywords": [domain.removeprefix("scale-").split(".")[0]],
                    "entities": [],
                    "sentiment": {"label": sentiment, "score": 0.5},
                },
                engine_version=ENGINE_VERSION,
                classified_at=utcnow(),
            )
        client = oauth.create_client(
            session=session, account_name=ACCOUNT, scopes=" ".join(oauth.SCOPES)
        )
    db.dispose()
    return {"client_id": client.client_id, "client_secret": client.client_secret}


def environment(
    *, database_url: str, sizes: Sizes, smtp_url: str, webhook_url: str, work_dir: Path
) -> dict[str, str]:
    """The settings every process shares: one PostgreSQL, no in-process worker, short leases."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEACON_")}
    env.update(
        {
            "BEACON_DATABASE_URL": database_url,
            "BEACON_DATA_DIR": str(work_dir / "cli"),
            "BEACON_WORKER_IN_PROCESS": "false",
            # the load balancer's address in production: separate workers need it for the
            # unsubscribe links they write (nothing in the run follows them)
            "BEACON_PUBLIC_URL": "http://beacon.scaleout.example",
            "BEACON_JOB_LEASE_SECONDS": str(sizes.lease_seconds),
            "BEACON_PIXEL_FLUSH_INTERVAL": "0.5",
            "BEACON_RATE_LIMIT": "100000/minute",
            "BEACON_MESSAGING_WRITE_RATE_LIMIT": "100000/minute",
            "BEACON_MESSAGING_READ_RATE_LIMIT": "100000/minute",
            "BEACON_MESSAGING_ANALYTICS_RATE_LIMIT": "100000/minute",
            "BEACON_SMTP_URL": smtp_url,
            "BEACON_MESSAGING_BATCH_SIZE": str(sizes.batch_size),
            "BEACON_MESSAGING_INJECT_CHUNK_SIZE": str(sizes.chunk_size),
            "BEACON_MESSAGING_SCHEDULER_INTERVAL_SECONDS": "0.5",
            "BEACON_MESSAGING_UNKNOWN_OUTCOME_POLICY": "fail",
            "BEACON_ACTIVATION_WEBHOOK_URL": webhook_url,
            "BEACON_ACTIVATION_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "BEACON_LOG_LEVEL": "INFO",
        }
    )
    return env


def pixel_hit(
    rng: random.Random, *, base_url: str, campaign_id: int
) -> tuple[str, dict[str, str], str]:
    """One pixel load as The Trade Desk's tag expands it: (URL, headers, traffic kind)."""
    domain = rng.choice(list(SITES))
    page = f"https://www.{domain}{rng.choice(PATHS)}"
    roll = rng.random()
    kind, agents = (
        ("human", HUMAN_AGENTS)
        if roll < 0.85
        else ("bot", BOT_AGENTS)
        if roll < 0.93
        else ("ai_agent", AI_AGENTS)
    )
    params = {
        "site": DECLARED_SITE.get(domain, domain),
        "page_url": page,
        "creative_id": rng.choice(("cr-300x250-a", "cr-728x90-b", "cr-320x50-m")),
        "placement_id": f"adg-{rng.randint(1, 6)}",
        "deal_id": "ttd-scale-deal",
        "cb": str(rng.getrandbits(40)),
    }
    headers = {
        "User-Agent": rng.choice(agents),
        "Referer": page,
        "Accept": "image/avif,image/webp,image/*,*/*;q=0.8",
    }
    return f"{base_url}/px/{campaign_id}.gif?{urlencode(params)}", headers, kind


def report_request(index: int, *, campaign_id: int, today: dt.date) -> dict[str, Any]:
    """The ``index``-th campaign report: the ranges and dimensions of REPORTS, in rounds."""
    first, last, dimensions = REPORTS[index % len(REPORTS)]
    first += 7 * (index // len(REPORTS))  # a distinct request on each round
    return {
        "campaign_id": campaign_id,
        "start_date": (today - dt.timedelta(days=first)).isoformat(),
        "end_date": (today - dt.timedelta(days=last)).isoformat(),
        "dimensions": dimensions,
        "include_classification": index % 2 == 0,
    }


def activation_request(index: int, *, segment_ids: list[int], today: dt.date) -> dict[str, Any]:
    """The ``index``-th activation, in seed 003's shape (every third one on both segments)."""
    return {
        "segment_ids": segment_ids if index % 3 == 2 else [segment_ids[index % 2]],
        "dsp": DSPS[index % len(DSPS)],
        "buyer_seat": f"seat-scale-{index:03d}",
        "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=31)).isoformat(),
        "geo": ["US", "CA"],
        "formats": ["banner", "video"],
        "devices": ["desktop", "mobile"],
        "kpis": [{"metric": "ctr", "target": 0.003}, {"metric": "viewability", "target": 0.7}],
        "budget": {"amount": 50000, "currency": "USD"},
    }


def contacts(count: int) -> list[dict[str, Any]]:
    """The messaging audience: every contact on the run's list, each with an email address."""
    return [
        {
            "externalId": f"scale-{i:05d}",
            "email": f"reader{i:05d}@example.com",
            "firstName": FIRST_NAMES[i % len(FIRST_NAMES)],
            "attributes": {"list": "scale-out", "plan": "pro" if i % 3 else "free"},
        }
        for i in range(count)
    ]
