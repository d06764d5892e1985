"""IAB category scoring from a curated, weighted term lexicon.

Each term in `data/lexicon.txt` carries a weight for one or more Content Taxonomy 1.0
categories. A page is scored by finding terms (longest match first, so "heart attack" is
not also "attack") in the title, description and main text, weighting title and description
hits higher and damping repeated terms logarithmically, so one word repeated forty times
cannot outvote ten different on-topic words. Tier-2 terms also count for their tier-1
parent, once per term (the larger weight), never twice.

Two structural rules sit on top of the lexicon: the lede (the first sentences of the main
text, which state what an article is about) counts more than the rest, and News (IAB12) is
treated as a format rather than a subject, so a news report is labelled by its subject when
the subject has comparable evidence. British spellings are folded to the American ones the
lexicon is written in.

On pages short of an article's evidence (short texts, questions, headlines, where a lexicon
finds few terms or none) the re-ranked scores are blended with a trained softmax head over the
page's MiniLM embedding (`TopicHead`, `blend`; docs/understand.md, *English topic head*).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Container
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from beacon.contextual import heads, semantic, taxonomy
from beacon.contextual.heads import SoftmaxHead

if TYPE_CHECKING:
    import numpy as np

FIELD_WEIGHTS = {"title": 3.0, "description": 2.0, "text": 1.0}
# Term hits among the first LEDE_TOKENS tokens of the main text (about two sentences) count
# LEDE_WEIGHT times: articles state their subject up front, asides come later.
LEDE_TOKENS = 40
LEDE_WEIGHT = 1.5
# News is how a story is told, not what it is about: its score is scaled down so that a
# report about a flood or a court case is labelled by its subject when the evidence is close.
NEWS_CODE = "IAB12"
NEWS_FORMAT_FACTOR = 0.6
MAX_CATEGORIES = 3
# A tier-1 is reported only with at least this much evidence (about two strong term hits).
MIN_TOP_SCORE = 4.0
# Secondary tier-1 categories must reach this fraction of the top score.
SECONDARY_RATIO = 0.3
# A tier-2 is reported instead of its parent when it carries this share of the parent's score.
TIER2_SHARE = 0.4
MIN_TIER2_SCORE = 3.0
# Evidence scale for confidence: a score of STRENGTH_SCALE gives 1 - 1/e of full strength.
STRENGTH_SCALE = 8.0
NAME_TERM_WEIGHT = 2.0
# The trained topic head blended with the re-ranked lexicon on English pages (see `TopicHead`).
TOPICS_HEAD_FILE = "topics-head.npz"
# Taxonomy names too generic or misleading to use as terms for their own category.
_SKIP_NAME_TERMS = frozenset(
    {
        "IAB2-6", "IAB2-7", "IAB2-8", "IAB2-9", "IAB2-12", "IAB2-13", "IAB3-7", "IAB4-10",
        "IAB5-1", "IAB9-1", "IAB9-18", "IAB11-5", "IAB13-9", "IAB14-8", "IAB19-10",
        "IAB19-28", "IAB19-29", "IAB20-8", "IAB22-3", "IAB22-4",
    }
)  # fmt: skip

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['.&+\-][a-z0-9]+)*")
# Words whose plural-folded form would collide with an unrelated word ("news" -> "new"),
# including team and product names that are plurals of common words ("Mets" is not "met").
_NO_FOLD = frozenset(
    {
        "news", "aids", "mars", "lens", "yes", "its", "has", "was", "this", "thus", "mets",
        "bucks", "rangers", "chiefs", "warriors", "patriots", "penguins", "giants", "cardinals",
        "saints", "leafs", "blacks", "masters", "wells", "falls", "springs", "windows",
    }
)  # fmt: skip
# British spellings → the American spellings the lexicon is written in.
_US_SPELLING = {
    "theatre": "theater", "theatres": "theaters", "centre": "center", "centres": "centers",
    "colour": "color", "colours": "colors", "favourite": "favorite", "neighbour": "neighbor",
    "neighbours": "neighbors", "organise": "organize", "organisation": "organization",
    "programme": "program", "programmes": "programs", "defence": "defense",
    "licence": "license", "tyre": "tire", "tyres": "tires", "jewellery": "jewelry",
    "paediatric": "pediatric", "paediatrician": "pediatrician", "travelling": "traveling",
    "traveller": "traveler", "travellers": "travelers", "labour": "labor", "metre": "meter",
    "metres": "meters", "litre": "liter", "flavour": "flavor", "flavours": "flavors",
    "behaviour": "behavior", "honour": "honor", "catalogue": "catalog",
    "aluminium": "aluminum", "grey": "gray", "mum": "mom", "mums": "moms",
    "cheque": "check", "anaesthetic": "anesthetic", "oestrogen": "estrogen",
}  # fmt: skip


def fold(token: str) -> str:
    """Lowercase-token normalisation shared by the lexicon and page text (US spelling, plural
    folding)."""
    token = _US_SPELLING.get(token, token)
    if token in _NO_FOLD:
        return token
    if token.endswith("'s"):
        return token[:-2]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Folded word tokens of `text`."""
    lowered = text.lower().replace("\u2019", "'")
    return [fold(t) for t in _TOKEN_RE.findall(lowered)]


