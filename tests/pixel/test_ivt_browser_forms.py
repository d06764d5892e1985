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


# Session 12: modern browser forms from WhichBrowser's test corpus (docs/benchmarks.md).


def test_opera_edition_field_is_no_bot_name() -> None:
    # isbot's "parser" and Crawler-Detect's "Yandex" inside Opera 12's edition field
    assert _human(
        "Opera/9.80 (Windows NT 6.1; U; Edition Labs HTML5 Parser; xx) Presto/2.9.181 Version/12.00"
    )
    assert _human("Opera/9.80 (Windows NT 6.2 U Edition Yandex ru) Presto/2.8.131 Version/11.10")
    # a bot's name outside the field still counts
    assert not _human(
        "Opera/9.80 (Windows NT 6.1; U; Edition Labs HTML5 Parser; xx) Presto/2.9.181 "
        "Version/12.00 YandexBot/3.0"
    )
    assert not _human("Opera/9.80 (Windows NT 6.1; U; HTML5 Parser; xx) Presto/2.9.181")


def test_product_calling_itself_a_browser_is_no_bot_name() -> None:
    # crawler-user-agents' "Sogou" and device-detector's "BrowserMob" inside browser names
    assert _human(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) AppleWebKit/536.26 (KHTML, like "
        "Gecko) Mobile/10A403 SogouAndroidBrowser/2.6.1"
    )
    assert _human(
        "Mozilla/5.0 (Symbian/3; U; C7-00; xx) AppleWebKit/534.3 (KHTML, like Gecko) "
        "MiniBrowserMobile/4.0 Mobile Safari/534.3"
    )
    # the load tester by its own name, and a "browser" that says spider, stay bots
    assert not _human(
        "Mozilla/5.0 (Symbian/3; U; C7-00; xx) AppleWebKit/534.3 (KHTML, like Gecko) "
        "BrowserMob/4.0 Mobile Safari/534.3"
    )
    assert not _human(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) AppleWebKit/536.26 (KHTML, like "
        "Gecko) Mobile/10A403 SpiderBrowser/2.6.1"
    )
    assert not _human("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)")
    # after the browser's own token, where tools append theirs: Dotcom-Monitor's agent
    assert not _human(
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/77.0.3865.56 Safari/537.36 DMBrowser/2.1 (UV)"
    )


def test_sogou_search_app_is_no_crawler() -> None:
    app = (
        "Mozilla/5.0 (Linux; Android 4.4.4; Coolpad 8297-C00 Build/KTU84P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/33.0.0.0 Mobile Safari/537.36 {}"
    )
    assert _human(app.format("SogouSearch Android1.0 version3.0"))
    assert not _human(app.format("Sogou Pic Spider/3.0"))


def test_distribution_codename_is_no_bot_name() -> None:
    # Crawler-Detect's "bot" inside openSUSE 13.1's codename "Bottle"
    assert _human(
        "Mozilla/5.0 (X11; Linux x86_64; openSUSE 13.1 (Bottle) (x86_64)) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/33.0.1750.0 Safari/537.36"
    )
    assert _human(
        "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9.2.3) Gecko/20100423 Ubuntu/10.04 "
        "(lucid) Firefox/3.6.3"
    )
    # a "codename" that is the word bot itself, or a bot's name elsewhere, still counts
    assert not _human(
        "Mozilla/5.0 (X11; Linux x86_64; openSUSE 13.1 (Bot)) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/33.0.1750.0 Safari/537.36"
    )
    assert not _human(
        "Mozilla/5.0 (X11; Linux x86_64; openSUSE 13.1 (Bottle)) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/33.0.1750.0 Safari/537.36 (compatible; Bottlebot/1.0)"
    )


def test_tv_standard_keeps_an_unknown_pc_platform_human() -> None:
    # an LG TV's Hybridcast browser on an "Unknown" x86_64 platform, QtWebKit's server default
    assert _human(
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/537.1+ (KHTML, like Gecko) "
        "Chromium/17.0.963.56 Chrome/17.0.963.56 Safari/537.1+; "
        "Hybridcast/1.0(;00E091;LGwebOSTV;1;0;)0"
    )
    assert not _human(
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) "
        "Pingdom/1.0 Safari/534.34"
    )


