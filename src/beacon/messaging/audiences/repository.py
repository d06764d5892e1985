"""Queries over contacts and segments: set-based upserts, segment rules compiled to SQL, reach.

Rules are validated by ``segments.validate_rules`` before they get here. Attributes are JSON
(JSONB on PostgreSQL); each comparison first checks the JSON type of the value so that a
number rule never meets a string, with the dialect's own functions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    Numeric,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from beacon.core.db import fetch_page, hold_rows, is_postgres, slices, upsert_insert
from beacon.messaging.models import Contact, ReachEvaluation, Segment, SegmentMember

CHUNK = 1000
ADDRESS_KEYS = ("line1", "line2", "city", "region", "postalCode", "country")
REQUIRED_ADDRESS_KEYS = ("line1", "city", "postalCode", "country")
COLUMN_FIELDS: dict[str, Any] = {
    "externalId": Contact.external_id,
    "email": Contact.email,
    "phone": Contact.phone,
    "firstName": Contact.first_name,
    "lastName": Contact.last_name,
    "subscriptions.email": Contact.email_status,
    "subscriptions.sms": Contact.sms_status,
    "subscriptions.direct_mail": Contact.direct_mail_status,
}
CHANNEL_STATUS = {
    "email": (Contact.email, Contact.email_status),
    "sms": (Contact.phone, Contact.sms_status),
    "direct_mail": (Contact.address, Contact.direct_mail_status),
}


# --- contacts ----------------------------------------------------------------------------


def find_contacts(
    session: Session, *, account_id: int, external_ids: Sequence[str], emails: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of existing contacts matching any external id or email (a few chunked queries),
    held until the transaction ends (``core.db.hold_rows``, in id order) and read as they are
    then: the caller merges into them, and two upserts of one contact at once each merged
    into what it read before the other wrote, losing the other's attributes.

    Plain rows, not ORM objects: the caller updates them with a bulk UPDATE by primary key.
    """
    ids = sorted(row["id"] for row in _matching_contacts(session, account_id, external_ids, emails))
    for chunk in slices(ids, CHUNK):
        hold_rows(session, Contact, Contact.id.in_(chunk))
    return _matching_contacts(session, account_id, external_ids, emails) if ids else []


def _matching_contacts(
    session: Session, account_id: int, external_ids: Sequence[str], emails: Sequence[str]
) -> list[dict[str, Any]]:
    table = Contact.__table__
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for column_, values in ((table.c.external_id, external_ids), (table.c.email, emails)):
        for chunk in slices(list(values), CHUNK):
            rows = session.execute(
                select(table).where(table.c.account_id == account_id, column_.in_(chunk))
            ).mappings()
            for row in rows:
                found[row["id"]] = dict(row)
    return list(found.values())


UPSERT_COLUMNS = (
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "address",
    "attributes",
    "email_status",
    "sms_status",
    "direct_mail_status",
    "updated_at",
)


def upsert_contacts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write complete contact rows: new ids are inserted, known ids updated, in one statement.

    ``INSERT ... ON CONFLICT (id) DO UPDATE`` exists on both dialects under the same API; the
    rows go out as one executemany (pipelined by psycopg), not one round trip per contact.
    """
    if not rows:
        return
    table: Table = Contact.__table__  # type: ignore[assignment]
    statement = upsert_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={name: statement.excluded[name] for name in UPSERT_COLUMNS},
    )
    session.execute(statement, rows)


def list_contacts(
    session: Session, *, account_id: int, limit: int, offset: int, search: str = ""
) -> tuple[Sequence[Contact], int]:
    """A page of the account's contacts, oldest first, and their total (``search``: a part of
    the email, phone, external id or a name, any case)."""
    query = select(Contact).where(Contact.account_id == account_id)
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                *(
                    func.lower(column_).like(pattern, escape="\\")
                    for column_ in (
                        Contact.email,
                        Contact.phone,
                        Contact.external_id,
                        Contact.first_name,
                        Contact.last_name,
                    )
                )
            )
        )
    return fetch_page(
        session,
        query,
        order_by=[Contact.created_at, Contact.id],
        limit=limit,
        offset=offset,
    )


def get_contact(session: Session, *, account_id: int, contact_id: uuid.UUID) -> Contact | None:
    """The account's contact."""
    return session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id)
    )


