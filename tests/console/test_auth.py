"""Signing in and out of the console, what the session cookie promises, CSRF, switching account
and another account's objects — in Chromium where a person would do it, over plain HTTP where
the thing to check is a header or a status code."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.console.conftest import (
    Console,
    assert_accessible,
    csrf_token_of,
    shoot,
    sign_in,
    start_console,
)

pytestmark = pytest.mark.e2e


def _campaign(console: Console, key: str, name: str) -> int:
    with console.api(key) as api:
        response = api.post(
            "/v1/pixel/campaigns", json={"name": name, "use_case": "campaign_reporting"}
        )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_sign_in_lands_on_campaigns(page: Page, console: Console) -> None:
    page.goto("/app/")
    expect(page).to_have_url(f"{console.base_url}/app/login?next=/app/")
    expect(page.get_by_role("heading", name="Sign in to Beacon")).to_be_visible()
    shoot(page, "login")
    assert_accessible(page)

    sign_in(page, console.email("owner"), console.password("owner"))

    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns")
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    expect(page.get_by_text(console.email("owner"))).to_be_visible()


def test_sign_in_returns_to_the_page_asked_for(page: Page, console: Console) -> None:
    page.goto("/app/pixel/campaigns/new")
    sign_in(page, console.email("admin"), console.password("admin"))
    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns/new")


def test_wrong_password_says_so_and_keeps_the_email(page: Page, console: Console) -> None:
    sign_in(page, console.email("analyst"), "not the password")

    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
    expect(page.get_by_label("Email address")).to_have_value(console.email("analyst"))
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    shoot(page, "login-wrong-password")
    assert_accessible(page)


def test_lockout_after_the_per_email_limit_even_with_the_right_password(
    page: Page, console: Console
) -> None:
    console.cli(
        "users", "create", "--account", console.account, "--email", "locked@acme.example",
        "--role", "viewer", "--password-stdin", stdin=console.password("owner") + "\n",
    )  # fmt: skip
    for _ in range(5):  # BEACON_CONSOLE_LOGIN_LIMIT_PER_EMAIL defaults to 5 per 15 minutes
        sign_in(page, "locked@acme.example", "wrong guess")
        expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")

    sign_in(page, "locked@acme.example", console.password("owner"))

    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-in attempts")
    assert "/app/login" in page.url
    shoot(page, "login-locked-out")
    # another person on the same address still gets in: the per-email lock is per email
    sign_in(page, console.email("viewer"), console.password("viewer"))
    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns")


def test_the_browser_a_person_signed_in_on_is_not_locked_out_by_guesses_elsewhere(
    page: Page, browser: Browser, console: Console
) -> None:
    """OWASP's device cookie: the browser the person signed in on before keeps a quota of its
    own, so five guesses from another browser lock the email out there but not here."""
    console.cli(
        "users", "create", "--account", console.account, "--email", "kept@acme.example",
        "--role", "viewer", "--password-stdin", stdin=console.password("owner") + "\n",
    )  # fmt: skip
    sign_in(page, "kept@acme.example", console.password("owner"))
    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns")
    device = next(c for c in page.context.cookies() if c["name"] == "beacon_device")
    assert device["httpOnly"] and device["expires"] > time.time() + 300 * 86400  # a year
    page.get_by_role("button", name="Sign out").click()

    elsewhere = browser.new_context(base_url=console.base_url)
    try:
        attacker = elsewhere.new_page()
        for _ in range(5):
            sign_in(attacker, "kept@acme.example", "wrong guess")
            expect(attacker.get_by_role("alert")).to_contain_text("Incorrect email or password")
        sign_in(attacker, "kept@acme.example", console.password("owner"))
        expect(attacker.get_by_role("alert")).to_contain_text("Too many failed sign-in attempts")
    finally:
        elsewhere.close()

    sign_in(page, "kept@acme.example", console.password("owner"))
    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns")


def test_logout_ends_the_session(page: Page, console: Console) -> None:
    sign_in(page, console.email("viewer"), console.password("viewer"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "beacon_session")

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{console.base_url}/app/login")
    page.goto("/app/pixel/campaigns")
    expect(page).to_have_url(f"{console.base_url}/app/login?next=/app/pixel/campaigns")
    # the old cookie was revoked on the server, not only deleted in the browser
    with console.http() as http:
        http.cookies.set("beacon_session", cookie["value"], path="/app")
        assert http.get("/app/pixel/campaigns").status_code == 303


def test_session_cookie_is_httponly_and_lax_but_not_secure_over_http(console: Console) -> None:
    with console.http() as http:
        form = http.get("/app/login")
        token = http.cookies["beacon_login_csrf"]
        response = http.post(
            "/app/login",
            data={
                "email": console.email("owner"),
                "password": console.password("owner"),
                "csrf_token": token,
            },
        )
    assert form.status_code == 200
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("beacon_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/app" in cookie
    assert "secure" not in cookie


@pytest.fixture(scope="module")
def https_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A second server whose public URL is https (behind a TLS-terminating proxy)."""
    running = start_console(
        tmp_path_factory.mktemp("https-console"),
        env={"BEACON_PUBLIC_URL": "https://beacon.example.com"},
    )
    try:
        yield running
    finally:
        running.server.stop()


