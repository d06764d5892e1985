import gzip
import html
import json
import re
import shutil
import subprocess
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from beacon.core.dsps import SUPPORTED_DSPS
from beacon.pixel.enrich import extract_macros, is_unexpanded_macro, site_macro_domain
from beacon.pixel.macros import (
    AD_SERVER_MACRO_SETS,
    BROWSER_FIELDS,
    DSP_MACRO_SETS,
    RESERVED_PARAMS,
    STABLE_PARAMS,
    build_tracking_url,
    macro_set,
    snippets,
)

BASE = "https://px.example.com"


def test_trade_desk_tracking_url() -> None:
    assert build_tracking_url(BASE + "/", 609, "The Trade Desk") == (
        "https://px.example.com/px/609.gif?site=%%TTD_SITE%%&page_url=%%TTD_SITE_WITH_PATH%%"
        "&creative_id=%%TTD_CREATIVEID%%&placement_id=%%TTD_ADGROUPID%%"
        "&deal_id=%%TTD_DEALID%%&cb=%%TTD_CACHEBUSTER%%"
    )


@pytest.mark.parametrize(
    ("dsp", "expected"),
    [
        ("DV360", ["page_url=${SOURCE_URL_ENC}", "site_id=${UNIVERSAL_SITE_ID}"]),
        ("Xandr", ["page_url=${REFERER_URL_ENC}", "app_bundle=${EXT_APP_ID}", "cb=${CACHEBUSTER}"]),
        ("Adobe", ["site=${TM_SITE_DOMAIN_URLENC}", "cb=${TM_RANDOM}"]),
        ("Yahoo DSP", ["cb=${REQUESTID}"]),
    ],
)
def test_dsp_macros_are_left_unencoded(dsp: str, expected: list[str]) -> None:
    url = build_tracking_url(BASE, 7, dsp)
    assert url.startswith("https://px.example.com/px/7.gif?")
    for part in expected:
        assert part in url


def test_ad_server_macro_sets() -> None:
    gam = build_tracking_url(BASE, 7, None, ad_server="gam")
    assert "site=%%SITE%%" in gam and "cb=%%CACHEBUSTER%%" in gam
    cm360 = build_tracking_url(BASE, 7, None, ad_server="cm360")
    assert cm360.endswith("?site_id=%esid!&creative_id=%ecid!&placement_id=%epid!&cb=%n")
    with pytest.raises(ValueError, match="either dsp or ad_server"):
        macro_set("DV360", ad_server="cm360")
    with pytest.raises(ValueError, match="unknown ad_server"):
        macro_set(None, ad_server="freewheel")


def test_supported_dsp_without_known_macros_gets_the_generic_pixel() -> None:
    assert build_tracking_url(BASE, 7, "Criteo") == "https://px.example.com/px/7.gif"
    assert build_tracking_url(BASE, 7, None) == "https://px.example.com/px/7.gif"


def test_unknown_dsp_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="The Trade Desk"):
        build_tracking_url(BASE, 7, "Trade Desk")
    with pytest.raises(ValueError):
        build_tracking_url(BASE, 7, "Google Ad Manager")


