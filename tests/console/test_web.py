"""Numbers the console reads from a URL or a form (``web.whole_number``, ``web.offset_param``):
one out of range or written in other digits ('²', '١') is a page or a form error, never a 500."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in
from tests.console.test_measure_pages import campaign

from beacon.core.db import Database
from beacon.core.permissions import Role

HUGE = "99999999999999999999"


def test_odd_numbers_in_urls_and_forms_are_never_a_500(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    campaign(client, headers, "campaign_reporting")
    segment = client.post(
        "/v1/clsfy/segments",
        json={"name": "s", "rules": {"iab_categories": ["IAB19"]}},
        headers=headers,
    )
    assert segment.status_code == 201, segment.text
    token = sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    for path in (
        f"/app/pixel/reports?campaign_id={HUGE}",
        f"/app/activate/reports?page={HUGE}",
        f"/app/activate/segments/{segment.json()['id']}?offset={HUGE}",
        "/app/activate/segments/{}?offset=%C2%B2".format(segment.json()["id"]),
        f"/app/understand/inventory?offset={HUGE}",
        "/app/understand/inventory?offset=%C2%B2",
        f"/app/orchestrate/contacts?offset={HUGE}",
        "/app/orchestrate/contacts?offset=%C2%B2",
    ):
        response = client.get(path)
        assert response.status_code in (200, 422), (path, response.status_code)
    forms = (
        ("/app/pixel/reports", {"campaign_id": "²", "start_date": "2026-01-01"}),
        ("/app/activate/reports", {"segment_ids": "²", "start_date": "2026-01-01"}),
        ("/app/activate/activations", {"segment_ids": "²", "dsp": "The Trade Desk"}),
    )
    for path, data in forms:
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 422, (path, response.status_code)
        assert re.search(r"error-message|There is a problem", response.text), path


def test_a_nul_in_a_form_field_is_refused_and_nothing_is_stored(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    # A form field decodes %00 after the body check: SQLite stored the campaign, PostgreSQL
    # refused it, until the console checked every field it parses.
    token = sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    for data, files in (
        ({"name": "a\x00b", "use_case": "other"}, None),
        ({"name": "a\x00b", "use_case": "other"}, {"unused": ("x.txt", b"")}),  # multipart
    ):
        response = client.post(
            "/app/pixel/campaigns", data={**data, "csrf_token": token}, files=files
        )
        assert response.status_code == 422, response.text
        assert "NUL character" in response.text
    assert client.get("/v1/pixel/campaigns", headers=headers).json() == []


def test_a_utf16_csv_upload_says_so_on_the_form(client: TestClient, db: Database) -> None:
    # Excel's "Unicode text" is UTF-16: its NUL bytes made the whole upload a dead-end error
    # page ("must not contain the NUL character") instead of a message on the form.
    token = sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))
    utf16 = "url\r\nhttps://example.com/a\r\n".encode("utf-16")
    response = client.post(
        "/app/understand/inventory",
        data={"csrf_token": token},
        files={"file": ("urls.csv", utf16, "text/csv")},
    )
    assert response.status_code == 422, response.text
    summary = re.search(r'class="error-summary".*?</div>', response.text, re.S)
    assert summary is not None and "UTF-16" in summary.group(0)
    assert 'name="urls"' in response.text  # the form, to try again
    nul = client.post(
        "/app/understand/inventory",
        data={"csrf_token": token},
        files={"file": ("urls.csv", b"https://example.com/a\x00b\n", "text/csv")},
    )
    assert nul.status_code == 422 and "NUL character" in nul.text
    assert 'class="error-summary"' in nul.text  # on the form, not an error page


def test_pasted_urls_and_a_file_together_are_not_half_added(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    # The file was read and the pasted URLs dropped without a word ("1 URLs received").
    token = sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))
    response = client.post(
        "/app/understand/inventory",
        data={"csrf_token": token, "urls": "https://example.com/pasted"},
        files={"file": ("urls.csv", b"https://example.com/from-file\n", "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 422, response.headers
    assert "not both" in response.text
    assert "https://example.com/pasted</textarea>" in response.text
    listed = client.get("/v1/clsfy/inventory", headers=headers).json()
    assert listed["pagination"]["total"] == 0
