"""Brand safety and suitability: a risk level per GARM / 4A's APB category, and an overall level.

The model is a weighted phrase list per category (`data/brand_safety.txt`), matched on whole
words over the title and main text with the engine's normalisation (`categories.tokenize`),
plus the IAB categories the engine found where they carry a brand-safety meaning. For each
category:

- ``evidence`` is the sum of the matched phrases' weights, each damped logarithmically by its
  count (one word repeated forty times is not forty words); title hits count TITLE_WEIGHT times;
- ``density`` is evidence per 100 words, with short texts counted as MIN_WORDS long, so that a
  single strong word in a 20-word post is a signal and the same word once in a 2,000-word
  article is not.

Levels, in GARM's suitability order (worst first):

- ``floor``: the category's floor phrases (promotion or distribution: "free porn", "download
  torrent", "join the caliphate") carry FLOOR_EVIDENCE and make up FLOOR_DENSITY of the page;
  or an IAB floor code (IAB25-3 Pornography, IAB26 Illegal Content);
- ``high``: evidence ≥ HIGH_EVIDENCE and density ≥ HIGH_DENSITY (gratuitous, glamorising);
- ``medium``: evidence ≥ MEDIUM_EVIDENCE and density ≥ MEDIUM_DENSITY (dramatic depiction);
- ``low``: evidence ≥ LOW_EVIDENCE (the subject is present: news or educational treatment);
- ``none``: no signal.

News or educational treatment (reporting vocabulary — "according to", "officials said",
"researchers" — with FRAMING_EVIDENCE on a page of at least FRAMING_MIN_WORDS words, or an
IAB News / Education category) lowers ``high`` to ``medium`` and ``medium`` to ``low``; it
never lowers ``floor``. The overall level is the worst category level.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from beacon.contextual.categories import CategoryMatch, match_terms, tokenize

RiskLevel = Literal["none", "low", "medium", "high", "floor"]
# Least to most severe: a level's index is its rank.
LEVELS: tuple[RiskLevel, ...] = ("none", "low", "medium", "high", "floor")
RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}

# The 11 GARM Brand Safety Floor + Suitability Framework categories, by their wire keys.
CATEGORIES: tuple[str, ...] = (
    "adult_explicit_sexual_content",
    "arms_ammunition",
    "crime_harmful_acts",
    "death_injury_military_conflict",
    "online_piracy",
    "hate_speech_acts_of_aggression",
    "obscenity_profanity",
    "illegal_drugs_tobacco_ecigarettes_vaping_alcohol",
    "spam_harmful_content",
    "terrorism",
    "debated_sensitive_social_issues",
)
FRAMING = "framing"

TITLE_WEIGHT = 2.0
MIN_WORDS = 40
LOW_EVIDENCE = 2.0
MEDIUM_EVIDENCE, MEDIUM_DENSITY = 2.5, 1.5
HIGH_EVIDENCE, HIGH_DENSITY = 6.0, 4.0
# Subjects (as opposed to explicit language) need more evidence before a page is more than a
# mention of them: one "gun control" or "ISIS" in a short post is discussion, not depiction.
TOPICAL = frozenset(
    {
        "arms_ammunition", "crime_harmful_acts", "death_injury_military_conflict",
        "illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "terrorism",
        "debated_sensitive_social_issues",
    }
)  # fmt: skip
TOPICAL_FACTOR = 2.0  # multiplies MEDIUM_EVIDENCE and HIGH_EVIDENCE for TOPICAL categories
FLOOR_EVIDENCE, FLOOR_DENSITY = 3.0, 0.75
FRAMING_EVIDENCE, FRAMING_MIN_WORDS = 4.0, 60
# Token shapes of premium-rate text spam: long phone numbers (08xx/09xx…) and per-message
# prices ("150p", "10ppm"); each counts SPAM_SHAPE_WEIGHT, damped like a phrase.
SPAM = "spam_harmful_content"
SPAM_SHAPE_WEIGHT = 1.5
_SPAM_SHAPE = re.compile(r"(?:0[789]\d{8,11}|\d{1,4}p(?:pm|pw|pmin|msg)?)")

# IAB Content Taxonomy 1.0 codes the engine (or a stored classification) may carry, and the
# least level each implies for a category. A tier-1 code applies to its children too.
IAB_LEVELS: dict[str, tuple[str, RiskLevel]] = {
    "IAB7-39": ("adult_explicit_sexual_content", "low"),  # Sexuality
    "IAB7-41": ("illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "low"),  # Smoking Cessation
    "IAB7-42": ("illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "low"),  # Substance Abuse
    "IAB8-5": ("illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "low"),  # Cocktails/Beer
    "IAB8-18": ("illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "low"),  # Wine
    "IAB9-9": ("illegal_drugs_tobacco_ecigarettes_vaping_alcohol", "low"),  # Cigars
    "IAB11-1": ("debated_sensitive_social_issues", "low"),  # Immigration
    "IAB17-18": ("arms_ammunition", "low"),  # Hunting/Shooting
    "IAB25-2": ("death_injury_military_conflict", "high"),  # Extreme Graphic/Explicit Violence
    "IAB25-3": ("adult_explicit_sexual_content", "floor"),  # Pornography
    "IAB25-4": ("obscenity_profanity", "high"),  # Profane Content
    "IAB25-5": ("hate_speech_acts_of_aggression", "high"),  # Hate Content
    "IAB26": ("crime_harmful_acts", "floor"),  # Illegal Content
}
# Categories that mean the page treats its subject as news or teaching.
FRAMING_IAB = ("IAB12", "IAB5")


@dataclass(frozen=True, slots=True)
class BrandSafety:
    """Per-category risk levels and the overall (worst) level."""

    categories: dict[str, RiskLevel]

    @property
    def overall(self) -> RiskLevel:
        """The worst category level."""
        return max(self.categories.values(), key=RANK.__getitem__, default="none")

    def to_dict(self) -> dict[str, Any]:
        """Wire form: {"overall", "categories": {key: level for the 11 keys}}."""
        return {"overall": self.overall, "categories": dict(self.categories)}


@dataclass(frozen=True, slots=True)
class _Term:
    category: str  # a CATEGORIES key or FRAMING
    weight: float
    floor: bool


@dataclass(frozen=True, slots=True)
class Terms:
    """Folded phrase → what it counts for, plus what the matcher needs."""

    entries: dict[tuple[str, ...], tuple[_Term, ...]]
    max_len: int
    phrase_starts: frozenset[str]


def parse_terms(text: str) -> Terms:
    """Compile the term file's format (see its header)."""
    found: dict[tuple[str, ...], dict[tuple[str, bool], float]] = defaultdict(dict)
    section: tuple[str, bool] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name, _, kind = line[1:-1].partition(":")
            if name not in CATEGORIES and name != FRAMING:
                raise ValueError(f"unknown brand-safety section {name!r}")
            section = (name, kind == "floor")
            continue
        if section is None:
            raise ValueError("brand-safety terms before the first section")
        for item in filter(None, (part.strip() for part in line.split(","))):
            term, _, weight = item.rpartition(":")
            if not term:
                term, weight = item, "1"
            key = tuple(tokenize(term))
            if key:
                found[key][section] = max(found[key].get(section, 0.0), float(weight))
    entries = {
        key: tuple(_Term(cat, weight, floor) for (cat, floor), weight in sections.items())
        for key, sections in found.items()
    }
    starts = frozenset(key[0] for key in entries if len(key) > 1)
    return Terms(entries, max(len(key) for key in entries), starts)


