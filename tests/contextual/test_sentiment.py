"""The trained sentiment head: shipped weights, clear short texts, pages, and the wire format."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.contextual import categories, engine, semantic, sentiment
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


@pytest.mark.parametrize(
    ("file", "has_hidden_layer"),
    [(sentiment.HEAD_FILE, False), (sentiment.SHORT_HEAD_FILE, True)],
)
def test_shipped_heads_are_small_three_way_and_over_the_embedding(
    file: str, has_hidden_layer: bool
) -> None:
    path = resources.files("beacon.contextual") / "data" / file
    assert len(path.read_bytes()) < 600_000
    head = sentiment.head(file)
    assert head.classes == ("negative", "neutral", "positive")
    inputs = 384 + (4 if head.uses_vader else 0)
    assert (head.hidden is not None) == has_hidden_layer
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


def _fixed_head(label: str) -> sentiment.Head:
    """A head that answers `label` whatever the page (its bias decides)."""
    bias = np.full(3, -5.0, dtype=np.float32)
    bias[sentiment.LABELS.index(label)] = 5.0
    return sentiment.Head(
        sentiment.LABELS, np.zeros((388, 3), np.float32), bias, 1.0, uses_vader=True
    )


@pytest.fixture
def marked_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short-text head answers positive, the long-text head negative."""
    fixed = {
        sentiment.SHORT_HEAD_FILE: _fixed_head("positive"),
        sentiment.HEAD_FILE: _fixed_head("negative"),
    }
    monkeypatch.setattr(sentiment, "head", lambda file=sentiment.HEAD_FILE: fixed[file])


def _words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


@pytest.mark.usefixtures("marked_heads")
def test_the_length_gate_picks_the_head() -> None:
    cut = sentiment.SHORT_TEXT_TOKENS
    zero = np.zeros(384, np.float32)
    assert sentiment.analyze(text=_words(cut - 1), embedding=zero).label == "positive"
    assert sentiment.analyze(text=_words(cut), embedding=zero).label == "negative"
    # The title counts, as in categories.page_tokens.
    short_text = _words(cut - 3)
    assert sentiment.analyze(text=short_text, title="a b", embedding=zero).label == "positive"
    assert sentiment.analyze(text=short_text, title="a b c", embedding=zero).label == "negative"


@pytest.mark.parametrize(
    "text",
    [
        _words(sentiment.SHORT_TEXT_TOKENS - 1),
        _words(sentiment.SHORT_TEXT_TOKENS),
        _words(5000),
        # Tokens longer than the prefix allows for: the whole text must be counted.
        " ".join(["x" * 40] * (sentiment.SHORT_TEXT_TOKENS - 1)),
        " ".join(["x" * 40] * sentiment.SHORT_TEXT_TOKENS),
        "— " * 3000 + "one two",
    ],
    ids=["one-under", "at-cut", "long", "long-tokens-under", "long-tokens-at", "punctuation"],
)
def test_is_short_agrees_with_the_full_count(text: str) -> None:
    full = categories.page_tokens(title="A title", text=text)
    assert sentiment.is_short(title="A title", text=text) == (full < sentiment.SHORT_TEXT_TOKENS)


def test_shipped_heads_read_short_and_long_texts() -> None:
    """With the real files: a short review is scored by the short-text head, an article-length
    page by the long-text head (their outputs differ on both)."""
    short_head, long_head = sentiment.head(sentiment.SHORT_HEAD_FILE), sentiment.head()
    review = NEGATIVE[1]
    article = " ".join([BLENDER_TEXT] * 3)
    assert categories.page_tokens(title="", text=review) < sentiment.SHORT_TEXT_TOKENS
    assert categories.page_tokens(title="", text=article) >= sentiment.SHORT_TEXT_TOKENS
    for text, used, other in ((review, short_head, long_head), (article, long_head, short_head)):
        embedding = semantic.page_embedding(title="", description="", text=text)
        vader = sentiment.vader_features(text=text)
        p_used = used.probabilities(used.features(embedding, vader))
        p_other = other.probabilities(other.features(embedding, vader))
        score = round(0.5 + float(p_used[2] - p_used[0]) / 2.0, 3)
        assert abs(score - (0.5 + float(p_other[2] - p_other[0]) / 2.0)) > 0.002
        assert sentiment.analyze(text=text, embedding=embedding).score == score
