"""Spanish, French, German, Italian and Portuguese pages get tier-1 categories from the
multilingual encoder and head (contextual/multilingual.py), through `classify_html` and the
classify API; English keeps the lexicon path and unsupported languages still answer the note."""

from __future__ import annotations

import threading
import time
import unicodedata

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.contextual.site.server import OPEN_FETCH, SITE, LocalSite

from beacon.contextual import engine, multilingual, taxonomy
from beacon.contextual.categories import CategoryMatch
from beacon.core.config import Settings

CLASSIFY = "/v1/clsfy/classify"

# page in tests/contextual/site → (language, tier-1 it is about)
PAGES = {
    "liga.html": ("es", "IAB17"),  # football (the page declares lang="en")
    "sante.html": ("fr", "IAB7"),  # flu vaccination
    "reise.html": ("de", "IAB20"),  # a week's holiday on the Algarve
    "elezioni.html": ("it", "IAB11"),  # a regional election
    "tecnologia.html": ("pt", "IAB19"),  # a new laptop processor
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app may fetch the local site (see site.server.OPEN_FETCH); no abstain threshold:
    these tests check the head's answer (the threshold is test_calibration.py's)."""
    return settings.model_copy(update={**OPEN_FETCH, "classification_min_confidence": 0.0})


def _assert_valid_categories(categories: list[dict[str, object]]) -> None:
    for category in categories:
        node = taxonomy.get(str(category["id"]))
        assert node.parent is None and category["tier"] == 1
        assert category["name"] == node.name
        confidence = category["confidence"]
        assert isinstance(confidence, float) and 0.0 <= confidence <= 1.0
    confidences = [c["confidence"] for c in categories]
    assert confidences == sorted(confidences, reverse=True)  # type: ignore[type-var]


@pytest.mark.parametrize("name", list(PAGES))
def test_classify_html_gives_the_page_its_tier1(name: str) -> None:
    code, tier1 = PAGES[name]
    html, url = (SITE / name).read_text(), f"https://example.com/{name}"
    data = engine.classify_html(html=html, url=url, min_confidence=0.0).to_dict()
    assert (data["language"], data["notes"]) == (code, [])
    assert data["iab_categories"][0]["id"] == tier1, data["iab_categories"]
    _assert_valid_categories(data["iab_categories"])
    # at the default threshold: the same answer, or none and the note (a weak, short page)
    default = engine.classify_html(html=html, url=url).to_dict()
    assert default["iab_categories"] in ([], data["iab_categories"])
    assert default["notes"] == ([] if default["iab_categories"] else ["low_confidence"])


@pytest.mark.parametrize("name", list(PAGES))
def test_classify_api_url_mode_gives_the_page_its_tier1(
    name: str, client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    code, tier1 = PAGES[name]
    response = client.post(CLASSIFY, json={"url": site.url(f"/{name}")}, headers=headers)
    assert response.status_code == 200, response.text
    classification = response.json()["classification"]
    assert (classification["language"], classification["notes"]) == (code, [])
    assert classification["iab_categories"][0]["id"] == tier1
    _assert_valid_categories(classification["iab_categories"])


def test_the_same_story_in_five_languages_gets_the_same_category() -> None:
    stories = {
        "es": "El banco central subió los tipos de interés para frenar la inflación, y las "
        "bolsas europeas cayeron. Los inversores temen que la economía entre en recesión.",
        "fr": "La banque centrale a relevé ses taux d'intérêt pour freiner l'inflation, et les "
        "bourses européennes ont reculé. Les investisseurs craignent une récession.",
        "de": "Die Zentralbank hat die Zinsen erhöht, um die Inflation zu bremsen, und die "
        "europäischen Börsen gaben nach. Anleger fürchten eine Rezession.",
        "it": "La banca centrale ha alzato i tassi di interesse per frenare l'inflazione e le "
        "borse europee sono scese. Gli investitori temono una recessione.",
        "pt": "O banco central subiu as taxas de juro para travar a inflação e as bolsas "
        "europeias caíram. Os investidores temem uma recessão da economia.",
    }
    answers = {}
    for code, text in stories.items():
        result = engine.classify_text(text=text)
        assert result.language == code
        answers[code] = result.iab_categories[0].id
    assert set(answers.values()) <= {"IAB3", "IAB13"}, answers  # business / personal finance
    assert len(set(answers.values())) == 1, answers


# Pages about categories the head learnt from English text only (wikiHow steps): the encoder's
# cross-lingual embedding carries them to the other languages. (The 13-class head before
# session 10 had neither category.)
NEW_CATEGORY_PAGES = {
    "it-pets": (
        "it",
        "IAB16",
        "Come prendersi cura di un cucciolo di cane",
        "Portare a casa un cucciolo richiede pazienza. Scegli una cuccia comoda, crocchette "
        "adatte alla sua età e porta il cane dal veterinario per i vaccini e il microchip. "
        "Insegnagli a fare i bisogni fuori casa con premi e lodi, e portalo a passeggio al "
        "guinzaglio ogni giorno. Anche i gatti e i conigli hanno bisogno di attenzioni: spazzola "
        "il pelo e controlla le pulci.",
    ),
    "es-careers": (
        "es",
        "IAB4",
        "Cómo preparar una entrevista de trabajo",
        "Buscar empleo lleva tiempo. Actualiza tu currículum, escribe una carta de presentación "
        "para cada oferta de trabajo y prepara la entrevista con el reclutador: investiga la "
        "empresa, piensa en tus logros profesionales y en el salario que esperas. Después de la "
        "entrevista, envía un correo de agradecimiento. Las bolsas de empleo y LinkedIn ayudan "
        "a encontrar vacantes.",
    ),
}


@pytest.mark.parametrize("name", list(NEW_CATEGORY_PAGES))
def test_a_page_about_a_category_learnt_from_english_only_gets_it(name: str) -> None:
    code, tier1, title, text = NEW_CATEGORY_PAGES[name]
    html = (
        f'<html lang="{code}"><head><title>{title}</title></head>'
        f"<body><article><h1>{title}</h1><p>{text}</p></article></body></html>"
    )
    data = engine.classify_html(html=html, url=f"https://example.com/{name}").to_dict()
    assert (data["language"], data["notes"]) == (code, [])
    assert data["iab_categories"][0]["id"] == tier1, data["iab_categories"]
    _assert_valid_categories(data["iab_categories"])


def test_unsupported_language_still_answers_the_note(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    response = client.post(CLASSIFY, json={"url": site.url("/nieuws.html")}, headers=headers)
    assert response.status_code == 200, response.text
    classification = response.json()["classification"]
    assert classification["language"] == "nl"
    assert classification["notes"] == ["unsupported_language"]
    assert classification["iab_categories"] == []


def test_english_keeps_the_lexicon_path_and_other_languages_take_the_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    classify = multilingual.classify

    def counting(*, title: str, description: str, text: str) -> list[CategoryMatch]:
        calls.append(title)
        return classify(title=title, description=description, text=text)

    monkeypatch.setattr(multilingual, "classify", counting)
    english = engine.classify_html(
        html=(SITE / "football.html").read_text(), url="https://example.com/football.html"
    )
    assert english.language == "en" and english.iab_categories[0].id.startswith("IAB17")
    assert calls == []
    spanish = engine.classify_html(
        html=(SITE / "liga.html").read_text(), url="https://example.com/liga.html"
    )
    assert spanish.language == "es" and len(calls) == 1


def test_prefix_is_bounded_and_empty_pages_get_no_category() -> None:
    text = "palabra " * 5000
    prefix = multilingual.page_prefix(title="Título", description="", text=text)
    assert prefix.startswith("Título. palabra")
    assert len(prefix) <= multilingual.MAX_CHARS
    assert multilingual.classify(title="", description="", text="   ") == []


def test_characters_that_expand_under_normalisation_cannot_multiply_the_encoders_work() -> None:
    # U+FDFA is one character and eighteen after NFKC; 600 of them took the encoder 288 ms.
    crafted = multilingual.page_prefix(title="", text="\ufdfa" * 5000)
    assert 0 < len(unicodedata.normalize("NFKC", crafted)) <= multilingual.MAX_EXPANDED_CHARS
    # ordinary text in the supported languages is cut at a word, as before
    text = "Überraschung: Straße, Größe und Fußball – ﬁnale Ergebnisse. " * 40
    prefix = multilingual.page_prefix(title="Größe", text=text)
    joined = f"Größe. {text[: multilingual.MAX_CHARS].strip()}"
    assert prefix == joined[: joined.rfind(" ", 0, multilingual.MAX_CHARS)]


def test_head_knows_every_topic_tier1_category() -> None:
    head = multilingual.head()
    assert sorted(head.classes) == sorted(taxonomy.topic_tier1_codes())
    inputs = head.weights if head.hidden is None else head.hidden[0]
    assert inputs.shape[0] == 512 and head.temperature > 0


def test_concurrent_embeddings_take_turns_and_leave_the_blas_limit_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The encoder's per-call BLAS limit is process-wide (threadpoolctl): calls that overlapped
    # restored each other's saved value and could leave the process capped at one thread.
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    encoder = multilingual._encoder()
    text = "El partido terminó con victoria del equipo local en la liga."
    expected = multilingual.embed(text)
    before = blas_threads()
    real_encode = encoder.encode
    active, overlaps, lock = [0], [0], threading.Lock()

    def observed(texts: str) -> np.ndarray:
        with lock:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        try:
            time.sleep(0.01)  # widen the window a second caller would overlap in
            return np.asarray(real_encode(texts))
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(encoder, "encode", observed)
    barrier = threading.Barrier(4)
    results: list[np.ndarray] = []

    def run() -> None:
        barrier.wait()
        for _ in range(5):
            results.append(multilingual.embed(text))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps[0] == 1
    assert blas_threads() == before
    assert len(results) == 20 and all(np.allclose(r, expected, atol=1e-6) for r in results)
