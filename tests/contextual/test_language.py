"""Page language: detection on real multi-sentence texts, the declared-vs-content rule, the
`language` and `notes` fields of the classify API (text and URL mode), the unsupported note
with no categories, and classifications stored by an older engine reading back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.contextual import classification_repository as store
from beacon.contextual import engine, language, multilingual
from beacon.contextual.brand_safety import CATEGORIES
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow

CLASSIFY = "/v1/clsfy/classify"

TEXTS = {
    "en": (
        "The city council approved a new budget for public transport on Tuesday. Bus fares "
        "will stay the same next year, while two new tram lines are planned for the northern "
        "districts. Opposition members said the plan does not do enough for cyclists."
    ),
    "es": (
        "El ayuntamiento aprobó el martes un nuevo presupuesto para el transporte público. "
        "El precio del autobús no cambiará el próximo año, y se construirán dos nuevas líneas "
        "de tranvía en los barrios del norte. La oposición dijo que el plan olvida a los ciclistas."
    ),
    "fr": (
        "Le conseil municipal a adopté mardi un nouveau budget pour les transports publics. "
        "Le prix du bus ne changera pas l'année prochaine, et deux nouvelles lignes de tramway "
        "sont prévues dans les quartiers nord. L'opposition estime que les cyclistes sont oubliés."
    ),
    "de": (
        "Der Stadtrat hat am Dienstag einen neuen Haushalt für den öffentlichen Nahverkehr "
        "beschlossen. Die Busfahrpreise bleiben im nächsten Jahr gleich, und in den nördlichen "
        "Stadtteilen sind zwei neue Straßenbahnlinien geplant. Die Opposition kritisierte, dass "
        "Radfahrer zu kurz kommen."
    ),
    "it": (
        "Il consiglio comunale ha approvato martedì un nuovo bilancio per il trasporto pubblico. "
        "Il prezzo dell'autobus non cambierà il prossimo anno, mentre sono previste due nuove "
        "linee del tram nei quartieri a nord. L'opposizione sostiene che il piano dimentica i "
        "ciclisti."
    ),
    "pt": (
        "A câmara municipal aprovou na terça-feira um novo orçamento para os transportes "
        "públicos. O preço do autocarro não vai mudar no próximo ano, e estão previstas duas "
        "novas linhas de elétrico nos bairros do norte. A oposição diz que o plano esquece os "
        "ciclistas."
    ),
    # unsupported
    "nl": (
        "De gemeenteraad heeft dinsdag een nieuwe begroting voor het openbaar vervoer "
        "goedgekeurd. De prijs van een buskaartje blijft volgend jaar gelijk, en in de "
        "noordelijke wijken komen twee nieuwe tramlijnen. Volgens de oppositie worden fietsers "
        "vergeten."
    ),
    "pl": (
        "Rada miasta zatwierdziła we wtorek nowy budżet na transport publiczny. Ceny biletów "
        "autobusowych w przyszłym roku się nie zmienią, a w północnych dzielnicach powstaną dwie "
        "nowe linie tramwajowe. Opozycja twierdzi, że plan zapomina o rowerzystach."
    ),
    "ja": (
        "市議会は火曜日、公共交通機関の新しい予算を承認した。来年のバス運賃は据え置かれ、"
        "北部の地区には新しい路面電車の路線が二つ計画されている。野党は自転車利用者への配慮が"
        "足りないと批判した。"
    ),
}
SUPPORTED_TEXTS = {code: text for code, text in TEXTS.items() if code in language.SUPPORTED}
UNSUPPORTED_TEXTS = {code: text for code, text in TEXTS.items() if code not in language.SUPPORTED}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app may fetch the local site (see site.server.OPEN_FETCH)."""
    return settings.model_copy(update=OPEN_FETCH)


@pytest.mark.parametrize("code", list(TEXTS))
def test_detects_the_language_of_a_real_text(code: str) -> None:
    assert language.detect(text=TEXTS[code]) == code
    # the title is read too: a title alone in the language still says it
    assert language.detect(text="", title=TEXTS[code][:200]) == code


