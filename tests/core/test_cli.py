"""The CLI: keys create/list/revoke, db upgrade, data-dir errors — as real processes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from tests.support import BEACON, LiveServer, run_cli
from typer.testing import CliRunner

from beacon import cli


def test_keys_create_prints_key_alone_on_last_line(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    result = run_cli("keys", "create", "--account", "acme", env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("bk_") and " " not in key and len(key) > 30

    listed = run_cli("keys", "list", env=env)
    assert key[:12] in listed.stdout
    assert key not in listed.stdout, "the secret must never be listed"
    assert "acme" in listed.stdout

    db_file = tmp_path / "var" / "beacon.db"
    assert key.encode() not in db_file.read_bytes(), "keys are stored hashed only"

    revoked = run_cli("keys", "revoke", key[:12], env=env)
    assert revoked.returncode == 0
    assert "Revoked 1" in revoked.stdout
    assert run_cli("keys", "revoke", key[:12], env=env).returncode == 1


def test_users_create_prints_a_generated_password_alone_on_last_line(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    args = ("users", "create", "--account", "acme", "--email", "ana@acme.example")
    result = run_cli(*args, "--role", "analyst", env=env)
    assert result.returncode == 0, result.stderr
    password = result.stdout.strip().splitlines()[-1]
    assert " " not in password and len(password) >= 12
    assert password.encode() not in (tmp_path / "var" / "beacon.db").read_bytes()
    listed = run_cli("users", "list", env=env)
    assert "ana@acme.example" in listed.stdout and "analyst" in listed.stdout
    assert password not in listed.stdout


def test_keys_revoke_takes_the_prefix_literally(tmp_path: Path) -> None:
    # The prefix went into a LIKE pattern unescaped: "bk____" (every key starts with "bk_", and
    # "_" matches any character) or "%%%%%%" revoked every key of every account.
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    keys = [
        run_cli("keys", "create", "--account", account, env=env).stdout.strip().splitlines()[-1]
        for account in ("acme", "globex")
    ]
    for pattern in ("bk____", "%%%%%%", "bk_%%%%%%%%%"):
        refused = run_cli("keys", "revoke", pattern, env=env)
        assert refused.returncode == 1, refused.stdout
        assert "No active key" in refused.stderr
    listed = run_cli("keys", "list", env=env).stdout
    assert listed.count("  -\n") == 2, listed
    assert all(key[:12] in listed for key in keys)


def test_blank_account_names_are_refused(tmp_path: Path) -> None:
    # `--account ""` made an account with no name, and "acme " a second account beside "acme".
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    user = ("users", "create", "--email", "bo@acme.example", "--role", "viewer")
    for blank in ("", "  ", "\u00a0"):
        for args in (("keys", "create", "--account", blank), (*user, "--account", blank)):
            refused = run_cli(*args, env=env)
            assert refused.returncode == 2, refused.stdout
            assert "error: account name must not be empty" in refused.stderr
            assert "Traceback" not in refused.stderr
    run_cli("keys", "create", "--account", "acme", env=env)
    assert run_cli(*user, "--account", " acme ", env=env).returncode == 0
    listed = run_cli("users", "list", env=env).stdout
    assert "bo@acme.example" in listed and "acme (viewer)" in listed, listed
    keys = run_cli("keys", "list", env=env).stdout.splitlines()[1:]
    assert [line.split()[1] for line in keys] == ["acme"], "no account but acme"


def test_users_create_keeps_an_owner_in_the_account(tmp_path: Path) -> None:
    # Changing the role of an account's only owner left it without one (nobody could then
    # delete it or make an owner from the console, which refuses the same change).
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    ana = ("users", "create", "--account", "acme", "--email", "ana@acme.example")
    assert run_cli(*ana, "--role", "owner", env=env).returncode == 0

    refused = run_cli(*ana, "--role", "admin", env=env)

    assert refused.returncode == 2, refused.stdout
    assert "error: An account keeps at least one owner" in refused.stderr
    assert "acme (owner)" in run_cli("users", "list", env=env).stdout
    bo = ("users", "create", "--account", "acme", "--email", "bo@acme.example")
    assert run_cli(*bo, "--role", "owner", env=env).returncode == 0
    assert run_cli(*ana, "--role", "admin", env=env).returncode == 0
    listed = run_cli("users", "list", env=env).stdout
    assert "acme (admin)" in listed and "acme (owner)" in listed, listed


def test_data_dir_option_wins(tmp_path: Path) -> None:
    result = run_cli(
        "db", "upgrade", "--data-dir", str(tmp_path / "other"), env={"BEACON_DATABASE_URL": ""}
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "other" / "beacon.db").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir_fails_clearly(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run_cli(
        "db", "upgrade", "--data-dir", str(locked / "var"), env={"BEACON_DATABASE_URL": ""}
    )
    assert result.returncode == 2
    assert "not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_dir_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(
        "db", "upgrade", "--data-dir", str(blocker / "var"), env={"BEACON_DATABASE_URL": ""}
    )
    assert result.returncode == 2
    assert "not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_revoked_key_is_refused_by_running_server(tmp_path: Path) -> None:
    server = LiveServer(data_dir=tmp_path / "var", database_url="").start()
    try:
        assert server.process is not None and server.process.stdout is not None
        hints = server.banner
        assert len(hints) == 2 and hints[1].split() == [
            "export",
            f"BEACON={server.base_url}",
            f"BEACON_KEY={server.first_key}",
        ]
        env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
        key = (
            run_cli("keys", "create", "--account", "acme", env=env).stdout.strip().splitlines()[-1]
        )
        url = f"{server.base_url}/v1/pixel/campaigns"
        assert httpx.get(url, headers={"X-API-Key": key}).status_code == 200
        run_cli("keys", "revoke", key[:12], env=env)
        response = httpx.get(url, headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    finally:
        assert server.stop() in (0, -15)


def test_a_command_says_when_it_creates_a_new_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"BEACON_DATABASE_URL": ""}
    first = subprocess.run(
        [*BEACON, "keys", "list"],
        cwd=elsewhere,
        env={k: v for k, v in {**os.environ, **env}.items() if k != "BEACON_DATA_DIR"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    created = elsewhere / "var" / "beacon.db"
    assert f"created a new SQLite database at {created}" in first.stderr
    again = run_cli("keys", "list", "--data-dir", str(elsewhere / "var"), env=env)
    assert "created a new" not in again.stderr


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer's own click types)
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_help_shows_no_type_after_plain_flags() -> None:
    commands = _commands(typer.main.get_command(cli.app))
    assert ("ingest-log",) in commands and ("keys", "create") in commands
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(cli.app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output, command
    assert "--demo  " in runner.invoke(cli.app, ["serve", "--help"]).output


def test_hint_names_the_program_as_it_can_be_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / ".venv" / "bin" / "beacon"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/beacon", "serve"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cli.command_name() == ".venv/bin/beacon"
    monkeypatch.setenv("PATH", f"{program.parent}:/usr/bin:/bin")
    assert cli.command_name() == "beacon"
    monkeypatch.chdir("/")
    monkeypatch.setattr(sys, "argv", [str(program), "serve"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cli.command_name() == str(program)


@pytest.mark.parametrize("port", ["99999", "-5"])
def test_serve_refuses_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    # 99999 started a server on no port the operator asked for; -5 failed after start-up
    # with uvicorn's "Servname not supported for ai_socktype".
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    result = run_cli("serve", "--port", port, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Invalid value for '--port'" in result.stderr


def test_serve_prints_cli_hints_that_open_its_own_data_dir(tmp_path: Path) -> None:
    # `beacon serve --data-dir DIR` printed "Create an API key with: beacon keys create
    # --account NAME": run as printed, from another directory, that opened (and created)
    # another database, so the key did not work on this server.
    from tests.support import free_port

    data_dir = tmp_path / "server data"
    env = {k: v for k, v in os.environ.items() if k != "BEACON_DATA_DIR"}
    env["BEACON_DATABASE_URL"] = ""
    assert run_cli("keys", "create", "--account", "acme", "--data-dir", str(data_dir), env=env)
    process = subprocess.Popen(
        [*BEACON, "serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        hints = []
        for line in process.stdout:  # ends with the banner's last line or the process
            if "with: " in line:
                hints.append(line.split("with: ", 1)[1].rstrip(")\n"))
            if line.startswith("Console:"):
                break
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()
    assert len(hints) == 2, hints
    other = tmp_path / "elsewhere"
    other.mkdir()
    hint = hints[0].split(" keys ", 1)[1].replace("NAME", "globex")
    created = subprocess.run(
        [*BEACON, "keys", *shlex.split(hint)],
        env=env,
        cwd=other,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert not (other / "var").exists(), "the printed command opened another database"
    listed = run_cli("keys", "list", "--data-dir", str(data_dir), env=env).stdout
    assert "globex" in listed
    assert f"--data-dir {shlex.quote(str(data_dir))}" in hints[1]


def test_serve_builds_its_routes_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request of a server that built nothing waited about a second (FastAPI builds
    route handlers on first use): longer than a readiness probe's usual one-second timeout."""
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BEACON_DATABASE_URL", "")
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8999"])
    assert result.exit_code == 0, result.output
    [application] = served
    assert application.openapi_schema is not None
    assert "/v1/pixel/campaigns" in application.openapi_schema["paths"]
