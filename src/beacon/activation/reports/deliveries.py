"""Delivery ingestion: rows of an SSP/DSP export, as JSON or CSV.

A batch is all-or-nothing: any invalid row (bad value, unknown deal) rejects the whole batch,
naming the offending lines. Posting a ``batch_id`` again replaces that batch's rows.
"""

from __future__ import annotations

import csv
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.activation.deals import repository as deal_repository
from beacon.activation.models import MICROS, DeliveryBatch, to_micros
from beacon.activation.reports import repository as report_repository
from beacon.activation.reports.schemas import (
    JSON_ROW,
    MAX_BATCH_ID,
    DeliveryReceipt,
    DeliveryRow,
    DeliveryUpload,
)
from beacon.core.csvtext import csv_errors_as_bad_request, csv_source
from beacon.core.errors import (
    BadRequest,
    InvalidValue,
    ValidationFailed,
    field_name,
    quoted,
    value_reason,
)
from beacon.core.jsonbody import parse_model
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow

COLUMNS = ("date", "deal_id", "device", "format", "domain", "geo", "impressions", "clicks", "spend")
MAX_LISTED = 20
Progress = Callable[[int], None]


class LabelledRow(NamedTuple):
    """A row of an upload: ``row N`` (JSON) or ``line N`` (CSV), its values, and whether they
    are JSON values (a count must be a number) rather than CSV text."""

    label: str
    values: dict[str, Any]
    json: bool = False


# The field a strict JSON body's unstorable value (NaN, Infinity, a lone surrogate) is in.
_ROW_FIELD = re.compile(r"rows\[(\d+)\]\.(\w+)")


def upload_from_json(body: bytes) -> DeliveryUpload:
    """A JSON batch; a row's value JSON cannot store (``"spend": NaN``) rejects the batch in the
    words of any other bad row (``row 1: 'spend' ...``), as the same value in a CSV does."""
    try:
        return parse_model(DeliveryUpload, body)
    except ValidationFailed as exc:
        match = _ROW_FIELD.fullmatch(str(exc.details.get("field", "")))
        if match is None:
            raise
        reason = exc.message.partition("': ")[2]
        problem = f"row {int(match[1]) + 1}: '{match[2]}' {reason}"
        raise ValidationFailed(f"Batch rejected, nothing stored: {problem}") from None


def rows_from_json(upload: DeliveryUpload) -> list[LabelledRow]:
    """(``row N``, values) for a JSON batch; rows are numbered from 1."""
    return [LabelledRow(f"row {i}", row, json=True) for i, row in enumerate(upload.rows, start=1)]


def rows_from_csv(text: str) -> list[LabelledRow]:
    """(``line N``, values) for a CSV export with a header row; extra columns are ignored."""
    with csv_errors_as_bad_request():
        return _csv_rows(csv.reader(csv_source(text.lstrip("\ufeff"))))


def _csv_rows(reader: Any) -> list[LabelledRow]:
    header = next(reader, None)
    if header is None:
        raise BadRequest("CSV upload is empty: expected a header row")
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise BadRequest(f"CSV header is missing column(s): {', '.join(missing)}")
    index = {c: names.index(c) for c in COLUMNS}
    rows: list[LabelledRow] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        values = {c: cells[i].strip() if i < len(cells) else "" for c, i in index.items()}
        rows.append(LabelledRow(f"line {reader.line_num}", values))
    if not rows:
        raise BadRequest("CSV upload has a header but no rows")
    return rows


