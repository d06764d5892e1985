"""Orchestrate → Contacts → Import in Chromium: choose a CSV whose headers are not Beacon's
names, see the column mapping guessed from them with the first rows, change it, import, read
the result and download the rejected rows with their reasons (formula cells neutralised);
without JavaScript the same steps are plain form posts; a viewer cannot import."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import (
    Console,
    assert_accessible,
    assert_fits_phone,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.e2e

CSV = (
    "E-mail,Given name,Surname,Mobile,Plan,Notes\n"
    "grace@example.com,Grace,Hopper,+14155550123,pro,met at a conference\n"
    "not-an-email,Bad,Row,,free,\n"
    "alan@example.com,Alan,Turing,,free,\n"
    '=HYPERLINK("http://evil.example"),Eve,Formula,,free,\n'
    "ada@example.com,Ada,Lovelace,12345,pro,\n"
)


def test_map_columns_import_and_download_the_rejects(
    page: Page, console: Console, tmp_path: Path
) -> None:
    with console.http() as client:  # an account no test here imports into: the empty state
        console.http_sign_in(client, "other")
        assert "No contacts yet" in client.get("/app/orchestrate/contacts").text
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/contacts")
    expect(page.get_by_label("Import a CSV")).to_be_visible()
    csv_file = tmp_path / "crm-export.csv"
    csv_file.write_text(CSV)
    page.get_by_label("Import a CSV").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import contacts").click()

    # Step 2: the mapping guessed from the headers, with the first rows.
    expect(page.get_by_role("heading", name="Choose what each column holds")).to_be_visible()
    expect(page.get_by_label("Contact field for column 1 “E-mail”")).to_have_value("email")
    expect(page.get_by_label("Contact field for column 2 “Given name”")).to_have_value("firstName")
    expect(page.get_by_label("Contact field for column 3 “Surname”")).to_have_value("lastName")
    expect(page.get_by_label("Contact field for column 4 “Mobile”")).to_have_value("phone")
    expect(page.get_by_label("Contact field for column 5 “Plan”")).to_have_value("attribute")
    expect(page.get_by_label("Attribute key for column 5 “Plan”")).to_have_value("Plan")
    expect(page.locator("#import-preview tbody tr")).to_have_count(5)
    expect(page.locator("#import-preview tbody tr").first).to_contain_text("grace@example.com")
    shoot(page, "orchestrate-contacts-import-mapping")
    assert_accessible(page)
    assert_fits_phone(page)

    # A mapping without email or external ID is refused at this step.
    page.get_by_label("Contact field for column 1 “E-mail”").select_option("ignore")
    page.get_by_role("button", name="Import 5 rows").click()
    expect(page.locator(".error-summary")).to_contain_text("Map a column to email or externalId")
    expect(page.locator("#contacts-table")).to_have_count(0)  # nothing imported

    page.get_by_label("Contact field for column 1 “E-mail”").select_option("email")
    page.get_by_label("Attribute key for column 5 “Plan”").fill("plan")
    page.get_by_label("Contact field for column 6 “Notes”").select_option("ignore")
    page.get_by_role("button", name="Import 5 rows").click()

    # Step 3: the result, swapped in by htmx (the page did not reload).
    result = page.locator("#import-result")
    expect(result).to_contain_text("Imported 2 new and 0 updated contacts")
    expect(result).to_contain_text("3 rows rejected")
    expect(page.locator("#import-progress-done")).to_contain_text("5 of 5 rows read")
    rejects = page.locator("#import-rejects tbody tr")
    expect(rejects).to_have_count(3)
    expect(rejects.nth(0)).to_contain_text("email")
    expect(rejects.nth(2)).to_contain_text("phone")
    shoot(page, "orchestrate-contacts-import-result")
    assert_accessible(page)
    assert_fits_phone(page)

    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Download the rejected rows (CSV)").click()
    download = downloaded.value
    assert download.suggested_filename == "crm-export-rejected.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == [
        "line",
        "reason",
        "E-mail",
        "Given name",
        "Surname",
        "Mobile",
        "Plan",
        "Notes",
    ]
    assert [r[0] for r in rows[1:]] == ["3", "5", "6"]
    assert rows[1][2] == "not-an-email" and "email" in rows[1][1]
    assert rows[2][2] == '\'=HYPERLINK("http://evil.example")'  # a formula no more
    assert rows[3][5] == "12345" and "phone" in rows[3][1]

    page.get_by_role("link", name="See the contacts").click()
    table = page.locator("#contacts-table")
    expect(table.get_by_role("link", name="grace@example.com")).to_be_visible()
    expect(table.get_by_role("link", name="alan@example.com")).to_be_visible()
    expect(table).not_to_contain_text("ada@example.com")  # its phone was rejected
    page.get_by_role("link", name="grace@example.com").click()
    expect(page.locator("#attributes")).to_contain_text("pro")
    expect(page.locator("#attributes")).not_to_contain_text("conference")  # ignored column


def test_without_javascript_and_as_a_viewer(console: Console) -> None:
    text = "email,externalId,city\nbo@example.com,bo,Paris\n,,Lyon\n"
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        mapping = client.post(
            "/app/orchestrate/contacts/import/map",
            data={"csrf_token": token},
            files={"file": ("people.csv", text.encode(), "text/csv")},
        )
        assert mapping.status_code == 200
        assert 'value="address.city" selected' in mapping.text
        form = {
            "csrf_token": token,
            "filename": "people.csv",
            "csv_text": text,
            "map-0": "email",
            "map-1": "externalId",
            "map-2": "address.city",
        }
        done = client.post("/app/orchestrate/contacts/import", data=form)
        assert done.status_code == 200
        assert "<html" in done.text  # the whole page without htmx
        assert "Imported 1 new" in done.text and "1 row rejected" in done.text
        rejects = client.post("/app/orchestrate/contacts/import/rejects", data=form)
        assert rejects.status_code == 200
        assert rejects.headers["content-type"].startswith("text/csv")
        assert rejects.text.splitlines()[1].startswith("3,")
        bad_key = client.post(
            "/app/orchestrate/contacts/import",
            data={**form, "map-2": "attribute", "attr-2": "no spaces please"},
        )
        assert bad_key.status_code == 422
        assert "an attribute key is 1 to 64 letters" in bad_key.text
        too_many = "email\n" + "".join(f"p{i}@example.com\n" for i in range(10_001))
        refused = client.post(
            "/app/orchestrate/contacts/import/map",
            data={"csrf_token": token},
            files={"file": ("big.csv", too_many.encode(), "text/csv")},
        )
        assert refused.status_code == 422
        assert "The CSV has 10,001 rows; import at most 10,000 at once" in refused.text
        no_csrf = client.post("/app/orchestrate/contacts/import", data={**form, "csrf_token": ""})
        assert no_csrf.status_code == 403

    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        assert "Import contacts" not in client.get("/app/orchestrate/contacts").text
        for path in ("/import", "/import/rejects"):
            refused = client.post(
                f"/app/orchestrate/contacts{path}", data={**form, "csrf_token": token}
            )
            assert refused.status_code == 403
