"""Factories for activation tests: classified pages, built segments, issued deals."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from beacon.activation.deals.providers import DealProvider
from beacon.activation.tasks import job_kinds
from beacon.contextual.classification_repository import save_classification
from beacon.contextual.engine import ENGINE_VERSION
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker

API = "/v1/clsfy"

# The seed's "Data rows" example, verbatim.
SEED_DATA_ROWS = [
    {
        "date": "2026-01-15",
        "device": "desktop",
        "domain": "nytimes.com",
        "impressions": 12400,
        "clicks": 37,
        "spend": 24.80,
        "ctr": 0.003,
        "ecpm": 2.00,
    },
    {
        "date": "2026-01-15",
        "device": "mobile",
        "domain": "theguardian.com",
        "impressions": 8750,
        "clicks": 18,
        "spend": 17.50,
        "ctr": 0.0021,
        "ecpm": 2.00,
    },
]

# A small classified web: url -> (categories, keywords, entities, sentiment label)
PAGES: dict[str, tuple[list[tuple[str, float]], list[str], list[str], str]] = {
    "https://www.nytimes.com/2026/01/ev-batteries": (
        [("IAB2-1", 0.91), ("IAB19-6", 0.40)],
        ["electric vehicles", "battery range"],
        ["Tesla"],
        "positive",
    ),
    "https://www.nytimes.com/2026/01/gpu-shortage": (
        [("IAB19-6", 0.93)],
        ["AI chips", "NVIDIA GPU"],
        ["NVIDIA"],
        "neutral",
    ),
    "https://www.theguardian.com/tech/chips": (
        [("IAB19", 0.88)],
        ["semiconductor", "GPUs"],
        ["TSMC"],
        "neutral",
    ),
    "https://www.theguardian.com/world/war-report": (
        [("IAB19-6", 0.35), ("IAB11-4", 0.80)],
        ["conflict", "ai chips export"],
        ["NVIDIA"],
        "negative",
    ),
    "https://www.cooking.example.com/pasta": (
        [("IAB8-5", 0.95)],
        ["pasta", "recipes"],
        [],
        "positive",
    ),
}


def classification(
    categories: list[tuple[str, float]], keywords: list[str], entities: list[str], label: str
) -> dict[str, Any]:
    """A stored classification in the contextual engine's wire form."""
    return {
        "iab_categories": [{"id": c, "name": c, "confidence": conf} for c, conf in categories],
        "keywords": keywords,
        "entities": [{"name": e, "type": "brand", "confidence": 0.9} for e in entities],
        "sentiment": {"label": label, "score": 0.5},
    }


def classify_pages(db: Database, pages: dict[str, Any] | None = None) -> None:
    """Fill the classification store as the contextual worker would."""
    store_classifications(
        db,
        {
            url: classification(cats, kws, ents, label)
            for url, (cats, kws, ents, label) in (pages or PAGES).items()
        },
    )


def store_classifications(db: Database, classifications: dict[str, dict[str, Any]]) -> None:
    """Store each URL's classification (wire form) as the contextual worker would."""
    from beacon.activation.inventory.service import entry_for

    with db.transaction() as session:
        for url, stored in classifications.items():
            entry = entry_for(url)
            assert entry is not None
            save_classification(
                session,
                url=url,
                domain=entry.domain,
                classification=stored,
                engine_version=ENGINE_VERSION,
                classified_at=utcnow(),
            )


def run_jobs(db: Database, settings: Settings, provider: DealProvider | None = None) -> None:
    """Run the activation job kinds until nothing is runnable."""
    Worker(db=db, kinds=job_kinds(settings, provider=provider)).run_until_idle()


def upload_inventory(client: TestClient, headers: dict[str, str], urls: list[str]) -> Any:
    response = client.post(f"{API}/inventory", headers=headers, json={"urls": urls})
    assert response.status_code == 200, response.text
    return response.json()


def built_segment(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    rules: dict[str, Any],
    name: str = "AI chips",
) -> dict[str, Any]:
    """A segment created over HTTP and built by the worker (status complete)."""
    response = client.post(f"{API}/segments", headers=headers, json={"name": name, "rules": rules})
    assert response.status_code == 201, response.text
    run_jobs(db, settings)
    segment = client.get(f"{API}/segments/{response.json()['id']}", headers=headers).json()
    assert segment["status"] == "complete", segment
    return dict(segment)


def issued_deal(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    segment_ids: list[int],
    **extra: Any,
) -> dict[str, Any]:
    """An activation created over HTTP and completed by the worker."""
    body = {"segment_ids": segment_ids, "dsp": "The Trade Desk", "buyer_seat": "seat-1", **extra}
    response = client.post(f"{API}/activations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    run_jobs(db, settings)
    activation = client.get(f"{API}/activations/{response.json()['id']}", headers=headers).json()
    assert activation["status"] == "complete", activation
    return dict(activation)