def test_session_cookie_is_secure_when_the_public_url_is_https(https_console: Console) -> None:
    with https_console.http() as http:
        form = http.get("/app/login")
        token = form.headers["set-cookie"].split("beacon_login_csrf=", 1)[1].split(";", 1)[0]
        response = http.post(
            "/app/login",
            data={
                "email": https_console.email("owner"),
                "password": https_console.password("owner"),
                "csrf_token": token,
            },
            headers={"cookie": f"beacon_login_csrf={token}"},
        )
    assert "secure" in form.headers["set-cookie"].lower()
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("beacon_session=")
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_post_without_csrf_token_is_refused(console: Console) -> None:
    with console.http() as http:
        token = console.http_sign_in(http, "admin")
        refused = http.post("/app/pixel/campaigns", data={"name": "No token", "use_case": "other"})
        forged = http.post(
            "/app/pixel/campaigns",
            data={"name": "Wrong token", "use_case": "other", "csrf_token": token + "x"},
        )
        accepted = http.post(
            "/app/pixel/campaigns",
            data={"name": "With token", "use_case": "other", "csrf_token": token},
        )
        header = http.post(
            "/app/pixel/campaigns",
            data={"name": "Header token", "use_case": "other"},
            headers={"X-CSRF-Token": token},
        )
    assert refused.status_code == 403
    assert "did not come from Beacon" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert forged.status_code == 403
    assert accepted.status_code == 303
    assert header.status_code == 303
    with console.api() as api:
        names = {c["name"] for c in api.get("/v1/pixel/campaigns").json()}
    assert {"With token", "Header token"} <= names
    assert not {"No token", "Wrong token"} & names


def test_sign_in_form_refuses_a_post_without_its_token(console: Console) -> None:
    with console.http() as http:
        response = http.post(
            "/app/login",
            data={"email": console.email("owner"), "password": console.password("owner")},
        )
    assert response.status_code == 403
    assert "beacon_session" not in response.headers.get("set-cookie", "")