def existing_contact_ids(
    session: Session, *, account_id: int, contact_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``contact_ids`` belong to the account."""
    found: set[uuid.UUID] = set()
    for chunk in slices(list(contact_ids), CHUNK):
        found.update(
            session.scalars(
                select(Contact.id).where(Contact.account_id == account_id, Contact.id.in_(chunk))
            )
        )
    return found


def contacts_changed_at(session: Session, *, account_id: int) -> datetime | None:
    """When the account's contacts last changed."""
    return session.scalar(
        select(func.max(Contact.updated_at)).where(Contact.account_id == account_id)
    )


def contact_by_unsubscribe_token(session: Session, token: str) -> Contact | None:
    """The contact an unsubscribe link belongs to."""
    return session.scalar(select(Contact).where(Contact.unsubscribe_token == token))


# --- segment rules -----------------------------------------------------------------------


# the longest string a number rule reads as a number: 300 digits hold no value beyond a
# double's range (about 1.8e308) or below its smallest normal (about 2.2e-308), where
# PostgreSQL's cast raises "out of range"
DECIMAL_TEXT_MAX = 300


# The range of a double's normal values, as exact decimals (a JSON number outside it is no
# number a rule can compare on PostgreSQL).
DOUBLE_MAX = Decimal("1.7976931348623157e308")
DOUBLE_MIN_NORMAL = Decimal("2.2250738585072014e-308")


def _inline(value: str | int) -> Any:
    """A constant written into the statement when it runs, not bound: a condition names its
    attribute's path and types several times (SQLite binds each mention apart), and a campaign
    of 100 segments of 100 conditions must stay below SQLite's 32,766 bind parameters."""
    return literal(value, literal_execute=True)


class _JsonValue:
    """One key of a JSON object column, with typed accessors for the bound dialect."""

    def __init__(self, column_: Any, key: str, postgres: bool) -> None:
        self.postgres = postgres
        if postgres:
            self.element = column_.op("->")(_inline(key))
            self.text = column_.op("->>")(_inline(key))
            self.kind = func.jsonb_typeof(self.element)
        else:
            path = _inline(f'$."{key}"')
            self.element = func.json_extract(column_, path)
            self.text = self.element
            self.kind = func.json_type(column_, path)
            self._column, self._path = column_, path

    def is_type(self, kind: str) -> ColumnElement[bool]:
        if self.postgres:
            return self.kind == _inline(kind)
        names = {
            "string": ("text",),
            "number": ("integer", "real"),
            "boolean": ("true", "false"),
            "array": ("array",),
        }[kind]
        return self.kind.in_([_inline(name) for name in names])

    def number(self) -> Any:
        """The value as a number: a JSON number, or a string holding a plain decimal (a CSV
        import stores every attribute as a string, "42" among them)."""
        if self.postgres:
            as_number = cast(self.text, Float)
            return case(
                (and_(self.is_type("number"), self._double_range()), as_number),
                (self._decimal_string(), as_number),
                else_=None,
            )
        in_range = func.abs(self.element) <= literal(float(DOUBLE_MAX), literal_execute=True)
        return case(
            (and_(self.is_type("number"), in_range), self.element),  # SQLite reads 1e400 as Inf
            (self._decimal_string(), cast(self.text, Float)),
            else_=None,
        )

    def _double_range(self) -> ColumnElement[bool]:
        """A JSON number a double holds (PostgreSQL): jsonb keeps any numeric, and casting
        a 400-digit integer or 1e-400 to a double raises "out of range", which failed every
        rule on the attribute for the whole account. Such a number matches no number rule."""
        exact = func.abs(cast(self.text, Numeric))
        return or_(
            exact == 0,
            exact.between(
                literal(DOUBLE_MIN_NORMAL, Numeric, literal_execute=True),
                literal(DOUBLE_MAX, Numeric, literal_execute=True),
            ),
        )

    def _decimal_string(self) -> ColumnElement[bool]:
        """A string matching ``-?[0-9]+(\\.[0-9]+)?`` of at most ``DECIMAL_TEXT_MAX``
        characters, which PostgreSQL casts to a double without raising: no exponent, no
        ``+``, no spaces, no ``NaN`` or ``Infinity``."""
        text = self.text
        if self.postgres:
            shape = text.op("~")(_inline(r"^-?[0-9]+(\.[0-9]+)?$"))
        else:
            # SQLite has no regular expressions: its GLOB classes check the same shape (a
            # digit first, or '-' and a digit; then digits and at most one '.'; a digit last)
            glob = text.op("GLOB")
            shape = and_(
                or_(glob(_inline("[0-9]*")), glob(_inline("-[0-9]*"))),
                glob(_inline("*[0-9]")),
                not_(func.substr(text, _inline(2)).op("GLOB")(_inline("*[^0-9.]*"))),
                not_(glob(_inline("*.*.*"))),
            )
        short = func.length(text) <= _inline(DECIMAL_TEXT_MAX)
        return and_(self.is_type("string"), short, shape)

    def string(self) -> Any:
        return case((self.is_type("string"), self.text), else_=None)

    def present(self) -> ColumnElement[bool]:
        return self.kind.is_not(None)

    def equals(self, value: Any) -> ColumnElement[bool]:
        if isinstance(value, bool):
            literal_ = "true" if value else "false"
            if self.postgres:
                return and_(self.is_type("boolean"), self.text == literal_)
            return self.kind == literal_
        if isinstance(value, int | float):
            return self.number() == value
        return self.string() == value

    def contains(self, value: Any) -> ColumnElement[bool]:
        if self.postgres:
            in_array = and_(
                self.is_type("array"),
                self.element.op("@>")(cast(literal(_json_list(value)), JSONB)),
            )
        else:
            each = func.json_each(self._column, self._path).table_valued("value")
            in_array = and_(
                self.is_type("array"),
                exists(select(literal(1)).select_from(each).where(column("value") == value)),
            )
        if not isinstance(value, str):
            return in_array
        return or_(in_array, _substring(self.string(), value, postgres=self.postgres))


# SQLite refuses a LIKE pattern over 50,000 bytes ("LIKE or GLOB pattern too complex") when it
# first compares a row; a value stored before the rules' length limits (or its escaped and
# UTF-8 encoded pattern) can pass it, so such a value is looked up with instr().
_SQLITE_LIKE_SAFE = 10_000


def _substring(expr: Any, value: str, *, postgres: bool) -> ColumnElement[bool]:
    """``value`` occurs in ``expr``, ignoring case (as ``contains`` has always compared)."""
    if not postgres and len(value) > _SQLITE_LIKE_SAFE:
        return func.instr(func.lower(expr), value.lower()) > 0
    return func.lower(expr).contains(value.lower(), autoescape=True)


def _json_list(value: Any) -> str:
    return json.dumps([value])


def _one_of(
    expr: Any, values: Sequence[Any], *, postgres: bool, number: bool
) -> ColumnElement[bool]:
    """``expr IN values`` with the whole list as ONE bound parameter (a PostgreSQL array, a
    JSON text walked by SQLite's json_each): a plain ``IN`` binds one parameter per value, and
    a campaign of 100 segments with 5,000 values each would pass PostgreSQL's 65,535 and
    SQLite's 32,766 bind parameters."""
    if postgres:
        array = bindparam(
            None,
            [float(v) for v in values] if number else list(values),
            type_=ARRAY(Float if number else Text),
        )
        return expr == any_(array)
    each = func.json_each(literal(json.dumps(list(values)))).table_valued("value")
    return expr.in_(select(each.c.value))


def _text_condition(expr: Any, op: str, value: Any, *, postgres: bool) -> ColumnElement[bool]:
    if op == "exists":
        return expr.is_not(None) if value is not False else expr.is_(None)
    if op == "equals":
        return expr == value
    if op == "in":
        strings = [v for v in value if isinstance(v, str)]
        return _one_of(expr, strings, postgres=postgres, number=False)
    if op == "contains":
        return _substring(expr, str(value), postgres=postgres)
    comparisons = {
        "gt": expr > value,
        "gte": expr >= value,
        "lt": expr < value,
        "lte": expr <= value,
    }
    return comparisons[op]


def _json_condition(target: _JsonValue, op: str, value: Any) -> ColumnElement[bool]:
    if op == "exists":
        return target.present() if value is not False else not_(target.present())
    if op == "equals":
        return target.equals(value)
    if op == "in":
        return _json_in(target, value)
    if op == "contains":
        return target.contains(value)
    side = target.number() if isinstance(value, int | float) else target.string()
    comparisons = {
        "gt": side > value,
        "gte": side >= value,
        "lt": side < value,
        "lte": side <= value,
    }
    return comparisons[op]


def _json_in(target: _JsonValue, values: list[Any]) -> ColumnElement[bool]:
    """One ``IN`` per JSON type: an ``OR`` per value nests as deep as the list is long, and
    SQLite refuses expression trees deeper than 1,000."""
    strings = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    flags = sorted({v for v in values if isinstance(v, bool)})
    clauses = [target.equals(flag) for flag in flags]
    if strings:
        clauses.append(_one_of(target.string(), strings, postgres=target.postgres, number=False))
    if numbers:
        clauses.append(_one_of(target.number(), numbers, postgres=target.postgres, number=True))
    return or_(false(), *clauses)


_INT64 = range(-(2**63), 2**63)


def _bindable(value: Any) -> Any:
    # numbers are compared as doubles, and neither driver binds an integer beyond 64 bits
    # (SQLite: OverflowError; psycopg: a numeric no double precision compares with)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value


def _normalise(field: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_normalise(field, v) for v in value]
    # emails are stored lowercased
    if field == "email" and isinstance(value, str):
        return value.lower()
    return _bindable(value)


def compile_rules(rules: dict[str, Any], *, postgres: bool) -> ColumnElement[bool]:
    """A WHERE clause over ``messaging_contacts`` for a validated rule tree."""
    if "all" in rules:
        return and_(true(), *(compile_rules(r, postgres=postgres) for r in rules["all"]))
    if "any" in rules:
        return or_(false(), *(compile_rules(r, postgres=postgres) for r in rules["any"]))
    field, op, value = rules["field"], rules["op"], _normalise(rules["field"], rules.get("value"))
    if field in COLUMN_FIELDS:
        return _text_condition(COLUMN_FIELDS[field], op, value, postgres=postgres)
    if field.startswith("address."):
        address = Contact.address[field.split(".", 1)[1]].as_string()
        return _text_condition(address, op, value, postgres=postgres)
    key = field.split(".", 1)[1]
    return _json_condition(_JsonValue(Contact.attributes, key, postgres), op, value)


def segment_condition(session: Session, segment: Segment) -> ColumnElement[bool]:
    """Membership of ``segment`` as a WHERE clause over contacts."""
    if segment.kind == "static":
        return Contact.id.in_(
            select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment.id)
        )
    assert segment.rules is not None
    return compile_rules(segment.rules, postgres=is_postgres(session))


