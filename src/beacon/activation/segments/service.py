"""Segments: rules over the account's classified inventory, built asynchronously as jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from beacon.activation.deals.service import is_expired
from beacon.activation.inventory import repository as inventory_repository
from beacon.activation.inventory.service import sync_pixel_urls
from beacon.activation.models import Segment
from beacon.activation.schemas import (
    RULE_LIST_LIMITS,
    MemberDomainPage,
    MemberUrl,
    MemberUrlPage,
    Pagination,
    SegmentCreate,
    SegmentOut,
    SegmentRules,
    SegmentUpdate,
    TopDomain,
)
from beacon.activation.segments import repository
from beacon.activation.segments.rules import SegmentMatcher, domain_problem
from beacon.core.errors import InvalidValue, ValidationFailed, field_name, not_found
from beacon.core.jobs import FAILED, PENDING
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow

BUILD_CHUNK = 1000
TOP_DOMAINS = 10


def _rules_json(rules: SegmentRules) -> str:
    return orjson.dumps(rules.model_dump(mode="json", exclude_none=True)).decode()


def create_segment(
    *,
    session: Session,
    account_id: int,
    data: SegmentCreate,
    role: Role | str = CREDENTIAL_ROLE,
) -> Segment:
    """Create a segment; it is queued for building (status ``pending``)."""
    require(role, Action.classify)
    check_rule_limits(rules=data.rules)
    now = utcnow()
    segment = Segment(
        account_id=account_id,
        name=data.name,
        description=data.description,
        rules=_rules_json(data.rules),
        status=PENDING,
        attempts=0,
        created_date=now,
        last_updated_date=now,
    )
    result: Segment = repository.add(session, segment)
    return result


def get_segment(*, session: Session, account_id: int, segment_id: int) -> Segment:
    """The account's segment, or a 404 that looks the same for missing and foreign ids."""
    segment = repository.get_segment(session, account_id=account_id, segment_id=segment_id)
    if segment is None:
        raise not_found("Segment", segment_id)
    return segment


def list_segments(*, session: Session, account_id: int) -> Sequence[Segment]:
    """The account's segments, oldest first."""
    return repository.list_segments(session, account_id=account_id)


def update_segment(
    *, session: Session, account_id: int, segment_id: int, data: SegmentUpdate
) -> Segment:
    """Apply the fields present; new rules send the segment back to ``pending`` for a rebuild."""
    segment = get_segment(session=session, account_id=account_id, segment_id=segment_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        segment.name = changes["name"]
    if "description" in changes:
        segment.description = changes["description"]
    if data.rules is not None and _rules_json(data.rules) != segment.rules:
        check_rule_limits(rules=data.rules, stored=orjson.loads(segment.rules))
        segment.rules = _rules_json(data.rules)
        _requeue(segment)
    segment.last_updated_date = utcnow()
    session.flush()
    return segment


def check_rule_limits(*, rules: SegmentRules, stored: dict[str, Any] | None = None) -> None:
    """422 for the first keyword, entity or domain list of ``rules`` over its count limit, or
    term over its length limit (``RULE_LIST_LIMITS``), or domain that can match no page
    (``rules.domain_problem``), as a create refuses them.

    An update passes the ``stored`` rules of its segment: a list may keep what the same list
    holds there though the limits came later (a longer term, more than 1,000 domains, kept or
    shrunk), and is refused only what it adds.
    """
    held = stored or {}
    scopes = [((), rules, held), (("exclude",), rules.exclude, held.get("exclude") or {})]
    for where, rule_set, held_set in scopes:
        for field, (most_terms, most_chars) in RULE_LIST_LIMITS.items():
            terms: list[str] = getattr(rule_set, field, None) or []
            kept: list[str] = held_set.get(field) or []
            if len(terms) > most_terms and not _only_kept(terms, kept):
                raise _over_limit((*where, field), most_terms)
            kept_terms = set(kept)
            for index, term in enumerate(terms):
                if term in kept_terms:
                    continue
                if len(term) > most_chars:
                    raise _over_limit((*where, field, index), most_chars)
                problem = domain_problem(term) if field == "domains" else None
                if problem:
                    raise _no_domain((*where, field, index), problem)


def _only_kept(terms: list[str], kept: list[str]) -> bool:
    """Whether ``terms`` adds nothing to ``kept``: no new term, and no more of them."""
    return len(terms) <= len(kept) and set(terms) <= set(kept)


def _over_limit(loc: tuple[str | int, ...], limit: int) -> InvalidValue:
    # The words core.errors gives pydantic's bounds: a list's in items, a term's in characters;
    # ``details`` names the list for the console's form.
    per_term = isinstance(loc[-1], int)
    bound = (
        f"must be at most {limit} characters long"
        if per_term
        else f"must have at most {limit} items"
    )
    return InvalidValue(
        field_name(("rules", *loc)),
        bound,
        details={
            "field": ".".join(str(part) for part in (loc[:-1] if per_term else loc)),
            "per_term": per_term,
            "limit": limit,
        },
    )


def _no_domain(loc: tuple[str | int, ...], problem: str) -> InvalidValue:
    # ``details`` names the list for the console's form, as ``_over_limit`` does
    return InvalidValue(
        field_name(("rules", *loc)),
        problem,
        details={"field": ".".join(str(part) for part in loc[:-1])},
    )


def _requeue(segment: Segment) -> None:
    # Clearing the lease makes a build already running for the old rules lose it: its
    # result is discarded (see ``build_segment``) and this pending row is built afresh.
    segment.status = PENDING
    segment.attempts = 0
    segment.lease_owner = None
    segment.lease_expires_at = None
    segment.run_after = None
    segment.error = None
    segment.processed_date = None
    segment.url_count = segment.domain_count = None
    segment.top_domains = None


def delete_segment(*, session: Session, account_id: int, segment_id: int) -> None:
    """Delete a segment unless a live deal (or one being issued) uses it."""
    segment = get_segment(session=session, account_id=account_id, segment_id=segment_id)
    now = utcnow()
    for activation in repository.activations_using(session, segment_id=segment.id):
        status = activation.status
        if status == "complete" and not is_expired(activation, now=now):
            raise ValidationFailed(
                f"Segment {segment_id} is used by active deal {activation.deal_id} "
                f"(activation {activation.id}); delete it once the deal has expired"
            )
        if status in ("pending", "processing"):
            raise ValidationFailed(
                f"Segment {segment_id} is being activated (activation {activation.id}, "
                f"status: {status})"
            )
    repository.delete_segment(session, segment)


def segment_out(segment: Segment) -> SegmentOut:
    """The wire form of a segment."""
    top = orjson.loads(segment.top_domains) if segment.top_domains else None
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        rules=orjson.loads(segment.rules),
        status=segment.status,
        url_count=segment.url_count,
        domain_count=segment.domain_count,
        top_domains=[TopDomain(**t) for t in top] if top is not None else None,
        created_date=segment.created_date,
        processed_date=segment.processed_date,
        last_updated_date=segment.last_updated_date,
        error=segment.error if segment.status == FAILED else None,
    )


