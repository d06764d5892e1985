"""Contacts: batch upsert by externalId or email (set-based), CSV import, listing."""

from __future__ import annotations

import csv
import io
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.core.csvtext import csv_errors_as_bad_request, csv_source, spreadsheet_safe
from beacon.core.errors import (
    APIError,
    BadRequest,
    InvalidValue,
    ValidationFailed,
    error_from_validation,
    not_found,
    quoted,
)
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow
from beacon.messaging.audience_schemas import (
    MAX_CONTACTS,
    ContactIn,
    ContactOut,
    SubscriptionsOut,
    UpsertResult,
)
from beacon.messaging.audiences import repository as repo
from beacon.messaging.errors import conflict
from beacon.messaging.models import Contact

_STATUS_COLUMNS = {
    "email": "email_status",
    "sms": "sms_status",
    "direct_mail": "direct_mail_status",
}


def _keys(contact: ContactIn) -> list[tuple[str, str]]:
    """What identifies a contact: its externalId and its email. Two entries of one request
    sharing either are one contact twice (or two contacts claiming one email)."""
    keys = [("externalId", contact.external_id)] if contact.external_id else []
    return keys + ([("email", contact.email)] if contact.email else [])


def _repeated(contact: ContactIn, seen: dict[tuple[str, str], int]) -> tuple[str, int] | None:
    """(the key's name, where it was first seen) when ``contact`` repeats an earlier one."""
    return next(((key[0], seen[key]) for key in _keys(contact) if key in seen), None)


