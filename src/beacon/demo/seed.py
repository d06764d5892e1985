"""The demo account: what a newcomer sees on the first `make run`.

Two steps. `prepare` runs before the server starts, on an empty database only: it creates the
`demo` account with an API key and an OAuth client, and stores the classification of the demo
pages (computed by the real engine from text shipped here, so no page is fetched). `populate`
runs once the server answers: it drives the public APIs exactly as a client would — a month
of pixel traffic, inventory, a segment, an activation with its deal, delivery rows, and a
messaging campaign sent to a local mail sink — and returns what to show the user.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from beacon.contextual import engine
from beacon.contextual.service import save_classification
from beacon.core import auth
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.core.registrable_domains import registrable_domain
from beacon.core.timefmt import utcnow
from beacon.messaging.oauth import service as oauth
from beacon.people import service as people_service

ACCOUNT = "demo"
CONSOLE_EMAIL = "demo@example.com"
DAYS = 30
SEED = 20261123

HUMAN_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
]
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
]
AI_AGENTS = [
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
]
COUNTRIES = [("US", 50), ("GB", 15), ("DE", 10), ("FR", 8), ("CA", 7), ("JP", 5), ("BR", 5)]
# The arbitrage site declares a premium domain in the DSP's site macro: a misrepresentation.
DECLARED_SITE = {"demo-arbitrage-clicks.com": "demo-sportsdaily.com"}


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str
    weight: int

    @property
    def domain(self) -> str:
        return registrable_domain(httpx.URL(self.url).host) or httpx.URL(self.url).host


@dataclass(frozen=True)
class Credentials:
    api_key: str
    client_id: str
    client_secret: str
    console_email: str = ""
    console_password: str = ""

    def console_lines(self, base_url: str) -> list[str]:
        """Where to sign in to the console and with what."""
        return [
            f"Console: {base_url}/app/ (owner of account '{ACCOUNT}')",
            f"  email:    {self.console_email}",
            f"  password: {self.console_password}",
        ]


@dataclass(frozen=True)
class DemoResult:
    campaign_id: int
    campaign_report_id: int
    segment_id: int
    activation_id: int
    deal_id: str
    messaging_campaign_id: str


def pages() -> list[Page]:
    """The demo's pages, shipped with the package."""
    raw = resources.files("beacon.demo").joinpath("data/pages.json").read_text("utf-8")
    return [Page(**item) for item in json.loads(raw)]


def prepare(db: Database) -> Credentials:
    """Create the demo account (with an API key, an OAuth client and a console user who owns
    it, with a generated password) and classify its pages."""
    with db.transaction() as session:
        issued = auth.issue_api_key(session=session, account_name=ACCOUNT)
        person = people_service.ensure_member(
            session=session,
            account_name=ACCOUNT,
            email=CONSOLE_EMAIL,
            role=Role.owner,
            password=None,
        )
        client = oauth.create_client(
            session=session, account_name=ACCOUNT, scopes=" ".join(oauth.SCOPES)
        )
        for page in pages():
            result = engine.classify_text(text=page.text, title=page.title)
            save_classification(
                session,
                url=page.url,
                domain=page.domain,
                classification=result.to_dict(),
                engine_version=engine.ENGINE_VERSION,
                classified_at=utcnow(),
            )
    return Credentials(
        api_key=issued.key,
        client_id=client.client_id,
        client_secret=client.client_secret,
        console_email=person.user.email,
        console_password=person.generated_password or "",
    )


class DemoFailed(RuntimeError):
    """The demo could not be populated (the message says which call failed)."""


class _Api:
    """A small JSON client that fails loudly, for both API families."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30.0)

    def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kw: Any
    ) -> Any:
        response = self.http.request(method, path, **kw)
        if response.status_code not in expect:
            raise DemoFailed(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait(self, path: str, done: Any, *, timeout: float = 60.0) -> Any:
        """Poll ``path`` until ``done(body)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", path)
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise DemoFailed(f"GET {path} did not finish in {timeout:.0f} s: {body}")
            time.sleep(0.2)


