"""The English topic blend: the engine's re-ranked lexicon scores mixed with the trained
topic head's probabilities on pages short of an article's evidence (categories.py)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from beacon.contextual import categories, heads, semantic, taxonomy

SOCCER = (
    "Arsenal beat Chelsea 2-1 in the Premier League on Saturday. Saka scored the winner "
    "in the 88th minute after the striker's early goal was cancelled out before half-time."
)
# A match report with an article's worth of football terms (lexicon score above the shipped
# head's strong-evidence gate, 40 from engine 1.9.0).
SOCCER_REPORT = SOCCER + (
    " Chelsea had levelled through a penalty, and the goalkeeper saved a late header from a "
    "corner. The midfielder was booked for a foul on the winger before the referee added five "
    "minutes of stoppage time."
)
HEAD = {"IAB13": 0.7, "IAB17": 0.2, "IAB21": 0.1}


def _found(ranked: dict[str, float]) -> categories.Evidence:
    return categories.Evidence(dict(ranked), {}, dict(ranked))


def test_without_head_weight_or_prior_the_blend_is_the_engines_shares() -> None:
    mixed = categories.blend(
        _found({"IAB17": 6.0, "IAB21": 2.0}), HEAD, weight=0.0, prior=0.0, geometric=False
    )
    assert mixed.ranked == pytest.approx({"IAB13": 0.0, "IAB17": 0.75, "IAB21": 0.25})


def test_a_linear_blend_is_a_weighted_mean_and_sums_to_one() -> None:
    mixed = categories.blend(
        _found({"IAB17": 6.0, "IAB21": 2.0}), HEAD, weight=0.4, prior=0.0, geometric=False
    )
    assert mixed.ranked["IAB13"] == pytest.approx(0.4 * 0.7)
    assert mixed.ranked["IAB17"] == pytest.approx(0.6 * 0.75 + 0.4 * 0.2)
    assert sum(mixed.ranked.values()) == pytest.approx(1.0)
    assert max(mixed.ranked, key=mixed.ranked.__getitem__) == "IAB17"


def test_the_prior_makes_weak_evidence_lean_on_the_head() -> None:
    weak = categories.blend(_found({"IAB17": 4.0}), HEAD, weight=0.4, prior=10.0, geometric=False)
    strong = categories.blend(
        _found({"IAB17": 40.0}), HEAD, weight=0.4, prior=10.0, geometric=False
    )
    assert max(weak.ranked, key=weak.ranked.__getitem__) == "IAB13"
    assert max(strong.ranked, key=strong.ranked.__getitem__) == "IAB17"


def test_a_geometric_blend_without_prior_only_reorders_the_engines_candidates() -> None:
    mixed = categories.blend(
        _found({"IAB17": 6.0, "IAB21": 2.0}), HEAD, weight=0.9, prior=0.0, geometric=True
    )
    assert mixed.ranked["IAB13"] == 0.0
    assert sum(mixed.ranked.values()) == pytest.approx(1.0)


def test_the_shipped_head_covers_the_topic_tier1_categories() -> None:
    head = categories.topic_head()
    assert set(head.softmax.classes) == set(taxonomy.topic_tier1_codes())
    assert 0.0 < head.weight <= 1.0 and head.prior >= 0.0 and head.strong_evidence > 0
    probs = head.probabilities(semantic.page_embedding(title="", description="", text=SOCCER))
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert max(probs, key=probs.__getitem__) == "IAB17"


def test_a_short_question_the_lexicon_cannot_read_gets_the_blends_answer() -> None:
    title = "Is whole life cover worth paying for?"
    assert categories.classify(title=title, description="", text="", use_head=False) == []
    matches = categories.classify(title=title, description="", text="")
    assert matches and matches[0].id.split("-")[0] == "IAB13"
    assert 0.0 < matches[0].confidence < 1.0


def test_an_article_with_strong_lexicon_evidence_keeps_the_engines_answer() -> None:
    found = categories.evidence(title="Arsenal edge Chelsea", description="", text=SOCCER_REPORT)
    assert max(found.ranked.values()) >= categories.topic_head().strong_evidence
    assert not categories.topic_head().decides(found)
    kwargs = {"title": "Arsenal edge Chelsea", "description": "", "text": SOCCER_REPORT}
    assert categories.classify(**kwargs) == categories.classify(**kwargs, use_head=False)


def test_a_long_page_gets_the_heads_long_page_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a length knob (session 14) a page of at least `long_tokens` folded tokens is
    blended with `long_weight`, a shorter one with `weight`."""
    shipped = categories.topic_head()
    head = dataclasses.replace(
        shipped, weight=0.9, prior=10.0, geometric=False, answer_without_lexicon=True,
        strong_evidence=math.inf, long_tokens=30.0, long_weight=0.0,
    )  # fmt: skip
    assert head.weight_for(29) == 0.9 and head.weight_for(30) == 0.0
    monkeypatch.setattr(categories, "topic_head", lambda: head)
    weights: list[float] = []
    original = categories.blend

    def recording(*args: Any, **kwargs: Any) -> Any:
        weights.append(kwargs["weight"])
        return original(*args, **kwargs)

    monkeypatch.setattr(categories, "blend", recording)
    title = "Arsenal edge Chelsea"
    assert categories.page_tokens(title=title, text=SOCCER) >= 30
    assert categories.classify(title=title, description="", text=SOCCER)
    short_text = " ".join(SOCCER.split()[:20])
    assert categories.page_tokens(title=title, text=short_text) < 30
    assert categories.classify(title=title, description="", text=short_text)
    # a meta description does not make a page long (the knob was fitted without one)
    assert categories.classify(title=title, description=SOCCER, text=short_text)
    assert weights == [0.0, 0.9, 0.9], "long at long_weight; short, described or not, at weight"


def test_a_head_file_without_a_length_knob_has_one_weight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    softmax, extra = heads.load(categories.TOPICS_HEAD_FILE)
    without = {k: v for k, v in extra.items() if k not in ("long_tokens", "long_weight")}
    assert without != extra, "the shipped head has the knob; the test removes it"
    monkeypatch.setattr(heads, "load", lambda file: (softmax, without))
    categories.topic_head.cache_clear()
    try:
        head = categories.topic_head()
        assert math.isinf(head.long_tokens)
        assert head.weight_for(10_000) == head.weight_for(0) == head.weight
        assert head.page_weight(title="", text="word " * 10_000) == head.weight
        assert head.weight == float(extra["blend_weight"])
    finally:
        monkeypatch.undo()
        categories.topic_head.cache_clear()
