"""`make run` (`beacon serve --demo`) prints where to sign in to the console, with a demo user
who owns the demo account, next to the API key."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from tests.console.conftest import csrf_token_of
from tests.support import LiveServer

pytestmark = pytest.mark.e2e


def _startup_lines(server: LiveServer, last: str) -> list[str]:
    assert server.process is not None and server.process.stdout is not None
    lines = []
    for line in server.process.stdout:
        lines.append(line.rstrip("\n"))
        if last in line:
            return lines
    raise AssertionError(f"no {last!r} line: {lines}")


def test_demo_prints_a_console_user_who_owns_the_demo_account(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    server = LiveServer(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'beacon.db'}",
        args=("--demo",),
    ).start(timeout=60)
    try:
        output = "\n".join(_startup_lines(server, "password:"))
        url = re.search(r"Console: (\S+) \(owner of account 'demo'\)", output)
        email = re.search(r"email: +(\S+)", output)
        password = re.search(r"password: +(\S+)", output)
        assert url and email and password, output
        assert url.group(1) == f"{server.base_url}/app/"
        with httpx.Client(base_url=server.base_url) as http:
            token = csrf_token_of(http.get("/app/login").text)
            signed_in = http.post(
                "/app/login",
                data={
                    "email": email.group(1),
                    "password": password.group(1),
                    "csrf_token": token,
                },
                follow_redirects=True,
            )
    finally:
        server.stop()
    assert signed_in.status_code == 200
    assert str(signed_in.url) == f"{server.base_url}/app/pixel/campaigns"
    assert f'{email.group(1)} <span class="tag">owner</span>' in signed_in.text
    assert 'title="Account">demo<' in signed_in.text
