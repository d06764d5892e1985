"""Pixel code: the tracking URL and ready-to-paste tags of a campaign, for one platform."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from beacon.core.errors import InvalidValue
from beacon.pixel import macros as pixel_macros
from beacon.pixel import service


class PixelSnippetsOut(BaseModel):
    """Tags to paste into a creative or a third-party tracker field."""

    img: str = Field(description="`<img>` pixel; works where scripts are not allowed.")
    script: str = Field(
        description="Asynchronous `<script>`: sends the page URL and referrer with "
        "navigator.sendBeacon, falling back to an image, and measures viewability (MRC) "
        "of the element it is pasted in (docs/measure.md)."
    )


class PixelCode(BaseModel):
    """The pixel code of a campaign for one DSP or ad server (or the generic pixel)."""

    campaign_id: int
    dsp: str | None = Field(description="The DSP the macros are for, as requested.")
    ad_server: str | None = Field(description="`gam` or `cm360` when an ad server was chosen.")
    macro_set: str | None = Field(
        description="Platform whose macros the URL carries; null for the generic pixel."
    )
    tracking_url: str = Field(description="GET pixel URL with the platform's macros.")
    beacon_url: str = Field(description="Endpoint the script tag POSTs its beacon to.")
    macros: dict[str, str] = Field(
        description="Stable parameter name -> the platform's macro, in URL order."
    )
    snippets: PixelSnippetsOut


def pixel_code(
    *,
    session: Session,
    account_id: int,
    campaign_id: int,
    base_url: str,
    dsp: str | None,
    ad_server: str | None,
) -> PixelCode:
    """The account's campaign's pixel code; 404 for another account's id, 422 for a bad platform."""
    service.get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    try:
        chosen = pixel_macros.macro_set(dsp, ad_server=ad_server)
        tags = pixel_macros.snippets(base_url, campaign_id, dsp, ad_server=ad_server)
    except ValueError as exc:
        field = "ad_server" if ad_server is not None and dsp is None else "dsp"
        raise InvalidValue(field, str(exc)) from None
    return PixelCode(
        campaign_id=campaign_id,
        dsp=dsp,
        ad_server=ad_server,
        macro_set=chosen.platform if chosen else None,
        tracking_url=tags.tracking_url,
        beacon_url=f"{base_url.rstrip('/')}/px/{campaign_id}",
        macros=dict(chosen.macros) if chosen else {},
        snippets=PixelSnippetsOut(img=tags.img, script=tags.script),
    )