@pytest.mark.parametrize(
    "base", ["px.example.com", "ftp://px.example.com", "https://x.com/?a=1", ""]
)
def test_base_url_must_be_absolute_http(base: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        build_tracking_url(base, 7, None)


@pytest.mark.parametrize("campaign_id", [0, -3, True])
def test_campaign_id_must_be_positive(campaign_id: int) -> None:
    with pytest.raises(ValueError, match="campaign_id"):
        build_tracking_url(BASE, campaign_id, None)


def test_macro_tables_are_consistent() -> None:
    assert set(DSP_MACRO_SETS) <= set(SUPPORTED_DSPS)
    for chosen in (*DSP_MACRO_SETS.values(), *AD_SERVER_MACRO_SETS.values()):
        assert chosen.macros, chosen.platform
        assert list(chosen.macros) == [key for key in STABLE_PARAMS if key in chosen.macros]
        assert "cb" in chosen.macros
        assert not set(chosen.macros) & BROWSER_FIELDS
        for macro in chosen.macros.values():
            # If the platform leaves it unexpanded, the collector must recognise and drop it.
            assert is_unexpanded_macro(macro), macro


def _expand(url: str, values: dict[str, str]) -> str:
    for macro, value in values.items():
        url = url.replace(macro, value)
    return url


def test_round_trip_trade_desk_declared_site() -> None:
    url = _expand(
        build_tracking_url(BASE, 609, "The Trade Desk"),
        {"%%TTD_SITE%%": "www.nytimes.com", "%%TTD_CACHEBUSTER%%": "8675309"},
    )
    macros = extract_macros(parse_qsl(urlsplit(url).query), set(RESERVED_PARAMS))
    # Macros the DSP did not fill in are dropped instead of stored as placeholders, and the
    # cache buster is never a macro (it would make every impression its own report row).
    assert macros == {"site": "www.nytimes.com"}
    assert site_macro_domain(macros) == "nytimes.com"


def test_round_trip_dv360_encoded_source_url() -> None:
    url = _expand(
        build_tracking_url(BASE, 609, "DV360"),
        {"${SOURCE_URL_ENC}": quote("https://www.bbc.co.uk/news?a=1&b=2", safe="")},
    )
    macros = extract_macros(parse_qsl(urlsplit(url).query), set(RESERVED_PARAMS))
    assert macros["page_url"] == "https://www.bbc.co.uk/news?a=1&b=2"
    assert site_macro_domain(macros) == "bbc.co.uk"


def test_img_snippet_is_the_escaped_tracking_url() -> None:
    pixel = snippets(BASE, 609, "The Trade Desk")
    assert pixel.tracking_url == build_tracking_url(BASE, 609, "The Trade Desk")
    assert pixel.img.startswith('<img src="')
    src = pixel.img.split('src="', 1)[1].split('"', 1)[0]
    assert html.unescape(src) == pixel.tracking_url
    assert 'width="1" height="1"' in pixel.img


def test_script_snippet_cannot_be_closed_by_its_data() -> None:
    pixel = snippets("https://px.example.com/</script><b>", 1, None)
    assert pixel.script.count("</script>") == 1
    assert pixel.script.endswith("</script>")


NODE = shutil.which("node")


def _run_script(script: str, *, beacon_ok: bool) -> dict[str, object]:
    assert NODE is not None
    body = script.removeprefix("<script>").removesuffix("</script>")
    harness = f"""
    const out = {{beacons: [], images: []}};
    globalThis.location = {{href: "https://www.nytimes.com/2026/tech.html"}};
    globalThis.document = {{referrer: "https://news.google.com/"}};
    globalThis.navigator = {{sendBeacon: (url, data) => {{
      out.beacons.push({{url, data}}); return {str(beacon_ok).lower()};
    }}}};
    globalThis.Image = function () {{
      const img = {{}}; out.images.push(img); return img;
    }};
    {body}
    console.log(JSON.stringify(out));
    """
    result = subprocess.run([NODE, "-e", harness], capture_output=True, text=True, check=True)
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_script_sends_page_url_referrer_and_macros_by_beacon() -> None:
    pixel = snippets(BASE, 609, "The Trade Desk")
    out = _run_script(pixel.script, beacon_ok=True)
    beacons = out["beacons"]
    assert isinstance(beacons, list) and len(beacons) == 1
    assert beacons[0]["url"] == "https://px.example.com/px/609"
    payload = json.loads(beacons[0]["data"])
    assert payload["url"] == "https://www.nytimes.com/2026/tech.html"
    assert payload["ref"] == "https://news.google.com/"
    assert payload["site"] == "%%TTD_SITE%%"  # the DSP expands it in the tag text
    assert payload["cb"] == "%%TTD_CACHEBUSTER%%"
    # The impression id its viewability events will name (none here: without a document to
    # measure in, the impression is unmeasurable and nothing else is sent).
    assert re.fullmatch(r"[a-z0-9]{8,64}", payload["iid"])
    assert out["images"] == []


def test_the_script_tag_stays_small() -> None:
    """docs/measure.md states its size: about 1,041 bytes gzipped for the generic pixel."""
    generic = snippets(BASE, 609, None).script
    assert len(gzip.compress(generic.encode(), 9)) <= 1060
    with_macros = snippets(BASE, 609, "The Trade Desk").script
    assert len(gzip.compress(with_macros.encode(), 9)) <= 1170


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_script_falls_back_to_an_image_with_its_own_cache_buster() -> None:
    pixel = snippets(BASE, 42, None)
    out = _run_script(pixel.script, beacon_ok=False)
    images = out["images"]
    assert isinstance(images, list) and len(images) == 1
    src = images[0]["src"]
    assert src.startswith("https://px.example.com/px/42.gif?")
    query = dict(parse_qsl(urlsplit(src).query))
    assert query["url"] == "https://www.nytimes.com/2026/tech.html"
    assert query["ref"] == "https://news.google.com/"
    assert query["cb"].isdigit()
