"""The app's Prometheus registry: every domain registers what it measures into the one
``app.state.metrics`` that ``create_app`` makes, and ``/metrics`` exposes it whole.

One registry per application, never the process-global default, so several apps in one
process (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "CollectorRegistry", "exposition", "new_registry"]


def new_registry() -> CollectorRegistry:
    """An empty registry for one application (or one process that is not a server)."""
    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition format of every metric in ``registry``."""
    return generate_latest(registry)
