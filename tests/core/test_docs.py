"""The README's tables list every setting and every command, so docs cannot drift from code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from beacon import cli
from beacon.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`BEACON_{name.upper()}`" not in text]
    assert missing == []


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer's own click types)
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_cli_command_is_in_the_readme_table() -> None:
    table = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    paths = _command_paths(typer.main.get_command(cli.app))
    assert ("clients", "create") in paths
    missing = [" ".join(path) for path in paths if f"`beacon {' '.join(path)}" not in table]
    assert missing == []
    # `classify` and `ingest-log` each had two rows that disagreed on their options.
    repeated = [p for p in paths if table.count(f"| `beacon {' '.join(p)} ") > 1]
    assert repeated == []
