"""IAB Content Taxonomy 1.0 codes and names, with the 1.0 → 2.x/3.x id mapping.

The engine speaks Content Taxonomy 1.0 (`IAB19`, `IAB19-6`), as OpenRTB `cat` fields and
Beacon's public examples do. The newer unique id is looked up through the IAB Working Group
1.0 → 2.0 mapping and reported only when that id still exists in Content Taxonomy 3.1
(2.x and 3.x share numeric ids for unchanged nodes).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

_DATA = resources.files("beacon.contextual") / "data" / "iab"

# Brand-safety buckets, not topics: the classifier never returns them as a topic.
NON_TOPIC_TIER1 = frozenset({"IAB24", "IAB25", "IAB26"})


@dataclass(frozen=True, slots=True)
class IabCategory:
    """One Content Taxonomy 1.0 node."""

    code: str
    name: str
    tier: int
    parent: str | None
    iab3_id: str | None

    @property
    def tier1_code(self) -> str:
        """The tier-1 code this node belongs to (itself for a tier-1 node)."""
        return self.parent or self.code


def _read_tsv(name: str) -> list[list[str]]:
    text = (_DATA / name).read_text(encoding="utf-8")
    return [row for row in csv.reader(text.splitlines(), delimiter="\t") if any(row)]


def _fix_code(code: str) -> str:
    # Upstream mapping data error: Health & Fitness tier 1 is spelled "AB7".
    return "IAB7" if code == "AB7" else code


@cache
def _iab3_ids() -> dict[str, str]:
    """1.0 code → 2.x/3.x unique id, only where the id exists in 3.1."""
    ids_31 = {row[0] for row in _read_tsv("Content Taxonomy 3.1.tsv")[2:]}
    mapping: dict[str, str] = {}
    for row in _read_tsv("Content 1.0 to Content 2.0.tsv")[1:]:
        code, new_id = _fix_code(row[0].strip()), row[3].strip()
        if new_id and new_id in ids_31:
            mapping[code] = new_id
    return mapping


@cache
def categories() -> dict[str, IabCategory]:
    """All Content Taxonomy 1.0 nodes keyed by code, in file order."""
    iab3 = _iab3_ids()
    result: dict[str, IabCategory] = {}
    for row in _read_tsv("Content Taxonomy 1.0.tsv")[1:]:
        code, tier_label, name = (cell.strip() for cell in row[:3])
        tier = 1 if tier_label == "Tier 1" else 2
        parent = code.split("-", 1)[0] if tier == 2 else None
        result[code] = IabCategory(code, name, tier, parent, iab3.get(code))
    return result


def get(code: str) -> IabCategory:
    """The node for a 1.0 code; KeyError when the code does not exist."""
    return categories()[code]


def topic_tier1_codes() -> list[str]:
    """Tier-1 codes the classifier can return (IAB1..IAB23)."""
    return [c.code for c in categories().values() if c.tier == 1 and c.code not in NON_TOPIC_TIER1]
