"""Preflight: is a campaign ready to send? Each check passes, warns or fails; any failure
blocks publishing. The result is stored on the campaign and shown by /summary."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from beacon.core.config import Settings
from beacon.core.errors import ValidationFailed
from beacon.core.timefmt import utcnow
from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.audiences import segments
from beacon.messaging.audiences.contacts import contact_out
from beacon.messaging.models import Campaign, Contact, Template
from beacon.messaging.providers import factory as providers
from beacon.messaging.templates import service as templates
from beacon.messaging.templates.rendering import RenderError, variables

# contacts of the audience the template is rendered for (the oldest first), in one render call
RENDER_SAMPLE = 200
OPT_OUT = re.compile(r"\b(STOP|opt[\s-]?out|unsubscribe)\b", re.IGNORECASE)


def _check(check_id: str, status: str, message: str) -> dict[str, str]:
    return {"id": check_id, "status": status, "message": message}


def _reach(session: Session, campaign: Campaign, settings: Settings) -> tuple[dict[str, str], int]:
    if not campaign.audience_included:
        return _check("audience_reach", "failed", "No segment is included in the audience"), 0
    current = segments.reach_out(
        session=session,
        account_id=campaign.account_id,
        max_age_seconds=settings.messaging_reach_max_age_seconds,
        campaign=campaign,
    )
    count = current.evaluated_count
    if current.status != "ok" or current.is_stale or count is None:
        count = segments.evaluate_now(session=session, campaign=campaign).evaluated_count or 0
    if count == 0:
        return _check(
            "audience_reach",
            "failed",
            f"The audience reaches no subscribed {campaign.channel} contact",
        ), 0
    return _check("audience_reach", "passed", f"{_contacts(count)} reachable"), count


def _overlap(campaign: Campaign) -> list[dict[str, str]]:
    """A warning when a segment is both included and excluded: exclusion wins, so that
    segment adds nobody (and the audience may reach no one), which nothing else said."""
    excluded = set(campaign.audience_excluded or [])
    both = [s for s in campaign.audience_included or [] if s in excluded]
    if not both:
        return []
    segments_named = ", ".join(both)
    return [
        _check(
            "audience_overlap",
            "warning",
            f"Segment{'s' if len(both) > 1 else ''} {segments_named} "
            f"{'are' if len(both) > 1 else 'is'} both included and excluded: exclusion wins, "
            f"so {'they reach' if len(both) > 1 else 'it reaches'} no one",
        )
    ]


def _contacts(count: int) -> str:
    return f"{count:,} contact" + ("" if count == 1 else "s")


def _template_checks(
    session: Session, campaign: Campaign, template: Template | None, base_url: str
) -> list[dict[str, str]]:
    if template is None:
        return [_check("template_published", "failed", "No template is attached")]
    checks = [
        _check("template_published", "passed", f"Template '{template.name}' is published")
        if template.status == "published"
        else _check("template_published", "failed", f"Template '{template.name}' is a draft")
    ]
    condition = segments.campaign_audience_condition(session=session, campaign=campaign)
    sample = audience_repository.sample_contacts(session, condition, limit=RENDER_SAMPLE)
    if not sample:
        checks.append(
            _check(
                "template_renders", "warning", "No contact in the audience to render a proof for"
            )
        )
        return checks
    checks.append(_render_check(template, sample, base_url))
    return checks


def _sending_link_base(settings: Settings) -> str | None:
    """The base of unsubscribe links as the workers that send will know it: only
    BEACON_PUBLIC_URL reaches a separate `beacon worker`."""
    return settings.link_base_url if settings.worker_in_process else settings.public_url


def _unsubscribe_check(used: set[str], settings: Settings) -> dict[str, str]:
    if "unsubscribe_url" not in used:
        return _check("unsubscribe_link", "failed", "Body has no {{ unsubscribe_url }} link")
    base = _sending_link_base(settings)
    if base is None:
        return _check(
            "unsubscribe_link",
            "failed",
            "BEACON_PUBLIC_URL is not set: the workers that send email (`beacon worker`) "
            "cannot build unsubscribe links; set it to this server's public address",
        )
    return _check("unsubscribe_link", "passed", f"Body contains {{{{ unsubscribe_url }}}} ({base})")


def _render_check(template: Template, sample: Sequence[Contact], base_url: str) -> dict[str, str]:
    """Render for every sampled contact (one call to a render process); a failure names the
    contacts and the error (the undefined variable, the limit). Warning when it fails for
    some of them, failed when for all."""
    contacts = [contact_out(c).model_dump(mode="json", by_alias=True) for c in sample]
    try:
        results = templates.render_for_contacts(
            template=template, contacts=contacts, base_url=base_url
        )
    except RenderError as exc:
        return _check("template_renders", "failed", f"Rendering failed: {exc}")
    failing: dict[str, list[str]] = defaultdict(list)
    for contact, result in zip(sample, results, strict=True):
        if isinstance(result, RenderError):
            failing[str(result)].append(str(contact.id))
    if not failing:
        return _check("template_renders", "passed", f"Rendered for {_contacts(len(sample))}")
    count = sum(len(ids) for ids in failing.values())
    reasons = "; ".join(
        f"{error} (contacts {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
        for error, ids in sorted(failing.items(), key=lambda item: -len(item[1]))[:3]
    )
    # like postal addresses: the contacts it fails for are skipped at send (failed at
    # composed, with this reason); a template that renders for nobody blocks publishing
    status = "failed" if count == len(sample) else "warning"
    return _check(
        "template_renders",
        status,
        f"Rendering failed for {count} of the {len(sample)} contacts checked: {reasons}",
    )


def _channel_checks(
    session: Session, campaign: Campaign, template: Template | None, reach: int, settings: Settings
) -> list[dict[str, str]]:
    content: dict[str, Any] = template.content if template else {}
    if campaign.channel == "email":
        missing = [k for k in ("subject", "fromAddress") if not content.get(k)]
        sender = (
            _check("sender", "failed", f"Missing {' and '.join(missing)}")
            if missing
            else _check("sender", "passed", f"From {content['fromAddress']}")
        )
        used = set()
        for part in ("html", "text"):
            if content.get(part):
                used |= variables(part=part, source=content[part])
        return [sender, _unsubscribe_check(used, settings)]
    if campaign.channel == "sms":
        if OPT_OUT.search(content.get("body") or ""):
            return [_check("opt_out", "passed", "Body contains opt-out instructions")]
        return [
            _check("opt_out", "failed", "Body has no opt-out text such as 'Reply STOP to opt out'")
        ]
    condition = segments.campaign_audience_condition(session=session, campaign=campaign)
    incomplete = audience_repository.count_contacts(
        session, condition & audience_repository.incomplete_address_condition()
    )
    if incomplete == 0:
        return [
            _check("postal_addresses", "passed", "Every reachable contact has a complete address")
        ]
    status = "failed" if reach and incomplete >= reach else "warning"
    return [
        _check(
            "postal_addresses",
            status,
            f"{incomplete} contacts lack line1, city, postalCode or country and will be skipped",
        )
    ]


def _schedule(campaign: Campaign) -> dict[str, str]:
    try:
        ZoneInfo(campaign.timezone)
    except Exception:
        return _check("schedule", "failed", f"Unknown timezone {campaign.timezone}")
    if campaign.schedule_mode == "now":
        return _check("schedule", "passed", "Sends when POST /send is called")
    if campaign.send_at is None or campaign.send_at <= utcnow():
        return _check("schedule", "failed", "sendAt is not in the future")
    return _check(
        "schedule", "passed", f"Sends at {campaign.send_at.isoformat()} ({campaign.timezone})"
    )


def _provider(campaign: Campaign, settings: Settings) -> dict[str, str]:
    try:
        configured, where = providers.describe(campaign.channel, settings)
    except ValueError as exc:
        return _check("delivery_provider", "failed", str(exc))
    if configured:
        return _check("delivery_provider", "passed", f"Delivered through {where}")
    setting = (
        "BEACON_SMTP_URL"
        if campaign.channel == "email"
        else "BEACON_SMS_ACCOUNT_SID, BEACON_SMS_AUTH_TOKEN and BEACON_SMS_FROM_NUMBER"
    )
    return _check("delivery_provider", "warning", f"{setting} not set: {where}")


def run_preflight(
    *, session: Session, campaign: Campaign, settings: Settings, base_url: str
) -> dict[str, Any]:
    """Run every check, store the result on the campaign and return it."""
    template = session.get(Template, campaign.template_id) if campaign.template_id else None
    reach_check, reach = _reach(session, campaign, settings)
    checks = [
        reach_check,
        *_overlap(campaign),
        *_template_checks(session, campaign, template, base_url),
        *_channel_checks(session, campaign, template, reach, settings),
        _schedule(campaign),
        _provider(campaign, settings),
    ]
    statuses = {c["status"] for c in checks}
    overall = "failed" if "failed" in statuses else "warning" if "warning" in statuses else "passed"
    campaign.preflight = {"status": overall, "checks": checks}
    session.flush()
    return campaign.preflight


def require_passing(result: dict[str, Any]) -> None:
    """422 ``PREFLIGHT_FAILED`` listing the failing checks."""
    failing = [c for c in result["checks"] if c["status"] == "failed"]
    if failing:
        raise ValidationFailed(
            "Preflight failed: " + "; ".join(c["message"] for c in failing),
            code="PREFLIGHT_FAILED",
            details={"checks": failing},
        )