def test_encryption_strength_is_no_name_before_the_platform() -> None:
    # QtWebKit browsers that still send Netscape's "N;" (no encryption) first
    assert _human(
        "Mozilla/5.0 (N; Windows NT 6.1; WOW64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "QtMiniBrowser/0.1 Safari/538.1"
    )
    assert _human(
        "Mozilla/5.0 (N; Windows NT 6.1; WOW64) AppleWebKit/534.34 (KHTML, like Gecko) "
        "AwoX/1.0 Browser CE-HTML (HD_UIPROF MP3 MPEG_TS_SD_NA_T) - FLA Safari/534.34"
    )
    # a tool's name there still counts
    assert not _human(
        "Mozilla/5.0 (watchTowr; Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    )


def test_android_comment_with_commas_hides_its_build_id() -> None:
    # Crawler-Detect's "NYU" inside YunOS's build id "Aliyun_TianyunVM"
    assert _human(
        "Mozilla/5.0 (Linux, U, Android 1.2.3.1-RT-20111115.194356; xx; W700 "
        "Build/Aliyun_TianyunVM_v0.2.3.0) AppleWebKit/533.1 (KHTML, like Gecko) BdMobile/2.3 "
        "Version/4.0 Mobile Safari/533.1 zhangbai/042_4.0"
    )
    assert not _human(
        "Mozilla/5.0 (Linux, U, Android 4.4; xx; W700 Build/KTU84P) AppleWebKit/533.1 "
        "(KHTML, like Gecko) Mobile Safari/533.1 NYU-crawler/1.0"
    )


def test_device_class_in_the_engine_comment_is_no_name() -> None:
    # NetFront browsers write the device class where a tool would write its name
    assert _human("Mozilla/5.0 (MediStream; U; KHTML, like Gecko; Mobile) NetFrontNX/3.0.2")
    assert _human("emobile/1.0.0 (H11T; like Gecko; Wireless) NetFront/3.4")
    assert not _human(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko, Foregenix) "
        "Chrome/120.0.0.0 Safari/537.36"
    )


def test_ios_app_form_keeps_the_lists_judgement() -> None:
    # A rule reading "Name/version (iPad; iOS ...; Scale/2.00)" as the user's app (to clear
    # Mattermost's iOS app) was dropped: isbot lists the Downcast podcast app, which fetches
    # feeds by itself, in the same form.
    assert not _human("Downcast/2.9.11 (iPhone; iOS 9.2; Scale/2.00)")
    assert not _human("Mattermost/1.49.1 (iPad; iOS 15.3.1; Scale/2.00)")


def test_aros_is_an_old_system_of_the_compatible_form() -> None:
    assert _human(
        "Mozilla/5.0 (compatible; Odyssey Web Browser; AROS; rv:1.16) AppleWebKit/535.14 "
        "(KHTML, like Gecko) OWB/1.16 Safari/535.14"
    )
    assert not _human("Mozilla/5.0 (compatible; Odyssey Fetcher/1.0)")


def test_sailfish_compatible_after_safari() -> None:
    assert _human(
        "Mozilla/5.0 (Maemo; Linux; U; Jolla; Sailfish; like Android) AppleWebKit/538.1 "
        "(KHTML, like Gecko) Mobile Safari/538.1 (compatible)"
    )
    # device-detector's "(compatible)" alone, or ending a bot's own form, still counts
    assert not _human("Mozilla/5.0 (compatible)")
    assert not _human("Mozilla/5.0 AppleWebKit/538.1 (KHTML, like Gecko) (compatible)")


def test_platform_comment_first_is_a_browser_form() -> None:
    # builds that drop "Mozilla/5.0 " and open with the platform comment (isbot's `^[<\(;]`)
    assert _human("(Windows NT 6.2; WOW64) KHTML/4.11 Gecko/20130308 Firefox/23.0 (PaleMoon/20.3)")
    assert _human("(LGSmartTV/1.0) AppleWebKit/534.23 OBIGO-T10/2.0")
    # a comment naming no system, or none followed by an engine, stays a bot
    assert not _human("(compatible; Fetcher) AppleWebKit/537.36")
    assert not _human("(Windows NT 10.0; Win64; x64) Maxthon/4.4.5.3000 Firefox/38")


def test_embedded_browser_engines_name_a_platform() -> None:
    # TV and phone engines that, as NetFront, name themselves without a system
    assert _human("lacleTV/0.1.0 Espial/6.5.2")
    assert _human("Cricket-A415/1.0 Polaris/v6.17")
    # a program's bare name/version still says it is one
    assert not _human("lacleTV/0.1.0")
    assert not _human("PolarisOffice-Sync/2.0")