def audience_condition(
    session: Session,
    *,
    account_id: int,
    included: Sequence[Segment],
    excluded: Sequence[Segment],
    channel: str | None,
) -> ColumnElement[bool]:
    """Contacts in any included segment, in no excluded one, reachable on ``channel``."""
    clauses: list[ColumnElement[bool]] = [
        Contact.account_id == account_id,
        or_(false(), *(segment_condition(session, s) for s in included)),
    ]
    if excluded:
        # IS NOT TRUE, not NOT: a rule over a value the contact lacks is NULL, and NOT NULL
        # would leave out every contact that lacks it
        in_excluded = or_(*(segment_condition(session, s) for s in excluded))
        clauses.append(in_excluded.is_not(true()))
    if channel is not None:
        address, status = CHANNEL_STATUS[channel]
        clauses += [address.is_not(None), status == "subscribed"]
    return and_(*clauses)


def count_contacts(session: Session, condition: ColumnElement[bool]) -> int:
    """How many contacts match."""
    return int(session.scalar(select(func.count()).select_from(Contact).where(condition)) or 0)


def sample_contacts(
    session: Session, condition: ColumnElement[bool], *, limit: int
) -> Sequence[Contact]:
    """The first ``limit`` contacts among those matching (oldest first: deterministic)."""
    return session.scalars(
        select(Contact).where(condition).order_by(Contact.created_at, Contact.id).limit(limit)
    ).all()


