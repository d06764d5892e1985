"""Pixel code: which DSP or ad-server macros fill Beacon's stable pixel parameters.

A pixel URL always uses the same parameter names (`site`, `page_url`, ...), whatever bought
the impression; only the macro after `=` changes with the platform that expands it. Macro
names are the platforms' documented ones (see docs/pixel-macros.md for the table and sources).
Platforms without a verified macro set get the generic pixel: no macros at all, and the
script tag adds its own cache buster.

`dsp` must be one of the 93 supported DSP names (the same list activations use). Google Ad
Manager and Campaign Manager 360 are ad servers, not DSPs, so their macro sets are chosen with
`ad_server=` ("gam", "cm360") instead; a tag can carry one platform's macros, not both.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from beacon.core.dsps import dsp_code
from beacon.core.errors import quoted

SITE_PARAM = "site"
PAGE_URL_PARAM = "page_url"
APP_BUNDLE_PARAM = "app_bundle"
SITE_ID_PARAM = "site_id"
CREATIVE_ID_PARAM = "creative_id"
PLACEMENT_ID_PARAM = "placement_id"
DEAL_ID_PARAM = "deal_id"
CACHE_BUSTER_PARAM = "cb"
# In this order in every generated URL.
STABLE_PARAMS: tuple[str, ...] = (
    SITE_PARAM,
    PAGE_URL_PARAM,
    APP_BUNDLE_PARAM,
    SITE_ID_PARAM,
    CREATIVE_ID_PARAM,
    PLACEMENT_ID_PARAM,
    DEAL_ID_PARAM,
    CACHE_BUSTER_PARAM,
)
# Sent by the script tag from the browser itself; the collector reserves them.
PAGE_URL_FIELD = "url"
REFERRER_FIELD = "ref"
BROWSER_FIELDS: frozenset[str] = frozenset({PAGE_URL_FIELD, REFERRER_FIELD})
# The script tag's viewability fields (beacon.pixel.viewability): the impression id it makes
# up, sent with the impression and with each event, and the event's name.
IMPRESSION_ID_FIELD = "iid"
EVENT_FIELD = "ev"
VIEWABILITY_FIELDS: frozenset[str] = frozenset({IMPRESSION_ID_FIELD, EVENT_FIELD})
# Never macros: the page and viewability fields above, and the cache buster, which (like the
# impression id) is different on every impression and would give every hit its own report
# row (and rollup row).
RESERVED_PARAMS: frozenset[str] = BROWSER_FIELDS | VIEWABILITY_FIELDS | {CACHE_BUSTER_PARAM}


@dataclass(frozen=True, slots=True)
class MacroSet:
    """The macros one platform expands, keyed by Beacon's stable parameter names."""

    platform: str
    kind: Literal["dsp", "ad_server"]
    macros: MappingProxyType[str, str]
    reference: str


def _macro_set(
    platform: str, kind: Literal["dsp", "ad_server"], reference: str, **macros: str
) -> MacroSet:
    unknown = set(macros) - set(STABLE_PARAMS)
    if unknown:
        raise ValueError(f"not stable pixel parameters: {sorted(unknown)}")
    ordered = {key: macros[key] for key in STABLE_PARAMS if key in macros}
    return MacroSet(platform, kind, MappingProxyType(ordered), reference)


DSP_MACRO_SETS: MappingProxyType[str, MacroSet] = MappingProxyType(
    {
        "The Trade Desk": _macro_set(
            "The Trade Desk",
            "dsp",
            "The Trade Desk creative macros (%%TTD_...%%)",
            site="%%TTD_SITE%%",
            page_url="%%TTD_SITE_WITH_PATH%%",
            creative_id="%%TTD_CREATIVEID%%",
            placement_id="%%TTD_ADGROUPID%%",
            deal_id="%%TTD_DEALID%%",
            cb="%%TTD_CACHEBUSTER%%",
        ),
        "DV360": _macro_set(
            "DV360",
            "dsp",
            "Display & Video 360 help: Macros supported by Display & Video 360",
            page_url="${SOURCE_URL_ENC}",
            site_id="${UNIVERSAL_SITE_ID}",
            creative_id="${CREATIVE_ID}",
            cb="${CACHEBUSTER}",
        ),
        "Xandr": _macro_set(
            "Xandr",
            "dsp",
            "Microsoft Invest (Xandr): Supported creative macros",
            page_url="${REFERER_URL_ENC}",
            app_bundle="${EXT_APP_ID}",
            creative_id="${CREATIVE_ID}",
            placement_id="${TAG_ID}",
            deal_id="${DEAL_ID}",
            cb="${CACHEBUSTER}",
        ),
        "Adobe": _macro_set(
            "Adobe",
            "dsp",
            "Adobe Advertising DSP: Macros",
            site="${TM_SITE_DOMAIN_URLENC}",
            page_url="${TM_SITE_URL_URLENC}",
            site_id="${TM_SITE_ID_NUM}",
            creative_id="${TM_CREATIVE_ID_NUM}",
            placement_id="${TM_PLACEMENT_ID_NUM}",
            cb="${TM_RANDOM}",
        ),
        "Yahoo DSP": _macro_set(
            "Yahoo DSP",
            "dsp",
            "Yahoo DSP: Campaign Macros",
            creative_id="${TRAFFICKEDADID}",
            cb="${REQUESTID}",
        ),
    }
)