def member_urls(
    *, session: Session, account_id: int, segment_id: int, limit: int, offset: int
) -> MemberUrlPage:
    """One page of the segment's member URLs."""
    segment = get_segment(session=session, account_id=account_id, segment_id=segment_id)
    rows, total = repository.member_urls(session, segment_id=segment.id, limit=limit, offset=offset)
    return MemberUrlPage(
        data=[MemberUrl(url=u, domain=d) for u, d in rows],
        pagination=Pagination(limit=limit, offset=offset, total=total),
    )


def member_domains(
    *, session: Session, account_id: int, segment_id: int, limit: int, offset: int
) -> MemberDomainPage:
    """One page of the segment's member domains, most URLs first."""
    segment = get_segment(session=session, account_id=account_id, segment_id=segment_id)
    rows, total = repository.member_domains(
        session, segment_id=segment.id, limit=limit, offset=offset
    )
    return MemberDomainPage(
        data=[TopDomain(domain=d, url_count=n) for d, n in rows],
        pagination=Pagination(limit=limit, offset=offset, total=total),
    )


def awaits_classification(*, session: Session, segment: Segment, wait_seconds: float) -> bool:
    """Whether the build should wait: URLs of the account's inventory are still queued for
    classification, and the segment was created or last updated under ``wait_seconds`` ago."""
    if utcnow() >= segment.last_updated_date + timedelta(seconds=wait_seconds):
        return False
    return inventory_repository.has_unclassified_inventory(session, account_id=segment.account_id)


def build_segment(*, session: Session, segment: Segment) -> None:
    """Evaluate the rules over the account's classified inventory and swap in the members.

    Classifications are read in chunks of ``BUILD_CHUNK`` and matched in Python; the member
    table is replaced inside the job's transaction, so readers see the old or the new set.
    That transaction commits only while the build still holds the segment's lease (the job
    runner fences it): an edit meanwhile (``_requeue``) discards the build.
    """
    sync_pixel_urls(session=session, account_id=segment.account_id)
    matcher = SegmentMatcher.from_rules(orjson.loads(segment.rules))
    members = [
        {"segment_id": segment.id, "url_hash": url_hash, "url": url, "domain": domain}
        for url_hash, url, domain in _matching(session, segment.account_id, matcher)
    ]
    repository.replace_members(session, segment_id=segment.id, members=members)
    domains = Counter(m["domain"] for m in members)
    top = sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DOMAINS]
    segment.url_count = len(members)
    segment.domain_count = len(domains)
    segment.top_domains = orjson.dumps([{"domain": d, "url_count": n} for d, n in top]).decode()


def _matching(
    session: Session, account_id: int, matcher: SegmentMatcher
) -> Iterator[tuple[str, str, str]]:
    """(url_hash, url, domain) of the account's classified inventory URLs the rules match,
    read in chunks of ``BUILD_CHUNK``: the one matching loop of builds and previews."""
    after = 0
    while True:
        chunk = inventory_repository.classified_inventory(
            session, account_id=account_id, after_id=after, limit=BUILD_CHUNK
        )
        if not chunk:
            return
        for inventory_id, url_hash, url, domain, payload in chunk:
            after = inventory_id
            if matcher.matches(orjson.loads(payload), domain):
                yield url_hash, url, domain


@dataclass(frozen=True)
class Preview:
    """What rules would select now, before a segment is saved."""

    url_count: int
    domain_count: int
    sample: list[MemberUrl]


def preview_rules(
    *, session: Session, account_id: int, rules: SegmentRules, sample_size: int = 10
) -> Preview:
    """Evaluate ``rules`` against the account's classified inventory as a build would,
    without storing anything: how many URLs match, over how many domains, and a sample.
    Rules a create would refuse (``check_rule_limits``) are refused here too."""
    check_rule_limits(rules=rules)
    matcher = SegmentMatcher.from_rules(rules.model_dump(mode="json", exclude_none=True))
    count, domains = 0, set()
    sample: list[MemberUrl] = []
    for _, url, domain in _matching(session, account_id, matcher):
        count += 1
        domains.add(domain)
        if len(sample) < sample_size:
            sample.append(MemberUrl(url=url, domain=domain))
    return Preview(url_count=count, domain_count=len(domains), sample=sample)