@dataclass(frozen=True, slots=True)
class _Entry:
    tier1: dict[str, float]
    tier2: dict[str, float]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Folded term tuple → weights, plus the longest term length."""

    entries: dict[tuple[str, ...], _Entry]
    max_len: int
    # First words of multi-word terms: other tokens only need a single-word lookup.
    phrase_starts: frozenset[str]


def _parse_lexicon(text: str) -> dict[str, dict[tuple[str, ...], float]]:
    sections: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
    code = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            code = line[1:-1]
            continue
        for item in filter(None, (part.strip() for part in line.split(","))):
            term, _, weight = item.rpartition(":")
            if not term or not _is_number(weight):
                term, weight = item, "1"
            key = tuple(tokenize(term))
            if key:
                section = sections[code]
                section[key] = max(section.get(key, 0.0), float(weight))
    return sections


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@cache
def lexicon() -> Lexicon:
    """The compiled lexicon (loaded once per process)."""
    text = (resources.files("beacon.contextual") / "data" / "lexicon.txt").read_text("utf-8")
    sections = _parse_lexicon(text)
    nodes = taxonomy.categories()
    for node in nodes.values():
        if node.tier1_code in taxonomy.NON_TOPIC_TIER1 or node.code in _SKIP_NAME_TERMS:
            continue
        key = tuple(tokenize(node.name))
        sections[node.code].setdefault(key, NAME_TERM_WEIGHT)
    tier1: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    tier2: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for code, terms in sections.items():
        section_node = nodes.get(code)
        for key, weight in terms.items():
            tier1.setdefault(key, {})
            if section_node is None:
                continue  # the BLOCK section: matched to consume idioms, scores nothing
            parent = section_node.tier1_code
            tier1[key][parent] = max(tier1[key].get(parent, 0.0), weight)
            if section_node.tier == 2:
                tier2[key][code] = weight
    entries = {key: _Entry(tier1[key], tier2.get(key, {})) for key in tier1}
    starts = frozenset(key[0] for key in entries if len(key) > 1)
    return Lexicon(entries, max(len(key) for key in entries), starts)


class PhraseIndex(Protocol):
    """What the phrase scan needs of a term list (the lexicon, brand safety's terms)."""

    @property
    def entries(self) -> Container[tuple[str, ...]]: ...
    @property
    def max_len(self) -> int: ...
    @property
    def phrase_starts(self) -> Container[str]: ...


def match_terms(tokens: list[str], lex: PhraseIndex) -> list[tuple[int, tuple[str, ...]]]:
    """(position, term) of lexicon terms in `tokens`, longest match first, non-overlapping."""
    found: list[tuple[int, tuple[str, ...]]] = []
    entries, starts, max_len = lex.entries, lex.phrase_starts, lex.max_len
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        if token not in starts:
            if (token,) in entries:
                found.append((i, (token,)))
            i += 1
            continue
        for size in range(min(max_len, n - i), 0, -1):
            key = tuple(tokens[i : i + size])
            if key in entries:
                found.append((i, key))
                i += size
                break
        else:
            i += 1
    return found


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    """One IAB category assigned to a page."""

    id: str
    name: str
    confidence: float
    tier: int
    subcategory: str | None
    iab3_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """Wire form: id, name (tier-1 name), confidence, plus tier/subcategory/iab3_id."""
        return {
            "id": self.id,
            "name": self.name,
            "confidence": self.confidence,
            "tier": self.tier,
            "subcategory": self.subcategory,
            "iab3_id": self.iab3_id,
        }


def _damp(count: float) -> float:
    return count if count <= 1 else 1.0 + math.log(count)


def term_counts(*, title: str, description: str, text: str) -> dict[tuple[str, ...], float]:
    """Field-weighted occurrence counts of lexicon terms."""
    lex = lexicon()
    counts: dict[tuple[str, ...], float] = defaultdict(float)
    for field, value in (("title", title), ("description", description), ("text", text)):
        weight = FIELD_WEIGHTS[field]
        lede = LEDE_TOKENS if field == "text" else 0
        for position, key in match_terms(tokenize(value), lex):
            counts[key] += weight * LEDE_WEIGHT if position < lede else weight
    return counts


def score(
    counts: dict[tuple[str, ...], float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Tier-1 and tier-2 scores from term counts."""
    entries = lexicon().entries
    tier1: dict[str, float] = defaultdict(float)
    tier2: dict[str, float] = defaultdict(float)
    for key, count in counts.items():
        entry, damped = entries[key], _damp(count)
        for code, weight in entry.tier1.items():
            tier1[code] += weight * damped
        for code, weight in entry.tier2.items():
            tier2[code] += weight * damped
    return tier1, tier2


@dataclass(frozen=True, slots=True)
class Evidence:
    """A page's category scores: the lexicon's tier-1 and tier-2 scores (News scaled down as a
    format), and the tier-1 scores after the semantic re-ranking (``ranked``)."""

    lexical: dict[str, float]
    tier2: dict[str, float]
    ranked: dict[str, float]

    @property
    def sufficient(self) -> bool:
        """Whether the lexicon found enough evidence to name a category at all."""
        return bool(self.lexical) and max(self.lexical.values()) >= MIN_TOP_SCORE


def evidence(
    *,
    title: str,
    description: str,
    text: str,
    use_semantic: bool = True,
    embedding: np.ndarray | None = None,
) -> Evidence:
    """The lexicon's scores for a page and, with `use_semantic`, more than one candidate and
    enough evidence, their re-ranking by the page's embedding similarity to each category (see
    `semantic.py`); `embedding` is the page's `semantic.page_embedding` when the caller already
    has it."""
    tier1, tier2 = score(term_counts(title=title, description=description, text=text))
    if NEWS_CODE in tier1:
        tier1[NEWS_CODE] *= NEWS_FORMAT_FACTOR
    found = Evidence(dict(tier1), dict(tier2), dict(tier1))
    if not found.sufficient or not use_semantic or len(tier1) < 2:
        return found
    similarity = semantic.similarities(
        title=title, description=description, text=text, embedding=embedding
    )
    return Evidence(found.lexical, found.tier2, semantic.rerank(tier1, similarity) or tier1)


@dataclass(frozen=True, slots=True)
class TopicHead:
    """The trained English topic head (``data/topics-head.npz``, written by
    ``bench/contextual/blend.py --write-topics-head``): a softmax over the page's MiniLM
    embedding, and the blend knobs chosen with it on dev data (see `blend`)."""

    softmax: SoftmaxHead
    weight: float
    prior: float
    geometric: bool
    answer_without_lexicon: bool
    strong_evidence: float
    # Pages of at least `long_tokens` folded tokens (`page_tokens`: title and text) get the
    # head weight `long_weight` instead of `weight` (session 14; infinity: one weight).
    long_tokens: float = math.inf
    long_weight: float = 0.0

    def weight_for(self, tokens: int) -> float:
        """The head's weight in the blend for a page of `tokens` folded tokens."""
        return self.long_weight if tokens >= self.long_tokens else self.weight

    def page_weight(self, *, title: str, text: str) -> float:
        """The head's weight for a page; its length is only counted when the knob is on."""
        if math.isinf(self.long_tokens):
            return self.weight
        return self.weight_for(page_tokens(title=title, text=text))

    def decides(self, found: Evidence) -> bool:
        """Whether the page's lexicon evidence is weak enough for the blend to decide: below
        `strong_evidence` (the project's article-length pages score 12-50, public short texts
        mostly under 10) the lexicon's answer and its confidence stand."""
        return max(found.lexical.values(), default=0.0) < self.strong_evidence

    def probabilities(self, embedding: np.ndarray) -> dict[str, float]:
        """Tier-1 code → calibrated probability for a page's embedding."""
        probs = self.softmax.probabilities(embedding)
        return dict(zip(self.softmax.classes, probs.tolist(), strict=True))


@cache
def topic_head() -> TopicHead:
    """The shipped topic head, loaded once."""
    softmax, extra = heads.load(TOPICS_HEAD_FILE)
    if set(softmax.classes) != set(taxonomy.topic_tier1_codes()):
        raise RuntimeError(f"{TOPICS_HEAD_FILE}: classes {softmax.classes} are not the topics")
    return TopicHead(
        softmax,
        weight=float(extra["blend_weight"]),
        prior=float(extra["blend_prior"]),
        geometric=bool(extra["blend_geometric"]),
        answer_without_lexicon=bool(extra["answer_without_lexicon"]),
        strong_evidence=float(extra["strong_evidence"]),
        long_tokens=float(extra.get("long_tokens", math.inf)),
        long_weight=float(extra.get("long_weight", extra["blend_weight"])),
    )


def page_tokens(*, title: str, text: str) -> int:
    """A page's length for `TopicHead.weight_for`: the folded tokens of its title and text.
    Not its meta description: the knob was chosen on corpora and pages that have none, so a
    description would move real pages across `long_tokens` by a length nothing was fitted on."""
    return sum(len(tokenize(value)) for value in (title, text))


def classify(
    *,
    title: str,
    description: str,
    text: str,
    use_semantic: bool = True,
    use_head: bool = True,
    embedding: np.ndarray | None = None,
) -> list[CategoryMatch]:
    """Up to three IAB categories for a page, most confident first.

    The lexicon finds the candidates and the embedding similarity re-ranks them (see
    `evidence`). With `use_semantic` and `use_head`, on a page whose lexicon evidence is short
    of an article's (`TopicHead.decides`) the re-ranked scores are blended with the trained
    topic head's probabilities for the page's embedding (`blend`, `topic_head`; the head's
    weight may depend on the page's length, `TopicHead.page_weight`), and the confidences are
    the blend's probabilities. Otherwise the lexicon's answer and its
    heuristic confidence stand, and there is no category when its evidence is too weak.
    """
    blended = use_semantic and use_head
    if blended and embedding is None:
        page = semantic.page_text(title=title, description=description, text=text)
        embedding = semantic.embed(page) if page.strip() else None
    found = evidence(
        title=title,
        description=description,
        text=text,
        use_semantic=use_semantic,
        embedding=embedding,
    )
    head = topic_head() if blended and embedding is not None else None
    if head is not None and embedding is not None and head.decides(found):
        if not found.sufficient and not head.answer_without_lexicon:
            return []
        mixed = blend(
            found,
            head.probabilities(embedding),
            weight=head.page_weight(title=title, text=text),
            prior=head.prior,
            geometric=head.geometric,
        )
        return _agreeing(matches(mixed, probabilities=True), found)
    return matches(found) if found.sufficient else []


def _agreeing(blended: list[CategoryMatch], found: Evidence) -> list[CategoryMatch]:
    """`blended`, its first category's raw confidence raised to the lexicon's own when the
    lexicon alone would have named the same tier-1 first: two readers agreeing are surer than
    the blend's probability, which the prior and the head spread thin on pages of moderate
    evidence (raising only the first keeps the list's order)."""
    lexical = matches(found) if found.sufficient else []
    if not blended or not lexical:
        return blended
    top, own = blended[0], lexical[0]
    if top.id.split("-")[0] != own.id.split("-")[0] or own.confidence <= top.confidence:
        return blended
    return [replace(top, confidence=own.confidence), *blended[1:]]


def matches(found: Evidence, *, probabilities: bool = False) -> list[CategoryMatch]:
    """The best re-ranked tier-1 categories (up to three, secondaries within SECONDARY_RATIO
    of the top), each with its tier-2 when the lexicon names one clearly. The raw confidence
    is the lexicon heuristic (√ share × saturation of strength), or the score itself when
    `probabilities` says the ranked scores already are probabilities (a blend, see `blend`)."""
    tier1 = found.ranked
    if not tier1:
        return []
    ranked = sorted(tier1.items(), key=lambda item: item[1], reverse=True)
    total = sum(tier1.values())
    top_score = ranked[0][1]
    result = []
    for code, value in ranked[:MAX_CATEGORIES]:
        if value <= 0 or value < SECONDARY_RATIO * top_score:
            break
        if probabilities:
            confidence = value
        else:
            confidence = math.sqrt(value / total) * (1.0 - math.exp(-value / STRENGTH_SCALE))
        # Tier-2 shares are lexical: measured against the parent's lexicon score.
        lexical = found.lexical.get(code, 0.0)
        result.append(_with_tier2(code, lexical, confidence, found.tier2))
    return result


def blend(
    found: Evidence,
    head: dict[str, float],
    *,
    weight: float,
    prior: float,
    geometric: bool,
) -> Evidence:
    """`found` with its ranked scores replaced by a probability-level blend of the engine and
    a trained head's tier-1 probabilities (`head`, code → probability).

    The engine's scores become a distribution by their shares, with `prior` lexicon points
    spread evenly over the tier-1 categories (so weak evidence leans on the head more than
    strong evidence does); then p = (1 − w)·engine + w·head, or with `geometric`
    p ∝ engine^(1 − w)·head^w, w being `weight`. The result sums to 1."""
    codes = list(head)
    scores = found.ranked
    total = sum(scores.get(code, 0.0) for code in codes) + prior
    if total <= 0:
        return Evidence(found.lexical, found.tier2, dict(head))
    even = prior / len(codes)
    engine = {code: (scores.get(code, 0.0) + even) / total for code in codes}
    if geometric:
        mixed = {
            code: engine[code] ** (1.0 - weight) * head[code] ** weight if engine[code] else 0.0
            for code in codes
        }
    else:
        mixed = {code: (1.0 - weight) * engine[code] + weight * head[code] for code in codes}
    norm = sum(mixed.values()) or 1.0
    return Evidence(found.lexical, found.tier2, {code: v / norm for code, v in mixed.items()})


def _with_tier2(
    code: str, value: float, confidence: float, tier2: dict[str, float]
) -> CategoryMatch:
    parent = taxonomy.get(code)
    children = [(c, s) for c, s in tier2.items() if taxonomy.get(c).parent == code]
    best = max(children, key=lambda item: item[1], default=None)
    if best and best[1] >= MIN_TIER2_SCORE and best[1] >= TIER2_SHARE * value:
        child = taxonomy.get(best[0])
        confidence *= math.sqrt(min(1.0, best[1] / (0.8 * value)))
        return CategoryMatch(
            child.code, parent.name, round(confidence, 3), 2, child.name, child.iab3_id
        )
    return CategoryMatch(code, parent.name, round(confidence, 3), 1, None, parent.iab3_id)
