"""`/metrics`: the app's one registry, served by core before routing, GET and HEAD only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import Counter

from beacon.app import create_app
from beacon.core.config import Settings


def test_metrics_serves_the_apps_registry_get_and_head_only(settings: Settings) -> None:
    app = create_app(settings, run_worker=False)
    Counter("beacon_test_probe", "A counter this test registers.", registry=app.state.metrics).inc(
        3
    )
    with TestClient(app) as client:
        got = client.get("/metrics")
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/plain; version=")
        assert "beacon_test_probe_total 3.0" in got.text
        assert "beacon_pixel_hits_accepted_total" in got.text, "the domains' metrics too"
        head = client.head("/metrics")
        assert head.status_code == 200 and head.content == b""
        refused = client.post("/metrics")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        assert refused.json() == {  # the envelope /healthz answers a POST with
            "error": "method_not_allowed",
            "message": "Method POST is not allowed on /metrics",
        }
        assert client.post("/healthz").json()["error"] == "method_not_allowed"
        # a path that only starts like it is the API's, not the endpoint's
        assert client.get("/metricsx").status_code == 404
