"""Device type of a hit, one of the report values: desktop, mobile, tablet, ctv.

`ua-parser` (uap-core rules, with the Rust `ua-parser-rs` resolver when installed) names the
device and OS; the categories are decided here because uap-core has no "device type":

- ctv: smart TVs and streaming boxes (Roku, Apple TV/tvOS, Android TV/Google TV, Fire TV
  `AFT*` models, Samsung Tizen and LG webOS TVs, HbbTV, Chromecast, VIZIO, Sony BRAVIA) and
  the living-room game consoles (PlayStation 3/4/5, Xbox): they render on a TV screen, which
  is what a CTV buyer pays for. Checked first because several TVs run Android builds that
  uap-core files under tablets.
- tablet: iPads, uap-core's Android tablets, Kindle/Silk, and Android user agents without the
  "Mobile" token (Google's documented convention for tablets). iPadOS 13+ Safari sends a Mac
  user agent by default; those hits are indistinguishable from a Mac and count as desktop.
- mobile: phones, i.e. mobile operating systems and any "Mobi" user agent (MDN's advice).
- desktop: everything else, including an empty or unparseable user agent. Most such traffic
  is filtered as bot traffic anyway (see agents.py); desktop is the neutral bucket.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from ua_parser import BestAvailableResolver, Domain, Parser, load_lazy_builtins

DeviceType = Literal["desktop", "mobile", "tablet", "ctv"]
DEVICE_TYPES: tuple[DeviceType, ...] = ("desktop", "mobile", "tablet", "ctv")

_MAX_UA = 1024

_CTV = re.compile(
    r"Roku|Apple ?TV|\btvOS\b|Android ?TV|Google ?TV|(?-i:\bAFT[A-Z0-9]{1,8}\b)|BRAVIA"
    r"|SMART-?TV|Smart ?TV|HbbTV|Web0S|webOS[. ]TV|NetCast|\bCrKey\b|Chromecast"
    r"|VIZIO|SmartCast|VIDAA|\bTV Safari\b|PlayStation ?[345]|\bXbox\b",
    re.IGNORECASE,
)
_TABLET = re.compile(r"\biPad\b|\bTablet\b|\bKindle\b|\bSilk\b|\bPlayBook\b|\bKF[A-Z]{2,8}\b")
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS"}
)
_TABLET_BRANDS = frozenset({"Generic_Android_Tablet"})
_MOBILE_BRANDS = frozenset({"Generic_Smartphone", "Generic_Feature_Phone"})

_parser = Parser(BestAvailableResolver(load_lazy_builtins()))


def device_type(user_agent: str | None) -> DeviceType:
    """Classify a User-Agent header as desktop, mobile, tablet or ctv (empty -> desktop)."""
    if not user_agent:
        return "desktop"
    return _classify(user_agent[:_MAX_UA])


@lru_cache(maxsize=65536)
def _classify(ua: str) -> DeviceType:
    if _CTV.search(ua):
        return "ctv"
    parsed = _parser(ua, Domain.DEVICE | Domain.OS)
    device, os_family = parsed.device, parsed.os.family if parsed.os else None
    brand = device.brand if device else None
    if device and device.brand == "Generic_Inettv":
        return "ctv"
    if (
        (device and device.family == "iPad")
        or brand in _TABLET_BRANDS
        or _TABLET.search(ua)
        or (os_family == "Android" and "Mobile" not in ua)
    ):
        return "tablet"
    if os_family in _MOBILE_OS or brand in _MOBILE_BRANDS or "Mobi" in ua:
        return "mobile"
    return "desktop"