def test_switch_account(page: Page, console: Console) -> None:
    other_key = console.cli("keys", "create", "--account", console.other_account)
    _campaign(console, other_key.strip().splitlines()[-1], "Globex launch")
    _campaign(console, console.api_key, "Acme spring sale")
    sign_in(page, console.email("multi"), console.password("multi"))
    switcher = page.get_by_label("Account")
    expect(switcher).to_have_value(_account_option(page, f"{console.account} (analyst)"))
    expect(page.get_by_role("link", name="Acme spring sale", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New campaign")).to_have_count(0)  # analyst
    shoot(page, "account-switcher")
    assert_accessible(page)

    with page.expect_navigation():
        switcher.select_option(label=f"{console.other_account} (owner)")

    expect(page.get_by_role("link", name="Globex launch", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Acme spring sale", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="New campaign").first).to_be_visible()  # owner there
    expect(page.get_by_label("Account")).to_have_value(
        _account_option(page, f"{console.other_account} (owner)")
    )


def test_the_account_switcher_works_from_the_keyboard(page: Page, console: Console) -> None:
    # Each arrow key on the switcher switched account at once (the page reloaded, focus was
    # lost): a keyboard user could not get past the next account. Arrows now only choose, and
    # Enter (or the Switch button, shown then) switches.
    sign_in(page, console.email("multi"), console.password("multi"))
    switcher = page.get_by_label("Account")
    start = _account_option(page, f"{console.account} (analyst)")
    other = _account_option(page, f"{console.other_account} (owner)")
    expect(switcher).to_have_value(start)
    switcher.focus()
    labels = page.locator("#account-switch option").all_inner_texts()
    down = labels.index(f"{console.other_account} (owner)") > labels.index(
        f"{console.account} (analyst)"
    )
    page.keyboard.press("ArrowDown" if down else "ArrowUp")
    page.wait_for_timeout(500)  # a submit would have started by now
    expect(switcher).to_be_focused()
    expect(switcher).to_have_value(other)
    expect(page.get_by_role("button", name="Switch")).to_be_visible()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_label("Account")).to_have_value(other)


def _account_option(page: Page, label: str) -> str:
    value = page.locator("#account-switch option", has_text=label).get_attribute("value")
    assert value is not None
    return value


def test_switching_to_an_account_you_are_not_in_is_404(console: Console) -> None:
    with console.http() as http:
        token = console.http_sign_in(http, "owner")
        response = http.post("/app/switch-account", data={"account_id": 9999, "csrf_token": token})
    assert response.status_code == 404


def test_another_accounts_campaign_is_404(page: Page, console: Console) -> None:
    other_key = console.cli("keys", "create", "--account", console.other_account)
    foreign = _campaign(console, other_key.strip().splitlines()[-1], "Globex secret")
    sign_in(page, console.email("owner"), console.password("owner"))

    response = page.goto(f"/app/pixel/campaigns/{foreign}/edit")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_text("Globex secret")).to_have_count(0)
    shoot(page, "not-found")
    assert_accessible(page)
    with console.http() as http:
        token = console.http_sign_in(http, "owner")
        archive = http.post(f"/app/pixel/campaigns/{foreign}/archive", data={"csrf_token": token})
    assert archive.status_code == 404


def test_viewer_cannot_create_a_campaign(page: Page, console: Console) -> None:
    sign_in(page, console.email("viewer"), console.password("viewer"))
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New campaign")).to_have_count(0)
    assert page.goto("/app/pixel/campaigns/new").status == 403  # type: ignore[union-attr]
    with console.http() as http:
        token = console.http_sign_in(http, "viewer")
        response = http.post(
            "/app/pixel/campaigns",
            data={"name": "Viewer made this", "use_case": "other", "csrf_token": token},
        )
    assert response.status_code == 403
    assert "cannot manage campaigns" in response.text
    with console.api() as api:
        names = {c["name"] for c in api.get("/v1/pixel/campaigns").json()}
    assert "Viewer made this" not in names


def test_the_device_cookie_lasts_a_year_after_the_last_sign_in(console: Console) -> None:
    """docs/console.md: the browser is remembered "for a year after its last sign-in". The
    server moves the device's last use on every sign-in, so the browser's cookie must be
    renewed then too: it was only set on the first, so the browser dropped it a year after
    that, however often the person signed in since."""
    with console.http() as http:
        answers = []
        for _ in range(2):
            http.cookies.delete("beacon_session")  # signed out; the device cookie stays
            form = http.get("/app/login")
            response = http.post(
                "/app/login",
                data={
                    "email": console.email("owner"),
                    "password": console.password("owner"),
                    "csrf_token": csrf_token_of(form.text),
                },
            )
            assert response.status_code == 303
            answers.append(response)
        first, second = (
            [c for c in r.headers.get_list("set-cookie") if c.startswith("beacon_device=")]
            for r in answers
        )
    assert len(first) == 1 and "max-age=31536000" in first[0].lower()
    assert len(second) == 1 and "max-age=31536000" in second[0].lower()
    assert second[0].split(";", 1)[0] == first[0].split(";", 1)[0]  # the same token, renewed
