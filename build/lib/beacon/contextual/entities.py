"""Named entities from capitalised spans, gazetteers and context rules.

No statistical NER model: candidates are runs of capitalised tokens in the main text, split
on known names (greedy longest gazetteer match) and typed by gazetteers (brands,
organisations, places incl. pycountry countries and subdivisions, products, events), then by
context (a first-name list, a role word such as "striker" or "CEO" before the name, "said"
after it) and by name suffixes ("... University", "... League"). See
docs/contextual-engine.md for why this beats a packaged NER model within 50 ms per page.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pycountry

MAX_ENTITIES = 10
# Entities are read from the first ~1,000 words: the people and organisations a page is about
# are named early, and the cost grows with the text.
MAX_CHARS = 6_000
TYPES = ("person", "brand", "organization", "place", "product", "thing")

_TOKEN_RE = re.compile(r"(?:[A-Z]\.){2,}|\w+(?:[&'’\-]\w+)*(?:\.\w+)*")
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")
_CONNECTORS = frozenset(
    {"of", "for", "de", "da", "del", "der", "di", "du", "la", "le", "van", "von"}
)
_SPEECH_VERBS = frozenset({"said", "says", "told", "added", "wrote", "explained", "argued"})
_ORG_SUFFIXES = frozenset(
    {
        "Inc", "Corp", "Corporation", "Ltd", "LLC", "plc", "PLC", "Group", "Company", "Co",
        "Bank", "University", "College", "Institute", "Association", "Foundation", "Council",
        "Committee", "Commission", "Agency", "Department", "Ministry", "Party", "Union", "Club",
        "FC", "Court", "Authority", "Service", "Board", "Federation", "Organization",
        "Organisation", "School", "Hospital", "Airlines", "Motors", "Technologies", "Labs",
        "Studios", "Records", "Press", "Times", "Post", "Police", "Army", "Navy", "Society",
    }
)  # fmt: skip
_PLACE_SUFFIXES = frozenset(
    {
        "City", "County", "Street", "River", "Mountain", "Mountains", "Lake", "Island",
        "Islands", "Valley", "Bay", "Beach", "Province", "Road", "Avenue", "Square", "Stadium",
        "Airport", "Park", "Coast", "Peninsula", "Desert", "Sea", "Ocean",
    }
)  # fmt: skip
_THING_SUFFIXES = frozenset(
    {
        "League", "Cup", "Championship", "Championships", "Games", "Open", "Olympics", "Awards",
        "Festival", "Summit", "Conference", "Series", "Prix", "Marathon", "Derby", "Act",
        "Tour", "Trophy", "Week",
    }
)  # fmt: skip
_MODEL_TOKENS = frozenset({"Pro", "Max", "Plus", "Ultra", "Mini", "Air", "Lite", "Fold", "Flip"})
# Function words that start sentences; never the first word of a name.
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "although",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "even",
        "every",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "last",
        "later",
        "many",
        "me",
        "meanwhile",
        "more",
        "most",
        "my",
        "new",
        "next",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "per",
        "same",
        "she",
        "should",
        "since",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "today",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "yesterday",
        "yet",
        "you",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class Entity:
    """A named entity on the page."""

    name: str
    type: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Wire form: name, type, confidence."""
        return {"name": self.name, "type": self.type, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Known names → type, first names, role words and acronyms that are not names."""

    names: dict[tuple[str, ...], str]
    max_len: int
    first_names: frozenset[str]
    roles: frozenset[tuple[str, ...]]
    stop_acronyms: frozenset[str]


def _sections() -> dict[str, list[str]]:
    text = (resources.files("beacon.contextual") / "data" / "entities.txt").read_text("utf-8")
    sections: dict[str, list[str]] = defaultdict(list)
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        sections[current].extend(part.strip() for part in line.split(",") if part.strip())
    return sections


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


@cache
def gazetteer() -> Gazetteer:
    """The compiled gazetteers (loaded once per process)."""
    sections = _sections()
    names: dict[tuple[str, ...], str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:
                names[tuple(_tokens(value))] = "place"
    for code in ("US", "CA", "AU"):
        for sub in pycountry.subdivisions.get(country_code=code) or []:
            names[tuple(_tokens(sub.name))] = "place"
    for kind in ("place", "organization", "brand", "thing", "product"):
        for name in sections[kind]:
            names[tuple(_tokens(name))] = kind
    roles = frozenset(tuple(_tokens(role.lower())) for role in sections["roles"])
    return Gazetteer(
        names=names,
        max_len=max(len(key) for key in names),
        first_names=frozenset(sections["first_names"]),
        roles=roles,
        stop_acronyms=frozenset(sections["stop_acronyms"]),
    )


def _is_capitalised(token: str) -> bool:
    return token[0].isupper() or (token[0].islower() and any(ch.isupper() for ch in token[1:]))


def _strip_possessive(token: str) -> str:
    return token[:-2] if token.endswith(("'s", "’s")) else token


@dataclass
class _Mention:
    kind: str
    base: float
    count: int = 0
    in_title: bool = False
    names: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class _Collector:
    def __init__(self, gaz: Gazetteer, lowercase_words: set[str]) -> None:
        self.gaz = gaz
        self.lowercase_words = lowercase_words
        self.found: dict[str, _Mention] = {}
        self.unknown: dict[str, int] = defaultdict(int)

    def add(self, name: str, kind: str, base: float) -> None:
        mention = self.found.get(name)
        if mention is None or base > mention.base:
            previous = mention.count if mention else 0
            mention = self.found[name] = _Mention(kind, base, previous)
        mention.count += 1

    def sentence(self, tokens: list[str]) -> None:
        i = 0
        while i < len(tokens):
            if not _is_capitalised(tokens[i]):
                i += 1
                continue
            start = i
            while i < len(tokens) and self._continues(tokens, i, start):
                i += 1
            self.span(tokens, start, i)

    def _continues(self, tokens: list[str], i: int, start: int) -> bool:
        token = tokens[i]
        if _is_capitalised(token):
            return True
        if token.isdigit() and len(token) <= 4 and i > start:
            return True
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        return token in _CONNECTORS and i > start and bool(nxt) and _is_capitalised(nxt)

    def span(self, tokens: list[str], start: int, end: int) -> None:
        words = [_strip_possessive(t) for t in tokens[start:end]]
        while words and words[-1] in _CONNECTORS:
            words.pop()
        if start == 0 and words and self._is_common_word(words[0]):
            words = words[1:]
        # A lone capitalised word opening a sentence is only a name if a gazetteer knows it.
        if start == 0 and len(words) == 1 and not self._gazetteer_match(words, 0):
            return
        after = tokens[end].lower() if end < len(tokens) else ""
        self._split(words, role_before=self._role_before(tokens, start), after=after)

    def _is_common_word(self, word: str) -> bool:
        lowered = word.lower()
        return lowered in _STOPWORDS or lowered in self.lowercase_words

    def _role_before(self, tokens: list[str], start: int) -> bool:
        for size in (1, 2):
            if (
                start - size >= 0
                and tuple(t.lower() for t in tokens[start - size : start]) in self.gaz.roles
            ):
                return True
        return False

    def _split(self, words: list[str], *, role_before: bool, after: str) -> None:
        """Greedy longest gazetteer match; leftovers go to the heuristic rules."""
        i, role = 0, role_before
        pending: list[str] = []
        while i < len(words):
            match = self._gazetteer_match(words, i)
            if match:
                self._heuristic(pending, role_before=role, after=words[i])
                size, kind = match
                size = self._extend_model(words, i, size, kind)
                self.add(" ".join(words[i : i + size]), "product" if size > match[0] else kind, 0.9)
                i, pending, role = i + size, [], False
                continue
            role_size = self._role_at(words, i)
            if role_size:
                self._heuristic(pending, role_before=role, after=words[i])
                i, pending, role = i + role_size, [], True
                continue
            if words[i] in self.gaz.stop_acronyms:
                self._heuristic(pending, role_before=role, after=words[i])
                i, pending, role = i + 1, [], False
                continue
            pending.append(words[i])
            i += 1
        self._heuristic(pending, role_before=role, after=after)

    def _gazetteer_match(self, words: list[str], i: int) -> tuple[int, str] | None:
        for size in range(min(self.gaz.max_len, len(words) - i), 0, -1):
            kind = self.gaz.names.get(tuple(words[i : i + size]))
            if kind:
                return size, kind
        return None

    def _extend_model(self, words: list[str], i: int, size: int, kind: str) -> int:
        if kind not in ("product", "brand"):
            return size
        end = i + size
        while end < len(words) and (
            words[end] in _MODEL_TOKENS or any(ch.isdigit() for ch in words[end])
        ):
            end += 1
        return end - i

    def _role_at(self, words: list[str], i: int) -> int:
        for size in (2, 1):
            if tuple(w.lower() for w in words[i : i + size]) in self.gaz.roles:
                return size
        return 0

    def _heuristic(self, words: list[str], *, role_before: bool, after: str) -> None:
        words = [w for w in words if not w.isdigit()]
        if not words:
            return
        name = " ".join(words)
        alpha = all(w.replace("-", "").replace("'", "").isalpha() for w in words)
        if alpha and 2 <= len(words) <= 4 and words[0] in self.gaz.first_names:
            self.add(name, "person", 0.85)
        elif alpha and 2 <= len(words) <= 3 and role_before:
            self.add(name, "person", 0.8)
        elif alpha and 2 <= len(words) <= 3 and after.lower() in _SPEECH_VERBS:
            self.add(name, "person", 0.7)
        elif len(words) >= 2 and words[-1] in _ORG_SUFFIXES:
            self.add(name, "organization", 0.75)
        elif len(words) >= 2 and words[-1] in _PLACE_SUFFIXES:
            self.add(name, "place", 0.7)
        elif len(words) >= 2 and words[-1] in _THING_SUFFIXES:
            self.add(name, "thing", 0.7)
        elif len(words) == 1 and role_before and alpha:
            self.add(name, "person", 0.6)
        else:
            self.unknown[name] += 1


def extract(*, text: str, title: str = "") -> list[Entity]:
    """Up to ten entities, the most salient (mentions, presence in the title) first."""
    gaz = gazetteer()
    # Tokenise once; the set of words seen in lowercase is needed before the first sentence.
    sentences = [_tokens(sentence) for sentence in _SENTENCE_RE.split(text[:MAX_CHARS])]
    lowercase_words = {t for tokens in sentences for t in tokens if t.islower()}
    collector = _Collector(gaz, lowercase_words)
    for tokens in sentences:
        collector.sentence(tokens)
    _merge_surnames(collector)
    _add_repeated_unknowns(collector)
    title_lower = title.lower()
    scored = []
    for name, mention in collector.found.items():
        in_title = name.lower() in title_lower
        confidence = min(
            0.99, mention.base + 0.04 * math.log(mention.count) + (0.05 if in_title else 0)
        )
        salience = mention.count + (3 if in_title else 0)
        scored.append((salience, confidence, Entity(name, mention.kind, round(confidence, 2))))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [entity for _, _, entity in scored[:MAX_ENTITIES]]


def _merge_surnames(collector: _Collector) -> None:
    """Count "Saka" as a mention of "Bukayo Saka" once the full name is known."""
    people = [name for name, m in collector.found.items() if m.kind == "person" and " " in name]
    for name in list(collector.found):
        mention = collector.found[name]
        if " " in name or mention.kind not in ("person", "thing"):
            continue
        owners = [p for p in people if p.split()[-1] == name]
        if len(owners) == 1:
            collector.found[owners[0]].count += mention.count
            del collector.found[name]
    for name, count in list(collector.unknown.items()):
        owners = [p for p in people if p.split()[-1] == name or p.split()[0] == name]
        if len(owners) == 1:
            collector.found[owners[0]].count += count
            del collector.unknown[name]


def _add_repeated_unknowns(collector: _Collector) -> None:
    for name, count in collector.unknown.items():
        multiword = " " in name
        if count >= 2 or (multiword and count >= 1):
            if name.isupper() and not multiword:
                collector.add(name, "organization", 0.45)
            else:
                collector.add(name, "thing", 0.4 if multiword else 0.35)
            collector.found[name].count = count
