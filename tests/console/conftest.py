"""Console fixtures: a real ``beacon serve`` with people made by ``beacon users create``, Debian's
Chromium driven by Playwright, and the helpers browser tests read like: ``sign_in``, ``shoot``
and ``assert_accessible``.

Test files import the helpers with
``from tests.console.conftest import Console, assert_accessible, shoot, sign_in``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.support import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

ACCOUNT = "acme"
OTHER_ACCOUNT = "globex"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    email: str
    password: str
    role: str
    account: str


@dataclass
class Console:
    """A running console: its URL, the people who can sign in, an API key of ``account``."""

    base_url: str
    data_dir: Path
    database_url: str
    server: LiveServer
    api_key: str
    account: str = ACCOUNT
    other_account: str = OTHER_ACCOUNT
    people: dict[str, Person] = field(default_factory=dict)

    def url(self, path: str) -> str:
        """An absolute URL of the server (``path`` starts with /)."""
        return self.base_url + path

    def person(self, name: str) -> Person:
        """``owner``, ``admin``, ``analyst``, ``viewer`` (all in ``account``), ``other`` (owner
        of ``other_account``) or ``multi`` (analyst in ``account``, owner of ``other_account``)."""
        return self.people[name]

    def email(self, name: str) -> str:
        return self.people[name].email

    def password(self, name: str) -> str:
        return self.people[name].password

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run a ``beacon`` command against this server's data; returns stdout (fails on error)."""
        return _beacon(self.data_dir, self.database_url, *args, stdin=stdin)

    def api(self, key: str | None = None) -> httpx.Client:
        """An HTTP client for the /v1 APIs with the account's (or the given) API key."""
        return httpx.Client(
            base_url=self.base_url, headers={"X-API-Key": key or self.api_key}, timeout=30
        )

    def messaging_api(self, account: str | None = None) -> httpx.Client:
        """An HTTP client for /public/v1 (Orchestrate) with the token of a new OAuth client of
        ``account`` (this console's ``account`` by default) holding every scope."""
        from beacon.messaging.oauth import service as oauth

        out = self.cli(
            "clients",
            "create",
            "--account",
            account or self.account,
            "--scopes",
            " ".join(oauth.SCOPES),
        )
        issued = json.loads(out.strip().splitlines()[-1])
        token = httpx.post(
            self.url("/public/v1/oauth/token"),
            data={"grant_type": "client_credentials", **issued},
            timeout=10,
        )
        assert token.status_code == 200, token.text
        return httpx.Client(
            base_url=self.url("/public/v1"),
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )

    def http(self) -> httpx.Client:
        """A cookie-keeping HTTP client without a browser (for status codes and headers)."""
        return httpx.Client(base_url=self.base_url, timeout=30, follow_redirects=False)

    def http_sign_in(self, client: httpx.Client, name: str) -> str:
        """Sign ``client`` in as person ``name`` over plain HTTP; returns the page's CSRF token."""
        form = client.get("/app/login")
        token = csrf_token_of(form.text)
        response = client.post(
            "/app/login",
            data={"email": self.email(name), "password": self.password(name), "csrf_token": token},
        )
        assert response.status_code == 303, response.text
        page = client.get("/app/pixel/campaigns")
        assert page.status_code == 200, page.text
        return csrf_token_of(page.text)