@cache
def terms() -> Terms:
    """The shipped term model (loaded once per process)."""
    path = resources.files("beacon.contextual") / "data" / "brand_safety.txt"
    return parse_terms(path.read_text("utf-8"))


def _matches(tokens: list[str], model: Terms) -> list[tuple[str, ...]]:
    """Phrases of `model` in `tokens`, longest match first, non-overlapping."""
    return [phrase for _, phrase in match_terms(tokens, model)]


def _damp(count: float) -> float:
    return count if count <= 1 else 1.0 + math.log(count)


def _evidence(
    counts: Mapping[tuple[str, ...], float], model: Terms
) -> tuple[dict[str, float], dict[str, float]]:
    """(evidence, floor evidence) per category (and FRAMING) from phrase counts."""
    evidence: dict[str, float] = defaultdict(float)
    floor: dict[str, float] = defaultdict(float)
    for key, count in counts.items():
        damped = _damp(count)
        for term in model.entries[key]:
            evidence[term.category] += term.weight * damped
            if term.floor:
                floor[term.category] += term.weight * damped
    return evidence, floor


def _level(evidence: float, floor: float, density: float, words: int, scale: float) -> RiskLevel:
    if floor >= FLOOR_EVIDENCE and floor * 100.0 / words >= FLOOR_DENSITY:
        return "floor"
    if evidence >= HIGH_EVIDENCE * scale and density >= HIGH_DENSITY:
        return "high"
    if evidence >= MEDIUM_EVIDENCE * scale and density >= MEDIUM_DENSITY:
        return "medium"
    if evidence >= LOW_EVIDENCE:
        return "low"
    return "none"


