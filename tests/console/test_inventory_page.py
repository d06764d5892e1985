"""Understand → Inventory served in-process (no worker, no browser): a page past the end of
the list, re-classify coming back to the page and filters it was pressed on, and domains
shown as people write them (internationalised ones in Unicode) whichever form is typed."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import upload_inventory
from tests.console.in_process import member, sign_in

from beacon.console.pages import inventory as inventory_page
from beacon.contextual import service as contextual_service
from beacon.core.db import Database
from beacon.core.permissions import Role

URLS = [f"https://news.example.com/{n}" for n in range(5)]
IDN_URL = "https://bücher.de/romane"  # stored as https://xn--bcher-kva.de/romane


@pytest.fixture
def analyst(client: TestClient, db: Database) -> str:
    return sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))


def rows(html: str) -> list[str]:
    body = (
        html.split('id="inventory-table"')[1].split("</tbody>")[0]
        if "inventory-table" in html
        else ""
    )
    return re.findall(r'<td class="cell-url">([^<]*)<', body)


def test_a_page_past_the_end_says_so_and_links_to_the_last_page(
    client: TestClient, headers: dict[str, str], analyst: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_inventory(client, headers, URLS)
    monkeypatch.setattr(inventory_page, "PAGE_SIZE", 2)
    past = client.get("/app/understand/inventory?domain=example.com&offset=40")
    assert past.status_code == 200
    assert "No inventory URL matches" not in past.text and rows(past.text) == []
    notice = re.search(r'id="past-end"[^>]*>(.*?)</div>', past.text, re.S)
    assert notice is not None
    assert "This page is past the end: 5 URLs match" in unescape(notice.group(1))
    href = unescape(re.search(r'href="([^"]+)"', notice.group(1)).group(1))  # type: ignore[union-attr]
    assert href == "/app/understand/inventory?domain=example.com&offset=4"
    assert len(rows(client.get(href).text)) == 1  # the fifth URL, alone on the last page


def test_reclassify_comes_back_to_the_same_page_and_filters(
    client: TestClient, headers: dict[str, str], analyst: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_inventory(client, headers, URLS)
    monkeypatch.setattr(inventory_page, "PAGE_SIZE", 2)
    page = client.get("/app/understand/inventory?status=pending&domain=example.com&offset=2")
    back = re.search(r'name="back" value="([^"]*)"', page.text)
    assert back is not None
    url = re.search(r'name="url" value="([^"]*)"', page.text)
    assert url is not None
    asked: list[str] = []
    real = contextual_service.classify_url

    def classify_url(**kwargs: object) -> object:  # no network here: the fetch fails at once
        asked.append(str(kwargs["url"]))
        return real(**{**kwargs, "url": "http://127.0.0.1:9/"})  # type: ignore[arg-type]

    monkeypatch.setattr(contextual_service, "classify_url", classify_url)
    done = client.post(
        "/app/understand/inventory/reclassify",
        data={
            "url": unescape(url.group(1)),
            "back": unescape(back.group(1)),
            "csrf_token": analyst,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:300]
    assert asked == [unescape(url.group(1))]
    location = done.headers["location"]
    assert location.startswith(
        "/app/understand/inventory?status=pending&domain=example.com&offset=2&notice="
    ), location
    # A crafted back field brings nothing but the list's own checked parameters along.
    crafted = client.post(
        "/app/understand/inventory/reclassify",
        data={
            "url": unescape(url.group(1)),
            "back": "status=nope&offset=%C2%B2&next=https://evil.example/&category=IAB17",
            "csrf_token": analyst,
        },
        follow_redirects=False,
    )
    assert crafted.headers["location"].startswith(
        "/app/understand/inventory?category=IAB17&notice="
    )


def test_internationalised_domains_show_in_unicode_and_filter_in_either_form(
    client: TestClient, headers: dict[str, str], analyst: str
) -> None:
    upload_inventory(client, headers, [IDN_URL, URLS[0]])
    page = client.get("/app/understand/inventory")
    table = page.text.split('id="inventory-table"')[1]
    assert "xn--" not in re.sub(r"<[^>]+>", " ", table)  # what people read (forms post xn--)
    assert "<td>bücher.de</td>" in table and IDN_URL in rows(page.text)
    assert '<option value="bücher.de" >bücher.de</option>' in page.text
    for typed in ("bücher.de", "BÜCHER.de", "xn--bcher-kva.de"):
        filtered = client.get("/app/understand/inventory", params={"domain": typed})
        assert rows(filtered.text) == [IDN_URL], typed
        assert '<option value="bücher.de" selected>' in filtered.text, typed
