"""Orchestrate forms posted in-process: what the pages promise to take, they take."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in

from beacon.core.db import Database
from beacon.core.permissions import Role


def test_a_csv_over_one_megabyte_within_the_documented_5_mb_imports(
    client: TestClient, db: Database
) -> None:
    # The mapping step posts the whole file back as a form field: Starlette's default 1 MB a
    # field refused it with a 400 page ("Field exceeded maximum size of 1024KB").
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    padding = "p" * 150
    text = "email,plan\n" + "".join(f"u{i}@example.com,{padding}\n" for i in range(8000))
    assert 1024 * 1024 < len(text) < 5 * 1024 * 1024
    form = {
        "csrf_token": token,
        "filename": "big.csv",
        "csv_text": text,
        "map-0": "email",
        "map-1": "attribute",
        "attr-1": "plan",
    }
    done = client.post("/app/orchestrate/contacts/import", data=form)
    assert done.status_code == 200, done.text[-800:]
    assert "Imported 8,000 new and 0 updated contacts" in done.text


def test_a_refused_campaign_setup_shows_what_was_typed(client: TestClient, db: Database) -> None:
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    created = client.post(
        "/app/orchestrate/campaigns",
        data={"csrf_token": token, "name": "Spring sale", "channel": "email"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    setup = {
        "csrf_token": token,
        "name": "Spring sale, final",
        "channel": "email",
        "campaign_type": "triggered",
        "mode": "at",
        "send_at": "2031-03-02T09:30",
        "timezone": "Europe/Pariss",  # a typo: refused
    }
    refused = client.post(path, data=setup)
    assert refused.status_code == 422
    assert "unknown IANA timezone" in refused.text
    # The form shows what was typed, to correct the typo, not the stored draft again.
    assert 'value="Spring sale, final"' in refused.text
    assert 'value="Europe/Pariss"' in refused.text
    assert 'value="2031-03-02T09:30"' in refused.text
    assert 'value="at" checked' in refused.text
    assert '<option value="triggered" selected>' in refused.text
    # Nothing was stored.
    assert 'value="Spring sale"' in client.get(path).text


def test_a_rule_value_too_long_to_count_is_named_not_a_500(
    client: TestClient, db: Database
) -> None:
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    builder = {
        "csrf_token": token,
        "name": "Long",
        "match": "all",
        "rule-field": "email",
        "rule-attribute": "",
        "rule-op": "contains",
        "rule-value": "x" * 60_000,
    }
    reach = client.post("/app/orchestrate/audiences/reach", data=builder)
    assert reach.status_code == 200
    assert "a value of at most 1000 characters" in reach.text
    saved = client.post("/app/orchestrate/audiences", data={**builder, "action": "save"})
    assert saved.status_code == 422
    assert "a value of at most 1000 characters" in saved.text
    assert client.get("/app/orchestrate/audiences").status_code == 200


def test_a_csv_of_600_columns_maps_and_imports(client: TestClient, db: Database) -> None:
    # The mapping posts two fields a column: Starlette's default of 1,000 fields a form
    # answered a 400 page for an export of more than about 500 columns.
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    header = ",".join(["email", *(f"custom{i}" for i in range(600))])
    text = header + "\n" + ",".join(["wide@example.com", *("v" for _ in range(600))]) + "\n"
    # as the browser posts it: a field choice and an attribute key (empty) for each column
    mapping = {f"{part}-{i}": "" for i in range(1, 601) for part in ("map", "attr")}
    form = {"csrf_token": token, "filename": "wide.csv", "csv_text": text, "map-0": "email"}
    done = client.post("/app/orchestrate/contacts/import", data={**form, **mapping})
    assert done.status_code == 200, done.text[-600:]
    assert "Imported 1 new and 0 updated contacts" in done.text


def test_a_semicolon_separated_csv_is_read_as_its_columns(client: TestClient, db: Database) -> None:
    # Excel writes "CSV" with semicolons in many European locales: the import read one column
    # ("E-mail;Surname;Plan") with no hint. The mapping step now reads the columns and says
    # which separator it read; the import and the rejects use it too.
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    text = (
        "E-mail;Surname;Plan\r\nada@example.com;Lovelace;pro, yearly\r\nnot-an-email;Bad;free\r\n"
    )
    mapping = client.post(
        "/app/orchestrate/contacts/import/map",
        data={"csrf_token": token},
        files={"file": ("excel.csv", text.encode("utf-8-sig"), "text/csv")},
    )
    assert mapping.status_code == 200
    assert 'id="import-separator"' in mapping.text and "with semicolons" in mapping.text
    assert "Contact field for column 3 “Plan”" in mapping.text
    form = {
        "csrf_token": token,
        "filename": "excel.csv",
        "csv_text": text,
        "map-0": "email",
        "map-1": "lastName",
        "map-2": "attribute",
        "attr-2": "plan",
    }
    done = client.post("/app/orchestrate/contacts/import", data=form)
    assert done.status_code == 200, done.text[-800:]
    assert "Imported 1 new" in done.text and "1 row rejected" in done.text
    rejects = client.post("/app/orchestrate/contacts/import/rejects", data=form)
    assert rejects.text.splitlines()[1].startswith("3,")
    listed = client.get("/app/orchestrate/contacts", params={"q": "ada@example.com"})
    assert "Lovelace" in listed.text


def test_a_comma_separated_csv_with_semicolons_in_its_cells_stays_comma_separated(
    client: TestClient, db: Database
) -> None:
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    text = "email,notes\nada@example.com,a;b;c\nbo@example.com,d;e\n"
    mapping = client.post(
        "/app/orchestrate/contacts/import/map",
        data={"csrf_token": token},
        files={"file": ("plain.csv", text.encode(), "text/csv")},
    )
    assert mapping.status_code == 200
    assert 'id="import-separator"' not in mapping.text
    assert "Contact field for column 2 “notes”" in mapping.text