def test_content_overrules_a_declared_language_it_contradicts() -> None:
    assert language.detect(text=TEXTS["es"], declared="en") == "es"
    assert language.detect(text=TEXTS["nl"], declared="en-US") == "nl"


def test_declared_language_decides_what_the_content_cannot() -> None:
    # too short to tell: the declaration wins, and without one the language is undetermined
    assert language.detect(text="Benfica 2-1", declared="pt-PT") == "pt"
    assert language.detect(text="Benfica 2-1") is None
    assert language.detect(text="", declared="fr") == "fr"
    # a plausible declaration is kept over a close neighbour (Spanish page, Galician-looking)
    assert language.detect(text=TEXTS["es"], declared="es_ES") == "es"


@pytest.mark.parametrize(
    ("text", "declared"),
    [
        ("登录", None),  # "sign in": an unsure detector (zh 0.29) used to leave it undetermined
        ("Войти", None),
        ("Войти в аккаунт", "en"),  # a template's lang="en" over Cyrillic text
        ("تسجيل الدخول", "en-US"),
    ],
)
def test_text_in_another_script_is_never_a_supported_language(
    text: str, declared: str | None
) -> None:
    detected = language.detect(text=text, declared=declared)
    assert detected is not None and not language.is_supported(detected)
    result = engine.classify_text(text=text).to_dict()
    assert result["iab_categories"] == [] and result["notes"] == ["unsupported_language"]


def test_the_script_rule_keeps_declared_unsupported_languages_and_latin_text() -> None:
    assert language.detect(text="Войти", declared="ru") == "ru"
    assert language.detect(text="Hello") is None  # short Latin text: still undetermined
    assert language.detect(text="Naïve café") is None
    # full-width Latin letters are Latin ones
    assert language.detect(text="ＢＲＥＡＫＩＮＧ ＮＥＷＳ ＴＯＤＡＹ", declared="en") == "en"
    # a few words of another script inside Latin text change nothing
    assert language.detect(text="Tokyo (東京) is the capital and largest city of Japan.") == "en"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("en-US", "en"), ("pt_BR", "pt"), (" FR ", "fr"), ("", None), ("x", None), ("zxx", None)],
)
def test_normalizes_declared_language_tags(declared: str, expected: str | None) -> None:
    assert language.normalize_declared(declared) == expected


@pytest.mark.parametrize("code", list(UNSUPPORTED_TEXTS))
def test_unsupported_language_answers_the_note_and_nothing_it_cannot_read(code: str) -> None:
    data = engine.classify_text(text=UNSUPPORTED_TEXTS[code], title="").to_dict()
    assert data == {
        "iab_categories": [],
        "keywords": [],
        "entities": [],
        "sentiment": {"label": "neutral", "score": 0.5},
        "language": code,
        "notes": ["unsupported_language"],
        # brand safety still reads the text; these plain texts carry no English risk terms
        "brand_safety": {"overall": "none", "categories": dict.fromkeys(CATEGORIES, "none")},
    }


def test_supported_languages_are_classified_and_say_their_language() -> None:
    for code, text in SUPPORTED_TEXTS.items():
        data = engine.classify_text(text=text).to_dict()
        # never unsupported; no category found at all reads as low confidence (calibration.py)
        assert data["language"] == code
        assert data["notes"] == ([] if data["iab_categories"] else ["low_confidence"])
        assert data["keywords"], code
    spanish = engine.classify_text(text=SUPPORTED_TEXTS["es"])
    # YAKE reads with Spanish stop words: no phrase starts or ends with one
    assert all(k.split()[0].lower() not in {"el", "la", "de", "los"} for k in spanish.keywords)