def populate(base_url: str, credentials: Credentials, *, today: date | None = None) -> DemoResult:
    """Fill the demo account through the APIs of a running server."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the server logs every request already
    rng = random.Random(SEED)
    today = today or datetime.now(UTC).date()
    v1 = _Api(base_url, {"X-API-Key": credentials.api_key})
    site_pages = pages()

    campaign = v1.call(
        "POST",
        "/v1/pixel/campaigns",
        json={
            "name": "Spring sneakers — The Trade Desk",
            "use_case": "campaign_reporting",
            "description": "Demo: a month of impressions measured by a Beacon pixel",
        },
    )
    campaign_id = int(campaign["id"])
    events = list(_traffic(rng, site_pages, today))
    accepted = 0
    for start in range(0, len(events), 5000):
        receipt = v1.call(
            "POST",
            "/v1/pixel/events",
            json={"campaign_id": campaign_id, "events": events[start : start + 5000]},
            expect=(200, 201, 202),
        )
        accepted += int(receipt["accepted"])
    _wait_flushed(v1, accepted)
    first_day = (today - timedelta(days=DAYS)).isoformat()
    last_day = (today - timedelta(days=1)).isoformat()
    report = v1.call(
        "POST",
        "/v1/pixel/reports/campaign",
        json={
            "campaign_id": campaign_id,
            "start_date": first_day,
            "end_date": last_day,
            "dimensions": ["domain", "device"],
            "include_classification": True,
        },
        expect=(200, 201),
    )

    v1.call("POST", "/v1/clsfy/inventory", json={"urls": [p.url for p in site_pages]})
    segment = v1.call(
        "POST",
        "/v1/clsfy/segments",
        json={
            "name": "Sports & travel, brand safe",
            "description": "Demo: sports and travel pages, minus negative news",
            "rules": {
                "iab_categories": ["IAB17", "IAB20"],
                "min_confidence": 0.2,
                "exclude": {"sentiment": ["negative"]},
            },
        },
    )
    segment_id = int(segment["id"])
    v1.wait(f"/v1/clsfy/segments/{segment_id}", lambda s: s["status"] in ("complete", "failed"))
    activation = v1.call(
        "POST",
        "/v1/clsfy/activations",
        json={
            "segment_ids": [segment_id],
            "dsp": "The Trade Desk",
            "buyer_seat": "seat-demo-001",
            "start_date": first_day,
            "end_date": (today + timedelta(days=60)).isoformat(),
            "geo": ["US", "GB"],
            "formats": ["banner", "video"],
            "devices": ["desktop", "mobile"],
            "budget": {"amount": 25000, "currency": "USD"},
        },
    )
    activation_id = int(activation["id"])
    activation = v1.wait(
        f"/v1/clsfy/activations/{activation_id}", lambda a: a.get("deal_id") is not None
    )
    deal_id = str(activation["deal_id"])
    v1.call(
        "POST",
        "/v1/clsfy/deliveries",
        json={"batch_id": "demo-ttd-export", "rows": _deliveries(rng, deal_id, today)},
    )

    messaging_id = _messaging(base_url, credentials)
    return DemoResult(
        campaign_id=campaign_id,
        campaign_report_id=int(report["id"]),
        segment_id=segment_id,
        activation_id=activation_id,
        deal_id=deal_id,
        messaging_campaign_id=messaging_id,
    )


def _wait_flushed(api: _Api, accepted: int, *, timeout: float = 60.0) -> None:
    """Wait until the collector has flushed ``accepted`` hits into the rollups (its metrics)."""
    deadline = time.monotonic() + timeout
    while True:
        text = api.http.get("/metrics").text
        flushed = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "beacon_pixel_hits_flushed"
            for sample in family.samples
            if sample.name == "beacon_pixel_hits_flushed_total"
        )
        if flushed >= accepted:
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"the collector flushed {flushed:.0f} of {accepted} demo hits")
        time.sleep(0.2)


def _traffic(rng: random.Random, site_pages: list[Page], today: date) -> Any:
    """A month of pixel loads: mostly people, some crawlers and AI agents."""
    countries = [c for c, _ in COUNTRIES]
    country_weights = [w for _, w in COUNTRIES]
    page_weights = [p.weight for p in site_pages]
    for day in range(DAYS, 0, -1):
        start = datetime.combine(today - timedelta(days=day), datetime.min.time(), UTC)
        for _ in range(rng.randint(220, 320)):
            page = rng.choices(site_pages, page_weights)[0]
            roll = rng.random()
            agents = HUMAN_AGENTS if roll < 0.82 else BOT_AGENTS if roll < 0.9 else AI_AGENTS
            moment = start + timedelta(seconds=rng.randint(0, 86_399))
            yield {
                "timestamp": moment.isoformat().replace("+00:00", "Z"),
                "url": page.url,
                "user_agent": rng.choice(agents),
                "country": rng.choices(countries, country_weights)[0],
                "macros": {
                    "site": DECLARED_SITE.get(page.domain, page.domain),
                    "creative_id": rng.choice(["cr-300x250-a", "cr-728x90-b"]),
                    "deal_id": "ttd-demo-deal",
                },
            }


def _deliveries(rng: random.Random, deal_id: str, today: date) -> list[dict[str, Any]]:
    """Two weeks of a DSP's delivery export for the deal."""
    rows = []
    for day in range(14, 0, -1):
        for domain, device, geo in (
            ("demo-sportsdaily.com", "desktop", "US"),
            ("demo-sportsdaily.com", "mobile", "US"),
            ("demo-wanderlust.com", "mobile", "GB"),
        ):
            impressions = rng.randint(8_000, 20_000)
            rows.append(
                {
                    "date": (today - timedelta(days=day)).isoformat(),
                    "deal_id": deal_id,
                    "device": device,
                    "format": "banner",
                    "domain": domain,
                    "geo": geo,
                    "impressions": impressions,
                    "clicks": int(impressions * rng.uniform(0.001, 0.004)),
                    "spend": round(impressions / 1000 * rng.uniform(2.5, 6.0), 2),
                }
            )
    return rows


