"""The life of an execution: start (snapshot the audience, cut batches), stop on cancel or on
failure, and close when every recipient row is sent or failed.

Rules, all derived from the recipient rows:
- ``completed``: every row is sent or failed;
- ``cancelled``: a cancel request stopped it (rows not yet handed over fail with reason
  ``cancelled``; what was sent stays sent);
- ``failed``: the execution itself could not run (campaign or template unusable, provider
  unreachable beyond the retry budget); the rows not yet handed over fail with that reason.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import Session

from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.audiences import segments
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.delivery import repository as repo
from beacon.messaging.models import Campaign, Execution, Template

log = logging.getLogger("beacon.messaging.engine")


def snapshot_condition(session: Session, campaign: Campaign) -> Any:
    """Contacts in an included segment, in no excluded one, subscribed on the channel.

    Contacts lacking the channel's address are kept: they fail at ``hydrated`` with a reason,
    so the run shows who could not be reached and why.
    """
    condition = segments.campaign_audience_condition(
        session=session, campaign=campaign, with_address=False
    )
    status_column = audience_repository.CHANNEL_STATUS[campaign.channel][1]
    return and_(condition, status_column == "subscribed")


def _unusable(campaign: Campaign | None, template: Template | None) -> str | None:
    if campaign is None or campaign.status != "published":
        state = campaign.status if campaign else "deleted"
        return f"the campaign is {state}, not published"
    if template is None:
        return "the campaign has no template"
    if template.status != "published":
        return f"template '{template.name}' is not published"
    if template.channel != campaign.channel:
        return f"template '{template.name}' is for {template.channel}, not {campaign.channel}"
    return None


def start_execution(
    *, session: Session, execution: Execution, now: datetime, batch_size: int
) -> str | None:
    """Start a due execution: snapshot its audience into recipient rows and cut batches.

    Returns the execution's new status, or None when it must wait (another run of the same
    campaign is in progress, or someone else started it).
    """
    if repo.campaign_is_running(session, campaign_id=execution.campaign_id):
        return None
    campaign = session.get(Campaign, execution.campaign_id)
    template_id = campaign.template_id if campaign else None
    template = session.get(Template, template_id) if template_id else None
    content = template.content if template else None
    if not repo.claim_start(session, execution_id=execution.id, now=now, content=content):
        return None
    problem = _unusable(campaign, template)
    if problem is not None or campaign is None:
        fail_execution(session=session, execution_id=execution.id, reason=problem or "", now=now)
        return "failed"
    rows = repo.snapshot(
        session,
        execution_id=execution.id,
        condition=snapshot_condition(session, campaign),
        now=now,
    )
    repo.create_batches(session, execution_id=execution.id, size=batch_size, now=now)
    log.info(
        "execution started",
        extra={"execution_id": str(execution.id), "recipients": rows},
    )
    if rows == 0:
        return finish_if_done(session=session, execution_id=execution.id, now=now)
    return "running"


def record_start_failure(
    *, session: Session, execution_id: uuid.UUID, error: str, max_attempts: int, now: datetime
) -> None:
    """A start raised: count the attempt; after ``max_attempts`` the execution fails."""
    execution = session.get(Execution, execution_id)
    if execution is None or execution.status != "scheduled":
        return
    execution.attempts += 1
    execution.error = error
    execution.updated_at = now
    if execution.attempts >= max_attempts:
        execution.status = "failed"
        execution.completed_at = now
        log.warning("execution failed to start", extra={"execution_id": str(execution_id)})


def finish_if_done(*, session: Session, execution_id: uuid.UUID, now: datetime) -> str | None:
    """Close a running execution whose rows are all sent or failed; its new status or None."""
    if recipients.has_unfinished(session, execution_id=execution_id):
        return None
    stopped = recipients.has_cancelled_rows(session, execution_id=execution_id)
    status = "cancelled" if stopped else "completed"
    if repo.close_execution(session, execution_id=execution_id, status=status, now=now):
        log.info("execution finished", extra={"execution_id": str(execution_id), "status": status})
        return status
    return None


def fail_execution(
    *, session: Session, execution_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """The execution cannot run: it fails, and so does every row not yet handed over.

    Rows in flight (``injected``) are left to the worker that holds them, which records the
    provider's answer.
    """
    recipients.fail_unfinished(session, execution_id=execution_id, reason=reason, now=now)
    repo.close_pending_batches(session, execution_id=execution_id, now=now)
    repo.close_execution(session, execution_id=execution_id, status="failed", now=now, error=reason)
    log.warning("execution failed", extra={"execution_id": str(execution_id), "reason": reason})


def apply_cancel(*, session: Session, execution_id: uuid.UUID, now: datetime) -> None:
    """Honour a cancel request at a batch boundary: rows not yet handed over fail with reason
    ``cancelled`` and unstarted batches are retired; what was sent stays sent."""
    recipients.fail_unfinished(
        session, execution_id=execution_id, reason=recipients.CANCELLED, now=now
    )
    repo.close_pending_batches(session, execution_id=execution_id, now=now)
    finish_if_done(session=session, execution_id=execution_id, now=now)


def sweep(*, session: Session, execution: Execution, now: datetime) -> str | None:
    """Close a running execution that nobody is working on any more.

    That happens when a batch was given up on after its attempts (a worker kept dying on it)
    or when a worker died between its last row and closing the execution.
    """
    if execution.cancel_requested_at is not None:
        apply_cancel(session=session, execution_id=execution.id, now=now)
    if repo.open_batches(session, execution_id=execution.id):
        return None
    if recipients.has_unfinished(session, execution_id=execution.id):
        error = repo.last_batch_error(session, execution_id=execution.id) or "worker lost"
        recipients.fail_unfinished(
            session,
            execution_id=execution.id,
            reason=f"batch abandoned: {error}",
            now=now,
            stages=recipients.NOT_HANDED_OVER,
        )
        recipients.fail_unfinished(
            session,
            execution_id=execution.id,
            reason=recipients.UNKNOWN_AFTER_CRASH,
            now=now,
            stages=("injected",),
        )
    return finish_if_done(session=session, execution_id=execution.id, now=now)
