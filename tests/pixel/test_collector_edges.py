"""The collector's sharp edges: an overlong request target, CORS preflights, a POST to the
image, a beacon whose page field is no string."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from beacon.core.transport import CoalescingHttpProtocol
from beacon.pixel.collector import TRANSPARENT_GIF
from beacon.pixel.enrich import HitRejected
from beacon.pixel.payloads import beacon_fields

PAGE = "https://www.example.com/news/a"


@pytest.fixture
def client(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app) as test_client:
        yield test_client


@pytest.fixture
def served(pixel_app: FastAPI) -> Iterator[int]:
    """The app behind the protocol `beacon serve` runs (a real socket); yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    config = uvicorn.Config(pixel_app, host="127.0.0.1", port=port, http=CoalescingHttpProtocol,
                            log_config=None, access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        threading.Event().wait(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _status_and_body(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _rejected(client: TestClient, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'beacon_pixel_hits_rejected_total{{reason="{reason}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_request_target_over_64_kib_still_gets_the_gif(
    served: int, pixel_app: FastAPI, client: TestClient, headers: dict[str, str]
) -> None:
    # httptools reads at most 64 KiB of a request target: uvicorn answered a longer one with
    # a plain-text 400, a broken image in the ad (a page URL in the pixel URL can be that long).
    created = client.post(
        "/v1/pixel/campaigns", json={"name": "EV", "use_case": "campaign_reporting"},
        headers=headers,
    )  # fmt: skip
    cid = created.json()["id"]
    long_query = b"url=" + b"x" * 70_000
    close = b" HTTP/1.1\r\nHost: beacon\r\nConnection: close\r\n\r\n"
    for target in (
        f"/px/{cid}.gif?".encode() + long_query,
        f"http://beacon/px/{cid}.gif?".encode() + long_query,  # absolute form
        b"/px/" + b"1" * 70_000 + b".gif",
        f"/px/{cid}.gif?".encode() + b"u=" + b"y" * 1_000_000,  # only 64 KiB is buffered
    ):
        status, body = _status_and_body(_raw(served, b"GET " + target + close))
        assert (status, body) == (200, TRANSPARENT_GIF), target[:40]
    status, _ = _status_and_body(
        _raw(served, f"POST /px/{cid}?".encode() + long_query + close[:-2] + b"Content-Length: 2\r\n\r\n{}")
    )  # fmt: skip
    assert status == 204
    # Not the collector's: the API keeps the server's own answer.
    status, _ = _status_and_body(_raw(served, b"GET /v1/pixel/campaigns?" + long_query + close))
    assert status == 400
    assert _rejected(client, "url_too_long") == 5
    assert pixel_app.state.pixel.flush().counted == 0  # nothing was spooled


def test_the_connection_is_kept_after_an_overlong_pixel_request(
    served: int, pixel_app: FastAPI, client: TestClient, headers: dict[str, str]
) -> None:
    # The overlong target's tail lands in a fragment the parser drops: the next request on
    # the same kept-alive connection must start clean and be answered as itself.
    created = client.post(
        "/v1/pixel/campaigns", json={"name": "EV", "use_case": "campaign_reporting"},
        headers=headers,
    )  # fmt: skip
    cid = created.json()["id"]
    keep = b" HTTP/1.1\r\nHost: beacon\r\nReferer: " + PAGE.encode() + b"\r\n\r\n"
    overlong = f"GET /px/{cid}.gif?url=".encode() + b"x" * 200_000 + keep
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        reader = sock.makefile("rb")
        for request, expected in [
            (overlong, (200, TRANSPARENT_GIF)),
            (f"GET /px/{cid}.gif?cb=1".encode() + keep, (200, TRANSPARENT_GIF)),
            (overlong, (200, TRANSPARENT_GIF)),
            (b"GET /v1/pixel/campaigns/" + str(cid).encode() + keep[:-2]
             + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n",
             (200, None)),
        ]:  # fmt: skip
            sock.sendall(request)
            status, body = _read_response(reader)
            assert status == expected[0], (request[:60], body[:200])
            if expected[1] is not None:
                assert body == expected[1]
            else:
                assert orjson.loads(body)["id"] == cid
    assert _rejected(client, "url_too_long") == 2
    assert pixel_app.state.pixel.flush().counted == 1  # only the plain hit between them


def _read_response(reader: Any) -> tuple[int, bytes]:
    """One HTTP/1.1 response off a kept-alive connection (Content-Length framed)."""
    status = int(reader.readline().split(b" ", 2)[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, reader.read(length)


def test_a_cors_preflight_is_answered_and_the_beacon_allows_any_origin(
    client: TestClient,
) -> None:
    preflight = client.options(
        "/px/7",
        headers={
            "Origin": "https://news.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"].split(", ")
    assert preflight.headers["access-control-allow-headers"].lower() == "content-type"
    assert preflight.headers["access-control-max-age"] == "86400"
    assert preflight.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    image = client.options("/px/7.gif", headers={"Origin": "https://news.example.com"})
    assert image.status_code == 204
    assert image.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    beacon = client.post(
        "/px/7",
        content=b'{"url": "https://news.example.com/a"}',
        headers={"Origin": "https://news.example.com", "Content-Type": "application/json"},
    )
    assert beacon.status_code == 204
    assert beacon.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in beacon.headers
    assert _rejected(client, "method_not_allowed") == 0  # a preflight is no hit


def test_post_to_the_image_is_not_allowed_and_counted(client: TestClient) -> None:
    response = client.post("/px/7.gif", content=b'{"url": "https://news.example.com/a"}')
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    put = client.put("/px/7", content=b"{}")
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert _rejected(client, "method_not_allowed") == 2


@pytest.mark.parametrize(("method", "path"), [("POST", "/px/7.gif"), ("PUT", "/px/7"),
                                              ("DELETE", "/px/7.gif")])  # fmt: skip
def test_a_cross_origin_fetch_sees_the_405(client: TestClient, method: str, path: str) -> None:
    # Without Access-Control-Allow-Origin the browser hides the answer: a tag's developer saw
    # a CORS error, not "method not allowed".
    response = client.request(method, path, headers={"Origin": "https://news.example.com"})
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("body", [{"url": 5}, {"ref": 1.5}, {"url": PAGE, "ref": 0}])
def test_a_page_field_that_is_no_string_is_a_malformed_beacon(body: dict[str, object]) -> None:
    with pytest.raises(HitRejected) as rejected:
        beacon_fields(orjson.dumps(body).decode())
    assert rejected.value.reason == "malformed_beacon"


def test_numeric_macros_are_still_text() -> None:
    body = {"url": PAGE, "creative_id": 42, "cb": 17, "ref": None}
    fields = beacon_fields(orjson.dumps(body).decode())
    assert fields == {"url": PAGE, "creative_id": "42", "cb": "17"}


def test_a_numeric_page_field_is_rejected_at_flush_not_counted(
    client: TestClient, pixel_app: FastAPI, headers: dict[str, str]
) -> None:
    created = client.post(
        "/v1/pixel/campaigns", json={"name": "EV", "use_case": "campaign_reporting"},
        headers=headers,
    )  # fmt: skip
    cid = created.json()["id"]
    referer = {"Referer": PAGE}
    assert client.post(f"/px/{cid}", content=b'{"url": 5}', headers=referer).status_code == 204
    good = orjson.dumps({"url": PAGE, "creative_id": 42})
    assert client.post(f"/px/{cid}", content=good, headers=referer).status_code == 204
    result = pixel_app.state.pixel.flush()
    assert result.counted == 1
    assert dict(result.rejected) == {"malformed_beacon": 1}