def test_classify_api_text_mode_says_the_language(
    client: TestClient, headers: dict[str, str]
) -> None:
    english = client.post(
        CLASSIFY,
        json={
            "text": (
                "Liverpool beat Manchester United 3-1 at Anfield on Sunday. The striker scored "
                "twice in the second half and the goalkeeper saved a late penalty, which keeps "
                "the club top of the Premier League table."
            ),
            "title": "Liverpool stay top of the league",
        },
        headers=headers,
    )
    assert english.status_code == 200, english.text
    classification = english.json()["classification"]
    assert (classification["language"], classification["notes"]) == ("en", [])
    assert classification["iab_categories"][0]["id"].startswith("IAB17")

    polish = client.post(CLASSIFY, json={"text": TEXTS["pl"]}, headers=headers)
    assert polish.status_code == 200, polish.text
    classification = polish.json()["classification"]
    assert classification["language"] == "pl"
    assert classification["notes"] == ["unsupported_language"]
    assert classification["iab_categories"] == []

    short = client.post(CLASSIFY, json={"text": "hello"}, headers=headers)
    assert short.status_code == 200
    # undetermined is not unsupported: the only note is that there is nothing to classify
    assert (
        short.json()["classification"]["language"],
        short.json()["classification"]["iab_categories"],
        short.json()["classification"]["notes"],
    ) == (None, [], ["insufficient_content"])


def test_classify_api_url_mode_reads_the_content_over_the_declared_language(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    # declares lang="en", written in Spanish
    spanish = client.post(CLASSIFY, json={"url": site.url("/liga.html")}, headers=headers)
    assert spanish.status_code == 200, spanish.text
    classification = spanish.json()["classification"]
    assert (classification["language"], classification["notes"]) == ("es", [])
    assert classification["keywords"]

    dutch = client.post(CLASSIFY, json={"url": site.url("/nieuws.html")}, headers=headers)
    assert dutch.status_code == 200, dutch.text
    body = dutch.json()
    assert body["engine_version"] == engine.ENGINE_VERSION
    assert body["classification"]["language"] == "nl"
    assert body["classification"]["notes"] == ["unsupported_language"]
    assert body["classification"]["iab_categories"] == []
    # the seed's fields are all still there, with their types
    assert body["classification"]["sentiment"] == {"label": "neutral", "score": 0.5}
    assert body["classification"]["keywords"] == [] and body["classification"]["entities"] == []

    again = client.post(CLASSIFY, json={"url": site.url("/nieuws.html")}, headers=headers)
    assert again.json()["cached"] is True
    assert again.json()["classification"] == body["classification"]


OLD_CLASSIFICATION = {
    "iab_categories": [{"id": "IAB17-44", "name": "Sports", "confidence": 0.9}],
    "keywords": ["football"],
    "entities": [],
    "sentiment": {"label": "neutral", "score": 0.51},
}


def test_rows_stored_by_an_older_engine_read_back_and_are_reclassified(
    db: Database, client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    url = site.url("/football.html")
    with db.transaction() as session:
        store.save_classification(
            session,
            url=url,
            domain="127.0.0.1",
            classification=OLD_CLASSIFICATION,
            engine_version="lexicon-embed-1.2.0",
            classified_at=utcnow() - timedelta(hours=1),
        )
    # Other domains (reports, segments) read the stored row as it was written.
    with db.transaction() as session:
        assert store.classifications_for_urls(session, [url]) == {url: OLD_CLASSIFICATION}
        assert store.classifications_for_domains(session, ["127.0.0.1"])["127.0.0.1"][
            "iab_categories"
        ] == [{"id": "IAB17-44", "name": "Sports", "confidence": 0.9}]
    # The classify API does not serve it: the engine changed, so the page is classified again.
    response = client.post(CLASSIFY, json={"url": url}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cached"] is False and body["engine_version"] == engine.ENGINE_VERSION
    assert body["classification"]["language"] == "en"
    assert site.hits["/football.html"] == 1


def test_the_english_path_and_the_multilingual_languages_split_the_supported_ones() -> None:
    assert language.reads_as_english(None) and language.reads_as_english("en")
    assert not any(language.reads_as_english(code) for code in multilingual.LANGUAGES)
    assert multilingual.LANGUAGES | {language.ENGLISH} == language.SUPPORTED
