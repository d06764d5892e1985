"""The app's Prometheus registry: every domain registers what it measures into the one
``app.state.metrics`` that ``create_app`` makes, and ``/metrics`` (``MetricsEndpoint``, a
front app: no routing or middleware, so a scrape stays cheap) exposes it whole.

One registry per application, never the process-global default, so several apps in one
process (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from beacon.core.errors import MethodNotAllowed
from beacon.core.http import error_response

__all__ = ["CollectorRegistry", "MetricsEndpoint", "new_registry"]

METRICS_PATH = "/metrics"


def new_registry() -> CollectorRegistry:
    """An empty registry for one application (or one process that is not a server)."""
    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition format of every metric in ``registry``."""
    return generate_latest(registry)


class MetricsEndpoint:
    """``GET /metrics``: the registry in the text exposition format (a ``FrontApp``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def owns(self, path: str) -> bool:
        return path == METRICS_PATH

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            # The envelope every other path answers a method it does not take with.
            error = MethodNotAllowed(f"Method {scope['method']} is not allowed on {METRICS_PATH}")
            refusal = error_response(METRICS_PATH, error, "")
            refusal.headers["Allow"] = "GET, HEAD"
            await refusal(scope, receive, send)
            return
        body = exposition(self.registry)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )
