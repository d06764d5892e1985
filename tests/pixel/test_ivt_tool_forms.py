"""The rules by form for tools that borrow a browser's User-Agent (issue 17, rule 7 of
docs/measure.md "Invalid traffic"): each rule with a User-Agent it catches, under a made-up
name no vendored list knows, and a near-miss browser User-Agent it must leave alone."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beacon.pixel.agents import _tool_form, _words_before, classify_traffic

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
ANDROID_WEBVIEW = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.123 Mobile Safari/537.36"
)

# (User-Agent, the tool's name as the rule gives it)
CAUGHT = [
    # a tool family's word ending a CamelCase name appended to a browser
    (f"{CHROME} ZorbleAgent/2.1", "ZorbleAgent"),
    (f"{CHROME} PlonkwiseVerify/3.0", "PlonkwiseVerify"),
    # ... or as a word of its own, in a product token, a comment or the platform comment
    (f"{CHROME} (Plonkwise Monitor)", "Plonkwise Monitor"),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:115.0; quux-agent) Gecko/20100101 Firefox/115.0",
        "quux-agent",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Zorble Site "
        "Scanner) Chrome/124.0.0.0 Safari/537.36",
        "Zorble Site Scanner",
    ),
    # a bare domain name as a token
    (f"{CHROME} Plonkwise.com/3.0", "Plonkwise.com"),
    (f"{CHROME} (plonkwise.io)", "plonkwise.io"),
    # a name inside the engine's comment
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko, "
        "Plonkwise) Chrome/91.0.4472.77 Safari/537.36",
        "Plonkwise",
    ),
    # a name before a desktop platform
    (
        "Mozilla/5.0 (plonkWise; Windows NT 10.0; Win64; x64; rv:84.0) Gecko/20100101 Firefox/84.0",
        "plonkWise",
    ),
    # QtWebKit's default on a server
    (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "Plonkwise/1.0 Safari/538.1",
        "Plonkwise",
    ),
    # one name, no system or version, nothing after
    ("Mozilla/5.0 (Plonkwise-Fetch)", "Plonkwise-Fetch"),
]

NEAR_MISSES = [
    # the words as the first part of a name, after an underscore, or inside a longer word
    f"{ANDROID_WEBVIEW} AgentWeb/4.1.3  UCBrowser/11.6.4.950",
    f"{ANDROID_WEBVIEW} CamScanner/4.5.0.2305051722",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 LightSpeed [FBAN/MessengerLiteForiOS;FBAV/410.0.0.23.86;FBBV/477357144"
    ";FBDV/iPhone14,7;FBMD/iPhone;FBSN/iOS;FBSV/16.2;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/0]",
    "Opera/9.80 (Linux mips; Opera TV Store/5896; HbbTV/1.2.1 (PVR; freesat/1.0; hms1000sph2; "
    "1.0.0; 1.0.0; UX-PRISM--OP-NONE); ce-html/1.0) Presto/2.12.407 Version/12.50 "
    "Model/Humax-TestingDevice",
    "AGHM_DEV_U_AGENT/Mozilla/5.0 (Linux; Android 10; NETBOX-Prime Build/QP1A.191105.004; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.101 Mobile "
    "Safari/537.36",
    # an app's reversed bundle id and IE's ".NET CLR" are no domain names
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 com.plonkwise.app/5.2",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; .NET CLR 2.0.50727)",
    # the engine's comment of old WebKit browsers and the PlayStation
    "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US) AppleWebKit/527+ (KHTML, like Gecko, "
    "Safari/419.3) Arora/0.6",
    "Mozilla/5.0 (Macintosh; U; PPC Mac OS X; en) AppleWebKit/418.9 (KHTML, like Gecko, Safari) "
    "Safari/419.3 Cheshire/1.0.ALPHA",
    "Mozilla/5.0 (PlayStation 4 PRO) AppleWebKit/531.3 (KHTML, like Gecko, HEVC, HDR, UHD) "
    "SCEE/1.0 Nuanti/2.0",
    # the platform comment of TVs and old browsers
    "Mozilla/5.0 (SMART-TV; X11; Linux i686) AppleWebKit/535.20+ (KHTML, like Gecko) "
    "Version/5.0 Safari/535.20+",
    "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.0.5) Gecko/2008120122 Firefox/3.0.5",
    "Mozilla/5.0 (Unknown; Linux armv7l) AppleWebKit/537.1+ (KHTML, like Gecko) Safari/537.1+ "
    "HbbTV/1.1.1 ( ;LGE ;NetCast 4.0 ;03.10.81 ;1.0M ;)",
    "Mozilla/5.0 (PlayStation 4 Pro 5.0)",
    # in-app browsers
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.35.105;FBBV/545468402;FBDV/iPhone14,2;"
    "FBMD/iPhone;FBSN/iOS;FBSV/17.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/547284364]",
    f"{ANDROID_WEBVIEW} [FB_IAB/FB4A;FBAV/449.0.0.38.111;]",
    f"{ANDROID_WEBVIEW} Instagram 309.0.0.28.113 Android (34/14; 480dpi; 1080x2400; samsung; "
    "SM-S918B; dm3q; qcom; en_US; 534961953)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Safari Line/13.20.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
    f"{ANDROID_WEBVIEW} KAKAOTALK 10.4.5",
    f"{ANDROID_WEBVIEW} trill_330205 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/"
    "musical_ly app_version/33.2.5 ByteLocale/en ByteFullLocale/en Region/US "
    "BytedanceWebview/d8a21c6",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) GSA/300.0.598994538 Mobile/15E148 Safari/604.1",
    f"{ANDROID_WEBVIEW} [Pinterest/Android]",
    f"{CHROME} Edg/124.0.2478.80",
]


@pytest.mark.parametrize(("ua", "name"), CAUGHT)
def test_tool_forms_catch_tools_no_list_names(ua: str, name: str) -> None:
    assert _tool_form(ua) == name
    info = classify_traffic(ua)
    assert info.type == "bot"
    assert info.reason == "known_crawler"


@pytest.mark.parametrize("ua", NEAR_MISSES)
def test_tool_forms_leave_browsers_and_in_app_browsers_alone(ua: str) -> None:
    assert _tool_form(ua) is None
    assert classify_traffic(ua).type == "human"


def test_an_ai_company_name_ending_a_camelcase_bot_name_is_an_ai_agent() -> None:
    assert classify_traffic("PlonkCopilotChat/0.8.0").type == "ai_agent"
    # the name inside a longer word is no sign: a bot, not an AI agent
    assert classify_traffic("PlonkGrokker/0.8.0").type == "bot"


_WORDS_BEFORE = re.compile(r"(?<![\w/.-])(?:[A-Za-z][\w-]* )+$")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab Z9_-/.é(", max_size=16), st.integers(min_value=0, max_value=16))
def test_the_walk_back_over_words_finds_what_the_regular_expression_found(
    ua: str, end: int
) -> None:
    # the expression was quadratic in the number of words before a tool word; the walk is not
    end = min(end, len(ua))
    found = _WORDS_BEFORE.search(ua, 0, end)
    assert _words_before(ua, end) == (found.start() if found else None)