def decode_csv(body: bytes) -> str:
    """The upload as text (UTF-8)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("CSV upload is not UTF-8 text") from None


def file_batch_id(text: str) -> str:
    """The batch id of an uploaded file stored without one: a hash of its text, so the same file
    stored again (a double-clicked Store, an export uploaded twice) replaces its rows instead of
    counting them twice, while another file is another batch. The text is read as a CSV reader
    reads it: without a byte order mark, with LF line breaks (a browser sends a textarea's text
    with CRLF, the command line reads the file as saved) and no trailing blank lines, so a file
    stored from the console and from ``beacon ingest-deliveries`` is one batch."""
    canonical = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    canonical = canonical.rstrip("\n") + "\n"
    return "file-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _listed(problems: list[str]) -> str:
    more = len(problems) - MAX_LISTED
    return "; ".join(problems[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class RowCheck:
    """One row of an upload as checked: its values, and what is wrong with it (None: fine)."""

    label: str
    values: dict[str, Any]
    row: DeliveryRow | None
    problem: str | None


def check_rows(
    *, session: Session, account_id: int, rows: list[LabelledRow], progress: Progress | None = None
) -> list[RowCheck]:
    """Parse every row and check its deal belongs to the account; nothing is stored. Each row
    carries its first problem (an invalid value, else an unknown deal)."""
    checked: list[RowCheck] = []
    for label, values, json in rows:
        context = JSON_ROW if json else None
        try:
            row = DeliveryRow.model_validate(values, context=context)
            checked.append(RowCheck(label, values, row, None))
        except ValidationError as exc:
            error = exc.errors()[0]
            reason = value_reason(error)
            checked.append(
                RowCheck(label, values, None, f"{quoted(field_name(error['loc']))} {reason}")
            )
        if progress is not None:
            progress(1)
    known = deal_repository.issued_deal_ids(
        session, account_id=account_id, among={c.row.deal_id for c in checked if c.row}
    )
    return [
        RowCheck(c.label, c.values, c.row, f"unknown deal_id {quoted(c.row.deal_id)}")
        if c.row is not None and c.row.deal_id not in known
        else c
        for c in checked
    ]


def validate_rows(
    *, session: Session, account_id: int, rows: list[LabelledRow], progress: Progress | None = None
) -> list[DeliveryRow]:
    """Parse every row and check its deal belongs to the account; one 422 lists every bad line
    (invalid values first, then unknown deals)."""
    checked = check_rows(session=session, account_id=account_id, rows=rows, progress=progress)
    problems = [f"{c.label}: {c.problem}" for c in checked if c.row is None and c.problem]
    unknown: dict[str, list[str]] = {}
    for c in checked:
        if c.row is not None and c.problem:
            unknown.setdefault(c.row.deal_id, []).append(c.label)
    problems += [
        f"unknown deal_id {quoted(deal)} on {', '.join(labels)}" for deal, labels in unknown.items()
    ]
    if problems:
        raise ValidationFailed(f"Batch rejected, nothing stored: {_listed(problems)}")
    return [c.row for c in checked if c.row is not None]


def _batch(session: Session, *, account_id: int, batch_id: str) -> tuple[DeliveryBatch, int]:
    batch = report_repository.batch_for_update(session, account_id=account_id, batch_id=batch_id)
    if batch is not None:
        return batch, batch.row_count
    try:
        with session.begin_nested():
            batch = DeliveryBatch(account_id=account_id, batch_id=batch_id, row_count=0)
            session.add(batch)
    except IntegrityError:
        # Another request created the same batch first; wait for it, then replace its rows.
        batch = report_repository.batch_for_update(
            session, account_id=account_id, batch_id=batch_id
        )
        assert batch is not None
        return batch, batch.row_count
    return batch, 0


def ingest(
    *,
    session: Session,
    account_id: int,
    batch_id: str | None,
    rows: list[LabelledRow],
    progress: Progress | None = None,
    role: Role | str = CREDENTIAL_ROLE,
) -> DeliveryReceipt:
    """Validate and store one batch (replacing an earlier post of the same ``batch_id``)."""
    require(role, Action.run_reports)
    if batch_id is not None and not batch_id.strip():
        # a CSV's ?batch_id= (the JSON body's is checked by its schema)
        raise InvalidValue("batch_id", "must not be blank")
    if batch_id is not None and len(batch_id.strip()) > MAX_BATCH_ID:
        # the CLI's --batch-id (the API's are bounded by the schema and the query): the column
        raise InvalidValue("batch_id", f"must be at most {MAX_BATCH_ID} characters long")
    parsed = validate_rows(session=session, account_id=account_id, rows=rows, progress=progress)
    key = batch_id.strip() if batch_id else secrets.token_hex(8)
    batch, replaced = _batch(session, account_id=account_id, batch_id=key)
    report_repository.clear_batch(session, batch_pk=batch.id)
    spend_micros = 0
    records: list[dict[str, Any]] = []
    for row in parsed:
        micros = to_micros(row.spend)
        spend_micros += micros
        records.append(
            {
                "account_id": account_id,
                "batch_pk": batch.id,
                "deal_id": row.deal_id,
                "date": row.date,
                "device": row.device,
                "format": row.format,
                "domain": row.domain.lower(),
                "geo": row.geo,
                "impressions": row.impressions,
                "clicks": row.clicks,
                "spend_micros": micros,
            }
        )
    report_repository.add_deliveries(session, records)
    batch.row_count = len(records)
    batch.received_date = utcnow()
    session.flush()
    return DeliveryReceipt(
        batch_id=key,
        rows=len(records),
        replaced_rows=replaced,
        impressions=sum(r.impressions for r in parsed),
        clicks=sum(r.clicks for r in parsed),
        spend=float(Decimal(spend_micros) / MICROS),
    )
