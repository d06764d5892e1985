"""Brand safety: per-category levels, news treatment, the IAB combination and the wire form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from beacon.contextual import brand_safety
from beacon.contextual.brand_safety import CATEGORIES, RANK, assess, parse_terms
from beacon.contextual.categories import CategoryMatch
from beacon.contextual.classification_repository import aggregate

# Reporting that frames each story as news: officials, sources, a court or a study.
_NEWS = (
    "According to officials, the investigation is continuing. A spokesperson for the ministry "
    "said in a statement on Tuesday that the authorities were working with prosecutors and "
    "the court, and researchers who study the issue told reporters that the figures in the "
    "report should be read with care. The agency said it would publish more data next month. "
)

# (category, clearly unsafe text, a news report of the subject, a safe near-miss text)
CASES = [
    (
        "adult_explicit_sexual_content",
        "Hot naked girls in free porn videos, xxx videos and hardcore porn updated every day.",
        "Police seized a laptop holding pornography and the suspect appeared in court. " + _NEWS,
        "Naked ladies, also called amaryllis, flower in late summer in a sunny border.",
    ),
    (
        "arms_ammunition",
        "Stock up: AR-15 rifles, 9mm handguns, high capacity magazines and 5,000 rounds of "
        "ammo on sale, concealed carry holsters included, every firearm ships today.",
        "Lawmakers debated a bill on firearms sales and background checks for handguns. " + _NEWS,
        "The printer cartridge ran out, so I ordered a new cartridge for the office.",
    ),
    (
        "crime_harmful_acts",
        "He stabbed her, robbed the store, then the kidnapping and the murder followed: a "
        "rapist and murderer on the loose, with every stabbing shown.",
        "A man was arrested and charged with robbery after a burglary in the town. " + _NEWS,
        "Our book club is reading a detective novel set in a quiet seaside village.",
    ),
    (
        "death_injury_military_conflict",
        "Watch the massacre: beheaded soldiers, mutilated corpses and decapitated civilians, "
        "the gory slaughter filmed up close as the bodies burned.",
        "Troops advanced after an airstrike; the war has displaced thousands of civilians. "
        + _NEWS,
        "The goalkeeper killed the penalty and the team won the hockey game at home.",
    ),
    (
        "online_piracy",
        "Download torrent: the full movie free, cracked apk and keygen download, warez and "
        "serial key for every game, magnet link below.",
        "Studios sued a site over online piracy and illegal streaming of films. " + _NEWS,
        "Pirates of the Caribbean is the most popular ride at the theme park this summer.",
    ),
    (
        "hate_speech_acts_of_aggression",
        "They are subhuman vermin and invaders. Deport them all, go back to your country, "
        "#BuildThatWall #SendThemBack",
        "Campaigners condemned racist abuse and antisemitism reported at a rally. " + _NEWS,
        "I hate Mondays, but the coffee at the new place near the station helps.",
    ),
    (
        "obscenity_profanity",
        "What the fuck is this shit, you stupid asshole? Fucking bullshit.",
        "A broadcaster was fined after a guest used profanity live; one word was shit. " + _NEWS,
        "The weather was dull all week, so we stayed in and played board games.",
    ),
    (
        "illegal_drugs_tobacco_ecigarettes_vaping_alcohol",
        "Get high tonight: buy cocaine, MDMA and crystal meth, smoke weed and get drunk on "
        "vodka shots, vape pens for everyone.",
        "Police seized cocaine and heroin worth millions in a drug trafficking raid. " + _NEWS,
        "The pharmacy prescribed a new drug for my hay fever; it works well.",
    ),
    (
        "spam_harmful_content",
        "URGENT! You have won a £1000 cash prize! To claim your prize call 09061701461 now. "
        "Txt STOP to opt out. T&C apply, 150ppm.",
        "Regulators warned that phishing messages claiming a prize are spreading. " + _NEWS,
        "Call me when you are free tonight, I will cook dinner for us both.",
    ),
    (
        "terrorism",
        "Join the caliphate! Join the jihad, glory to the mujahideen, martyrdom operation "
        "now, kill the infidels.",
        "A court convicted a man of planning a terror attack for the Islamic State. " + _NEWS,
        "The film is a tense thriller about a jewel heist in Paris.",
    ),
    (
        "debated_sensitive_social_issues",
        "Abortion is murder! Pro life or pro choice, euthanasia, the death penalty, gun control "
        "and same sex marriage: the abortion debate rages and abortions must end.",
        "Parliament debated abortion law and euthanasia on Tuesday. " + _NEWS,
        "The choir rehearses on Thursdays and sings at the harvest festival.",
    ),
]


@pytest.mark.parametrize(("category", "unsafe", "news", "safe"), CASES, ids=[c[0] for c in CASES])
def test_category_levels(category: str, unsafe: str, news: str, safe: str) -> None:
    risky = assess(title="", text=unsafe)
    assert RANK[risky.categories[category]] >= RANK["medium"], risky.categories
    assert risky.overall == max(risky.categories.values(), key=RANK.__getitem__)
    reported = assess(title="", text=news)
    assert reported.categories[category] == "low", reported.categories
    quiet = assess(title="", text=safe)
    assert quiet.categories[category] == "none", quiet.categories
    assert quiet.overall == "none", quiet.categories


def test_every_category_has_a_case_and_the_wire_form_lists_all_eleven() -> None:
    assert sorted(c[0] for c in CASES) == sorted(CATEGORIES)
    assert len(CATEGORIES) == 11
    wire = assess(title="Pasta", text="Boil the pasta for nine minutes.").to_dict()
    assert wire == {"overall": "none", "categories": dict.fromkeys(CATEGORIES, "none")}


def test_floor_phrases_are_floor_even_with_news_framing() -> None:
    page = assess(title="Free porn videos", text="Free porn videos. " + _NEWS)
    assert page.categories["adult_explicit_sexual_content"] == "floor"
    assert page.overall == "floor"


def test_news_framing_lowers_a_depiction_by_one_level() -> None:
    depiction = "Troops shelled the town; airstrikes killed civilians and soldiers died in combat."
    assert assess(title="", text=depiction).categories["death_injury_military_conflict"] in (
        "medium",
        "high",
    )
    framed = assess(
        title="",
        text=depiction,
        categories=[CategoryMatch("IAB12", "News", 0.8, 1, None, None)],
    )
    plain = assess(title="", text=depiction)
    assert (
        RANK[framed.categories["death_injury_military_conflict"]]
        == RANK[plain.categories["death_injury_military_conflict"]] - 1
    )


def test_an_unreported_guess_raises_a_level_but_never_frames_the_page_as_news() -> None:
    depiction = "Troops shelled the town; airstrikes killed civilians and soldiers died in combat."
    plain = assess(title="", text=depiction).categories["death_injury_military_conflict"]
    news = CategoryMatch("IAB12", "News", 0.3, 1, None, None)
    guessed = assess(title="", text=depiction, categories=[news], reported=[])
    assert guessed.categories["death_injury_military_conflict"] == plain
    reported = assess(title="", text=depiction, categories=[news], reported=[news])
    assert RANK[reported.categories["death_injury_military_conflict"]] == RANK[plain] - 1
    porn = CategoryMatch("IAB25-3", "Non-Standard Content", 0.3, 2, "Pornography", None)
    raised = assess(title="", text="Nothing here.", categories=[porn], reported=[])
    assert RANK[raised.categories["adult_explicit_sexual_content"]] >= RANK["high"]


def test_iab_categories_raise_their_brand_safety_category() -> None:
    wine = assess(
        title="", text="A fresh white.", categories=[{"id": "IAB8-18", "confidence": 0.9}]
    )
    assert wine.categories["illegal_drugs_tobacco_ecigarettes_vaping_alcohol"] == "low"
    porn = assess(title="", text="Nothing here.", categories=[{"id": "IAB25-3"}])
    assert porn.categories["adult_explicit_sexual_content"] == "floor"
    illegal = assess(title="", text="Nothing here.", categories=[{"id": "IAB26-1"}])
    assert illegal.categories["crime_harmful_acts"] == "floor"


def test_one_word_in_a_long_article_is_not_a_risk() -> None:
    article = "The council met to discuss the new library and the budget for parks. " * 40
    assert assess(title="", text=article + " shit").categories["obscenity_profanity"] == "low"
    short = assess(title="", text="this is shit")
    assert short.categories["obscenity_profanity"] == "medium"


def test_term_file_rejects_unknown_sections() -> None:
    with pytest.raises(ValueError, match="unknown brand-safety section"):
        parse_terms("[violence]\nblood:1\n")
    model = parse_terms("[terrorism]\nterror attack:3\n[terrorism:floor]\njoin the jihad:3\n")
    assert {t.floor for t in model.entries[("join", "the", "jihad")]} == {True}


def test_stored_classifications_without_brand_safety_still_read() -> None:
    old = {
        "iab_categories": [{"id": "IAB17", "name": "Sports", "confidence": 0.9}],
        "keywords": ["goal"],
        "entities": [],
        "sentiment": {"label": "positive", "score": 0.7},
    }
    assert brand_safety.overall_of(old) is None
    assert not brand_safety.within(old, "floor")
    # the domain aggregate of old rows keeps the seed's shape
    assert set(aggregate([old, old])) == {"iab_categories", "keywords", "entities", "sentiment"}
    assert brand_safety.overall_of({**old, "brand_safety": {"overall": "bogus"}}) is None


def test_classify_api_answers_brand_safety(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/clsfy/classify",
        headers=headers,
        json={"text": "What the fuck is this shit, you stupid asshole?", "title": "Rant"},
    )
    assert response.status_code == 200, response.text
    block = response.json()["classification"]["brand_safety"]
    assert set(block["categories"]) == set(CATEGORIES)
    assert block["categories"]["obscenity_profanity"] in ("medium", "high")
    assert block["overall"] == block["categories"]["obscenity_profanity"]
    safe = client.post(
        "/v1/clsfy/classify",
        headers=headers,
        json={"text": "Boil the pasta for nine minutes and serve with basil."},
    ).json()
    assert safe["classification"]["brand_safety"]["overall"] == "none"
