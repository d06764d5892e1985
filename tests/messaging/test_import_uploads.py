"""The contacts import's uploads (a text/csv body or a multipart form) on both databases: one
answer for a UTF-16 file whichever the transport, a NUL anywhere in the form refused before
anything is stored, and form fields bounded by the body limit, not Starlette's 1 MB a field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support import bearer_token

from beacon.core.db import Database

IMPORT = "/public/v1/contacts/import"
CONTACTS = "externalId,firstName\nc1,Ann\n"
WIDE = "The text sent is UTF-16 or UTF-32 (it starts with a byte-order mark): save it as UTF-8"
NUL = "Text values must not contain the NUL character (U+0000)"


def _import(client: TestClient, db: Database, **request: Any) -> Any:
    headers = {"Authorization": f"Bearer {bearer_token(client, db)}", **request.pop("headers", {})}
    return client.post(IMPORT, **request, headers=headers)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_contacts_csv_has_one_answer_whichever_the_transport(
    client: TestClient, db: Database, encoding: str
) -> None:
    """A multipart upload answered 400 "not UTF-8", the same bytes as a text/csv body 422 with
    the hint: both are the 400 with the hint now (a malformed body, as a latin-1 one is)."""
    raw = CONTACTS.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    answers = [
        _import(client, db, content=raw, headers={"Content-Type": "text/csv"}),
        _import(client, db, files={"file": ("contacts.csv", raw, "text/csv")}),
        _import(client, db, files={"file": (None, raw)}),  # curl -F 'file=<contacts.csv'
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json() == {
            "success": False,
            "error": {"code": "BAD_REQUEST", "message": WIDE, "details": {}},
        }


@pytest.mark.parametrize(
    "files",
    [
        {"file": ("contacts.csv", b"externalId,firstName\nc1,A\x00nn\n", "text/csv")},
        {"file": (None, b"externalId,firstName\nc1,A\x00nn\n")},
        {"file": ("contacts.csv", CONTACTS.encode(), "text/csv"), "note": (None, b"a\x00b")},
    ],
    ids=["in-the-file", "in-the-csv-field", "in-another-field"],
)
def test_a_nul_anywhere_in_a_multipart_import_is_422_and_nothing_is_stored(
    client: TestClient, db: Database, files: dict[str, Any]
) -> None:
    response = _import(client, db, files=files)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {"code": "VALIDATION_ERROR", "message": NUL, "details": {}}
    listed = client.get(
        "/public/v1/contacts", headers={"Authorization": f"Bearer {bearer_token(client, db)}"}
    )
    assert listed.json()["pagination"]["total"] == 0


def test_a_csv_field_over_a_megabyte_is_imported(client: TestClient, db: Database) -> None:
    """Starlette's 1 MB a field answered 400 "Part exceeded maximum size of 1024KB."."""
    rows = "".join(f"c{i},Ann,{'x' * 150}\n" for i in range(8_000))
    raw = ("externalId,firstName,attributes.note\n" + rows).encode()
    assert len(raw) > 1024 * 1024
    response = _import(client, db, files={"file": (None, raw)})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["data"]["created"] == 8_000


def test_a_form_over_the_body_limit_is_the_familys_413(client: TestClient, db: Database) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
        "externalId,firstName\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is met while reading
        yield head
        for _ in range(limit // 65_536 + 2):
            yield b"c,Ann\r\n" * 9363  # 65,541 bytes
        yield f"\r\n--{boundary}--\r\n".encode()

    response = _import(
        client,
        db,
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
