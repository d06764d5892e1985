"""Segment rules evaluated against one URL's stored classification.

Include keys combine with AND (every key given must match), the values of one key with OR.
An exclusion removes a URL when any one of its keys matches. A tier-1 IAB code (``IAB19``)
also matches its tier-2 children (``IAB19-6``); ``min_confidence`` applies to categories and
compares with the stored confidence, which is calibrated (P(tier-1 right), contextual/
calibration.py) for pages classified since calibration and the raw score for older ones, until
the worker classifies them again (docs/activate.md#segments).
``brand_safety.max_risk`` keeps only URLs whose overall brand-safety level is at most that
level; a classification stored before brand safety existed has no level and does not match.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from beacon.contextual import brand_safety
from beacon.core.errors import quoted
from beacon.core.registrable_domains import is_public_suffix, registrable_domain
from beacon.core.urls import ascii_domain, host_name


@dataclass(frozen=True)
class Criteria:
    categories: tuple[str, ...] | None
    keywords: tuple[re.Pattern[str], ...] | None
    entities: frozenset[str] | None
    sentiment: frozenset[str] | None
    min_confidence: float
    domains: frozenset[str] | None = None

    @classmethod
    def from_rules(cls, rules: Mapping[str, Any]) -> Criteria:
        """Compile one rule set (the include part, or ``exclude``)."""
        keywords = rules.get("keywords")
        entities = rules.get("entities")
        sentiment = rules.get("sentiment")
        categories = rules.get("iab_categories")
        return cls(
            categories=tuple(categories) if categories is not None else None,
            keywords=tuple(_phrase(k) for k in keywords) if keywords is not None else None,
            entities=frozenset(_fold(e) for e in entities) if entities is not None else None,
            sentiment=frozenset(sentiment) if sentiment is not None else None,
            min_confidence=float(rules.get("min_confidence") or 0.0),
            domains=(
                frozenset(_rule_domain(d) for d in rules["domains"])
                if rules.get("domains")
                else None
            ),
        )

    def checks(self, classification: Mapping[str, Any], domain: str = "") -> list[bool]:
        """The outcome of each key this rule set gives, in a fixed order."""
        results: list[bool] = []
        if self.domains is not None:
            results.append(ascii_domain(domain) in self.domains)
        if self.categories is not None:
            results.append(self._category_hit(classification))
        if self.keywords is not None:
            words = [_fold(str(k)) for k in classification.get("keywords", [])]
            results.append(any(p.search(w) for p in self.keywords for w in words))
        if self.entities is not None:
            names = {_fold(str(e.get("name", ""))) for e in classification.get("entities", [])}
            results.append(bool(self.entities & names))
        if self.sentiment is not None:
            label = (classification.get("sentiment") or {}).get("label")
            results.append(label in self.sentiment)
        return results

    def _category_hit(self, classification: Mapping[str, Any]) -> bool:
        assert self.categories is not None
        for category in classification.get("iab_categories", []):
            if float(category.get("confidence", 0)) < self.min_confidence:
                continue
            code = str(category.get("id", ""))
            if any(code == want or code.startswith(f"{want}-") for want in self.categories):
                return True
        return False


@dataclass(frozen=True)
class SegmentMatcher:
    include: Criteria
    exclude: Criteria | None
    max_risk: str | None = None

    @classmethod
    def from_rules(cls, rules: Mapping[str, Any]) -> SegmentMatcher:
        """Compile a segment's stored rules."""
        exclude = rules.get("exclude")
        max_risk = (rules.get("brand_safety") or {}).get("max_risk")
        return cls(
            Criteria.from_rules(rules),
            Criteria.from_rules(exclude) if exclude else None,
            max_risk,
        )

    def matches(self, classification: Mapping[str, Any], domain: str = "") -> bool:
        """Whether a URL of ``domain`` with this classification belongs to the segment."""
        if self.max_risk is not None and not brand_safety.within(classification, self.max_risk):
            return False
        if not all(self.include.checks(classification, domain)):
            return False
        return not (self.exclude is not None and any(self.exclude.checks(classification, domain)))


def _rule_domain(written: str) -> str:
    """A rule's domain as the inventory keys pages: their registrable domain, so that
    'www.nytimes.com' is 'nytimes.com' (as Measure's filters read it). Only a host name is
    read so: more than a name ('böse@bank.com', 'bank.com/ü') stays as written and matches
    nothing, and so does a public suffix ('co.uk')."""
    name = host_name(written)
    if name is None:
        ip = _ip_literal(written)
        return ip if ip is not None else ascii_domain(written)
    return registrable_domain(name) or name


def _ip_literal(written: str) -> str | None:
    """An IP address ('10.0.0.7', '::1' or '[::1]') as the inventory keys its pages, or None."""
    text = written.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return text.lower()


def domain_problem(written: str) -> str | None:
    """Why a rule's domain can match no page, or None.

    A URL, text with spaces or markup, or a public suffix ('co.uk') is no page's domain: kept,
    it matched nothing, so an ``exclude`` list that held one let those pages through. A name
    without a registrable domain ('intranet', '10.0.0.7', '[::1]', 'wiki.internal') stays allowed: with
    private networks allowed, the inventory keys such pages by their host."""
    name = host_name(written)
    if name is None and _ip_literal(written) is not None:
        return None
    if name is None:
        suggestion = registrable_domain(written)
        hint = f": write {quoted(suggestion)}" if suggestion else ""
        return f"{quoted(written)} is not a domain name{hint}"
    if is_public_suffix(name):
        return (
            f"{quoted(written)} is a public suffix, under which sites register their domains; "
            "no page's domain is a public suffix: name the sites"
        )
    return None


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _phrase(phrase: str) -> re.Pattern[str]:
    # Whole-word phrase match: "gpu" matches "nvidia gpu" but not "gpus".
    return re.compile(rf"(?<!\w){re.escape(_fold(phrase))}(?!\w)")