def csrf_token_of(html: str) -> str:
    """The CSRF token a console page carries (hidden field or meta tag)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def _beacon(data_dir: Path, database_url: str, *args: str, stdin: str | None = None) -> str:
    """A real ``beacon`` process (what the tests' ``console.cli`` calls run)."""
    import subprocess
    import sys

    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "BEACON_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "beacon.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"beacon {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done.stdout


# The fixture's setup runs its commands through the CLI app in one child process: a `python -m
# beacon.cli` per command paid the interpreter start and the package's imports eight times per
# test module. The command line as a real process is tested by tests/core/test_cli.py and by
# the tests' own ``console.cli`` calls.
_BATCH = """
import json, sys
from typer.testing import CliRunner
from beacon.cli import app
outputs = []
for args, stdin in json.load(sys.stdin):
    done = CliRunner().invoke(app, args, input=stdin)
    if done.exit_code != 0:
        print(f"beacon {' '.join(args)} failed ({done.exit_code}): {done.output}{done.exception!r}")
        sys.exit(1)
    outputs.append(done.stdout)
print(json.dumps(outputs))
"""


def _beacon_batch(
    data_dir: Path, database_url: str, commands: list[tuple[tuple[str, ...], str | None]]
) -> list[str]:
    """The standard output of each ``beacon`` command, run in order in one child process."""
    import json
    import subprocess
    import sys

    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "BEACON_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-c", _BATCH],
        env=env,
        input=json.dumps([[list(args), stdin] for args, stdin in commands]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"beacon commands failed: {done.stdout}{done.stderr}"
    outputs: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return outputs


_PEOPLE = (
    ("owner", "owner@acme.example", "owner", ACCOUNT),
    ("admin", "admin@acme.example", "admin", ACCOUNT),
    ("analyst", "analyst@acme.example", "analyst", ACCOUNT),
    ("viewer", "viewer@acme.example", "viewer", ACCOUNT),
    ("other", "owner@globex.example", "owner", OTHER_ACCOUNT),
    ("multi", "multi@acme.example", "analyst", ACCOUNT),
    ("multi", "multi@acme.example", "owner", OTHER_ACCOUNT),
)


def start_console(
    tmp_path: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Console:
    """A started server with the standard people and an API key of ``acme`` (caller stops it)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{data_dir / 'beacon.db'}"
    people: dict[str, Person] = {}
    commands: list[tuple[tuple[str, ...], str | None]] = []
    for name, email, role, account in _PEOPLE:
        create = ("users", "create", "--account", account, "--email", email, "--role", role)
        commands.append(((*create, "--password-stdin"), PASSWORD + "\n"))
        people.setdefault(name, Person(email, PASSWORD, role, account))
    commands.append((("keys", "create", "--account", ACCOUNT), None))
    api_key = _beacon_batch(data_dir, database_url, commands)[-1]
    server = LiveServer(
        data_dir=data_dir,
        database_url=database_url,
        env={
            "BEACON_RATE_LIMIT": "100000/minute",
            "BEACON_CONSOLE_LOGIN_LIMIT_PER_IP": "1000/15 minutes",
            **(env or {}),
        },
        args=args,
    ).start()
    return Console(
        base_url=server.base_url,
        data_dir=data_dir,
        database_url=database_url,
        server=server,
        api_key=api_key.strip().splitlines()[-1],
        people=people,
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A real ``beacon serve`` (SQLite, its own data dir) shared by the tests of one module."""
    running = start_console(tmp_path_factory.mktemp("console"))
    try:
        yield running
    finally:
        running.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright for Python (make install)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the console's server at desktop width, UTC,
    with clipboard access: ``page.goto("/app/...")`` takes paths."""
    context = browser.new_context(
        base_url=console.base_url,
        viewport=DESKTOP,  # type: ignore[arg-type]
        timezone_id="UTC",
        locale="en-GB",
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        context.close()


def sign_in(page: Page, email: str, password: str) -> None:
    """Open the sign-in form (unless it is showing), fill it and submit it."""
    if "/app/login" not in page.url:
        page.goto("/app/login")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def shoot(page: Page, name: str) -> list[Path]:
    """Full-page screenshots at 1280 px and 390 px: test-artifacts/console/<name>-{desktop,phone}.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size or DESKTOP
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)  # type: ignore[arg-type]
        # let the new width lay out before measuring the full page (else the page is as wide
        # as the previous viewport's layout)
        page.evaluate(_NEXT_FRAME)
        path = ARTIFACTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(before)  # type: ignore[arg-type]
    return paths


def assert_fits_phone(page: Page) -> None:
    """At 390 px the page scrolls only vertically (wide tables scroll inside their box)."""
    before = page.viewport_size or DESKTOP
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.evaluate(_NEXT_FRAME)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    page.set_viewport_size(before)  # type: ignore[arg-type]
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a 390 px phone"


def assert_accessible(page: Page, *, disable: tuple[str, ...] = ()) -> None:
    """Run axe-core on the page; fail listing every serious or critical violation.

    The script is evaluated through DevTools rather than a <script> tag, so the console's strict
    CSP stays on during the check."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if disable:
        options["rules"] = {rule: {"enabled": False} for rule in disable}
    results = page.evaluate("options => window.axe.run(document, options)", options)
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"accessibility violations on {page.url}:\n" + json.dumps(
        [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"][:5]],
            }
            for v in bad
        ],
        indent=1,
    )


__all__ = [
    "Console",
    "Person",
    "assert_accessible",
    "assert_fits_phone",
    "csrf_token_of",
    "shoot",
    "sign_in",
    "start_console",
]
