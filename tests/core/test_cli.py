"""The CLI: keys create/list/revoke, db upgrade, data-dir errors — as real processes."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from tests.support import LiveServer, run_cli


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
