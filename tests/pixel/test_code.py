"""GET /v1/pixel/campaigns/{id}/code: tracking URL and tags per DSP or ad server."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/v1/pixel/campaigns",
        json={"name": "EV", "use_case": "campaign_optimization"},
        headers=headers,
    )
    return int(response.json()["id"])


def test_trade_desk_code(client: TestClient, headers: dict[str, str]) -> None:
    cid = _campaign(client, headers)
    response = client.get(
        f"/v1/pixel/campaigns/{cid}/code", params={"dsp": "The Trade Desk"}, headers=headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tracking_url"] == (
        f"http://testserver/px/{cid}.gif?site=%%TTD_SITE%%&page_url=%%TTD_SITE_WITH_PATH%%"
        "&creative_id=%%TTD_CREATIVEID%%&placement_id=%%TTD_ADGROUPID%%&deal_id=%%TTD_DEALID%%"
        "&cb=%%TTD_CACHEBUSTER%%"
    )
    assert body["beacon_url"] == f"http://testserver/px/{cid}"
    assert body["macro_set"] == "The Trade Desk" and body["dsp"] == "The Trade Desk"
    assert body["macros"]["site"] == "%%TTD_SITE%%"
    assert body["snippets"]["img"].startswith(f'<img src="http://testserver/px/{cid}.gif?site=')
    assert "navigator.sendBeacon" in body["snippets"]["script"]


def test_generic_dsp_and_ad_servers(client: TestClient, headers: dict[str, str]) -> None:
    cid = _campaign(client, headers)
    generic = client.get(
        f"/v1/pixel/campaigns/{cid}/code", params={"dsp": "Criteo"}, headers=headers
    ).json()
    assert generic["tracking_url"] == f"http://testserver/px/{cid}.gif"
    assert generic["macro_set"] is None and generic["macros"] == {}
    plain = client.get(f"/v1/pixel/campaigns/{cid}/code", headers=headers).json()
    assert plain["tracking_url"] == f"http://testserver/px/{cid}.gif"
    gam = client.get(
        f"/v1/pixel/campaigns/{cid}/code", params={"ad_server": "gam"}, headers=headers
    ).json()
    assert "site=%%SITE%%" in gam["tracking_url"] and gam["ad_server"] == "gam"
    dv360 = client.get(
        f"/v1/pixel/campaigns/{cid}/code", params={"dsp": "DV360"}, headers=headers
    ).json()
    assert "page_url=${SOURCE_URL_ENC}" in dv360["tracking_url"]


def test_bad_platforms_are_422_with_suggestions(
    client: TestClient, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    url = f"/v1/pixel/campaigns/{cid}/code"
    response = client.get(url, params={"dsp": "the trade desk"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert "The Trade Desk" in response.json()["message"] and "dsp" in response.json()["message"]
    assert client.get(url, params={"ad_server": "dfp"}, headers=headers).status_code == 422
    both = client.get(url, params={"dsp": "DV360", "ad_server": "gam"}, headers=headers)
    assert both.status_code == 422


def test_foreign_and_missing_campaigns_are_404(
    client: TestClient, headers: dict[str, str], key_for: Callable[[str], str]
) -> None:
    cid = _campaign(client, headers)
    other = {"X-API-Key": key_for("other")}
    assert client.get(f"/v1/pixel/campaigns/{cid}/code", headers=other).status_code == 404
    missing = client.get("/v1/pixel/campaigns/99999/code", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "Campaign with ID 99999 not found"}
    assert client.get(f"/v1/pixel/campaigns/{cid}/code").status_code == 401