AD_SERVER_MACRO_SETS: MappingProxyType[str, MacroSet] = MappingProxyType(
    {
        "gam": _macro_set(
            "Google Ad Manager / Ad Exchange",
            "ad_server",
            "Google Ad Manager help: Macros; Ad Exchange third-party ad macros",
            site="%%SITE%%",
            page_url="%%REFERRER_URL_ESC%%",
            creative_id="%ecid!",
            placement_id="%%ADUNIT%%",
            cb="%%CACHEBUSTER%%",
        ),
        "cm360": _macro_set(
            "Campaign Manager 360",
            "ad_server",
            "Campaign Manager 360 macros",
            site_id="%esid!",
            creative_id="%ecid!",
            placement_id="%epid!",
            cb="%n",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class PixelSnippets:
    """Ready-to-paste pixel code for one campaign and platform."""

    tracking_url: str
    img: str
    script: str


def macro_set(dsp: str | None, *, ad_server: str | None = None) -> MacroSet | None:
    """The macro set for a DSP or an ad server; None means the generic pixel."""
    if dsp is not None and ad_server is not None:
        raise ValueError("choose either dsp or ad_server: a tag carries one platform's macros")
    if ad_server is not None:
        if ad_server not in AD_SERVER_MACRO_SETS:
            known = ", ".join(AD_SERVER_MACRO_SETS)
            raise ValueError(f"unknown ad_server {quoted(ad_server)}; known: {known}")
        return AD_SERVER_MACRO_SETS[ad_server]
    if dsp is None:
        return None
    dsp_code(dsp)  # raises ValueError with suggestions for names outside the 93
    return DSP_MACRO_SETS.get(dsp)


def build_tracking_url(
    base_url: str, campaign_id: int, dsp: str | None, *, ad_server: str | None = None
) -> str:
    """`{base}/px/{id}.gif?site=%%TTD_SITE%%&...`, macros left unencoded for the DSP to expand."""
    endpoint = _endpoint(base_url, campaign_id)
    chosen = macro_set(dsp, ad_server=ad_server)
    if chosen is None:
        return f"{endpoint}.gif"
    query = "&".join(f"{key}={macro}" for key, macro in chosen.macros.items())
    return f"{endpoint}.gif?{query}"


def snippets(
    base_url: str, campaign_id: int, dsp: str | None, *, ad_server: str | None = None
) -> PixelSnippets:
    """The `<img>` pixel and the script tag that beacons page URL and referrer to the collector.

    The script POSTs `{base}/px/{id}` with `navigator.sendBeacon` and a text/plain body holding
    one JSON object of strings: `url` (location.href), `ref` (document.referrer), `iid` (an
    impression id it makes up) and the stable parameters with their macros. Without
    sendBeacon, or when the browser refuses to queue it, it loads `{base}/px/{id}.gif` with
    the same fields as query parameters. It then measures viewability (`_TAG_BODY`).
    """
    endpoint = _endpoint(base_url, campaign_id)
    tracking_url = build_tracking_url(base_url, campaign_id, dsp, ad_server=ad_server)
    chosen = macro_set(dsp, ad_server=ad_server)
    fields = dict(chosen.macros) if chosen else {}
    img = (
        f'<img src="{html.escape(tracking_url, quote=True)}" width="1" height="1" alt="" '
        'style="position:absolute;width:1px;height:1px;border:0" />'
    )
    script = (
        "<script>(function(){try{"
        f"var e={_js(endpoint)},d={_js(fields)};"
        + _TAG_BODY.replace("{page}", PAGE_URL_FIELD)
        .replace("{ref}", REFERRER_FIELD)
        .replace("{cb}", CACHE_BUSTER_PARAM)
        .replace("{iid}", IMPRESSION_ID_FIELD)
        .replace("{ev}", EVENT_FIELD)
        + "}catch(x){}})();</script>"
    )
    return PixelSnippets(tracking_url=tracking_url, img=img, script=script)


# The script tag after its endpoint `e` and fields `d` (readable names in docs/measure.md):
# `p` sends an object by beacon, else as an image's query string. The impression goes first
# with a made-up id `i`. Where the tag can measure (it sits in the ad's element `t`, and the
# browser has IntersectionObserver and the Page Visibility API) it waits (`M`) until `t` is
# rendered, checking every 0.1 s for up to 10 s after it ran (`T`; a hidden tab's timers are
# throttled, so it is the time, not a count of checks): an out-of-process iframe's
# document has no layout at all (no client rects, a 0 x 0 viewport) until the publisher's page
# has laid out the iframe, which a busy page does late. Once `t` is rendered it sends
# `measurable`, then watches the element (`g`: the <video> inside it when there is one) and
# sends `viewable` once the MRC threshold has held for the whole duration `m` without a break:
# display >= 50% of pixels in view (>= 30% at 242,500 px2 or more, `l`) for 1 s; video >= 50%
# for 2 s while playing; never while the page is hidden.
# A run starts (`a`) at the observer entry's own `time` (when the browser saw the ad in view,
# not when a busy page got round to the callback), or at the last visibility/play event `q`
# if later. On a busy main thread the timer `c` can fire before the observer's "left the
# view" notice or `visibilitychange` is delivered, so it trusts no silence: it takes the
# observer's queued entries, re-reads visibilityState and the video's state, and measures the
# element against the viewport itself. A failed check breaks the run there; the element is
# observed afresh, so the next entry (in view or not) says where it is now. In a frame (`F`:
# the ad server's iframe, cross-origin or not) the document's viewport is the frame, which the
# ad fills wherever the frame is: there it measures nothing itself but observes the element
# afresh (`w` 1) and decides on that fresh entry (`w` 2), which the browser computes against
# the top-level viewport, clipped by every frame and scroller around it.
_TAG_BODY = (
    "var D=document,s=D.currentScript,"
    "i=Date.now().toString(36)+Math.random().toString(36).slice(2,12);"
    "function p(o){if(navigator.sendBeacon&&navigator.sendBeacon(e,JSON.stringify(o)))return;"
    "var q=[];"
    "for(var k in o)q.push(encodeURIComponent(k)+'='+encodeURIComponent(o[k]));"
    "new Image(1,1).src=e+'.gif?'+q.join('&')}"
    "d.{page}=location.href;d.{ref}=D.referrer;"
    "if(!d.{cb})d.{cb}=Date.now()+''+Math.floor(Math.random()*1e6);"
    "d.{iid}=i;p(d);"
    "var t=s&&s.parentElement;"
    "if(!t||t==D.head||!window.IntersectionObserver||D.visibilityState==null)return;"
    "var v=t.tagName=='VIDEO'?t:t.querySelector('video'),g=v||t,m=v?2e3:1e3,"
    "r=0,a=-1,q=0,h=0,z=0,w=0,F=self!=top,P=performance,T=P.now(),"
    "o=new IntersectionObserver(y,{threshold:[0,.3,.5,1]});"
    "function l(b){return!v&&b.width*b.height>=242500?.3:.5}"
    "function y(x){for(var j=0;j<x.length;j++){"
    "r=x[j].intersectionRatio>=l(x[j].boundingClientRect);if(w)w=2;f(x[j].time)}}"
    "function f(n){if(z)return;"
    "var k=r&&D.visibilityState=='visible'&&(!v||!v.paused&&!v.ended);"
    "if(!k)a=-1,w=0;else if(a<0)a=Math.max(n,q);"
    "clearTimeout(h);h=a<0?0:setTimeout(c,a+m-P.now())}"
    "function c(){y(o.takeRecords());if(a<0)return;"
    "var n=P.now(),b=g.getBoundingClientRect(),"
    "X=Math.min(b.right,innerWidth)-Math.max(b.left,0),"
    "Y=Math.min(b.bottom,innerHeight)-Math.max(b.top,0);"
    "if(F){if(w<2){w=1;o.unobserve(g);o.observe(g);return}w=0}"
    "else if(X<0||Y<0||X*Y<b.width*b.height*l(b)){r=0;o.unobserve(g);o.observe(g)}"
    "f(n);if(a>=0&&n-a>=m){z=1;clearTimeout(h);o.disconnect();p({{iid}:i,{ev}:'viewable'})}}"
    "function u(){f(q=P.now())}"
    "function M(){if(!t.getClientRects().length){if(P.now()-T<1e4)setTimeout(M,100);return}"
    "p({{iid}:i,{ev}:'measurable'});o.observe(g);D.addEventListener('visibilitychange',u);"
    "if(v)['play','playing','pause','ended'].forEach(function(n){v.addEventListener(n,u)})}M();"
)


def _endpoint(base_url: str, campaign_id: int) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {quoted(base_url)}")
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or campaign_id <= 0:
        raise ValueError(f"campaign_id must be a positive integer, got {quoted(campaign_id)}")
    return f"{base_url.rstrip('/')}/px/{campaign_id}"


def _js(value: object) -> str:
    # JSON is a JS literal; "</" is escaped so no value can close the surrounding <script>.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
