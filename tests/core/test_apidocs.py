"""/docs is Swagger UI served from the package: no external host, assets answer, strict CSP."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from beacon.core import apidocs


def _referenced_urls(html: str) -> list[str]:
    return [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url != "data:,"]


def test_docs_page_references_no_external_host(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    urls = _referenced_urls(response.text)
    assert urls, "the page loads its assets"
    assert [url for url in urls if not url.startswith("/docs/static/")] == []
    assert "<script>" not in response.text  # no inline script: the CSP forbids it
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_every_referenced_asset_answers(client: TestClient) -> None:
    for url in _referenced_urls(client.get("/docs").text):
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 100, url
        assert response.headers["x-content-type-options"] == "nosniff"


def test_bundle_license_and_init_script_are_served(client: TestClient) -> None:
    bundle = client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in bundle.text
    assert "Apache License" in client.get("/docs/static/LICENSE").text
    assert "data-openapi-url" in client.get("/docs/static/beacon-init.js").text


def test_unknown_asset_and_redoc_are_404(client: TestClient) -> None:
    assert client.get("/docs/static/../../pyproject.toml").status_code == 404
    assert client.get("/docs/static/swagger-ui.js").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_assets_ship_inside_the_package() -> None:
    for name in apidocs.ASSETS:
        assert apidocs._asset(name), name
