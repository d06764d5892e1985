"""The trained sentiment head: shipped weights, clear short texts, pages, and the wire format."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.contextual import engine, semantic, sentiment
from beacon.core.config import Settings

CLASSIFY = "/v1/clsfy/classify"
BLENDER_TITLE = "KitchenPro 500 blender review: leaks, cracks and slow support"
BLENDER_TEXT = (
    "After two weeks the lid of the KitchenPro 500 still leaks, the motor smells hot after a "
    "minute of crushing ice, and the jug has a crack at the base.\nCustomer service took nine "
    "days to answer and offered a coupon instead of a replacement. The smoothies were gritty "
    "every time.\nSave your money and buy something else."
)

POSITIVE = [
    "I absolutely loved this film, the cast is wonderful.",
    "Great phone: fast, light, and the battery lasts two days.",
    "Best pizza in town, friendly staff too!",
    "Not bad at all, I would happily buy it again.",
]
NEGATIVE = [
    "The food was cold and the waiter was rude. Never again.",
    "Terrible product, it broke after two days.",
    "A boring, overlong mess of a movie.",
    "I wouldn't recommend this hotel to anyone.",
]
NEUTRAL = [
    "The store opens at 9 am and closes at 6 pm on weekdays.",
    "The meeting has been moved to Tuesday at 3 pm in room 204.",
    "The report covers sales in the first quarter of 2024.",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app may fetch the local site."""
    return settings.model_copy(update=OPEN_FETCH)


def test_shipped_head_is_small_three_way_and_over_the_embedding() -> None:
    path = resources.files("beacon.contextual") / "data" / sentiment.HEAD_FILE
    assert len(path.read_bytes()) < 600_000
    head = sentiment.head()
    assert head.classes == ("negative", "neutral", "positive")
    inputs = 384 + (4 if head.uses_vader else 0)
    if head.hidden is None:
        assert head.weights.shape == (inputs, 3)
    else:
        units = head.hidden[0].shape[1]
        assert head.hidden[0].shape == (inputs, units) and head.weights.shape == (units, 3)
    assert head.weights.dtype == np.float32 and np.isfinite(head.weights).all()
    assert head.temperature > 0


@pytest.mark.parametrize(
    ("text", "label"),
    [*((t, "positive") for t in POSITIVE), *((t, "negative") for t in NEGATIVE),
     *((t, "neutral") for t in NEUTRAL)],
)  # fmt: skip
def test_clear_short_texts(text: str, label: str) -> None:
    result = sentiment.analyze(text=text)
    assert result.label == label
    # The score leans the way of the label: 0 most negative, 0.5 neutral, 1 most positive.
    if label == "positive":
        assert result.score > 0.6
    elif label == "negative":
        assert result.score < 0.4
    else:
        assert 0.3 < result.score < 0.7


def test_empty_text_is_neutral_half() -> None:
    assert sentiment.analyze(text="  ", title="") == sentiment.Sentiment("neutral", 0.5)


def test_non_english_pages_keep_the_vader_rule() -> None:
    text = "Le service était lent et la soupe froide. Une soirée décevante."
    assert sentiment.analyze(text=text, language="fr") == sentiment.vader_rule(text=text)


def test_a_sentence_without_end_is_read_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """VADER's cost is quadratic in a sentence's length: an unpunctuated paragraph is read in
    pieces of MAX_SENTENCE_WORDS words, and no more than MAX_SENTENCES pieces in all."""
    read: list[str] = []
    analyzer = sentiment._analyzer()
    real = analyzer.polarity_scores

    def recording(text: str) -> dict[str, float]:
        read.append(text)
        return real(text)

    monkeypatch.setattr(analyzer, "polarity_scores", recording)
    words = [f"word{i}" for i in range(sentiment.MAX_SENTENCE_WORDS * 100 + 7)]
    sentiment.vader_features(text=" ".join(words), title=" ".join(words))
    assert read[0] == " ".join(words[: sentiment.MAX_SENTENCE_WORDS])  # the title's first piece
    pieces = read[1:]
    assert len(pieces) == sentiment.MAX_SENTENCES
    assert all(len(p.split()) == sentiment.MAX_SENTENCE_WORDS for p in pieces)
    assert " ".join(pieces) == " ".join(words[: sentiment.MAX_SENTENCE_WORDS * len(pieces)])

    read.clear()
    short = "The lid leaks and the motor smells hot. Support never answered."
    sentiment.vader_features(text=short)
    assert read == ["The lid leaks and the motor smells hot.", "Support never answered."]


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the MiniLM model embeds from here on (after the engine's warm-up)."""
    engine.warm_up()
    calls: list[str] = []
    real = semantic.embed

    def counting(text: str) -> np.ndarray:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(semantic, "embed", counting)
    return calls


def test_the_engine_embeds_a_page_once(embed_calls: list[str]) -> None:
    result = engine.classify_text(
        title="Lakers beat Celtics in overtime thriller",
        text="The Lakers won a wonderful game on Friday night. Fans loved every minute of it.",
    )
    assert len(embed_calls) == 1
    assert result.sentiment.label == "positive"


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("", "   \n\t "),
        (
            "Le gouvernement présente son budget",
            "Le Premier ministre a présenté le budget de l'État.",
        ),
    ],
    ids=["whitespace-only", "french"],
)
def test_pages_off_the_english_path_compute_no_minilm_embedding(
    embed_calls: list[str], title: str, text: str
) -> None:
    result = engine.classify_text(title=title, text=text)
    assert embed_calls == []
    if not text.strip():
        assert result.sentiment == sentiment.NEUTRAL


def test_a_bad_review_page_over_http_is_negative(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    response = client.post(
        CLASSIFY, json={"url": site.url("/blender-review.html")}, headers=headers
    )
    assert response.status_code == 200, response.text
    value = response.json()["classification"]["sentiment"]
    assert set(value) == {"label", "score"}
    # VADER's sentence average calls this page neutral (no strongly negative word in it).
    assert value["label"] == "negative" and value["score"] < 0.5
    assert sentiment.vader_rule(text=BLENDER_TEXT, title=BLENDER_TITLE).label == "neutral"


def test_text_over_http_gets_each_label(client: TestClient, headers: dict[str, str]) -> None:
    for text, label in (
        (POSITIVE[0], "positive"),
        (NEGATIVE[0], "negative"),
        (NEUTRAL[0], "neutral"),
    ):
        response = client.post(CLASSIFY, json={"text": text}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["classification"]["sentiment"]["label"] == label, text
