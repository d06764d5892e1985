"""docs/activate.md cannot drift from the code: its DSP table and the settings it names."""

from __future__ import annotations

import re
from pathlib import Path

from beacon.core.config import Settings
from beacon.core.dsps import DSP_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "activate.md"


def test_the_dsp_table_is_the_code_table() -> None:
    text = DOC.read_text()
    table = text.split("<!-- generated from beacon.core.dsps -->", 1)[1].split("\n\n", 1)[0]
    pairs = re.findall(r"\| ([^|`]+?) \| `([a-z0-9]+)` ", table)
    assert pairs == list(DSP_CODES.items())


def test_every_setting_it_names_exists() -> None:
    named = set(re.findall(r"BEACON_([A-Z0-9_]+)", DOC.read_text())) - {"KEY"}  # the shell's
    assert named
    assert {n for n in named if n.lower() not in Settings.model_fields} == set()


def test_it_states_the_pending_twin_rule_the_code_applies() -> None:
    # deals.repository.pending_like compares every list in any order, segment ids included.
    rule = DOC.read_text().split("**Same request, same activation.**", 1)[1].split("\n\n", 1)[0]
    rule = " ".join(rule.split())
    assert "same order" not in rule
    assert "lists in any order" in rule