def incomplete_address_condition() -> ColumnElement[bool]:
    """Contacts whose postal address lacks a required line."""
    missing = [
        func.coalesce(Contact.address[key].as_string(), "") == "" for key in REQUIRED_ADDRESS_KEYS
    ]
    return or_(Contact.address.is_(None), *missing)


# --- segments and reach evaluations ------------------------------------------------------


def get_segment(session: Session, *, account_id: int, segment_id: uuid.UUID) -> Segment | None:
    """The account's segment."""
    return session.scalar(
        select(Segment).where(Segment.id == segment_id, Segment.account_id == account_id)
    )


def segments_by_id(
    session: Session, *, account_id: int, segment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Segment]:
    """The account's segments among ``segment_ids``."""
    if not segment_ids:
        return {}
    rows = session.scalars(
        select(Segment).where(Segment.account_id == account_id, Segment.id.in_(list(segment_ids)))
    )
    return {s.id: s for s in rows}


def list_segments(
    session: Session, *, account_id: int, limit: int, offset: int
) -> tuple[Sequence[Segment], int]:
    """A page of the account's segments, newest first."""
    return fetch_page(
        session,
        select(Segment).where(Segment.account_id == account_id),
        order_by=[Segment.created_at.desc(), Segment.id],
        limit=limit,
        offset=offset,
    )


def add_members(session: Session, segment_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]) -> None:
    """Insert a static segment's members in one executemany."""
    if contact_ids:
        session.execute(
            insert(SegmentMember),
            [{"segment_id": segment_id, "contact_id": c} for c in dict.fromkeys(contact_ids)],
        )


def member_count(session: Session, segment_id: uuid.UUID) -> int:
    """Size of a static segment's list."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment_id)
        )
        or 0
    )


def latest_evaluation(
    session: Session, *, segment_id: uuid.UUID | None = None, campaign_id: uuid.UUID | None = None
) -> tuple[ReachEvaluation | None, ReachEvaluation | None]:
    """The newest completed evaluation and the newest one of any status, for a target."""
    target = (
        ReachEvaluation.segment_id == segment_id
        if segment_id is not None
        else ReachEvaluation.campaign_id == campaign_id
    )
    newest = session.scalar(
        select(ReachEvaluation).where(target).order_by(ReachEvaluation.id.desc()).limit(1)
    )
    done = session.scalar(
        select(ReachEvaluation)
        .where(target, ReachEvaluation.evaluated_at.is_not(None))
        .order_by(ReachEvaluation.evaluated_at.desc(), ReachEvaluation.id.desc())
        .limit(1)
    )
    return done, newest