def _messaging(base_url: str, credentials: Credentials) -> str:
    """Contacts, a segment, a template and an email campaign, sent now to the mail sink."""
    token = httpx.post(
        f"{base_url}/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
        timeout=30.0,
    )
    if token.status_code != 200:
        raise DemoFailed(f"POST /public/v1/oauth/token answered {token.status_code}: {token.text}")
    api = _Api(base_url, {"Authorization": f"Bearer {token.json()['access_token']}"})
    first_names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
    contacts = [
        {
            "externalId": f"demo-{i:03d}",
            "email": f"{first_names[i % len(first_names)].lower()}.{i}@example.com",
            "firstName": first_names[i % len(first_names)],
            "attributes": {"plan": "pro" if i % 3 else "free", "city": "Lisbon"},
        }
        for i in range(40)
    ]
    # One contact without an email address: it fails at the hydrated stage, as it should.
    contacts.append(
        {"externalId": "demo-no-email", "firstName": "Nomail", "attributes": {"plan": "pro"}}
    )
    api.call("POST", "/public/v1/contacts", json={"contacts": contacts})
    segment = api.call(
        "POST",
        "/public/v1/segments",
        json={
            "name": "Pro plan",
            "rules": {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]},
        },
    )
    template = api.call(
        "POST",
        "/public/v1/templates",
        json={
            "name": "Spring newsletter",
            "channel": "email",
            "status": "published",
            "content": {
                "subject": "{{ contact.firstName }}, your spring picks are here",
                "html": "<p>Hi {{ contact.firstName }},</p><p>New arrivals for spring.</p>"
                "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
                "text": "Hi {{ contact.firstName }}, new arrivals for spring. "
                "Unsubscribe: {{ unsubscribe_url }}",
                "fromName": "Beacon Demo",
                "fromAddress": "news@demo-shop.com",
            },
        },
    )
    campaign = api.call(
        "POST",
        "/public/v1/campaigns",
        json={
            "name": "Spring newsletter",
            "channel": "email",
            "audience": {"included": [segment["data"]["id"]], "excluded": []},
            "templateId": template["data"]["id"],
        },
    )
    campaign_id = str(campaign["data"]["campaignId"])
    api.call("POST", f"/public/v1/campaigns/{campaign_id}/preflight")
    api.call("POST", f"/public/v1/campaigns/{campaign_id}/publish")
    api.call("POST", f"/public/v1/campaigns/{campaign_id}/send", expect=(200, 201, 202))
    api.wait(
        f"/public/v1/campaigns/{campaign_id}/status",
        lambda s: s["data"]["execution"]["state"] in ("completed", "failed"),
    )
    return campaign_id


def instructions(base_url: str, credentials: Credentials, result: DemoResult) -> str:
    """What the server prints once the demo is ready: the shell variables every doc page uses
    (paste them) and three curl commands."""
    today = date.today()
    report_request = json.dumps(
        {
            "segment_ids": [result.segment_id],
            "start_date": (today - timedelta(days=14)).isoformat(),
            "end_date": today.isoformat(),
            "dimensions": ["date"],
        }
    )
    return "\n".join(
        [
            "Demo account ready (account 'demo'). Paste these lines into your shell:",
            f"  export BEACON={base_url}",
            f"  export BEACON_KEY={credentials.api_key}",
            f"  export BEACON_CLIENT_ID={credentials.client_id}",
            f"  export BEACON_CLIENT_SECRET={credentials.client_secret}",
            "  export TOKEN=$(curl -s $BEACON/public/v1/oauth/token -d grant_type=client_credentials"
            " -d client_id=$BEACON_CLIENT_ID -d client_secret=$BEACON_CLIENT_SECRET"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            *credentials.console_lines(base_url),
            "1) A campaign report (a month of hits by domain and device; bots, AI agents and a"
            " misrepresented site are in the summary):",
            f'  curl -s $BEACON/v1/pixel/reports/campaign/{result.campaign_report_id} -H "X-API-Key: $BEACON_KEY"',
            "2) A segment report (delivery of the deal on the demo segment):",
            '  curl -s -X POST $BEACON/v1/clsfy/reports -H "X-API-Key: $BEACON_KEY"'
            f" -H 'Content-Type: application/json' -d '{report_request}'",
            '   then GET the returned id: curl -s $BEACON/v1/clsfy/reports/ID -H "X-API-Key: $BEACON_KEY"',
            "3) A messaging campaign's status (sent to the local mail sink):",
            f'  curl -s $BEACON/public/v1/campaigns/{result.messaging_campaign_id}/status -H "Authorization: Bearer $TOKEN"',
        ]
    )
