"""The DSPs an activation can target, exactly as the Segment Activation document lists them.

The document's headline says "93 supported DSPs" but its table has 89 rows; the table is what
clients validate against, so these are its 89 names and nothing is invented to reach 93.

Each DSP also has a short lowercase code used inside generated identifiers such as deal ids
(`classify-ttd-61-a8f3c`). Codes are part of issued deal ids, so never change an existing one.
"""

from __future__ import annotations

import difflib
from types import MappingProxyType

from beacon.core.errors import quoted

# (name as clients send it, code) in the order of the published list.
_DSPS: tuple[tuple[str, str], ...] = (
    ("Aarki DSP", "aarki"),
    ("Active Agent/Adition DSP", "adition"),
    ("Addictive Mobility", "addmob"),
    ("Adform", "adform"),
    ("AdKernel DSP", "adkernel"),
    ("Admixer", "admixer"),
    ("Adobe", "adobe"),
    ("AdRoll", "adroll"),
    ("AdTheorent", "adtheo"),
    ("Advanced Store Germany", "advstore"),
    ("Amazon DSP", "amzn"),
    ("ArabyAds DSP", "arabyads"),
    ("Arpeely DSP", "arpeely"),
    ("Basis Technologies", "basis"),
    ("Beeswax io", "beeswax"),
    ("BidSwitch", "bidswtch"),
    ("BidTheatre AB", "bidtheat"),
    ("Blis Media", "blis"),
    ("Blockboard DSP", "blockbrd"),
    ("BridgeCorp", "bridge"),
    ("Cadent", "cadent"),
    ("Cloud Technologies S.A.", "cloudtec"),
    ("Cognitiv", "cognitiv"),
    ("Conversant", "convrsnt"),
    ("Cox Automotive DSP", "coxauto"),
    ("Crimtan DSP", "crimtan"),
    ("Criteo", "criteo"),
    ("DeepIntent", "deepint"),
    ("Define Media", "definemd"),
    ("Delta Projects/Azerion", "delta"),
    ("DV360", "dv360"),
    ("Edge226", "edge226"),
    ("Emodo", "emodo"),
    ("Eskimi DSP", "eskimi"),
    ("Exponential DSP", "expo"),
    ("Gamoshi DSP", "gamoshi"),
    ("Hawk", "hawk"),
    ("illumin", "illumin"),
    ("Infillion DSP", "infill"),
    ("InMobi DSP", "inmobi"),
    ("iPROM DSP", "iprom"),
    ("IQM", "iqm"),
    ("IQZone DSP", "iqzone"),
    ("Jaduda GMBH/Splicky", "splicky"),
    ("Jampp", "jampp"),
    ("Krush Media", "krush"),
    ("Local Sensor", "locsens"),
    ("Loopme DSP", "loopme"),
    ("MadHive", "madhive"),
    ("Madopi Medi", "madopi"),
    ("Mars Media", "marsmed"),
    ("Mediaforce", "mforce"),
    ("MediaSmart", "msmart"),
    ("MobPro NL", "mobpro"),
    ("molocoads DSP", "moloco"),
    ("Nexxen", "nexxen"),
    ("Octillion", "octill"),
    ("OneVie", "onevie"),
    ("Opera Ads", "opera"),
    ("Point2Web", "p2web"),
    ("PubMatic Activate", "pubmatic"),
    ("PulsePoint DSP", "pulsept"),
    ("Quantcast", "qcast"),
    ("Remerge GmbH", "remerge"),
    ("Reset Digital", "resetdig"),
    ("RTB House PL", "rtbhouse"),
    ("RTB Mi", "rtbmi"),
    ("Samsung DSP", "samsung"),
    ("Sift.co", "sift"),
    ("Simpli.fi", "simplifi"),
    ("Smaato DSP", "smaato"),
    ("Smadex S.L.", "smadex"),
    ("Sqreem DSP", "sqreem"),
    ("StackAdapt", "stackad"),
    ("SurfSide", "surfside"),
    ("TapTap DSP", "taptap"),
    ("TargetSmart", "tgtsmart"),
    ("The Trade Desk", "ttd"),
    ("ThinkNear", "thinknr"),
    ("Travelaudience GmbH/Amadeus", "travaud"),
    ("Tubia DSP", "tubia"),
    ("Unruly", "unruly"),
    ("Valassis Digital", "valassis"),
    ("Viant", "viant"),
    ("Xandr", "xandr"),
    ("Yahoo DSP", "yahoo"),
    ("YouAppi", "youappi"),
    ("Zemanta/Outbrain", "zemanta"),
    ("Zeta DSP", "zeta"),
)

SUPPORTED_DSPS: tuple[str, ...] = tuple(name for name, _ in _DSPS)
DSP_CODES: MappingProxyType[str, str] = MappingProxyType(dict(_DSPS))
_BY_LOWER: dict[str, str] = {name.lower(): name for name in SUPPORTED_DSPS}
# Former or marketing names that clients type; used only to suggest the listed name.
_ALIASES: tuple[tuple[str, str], ...] = (
    ("displayvideo360", "DV360"),
    ("google", "DV360"),
    ("appnexus", "Xandr"),
    ("microsoftinvest", "Xandr"),
    ("verizonmedia", "Yahoo DSP"),
    ("tradedesk", "The Trade Desk"),
)


def is_supported_dsp(name: str) -> bool:
    """True when `name` is exactly (case and spacing included) one of the supported DSP names."""
    return name in DSP_CODES


def dsp_code(name: str) -> str:
    """The short code of a supported DSP; ValueError naming close matches otherwise."""
    try:
        return DSP_CODES[name]
    except KeyError:
        hint = suggest_dsps(name)
        suffix = f" Did you mean: {', '.join(hint)}?" if hint else ""
        raise ValueError(f"{quoted(name)} is not a supported DSP.{suffix}") from None


def suggest_dsps(name: str, n: int = 3) -> list[str]:
    """Up to `n` supported DSP names closest to `name` (case-insensitive), best first."""
    query = " ".join(name.lower().split())
    if not query or n <= 0:
        return []
    squeezed = _squeeze(query)
    # A DSP's own code ("TTD") or a known former name ("AppNexus") is unambiguous. Substring hits ("amazon" -> "Amazon DSP",
    # "tradedesk" -> "The Trade Desk") and names inside the query ("Google DV360" -> "DV360")
    # rank above fuzzy ones: difflib scores a short query against a long name poorly even when
    # the intent is obvious.
    by_code = [low for low in _BY_LOWER if DSP_CODES[_BY_LOWER[low]] == squeezed]
    by_code += [target.lower() for alias, target in _ALIASES if alias in squeezed]
    contains = sorted(
        (low for low in _BY_LOWER if query in low or (squeezed and squeezed in _squeeze(low))),
        key=len,
    )
    inside = sorted(
        (low for low in _BY_LOWER if len(_squeeze(low)) >= 3 and _squeeze(low) in squeezed),
        key=len,
        reverse=True,
    )
    fuzzy = difflib.get_close_matches(query, list(_BY_LOWER), n=n, cutoff=0.6)
    picked: list[str] = []
    for low in (*by_code, *contains, *inside, *fuzzy):
        if _BY_LOWER[low] not in picked:
            picked.append(_BY_LOWER[low])
    return picked[:n]


def _squeeze(text: str) -> str:
    """Letters and digits only: "Simpli.fi" and "simplifi" compare equal."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())
