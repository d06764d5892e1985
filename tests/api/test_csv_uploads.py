"""CSV uploads that the csv module cannot parse answer 400 in the family's envelope, and line
breaks other than the CSV's own are data, never a 500 (found by the contract fuzzer)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.support import bearer_token

from beacon.core.db import Database

HUGE_FIELD = "x" * 140_000  # over the csv module's field size limit
DELIVERY_HEADER = "date,deal_id,device,format,domain,geo,impressions,clicks,spend\r\n"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/clsfy/deliveries", DELIVERY_HEADER + f"2026-01-01,d,{HUGE_FIELD},,,,1,0,1\r\n"),
        ("/v1/clsfy/inventory", f"url\nhttps://a.example/{HUGE_FIELD}\n"),
    ],
)
def test_unparseable_csv_is_400_on_v1(
    client: TestClient, headers: dict[str, str], path: str, body: str
) -> None:
    response = client.post(
        path, content=body.encode(), headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith("Malformed CSV: field larger than field limit")


def test_unparseable_contacts_csv_is_400_on_public_v1(client: TestClient, db: Database) -> None:
    response = client.post(
        "/public/v1/contacts/import",
        content=f"email,firstName\na@example.com,{HUGE_FIELD}\n".encode(),
        headers={"Authorization": f"Bearer {bearer_token(client, db)}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["message"].startswith("Malformed CSV: field larger than field limit")


def test_stray_line_breaks_in_a_delivery_csv_are_not_a_server_error(
    client: TestClient, headers: dict[str, str]
) -> None:
    # The fuzzer's input: NEL (U+0085) and a lone CR inside what would be the header row.
    response = client.post(
        "/v1/clsfy/deliveries",
        content="\u0085L\r@Á".encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 400
    assert "missing column" in response.json()["message"]
