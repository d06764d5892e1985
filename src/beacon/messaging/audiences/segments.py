"""Audience segments (rules or static lists) and reach evaluation, a background job."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from beacon.core.errors import InvalidValue, not_found, quoted
from beacon.core.jobs import COMPLETE, FAILED, PENDING, PROCESSING, JobKind, single_transaction
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow
from beacon.messaging.audience_schemas import ReachOut, SegmentCreate, SegmentOut
from beacon.messaging.audiences import repository as repo
from beacon.messaging.models import Campaign, ReachEvaluation, Segment

OPERATORS = ("equals", "in", "contains", "exists", "gt", "gte", "lt", "lte")
MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_IN_VALUES = 1_000  # values of one `in` list
MAX_VALUE_LENGTH = 1_000  # characters of one string a rule compares with
# values of all `in` lists of a segment (each list is bound as one parameter, so a campaign of
# 100 such segments stays far below PostgreSQL's 65,535 bind parameters per statement)
MAX_RULE_VALUES = 5_000
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_ADDRESS_FIELDS = {f"address.{k}" for k in repo.ADDRESS_KEYS}


def _invalid(path: str, message: str) -> InvalidValue:
    # paths are built from fixed names and indexes ('rules.all[0].op'), never from client text
    return InvalidValue(path, message)


def validate_rules(rules: Any, *, path: str = "rules", depth: int = 0) -> int:
    """Check a rule tree; returns how many conditions it has. Raises 422 naming the bad node."""
    if not isinstance(rules, dict):
        raise _invalid(path, "expected an object")
    if depth > MAX_DEPTH:
        raise _invalid(path, f"rules nest deeper than {MAX_DEPTH} levels")
    groups = [k for k in ("all", "any") if k in rules]
    if groups:
        if len(rules) != 1:
            raise _invalid(path, "a group has exactly one key, 'all' or 'any'")
        children = rules[groups[0]]
        if not isinstance(children, list) or not children:
            raise _invalid(f"{path}.{groups[0]}", "expected a non-empty list of rules")
        total = sum(
            validate_rules(child, path=f"{path}.{groups[0]}[{i}]", depth=depth + 1)
            for i, child in enumerate(children)
        )
        if total > MAX_CONDITIONS:
            raise _invalid(path, f"more than {MAX_CONDITIONS} conditions")
        if depth == 0 and _value_count(rules) > MAX_RULE_VALUES:
            raise _invalid(path, f"more than {MAX_RULE_VALUES} values in all 'in' lists together")
        return total
    _validate_condition(rules, path)
    return 1


def _value_count(rules: dict[str, Any]) -> int:
    """How many values a validated rule tree's conditions hold (an `in` list counts each)."""
    children = rules.get("all") or rules.get("any")
    if children is not None:
        return sum(_value_count(child) for child in children)
    value = rules.get("value")
    return len(value) if isinstance(value, list) else 1


def _validate_condition(rule: dict[str, Any], path: str) -> None:
    unknown = set(rule) - {"field", "op", "value"}
    if unknown:
        raise _invalid(path, f"unknown key(s) {', '.join(quoted(key) for key in sorted(unknown))}")
    field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if not isinstance(field, str) or not _known_field(field):
        raise _invalid(
            f"{path}.field",
            "expected externalId, email, phone, firstName, lastName, address.<line1|line2|city|"
            "region|postalCode|country>, subscriptions.<email|sms|direct_mail> or "
            "attributes.<name>",
        )
    if op not in OPERATORS:
        raise _invalid(f"{path}.op", f"expected one of {', '.join(OPERATORS)}")
    is_attribute = field.startswith("attributes.")
    scalar = (str, int, float, bool) if is_attribute else (str,)
    if op == "exists":
        if value is not None and not isinstance(value, bool):
            raise _invalid(f"{path}.value", "expected true, false or nothing")
    elif op == "in":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, scalar) for v in value)
        ):
            raise _invalid(f"{path}.value", "expected a non-empty list of values")
        if len(value) > MAX_IN_VALUES:
            raise _invalid(f"{path}.value", f"at most {MAX_IN_VALUES} values (got {len(value)})")
    elif op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _invalid(f"{path}.value", "expected a number or a string")
        if not is_attribute and not isinstance(value, str):
            raise _invalid(f"{path}.value", "expected a string for this field")
    elif not isinstance(value, scalar):
        raise _invalid(
            f"{path}.value", "expected a string" if not is_attribute else "expected a scalar"
        )
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, str) and len(v) > MAX_VALUE_LENGTH for v in values):
        # longer than any contact field holds, and SQLite refuses a LIKE pattern over 50,000
        # bytes: the reach, the preflight and the console's Audiences page answered 500
        raise _invalid(f"{path}.value", f"a value of at most {MAX_VALUE_LENGTH} characters")
    if not all(_comparable(v) for v in values):
        # numbers are compared as doubles: 10**309 has none (an OverflowError at preflight)
        raise _invalid(f"{path}.value", "a number beyond a double's range (about ±1.8e308)")


