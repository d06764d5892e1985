"""The README's configuration table lists every setting, so docs cannot drift from code."""

from __future__ import annotations

from pathlib import Path

from beacon.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`BEACON_{name.upper()}`" not in text]
    assert missing == []