def _iab_hits(categories: Sequence[CategoryMatch | Mapping[str, Any]]) -> list[str]:
    codes = []
    for category in categories:
        code = category.id if isinstance(category, CategoryMatch) else str(category.get("id", ""))
        codes.append(code)
    return codes


def assess(
    *,
    title: str,
    text: str,
    categories: Sequence[CategoryMatch | Mapping[str, Any]] = (),
    reported: Sequence[CategoryMatch | Mapping[str, Any]] | None = None,
) -> BrandSafety:
    """Risk levels for a page from its title, main text and the IAB categories found for it.

    ``reported`` is the part of ``categories`` the classification reports (the engine abstains
    below a confidence threshold; default: all of them). Every category found may raise a
    level, but only a reported one may lower it (news framing): a low-confidence guess of
    "News" must not make an unsafe page look safer."""
    model = terms()
    counts: dict[tuple[str, ...], float] = defaultdict(float)
    title_tokens, text_tokens = tokenize(title), tokenize(text)
    for key in _matches(title_tokens, model):
        counts[key] += TITLE_WEIGHT
    for key in _matches(text_tokens, model):
        counts[key] += 1.0
    evidence, floor = _evidence(counts, model)
    shapes = sum(1 for token in text_tokens if token[0].isdigit() and _SPAM_SHAPE.fullmatch(token))
    if shapes:
        evidence[SPAM] += SPAM_SHAPE_WEIGHT * _damp(shapes)
    real_words = len(title_tokens) + len(text_tokens)
    words = max(real_words, MIN_WORDS)
    codes = _iab_hits(categories)
    framing_codes = codes if reported is None else _iab_hits(reported)
    framed = any(code.split("-")[0] in FRAMING_IAB for code in framing_codes) or (
        real_words >= FRAMING_MIN_WORDS and evidence.get(FRAMING, 0.0) >= FRAMING_EVIDENCE
    )
    levels: dict[str, RiskLevel] = {}
    for category in CATEGORIES:
        found = evidence.get(category, 0.0)
        scale = TOPICAL_FACTOR if category in TOPICAL else 1.0
        level = _level(found, floor.get(category, 0.0), found * 100.0 / words, words, scale)
        if framed and level in ("medium", "high"):
            level = LEVELS[RANK[level] - 1]
        levels[category] = level
    for code in codes:
        for known in (code, code.split("-")[0]):
            if known in IAB_LEVELS:
                category, least = IAB_LEVELS[known]
                if RANK[least] > RANK[levels[category]]:
                    levels[category] = least
    return BrandSafety(levels)


def overall_of(classification: Mapping[str, Any]) -> RiskLevel | None:
    """The overall level of a stored classification; None when it predates brand safety."""
    block = classification.get("brand_safety")
    if not isinstance(block, Mapping):
        return None
    level = block.get("overall")
    return level if isinstance(level, str) and level in RANK else None  # type: ignore[return-value]


def within(classification: Mapping[str, Any], max_risk: str) -> bool:
    """Whether a stored classification's overall risk is at most ``max_risk``; a classification
    without brand safety (stored by an older engine) is not known to be within any limit."""
    return level_within(overall_of(classification), max_risk)


def level_within(level: str | None, max_risk: str) -> bool:
    """Whether a stored overall level is at most ``max_risk``; no level (or one this engine
    does not know) is not within any limit."""
    return level in RANK and RANK[level] <= RANK[max_risk]