def _check_duplicates(contacts: Sequence[ContactIn]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, contact in enumerate(contacts):
        repeated = _repeated(contact, seen)
        if repeated is not None:
            raise _same_contact(index, f"same {repeated[0]} as contacts[{repeated[1]}]")
        seen.update(dict.fromkeys(_keys(contact), index))


def _same_contact(index: int, why: str) -> InvalidValue:
    return InvalidValue(f"contacts[{index}]", why)


def _changes(contact: ContactIn) -> dict[str, Any]:
    """Columns the input sets (absent fields leave an existing contact unchanged)."""
    values: dict[str, Any] = {}
    for name in ("external_id", "email", "phone", "first_name", "last_name"):
        if name in contact.model_fields_set:
            values[name] = getattr(contact, name)
    if "address" in contact.model_fields_set:
        values["address"] = (
            contact.address.model_dump(by_alias=True, exclude_none=True)
            if contact.address
            else None
        )
    if contact.subscriptions is not None:
        for channel, column in _STATUS_COLUMNS.items():
            status = getattr(contact.subscriptions, channel)
            if status is not None:
                values[column] = status
    return values


def _match(
    contact: ContactIn, by_external: dict[str, dict[str, Any]], by_email: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    if contact.external_id and contact.external_id in by_external:
        return by_external[contact.external_id]
    if contact.email and contact.email in by_email:
        owner = by_email[contact.email]
        if contact.external_id and owner["external_id"] not in (None, contact.external_id):
            raise _taken(contact.email, owner)
        return owner
    return None


def _taken(email: str, owner: dict[str, Any]) -> Exception:
    """409: ``email`` is another stored contact's (emails are unique in an account)."""
    who = f"with externalId {owner['external_id']}" if owner["external_id"] else owner["id"]
    return conflict(f"Email {email} belongs to the contact {who}", email=email)


def upsert_contacts(
    *,
    session: Session,
    account_id: int,
    contacts: Sequence[ContactIn],
    role: Role | str = CREDENTIAL_ROLE,
) -> UpsertResult:
    """Create or update contacts matched by externalId, else email, in a few set-based statements."""
    require(role, Action.manage_campaigns)
    _check_duplicates(contacts)
    existing = repo.find_contacts(
        session,
        account_id=account_id,
        external_ids=[c.external_id for c in contacts if c.external_id],
        emails=[c.email for c in contacts if c.email],
    )
    by_external = {row["external_id"]: row for row in existing if row["external_id"]}
    by_email = {row["email"]: row for row in existing if row["email"]}
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: dict[uuid.UUID, dict[str, Any]] = {}
    ids: list[uuid.UUID] = []
    for index, contact in enumerate(contacts):
        current = _match(contact, by_external, by_email)
        changes = _changes(contact)
        if current is None:
            row = {
                "id": uuid.uuid4(),
                "account_id": account_id,
                "external_id": None,
                "email": None,
                "phone": None,
                "first_name": None,
                "last_name": None,
                "address": None,
                "attributes": contact.attributes or {},
                "email_status": "subscribed",
                "sms_status": "subscribed",
                "direct_mail_status": "subscribed",
                "unsubscribe_token": secrets.token_urlsafe(24),
                "created_at": now,
                "updated_at": now,
                **changes,
            }
            inserts.append(row)
            ids.append(row["id"])
            continue
        owner = by_email.get(contact.email) if contact.email else None
        if owner is not None and owner["id"] != current["id"]:
            # matched by externalId, given another contact's email: the upsert broke the
            # unique index and the answer asked to retry, which never succeeds (unless an
            # earlier entry moved that contact to another email)
            moved = updates.get(owner["id"])
            if moved is None or moved["email"] == contact.email:
                raise _taken(contact.email or "", owner)
        if current["id"] in updates:  # matched by the other key than an earlier entry
            first = ids.index(current["id"])
            raise _same_contact(index, f"the same contact as contacts[{first}]")
        row = dict(current)
        row.update(changes)
        row["attributes"] = {**(current["attributes"] or {}), **(contact.attributes or {})}
        row["updated_at"] = now
        updates[current["id"]] = row
        ids.append(current["id"])
    try:
        repo.upsert_contacts(session, [*inserts, *updates.values()])
    except IntegrityError:
        raise conflict(
            "Another request changed these contacts at the same time, or an email is used twice; retry"
        ) from None
    return UpsertResult(created=len(inserts), updated=len(updates), ids=ids)


_CSV_COLUMNS = {"externalId", "email", "phone", "firstName", "lastName"}


def parse_csv(text: str) -> list[ContactIn]:
    """Contacts from CSV: columns externalId, email, phone, firstName, lastName, address.<part>,
    subscriptions.<channel> and attributes.<name> (attribute values are strings)."""
    with csv_errors_as_bad_request():
        return _parse_csv(csv.DictReader(csv_source(text)))


@dataclass(frozen=True)
class Reject:
    """A CSV row left out of an import: its line number, why, and its cells as read."""

    line: int
    message: str
    values: tuple[str, ...] = ()


# The contact fields a CSV column can fill (``parse_csv``'s column names), for a column mapping
CSV_FIELDS = (
    "email",
    "phone",
    "firstName",
    "lastName",
    "externalId",
    *(f"address.{key}" for key in ("line1", "line2", "city", "region", "postalCode", "country")),
    *(f"subscriptions.{channel}" for channel in _STATUS_COLUMNS),
)
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_HEADER_ALIASES = {
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "cell": "phone",
    "tel": "phone",
    "telephone": "phone",
    "firstname": "firstName",
    "first": "firstName",
    "givenname": "firstName",
    "forename": "firstName",
    "lastname": "lastName",
    "last": "lastName",
    "surname": "lastName",
    "familyname": "lastName",
    "externalid": "externalId",
    "id": "externalId",
    "customerid": "externalId",
    "userid": "externalId",
    "address": "address.line1",
    "street": "address.line1",
    "line1": "address.line1",
    "address1": "address.line1",
    "line2": "address.line2",
    "address2": "address.line2",
    "city": "address.city",
    "town": "address.city",
    "region": "address.region",
    "state": "address.region",
    "province": "address.region",
    "postalcode": "address.postalCode",
    "postcode": "address.postalCode",
    "zip": "address.postalCode",
    "zipcode": "address.postalCode",
    "country": "address.country",
}


def guess_column(header: str) -> str | None:
    """The contact field a CSV column header most likely names: a ``parse_csv`` column name
    as is, a common alias (``E-mail``, ``Surname``, ``Zip``), else ``attributes.<header>``;
    None for a header that cannot be an attribute key."""
    name = header.strip()
    if name in CSV_FIELDS or (name.startswith("attributes.") and _ATTRIBUTE_KEY.match(name[11:])):
        return name
    alias = _HEADER_ALIASES.get(re.sub(r"[^a-z0-9]", "", name.lower()))
    if alias is not None:
        return alias
    key = re.sub(r"[^A-Za-z0-9_\-]+", "_", name).strip("_")[:64]
    return f"attributes.{key}" if key else None


def check_columns(columns: Sequence[str | None]) -> None:
    """Refuse a column mapping that names an unknown field, fills one field twice, or has
    neither an email nor an externalId column (400 naming the problem)."""
    named = [c for c in columns if c]
    for name in named:
        if name not in CSV_FIELDS and not (
            name.startswith("attributes.") and _ATTRIBUTE_KEY.match(name[11:])
        ):
            raise BadRequest(f"Unknown contact field {quoted(name)}")
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:
        raise BadRequest(f"More than one column fills {', '.join(twice)}")
    if "email" not in named and "externalId" not in named:
        raise BadRequest("Map a column to email or externalId: contacts are matched by them")


# What the console's import reads between columns: Excel writes "CSV" with semicolons in
# locales whose decimal separator is a comma, and "Unicode text" with tabs.
CONSOLE_DELIMITERS = ";\t"
_SNIFF_SAMPLE = 64 * 1024


def csv_delimiter(text: str) -> str:
    """The console import's column separator: ',' unless the header row read with commas is
    one column and ``csv.Sniffer`` finds a semicolon or a tab separating it. (The API's
    ``parse_csv`` reads commas only.)"""
    sample = text[:_SNIFF_SAMPLE]
    try:
        header = next(csv.reader(csv_source(sample)), [])
        if len(header) != 1:
            return ","
        found = csv.Sniffer().sniff(sample, delimiters=CONSOLE_DELIMITERS).delimiter
    except (csv.Error, ValidationFailed):
        return ","
    return found if found in header[0] else ","


def preview_csv(
    text: str, *, rows: int, delimiter: str = ","
) -> tuple[list[str], list[list[str]], int]:
    """The CSV's header, its first ``rows`` data rows and how many data rows it has."""
    with csv_errors_as_bad_request():
        reader = csv.reader(csv_source(text), delimiter=delimiter)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise BadRequest("The CSV has no header row")
        first: list[list[str]] = []
        total = 0
        for row in reader:
            if not row:
                continue
            total += 1
            if len(first) < rows:
                first.append(row)
    if not total:
        raise BadRequest("The CSV has no data rows")
    return header, first, total


def check_csv_rows(
    text: str, *, columns: Sequence[str | None] | None = None, delimiter: str = ","
) -> tuple[list[ContactIn], list[Reject]]:
    """The CSV's valid contacts and its rejected rows with their reasons; nothing is stored.
    ``columns`` names the contact field each position fills (None: left out); without it the
    header row must use ``parse_csv``'s column names. A bad header or mapping, an empty file
    or more than MAX_CONTACTS rows raise."""
    good: list[ContactIn] = []
    rejects: list[Reject] = []
    seen: dict[tuple[str, str], int] = {}
    with csv_errors_as_bad_request():
        reader = csv.reader(csv_source(text), delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise BadRequest("The CSV has no header row")
        if columns is None:
            _check_names(header)
            names: Sequence[str | None] = header
        else:
            check_columns(columns)
            names = columns
        for row in reader:
            if not row:
                continue
            number = reader.line_num
            if len(good) + len(rejects) >= MAX_CONTACTS:
                raise ValidationFailed(f"The CSV has more than {MAX_CONTACTS} rows")
            record = {name: value for name, value in zip(names, row, strict=False) if name}
            try:
                _check_row_width(number, row[len(names) :])
                contact = _csv_contact(number, record)
            except APIError as exc:
                rejects.append(Reject(number, exc.message, tuple(row)))
                continue
            repeated = _repeated(contact, seen)
            if repeated is not None:
                why = f"same {repeated[0]} as line {repeated[1]}"
                rejects.append(Reject(number, why, tuple(row)))
                continue
            seen.update(dict.fromkeys(_keys(contact), number))
            good.append(contact)
    if not good and not rejects:
        raise BadRequest("The CSV has no data rows")
    return good, rejects


def import_csv_rows(
    *,
    session: Session,
    account_id: int,
    text: str,
    role: Role | str = CREDENTIAL_ROLE,
    columns: Sequence[str | None] | None = None,
    delimiter: str = ",",
) -> tuple[UpsertResult | None, list[Reject]]:
    """Import the CSV's valid rows (``check_csv_rows``, then ``upsert_contacts``) and return
    the rejected rows with their reasons (the console's import; the API's
    ``/contacts/import`` refuses the whole file instead)."""
    require(role, Action.manage_campaigns)
    good, rejects = check_csv_rows(text, columns=columns, delimiter=delimiter)
    if not good:
        return None, rejects
    result = upsert_contacts(session=session, account_id=account_id, contacts=good, role=role)
    return result, rejects


def rejects_csv(header: Sequence[str], rejects: Sequence[Reject]) -> str:
    """The rejected rows as CSV: line, reason, then the row's own columns; every cell made
    plain text to a spreadsheet (``spreadsheet_safe``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(c) for c in ("line", "reason", *header)])
    for reject in rejects:
        writer.writerow(
            [str(reject.line), *(spreadsheet_safe(c) for c in (reject.message, *reject.values))]
        )
    return out.getvalue()


def _check_header(reader: csv.DictReader[str]) -> None:
    if not reader.fieldnames:
        raise BadRequest("The CSV has no header row")
    _check_names(reader.fieldnames)


def _check_names(names: Sequence[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # a second column of one name would silently replace the first's values
        raise BadRequest(f"The CSV names column {quoted(repeated[0])} more than once")
    for name in names:
        if not (
            name in _CSV_COLUMNS
            or (name.split(".", 1)[0] in ("address", "subscriptions", "attributes") and "." in name)
        ):
            raise BadRequest(f"Unknown CSV column {quoted(name)}")


def _parse_csv(reader: csv.DictReader[str]) -> list[ContactIn]:
    _check_header(reader)
    contacts: list[ContactIn] = []
    for record in reader:
        number = reader.line_num  # the file's line (blank lines and quoted line breaks count)
        if len(contacts) >= MAX_CONTACTS:
            raise ValidationFailed(f"The CSV has more than {MAX_CONTACTS} rows")
        _check_row_width(number, record.pop(None, None) or [])  # DictReader's extra cells
        contacts.append(_csv_contact(number, record))
    if not contacts:
        raise BadRequest("The CSV has no data rows")
    return contacts


def _check_row_width(line: int, extra: Sequence[str]) -> None:
    """A row with filled cells beyond the header is misaligned (most often a comma left
    unquoted inside a value): which cell belongs to which column cannot be known."""
    filled = [cell for cell in extra if cell.strip()]
    if filled:
        raise InvalidValue(
            f"line {line}",
            f"{len(filled)} more filled cell(s) than the header has columns "
            "(a comma inside a value must be quoted)",
        )


def _csv_contact(line: int, record: dict[str, Any]) -> ContactIn:
    wire: dict[str, Any] = {}
    for column, value in record.items():
        if column is None or value is None or value == "":
            continue
        if "." in column:
            group, key = column.split(".", 1)
            wire.setdefault(group, {})[key] = value
        else:
            wire[column] = value
    try:
        return ContactIn.model_validate(wire)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", f"line {line}", *e["loc"])} for e in exc.errors()]
        raise error_from_validation(errors) from None


def list_contacts(
    *, session: Session, account_id: int, limit: int, offset: int, search: str = ""
) -> tuple[list[ContactOut], int]:
    """A page of the account's contacts (``search``: part of an email, phone, external id or
    name, any case)."""
    items, total = repo.list_contacts(
        session, account_id=account_id, limit=limit, offset=offset, search=search
    )
    return [contact_out(c) for c in items], total


def get_contact(*, session: Session, account_id: int, contact_id: uuid.UUID) -> Contact:
    """The account's contact or 404."""
    contact = repo.get_contact(session, account_id=account_id, contact_id=contact_id)
    if contact is None:
        raise not_found("Contact", contact_id)
    return contact


def set_subscription(
    *,
    session: Session,
    account_id: int,
    contact_id: uuid.UUID,
    channel: str,
    status: str,
    role: Role | str = CREDENTIAL_ROLE,
) -> Contact:
    """Subscribe or unsubscribe a contact on one channel."""
    require(role, Action.manage_campaigns)
    if channel not in _STATUS_COLUMNS:
        raise InvalidValue("channel", f"use one of {', '.join(_STATUS_COLUMNS)}")
    if status not in ("subscribed", "unsubscribed"):
        raise InvalidValue("status", "use subscribed or unsubscribed")
    contact = get_contact(session=session, account_id=account_id, contact_id=contact_id)
    setattr(contact, _STATUS_COLUMNS[channel], status)
    contact.updated_at = utcnow()
    session.flush()
    return contact


def contact_out(contact: Contact) -> ContactOut:
    """The wire form of a contact."""
    return ContactOut(
        id=contact.id,
        external_id=contact.external_id,
        email=contact.email,
        phone=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        address=contact.address,
        attributes=contact.attributes or {},
        subscriptions=SubscriptionsOut(
            email=contact.email_status,
            sms=contact.sms_status,
            direct_mail=contact.direct_mail_status,
        ),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


def email_status_by_unsubscribe_token(*, session: Session, token: str) -> str | None:
    """The email status of the contact an unsubscribe link names, changing nothing; None for
    unknown links."""
    contact = repo.contact_by_unsubscribe_token(session, token)
    return None if contact is None else contact.email_status


def unsubscribe(*, session: Session, token: str) -> bool:
    """Unsubscribe the contact an email's unsubscribe link names; False for unknown links."""
    contact = repo.contact_by_unsubscribe_token(session, token)
    if contact is None:
        return False
    contact.email_status = "unsubscribed"
    contact.updated_at = utcnow()
    return True