def _comparable(value: Any) -> bool:
    # a finite double: no NaN or infinity (which Python's JSON reads), no int beyond its range
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return False
    return True


def _known_field(field: str) -> bool:
    if field in repo.COLUMN_FIELDS or field in _ADDRESS_FIELDS:
        return True
    return field.startswith("attributes.") and bool(_ATTRIBUTE_KEY.match(field[11:]))


def create_segment(
    *,
    session: Session,
    account_id: int,
    data: SegmentCreate,
    role: Role | str = CREDENTIAL_ROLE,
) -> Segment:
    """Create a segment and queue its reach evaluation."""
    require(role, Action.manage_campaigns)
    if data.rules is not None:
        validate_rules(data.rules)
    else:
        ids = list(dict.fromkeys(data.contact_ids or []))
        known = repo.existing_contact_ids(session, account_id=account_id, contact_ids=ids)
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise InvalidValue(
                "contactIds",
                f"unknown contact(s) {', '.join(missing[:5])}",
                details={"unknown": missing[:100]},
            )
    now = utcnow()
    segment = Segment(
        account_id=account_id,
        name=data.name,
        kind="rules" if data.rules is not None else "static",
        rules=data.rules,
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    session.flush()
    if data.contact_ids is not None:
        repo.add_members(session, segment.id, data.contact_ids)
    queue_evaluation(session=session, account_id=account_id, segment_id=segment.id)
    return segment


def list_segments(
    *, session: Session, account_id: int, limit: int, offset: int
) -> tuple[Sequence[Segment], int]:
    """A page of the account's segments, newest first, and their total."""
    return repo.list_segments(session, account_id=account_id, limit=limit, offset=offset)


def get_segment(*, session: Session, account_id: int, segment_id: uuid.UUID) -> Segment:
    """The account's segment or 404."""
    segment = repo.get_segment(session, account_id=account_id, segment_id=segment_id)
    if segment is None:
        raise not_found("Segment", segment_id)
    return segment


def queue_evaluation(
    *,
    session: Session,
    account_id: int,
    segment_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
) -> ReachEvaluation:
    """Queue a reach evaluation job for a segment or a campaign's audience."""
    job = ReachEvaluation(
        account_id=account_id, segment_id=segment_id, campaign_id=campaign_id, status=PENDING
    )
    session.add(job)
    session.flush()
    return job


def is_stale(
    *, evaluated_at: datetime, changed_at: Sequence[datetime | None], max_age_seconds: int
) -> bool:
    """Stale when anything it depends on changed after it, or it is older than the max age."""
    if utcnow() - evaluated_at > timedelta(seconds=max_age_seconds):
        return True
    return any(moment is not None and moment > evaluated_at for moment in changed_at)


def reach_out(
    *,
    session: Session,
    account_id: int,
    max_age_seconds: int,
    segment: Segment | None = None,
    campaign: Campaign | None = None,
) -> ReachOut:
    """The latest reach evaluation of a segment or campaign audience, with its freshness."""
    done, newest = repo.latest_evaluation(
        session,
        segment_id=segment.id if segment else None,
        campaign_id=campaign.id if campaign else None,
    )
    if done is not None and done.evaluated_at is not None:
        target_changed = segment.updated_at if segment else campaign.audience_updated_at  # type: ignore[union-attr]
        stale = is_stale(
            evaluated_at=done.evaluated_at,
            changed_at=[repo.contacts_changed_at(session, account_id=account_id), target_changed],
            max_age_seconds=max_age_seconds,
        )
        return ReachOut(
            status="ok",
            evaluated_count=done.evaluated_count,
            evaluated_at=done.evaluated_at,
            is_stale=stale,
        )
    if newest is not None and newest.status in (PENDING, PROCESSING):
        status = "pending"
    elif newest is not None and newest.status == FAILED:
        status = "failed"
    else:
        status = "not_evaluated"
    return ReachOut(status=status, evaluated_count=None, evaluated_at=None, is_stale=None)


def segment_out(*, session: Session, segment: Segment, max_age_seconds: int) -> SegmentOut:
    """The wire form of a segment with its reach."""
    reach = reach_out(
        session=session,
        account_id=segment.account_id,
        max_age_seconds=max_age_seconds,
        segment=segment,
    )
    count = (
        repo.member_count(session, segment.id)
        if segment.kind == "static"
        else reach.evaluated_count
    )
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        type="static" if segment.kind == "static" else "rules",
        rules=segment.rules,
        member_count=count,
        reach=reach,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def reachable_by_channel(*, session: Session, segment: Segment) -> dict[str, int]:
    """The segment's contacts reachable now on each channel (an address and subscribed)."""
    return {
        channel: repo.count_contacts(
            session,
            repo.audience_condition(
                session,
                account_id=segment.account_id,
                included=[segment],
                excluded=[],
                channel=channel,
            ),
        )
        for channel in repo.CHANNEL_STATUS
    }


def reach_of_rules(
    *, session: Session, account_id: int, rules: dict[str, Any]
) -> tuple[int, dict[str, int]]:
    """How many of the account's contacts an unsaved rule tree matches, and how many of those
    are reachable now per channel (the console's live reach; checked as ``create_segment``
    checks rules, nothing is stored)."""
    validate_rules(rules)
    draft = Segment(account_id=account_id, kind="rules", rules=rules)  # never added
    matched = repo.count_contacts(
        session,
        repo.segment_condition(session, draft) & (repo.Contact.account_id == account_id),
    )
    channels = {
        channel: repo.count_contacts(
            session,
            repo.audience_condition(
                session, account_id=account_id, included=[draft], excluded=[], channel=channel
            ),
        )
        for channel in repo.CHANNEL_STATUS
    }
    return matched, channels


def count_campaign_audience(*, session: Session, campaign: Campaign) -> int:
    """Contacts the campaign would reach now (in its audience, reachable on its channel)."""
    condition = _campaign_condition(session, campaign, with_address=True)
    return repo.count_contacts(session, condition)


def _campaign_condition(session: Session, campaign: Campaign, *, with_address: bool) -> Any:
    segments = repo.segments_by_id(
        session,
        account_id=campaign.account_id,
        segment_ids=[
            uuid.UUID(s) for s in (*campaign.audience_included, *campaign.audience_excluded)
        ],
    )
    return repo.audience_condition(
        session,
        account_id=campaign.account_id,
        included=[
            segments[uuid.UUID(s)] for s in campaign.audience_included if uuid.UUID(s) in segments
        ],
        excluded=[
            segments[uuid.UUID(s)] for s in campaign.audience_excluded if uuid.UUID(s) in segments
        ],
        channel=campaign.channel if with_address else None,
    )


def campaign_audience_condition(
    *, session: Session, campaign: Campaign, with_address: bool = True
) -> Any:
    """The WHERE clause over contacts selecting the campaign's recipients: in an included
    segment, in no excluded one, and (``with_address``) holding the channel's address. A run's
    snapshot keeps those without one (``with_address=False``): they fail at ``hydrated`` with a
    reason, so the run shows who could not be reached and why."""
    return _campaign_condition(session, campaign, with_address=with_address)


def evaluate_now(*, session: Session, campaign: Campaign) -> ReachEvaluation:
    """Evaluate a campaign's reach in this transaction and record it as a completed evaluation."""
    now = utcnow()
    job = ReachEvaluation(
        account_id=campaign.account_id,
        campaign_id=campaign.id,
        status=COMPLETE,
        evaluated_count=count_campaign_audience(session=session, campaign=campaign),
        evaluated_at=now,
        processed_date=now,
    )
    session.add(job)
    session.flush()
    return job


def run_reach_evaluation(session: Session, job: ReachEvaluation) -> None:
    """Job handler: count the segment's members or the campaign's reachable audience."""
    if job.segment_id is not None:
        segment = session.get(Segment, job.segment_id)
        if segment is None:
            return
        job.evaluated_count = repo.count_contacts(
            session,
            repo.segment_condition(session, segment)
            & (repo.Contact.account_id == segment.account_id),
        )
    elif job.campaign_id is not None:
        campaign = session.get(Campaign, job.campaign_id)
        if campaign is None:
            return
        job.evaluated_count = count_campaign_audience(session=session, campaign=campaign)
    job.evaluated_at = utcnow()


def reach_job_kind(lease_seconds: float, max_attempts: int) -> JobKind:
    """The worker's reach evaluation job kind."""
    return JobKind(
        name="messaging_reach",
        model=ReachEvaluation,
        handler=single_transaction(run_reach_evaluation),
        lease_seconds=lease_seconds,
        retry=RetryStrategy(max_attempts=max_attempts),
    )
