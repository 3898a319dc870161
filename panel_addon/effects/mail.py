"""The client's mails: rendered from mail_templates/, sent in batches over one connection."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import select

from .. import mailer, outbox
from .. import site_check as checks
from ..clock import now as clock_now
from ..domain import lifecycle, mail_copies
from ..domain.states import MAIL_WANTED, BackupState, State
from ..domain.trail import SYSTEM, add_event
from ..formatting import format_datetime, format_duration
from ..mail import MailSession, Message
from ..models import Intervention, Task, db
from ..tokens import link_url

log = logging.getLogger(__name__)


def mail_context(intervention: Intervention, language: str, now: datetime) -> dict[str, Any]:
    """Everything a mail template may show about an intervention, formatted for the reader."""
    config = current_app.config
    tz, default_tz = intervention.client.timezone, config["DEFAULT_TIMEZONE"]

    def when(moment: datetime | None) -> str | None:
        return format_datetime(moment, language, tz, default_tz) if moment else None

    deadline, backup_expires = intervention.deadline_at, intervention.backup_expires_at
    if intervention.state == State.AWAITING_VALIDATION and intervention.window_opened_at is None:
        # The validation request itself: the window opens when the mail server accepts
        # this message, so its deadline is at the earliest a window from now.
        deadline = now + config["VALIDATION_WINDOW"]
        if intervention.backup_state == BackupState.KEPT:
            backup_expires = now + config["BACKUP_RETENTION"]
    left = deadline - now if deadline else None
    return {
        "company_name": config["COMPANY_NAME"],
        "support_url": config.get("SUPPORT_URL"),
        "signature": config.get("MAIL_SIGNATURE"),
        "client_name": intervention.client.name,
        "site": intervention.site,
        "technician": intervention.technician,
        "summary": intervention.summary,
        "ticket_id": intervention.ticket_id,
        "panel_id": intervention.panel_id,
        "deadline": when(deadline),
        "window": format_duration(config["VALIDATION_WINDOW"], language),
        "validate_url": link_url(intervention, "validate"),
        "report_url": link_url(intervention, "report"),
        "backup_reference": intervention.backup_reference,
        "backup_state": intervention.backup_state,
        "backup_expires": (
            when(backup_expires) if intervention.backup_state != BackupState.NONE else None
        ),
        "retention": format_duration(config["BACKUP_RETENTION"], language),
        # A reminder sent late (after an outage) never counts down past the deadline.
        "time_left": (
            format_duration(_round_left(left), language) if left and left > timedelta() else None
        ),
        # The same, as a count the templates word naturally ("only one minute left").
        "left_minutes": (
            int(_round_left(left).total_seconds() // 60) if left and left > timedelta() else None
        ),
        "report_message": intervention.report_message,
        "restore_requested": intervention.restore_requested,
        "late_report": intervention.late_report,
        "decided_at": when(intervention.decided_at),
        "site_checks": checks.client_lines(intervention, language),
    }


def _round_left(left: timedelta) -> timedelta:
    minutes = max(int(left.total_seconds() // 60), 1)
    if minutes >= 120:
        return timedelta(hours=round(minutes / 60))
    return timedelta(minutes=minutes)


def build_message(
    intervention: Intervention, template: str, now: datetime, message_id: str
) -> Message:
    language = intervention.client.language or current_app.config["DEFAULT_LANGUAGE"]
    rendered = mailer.render(
        template,
        language,
        mail_context(intervention, language, now),
        current_app.config.get("MAIL_TEMPLATES_DIR"),
    )
    return Message(
        to=intervention.client.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
    )


@dataclass(frozen=True)
class _Mail:
    """A claimed mail task, ready to send: what the batch needs once the rows expire."""

    task_id: int
    attempts: int
    intervention_id: int
    template: str
    message: Message
    payload: dict[str, Any]


def send_batch(batch: list[Task], lease: outbox.Lease, now: datetime) -> None:
    """Send a batch of mails over one SMTP connection; each outcome is committed at once.

    A mail no longer wanted (states.MAIL_WANTED: a reminder to a client who answered)
    is skipped. A refused recipient fails for good; an SMTP server that cannot be
    reached leaves the unsent mails to be retried with backoff.
    """
    ids = {task.intervention_id for task in batch if task.intervention_id is not None}
    # One query for the batch's interventions, fresh, for the "still wanted" check.
    interventions = {
        intervention.id: intervention
        for intervention in db.session.scalars(
            select(Intervention)
            .where(Intervention.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    wanted: list[_Mail] = []
    for task in batch:
        intervention = interventions.get(task.intervention_id or 0)
        template = task.payload.get("template", "")
        if intervention is None or intervention.state not in MAIL_WANTED.get(template, ()):
            outbox.mark_skipped(task.id, now, "no longer wanted")
            continue
        try:
            message = build_message(intervention, template, now, _message_id(task))
        except Exception as exc:  # noqa: BLE001 - a broken template must not stop the batch
            log.exception("mail %s for task %s could not be rendered", template, task.id)
            error = f"rendering failed: {type(exc).__name__}"
            outbox.mark_retry(task.id, task.attempts, now, error)
            continue
        wanted.append(
            _Mail(task.id, task.attempts, intervention.id, template, message, dict(task.payload))
        )
    db.session.commit()
    unsent = list(wanted)
    try:
        with MailSession() as session:
            for mail in wanted:
                if not lease.held():
                    # A slow relay ate the lease: leave the rest to whoever takes over.
                    break
                _send_one(session, mail)
                unsent.remove(mail)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        # The connection failed (refused, timeout, 4xx at connect): retry the unsent ones.
        db.session.rollback()
        for mail in unsent:
            error = f"SMTP unavailable: {_smtp_error(exc)}"
            outbox.mark_retry(mail.task_id, mail.attempts, clock_now(), error)
        db.session.commit()


def _message_id(task: Task) -> str:
    """The same Message-ID for every attempt at one task's mail.

    Should a mail go out twice (the server took it but its answer was lost, or the worker
    died before recording the send), the copies share their Message-ID, by which mail
    services such as Gmail show only one.
    """
    domain = parseaddr(str(current_app.config["MAIL_DEFAULT_SENDER"]))[1].rpartition("@")[2]
    return f"<signoff.task-{task.id}.{task.created_at:%Y%m%d%H%M%S%f}@{domain or 'localhost'}>"


def _send_one(session: MailSession, mail: _Mail) -> None:
    now = clock_now()
    message = mail.message
    refused = None
    try:
        sent = session.send(message, name=f"{now:%Y%m%d-%H%M%S}-{mail.task_id}-{mail.template}")
    except smtplib.SMTPRecipientsRefused as exc:
        if not all(500 <= code < 600 for code, _reply in exc.recipients.values()):
            raise  # a 4xx is the server's "later": the batch's unsent mails are retried
        refused = f"recipient refused: {_smtp_error(exc)}", _smtp_error(exc)
    except smtplib.SMTPSenderRefused:
        # The relay refuses our sender (STARTTLS required, sender not allowed): the
        # operator's setting to fix, not the client's mail to give up on.
        raise
    except smtplib.SMTPResponseException as exc:
        if not 500 <= exc.smtp_code < 600:
            raise
        refused = f"refused by SMTP: {_smtp_error(exc)}", _smtp_error(exc)
    except ValueError as exc:
        # The message itself cannot be sent (an address with a line break in it): no retry
        # can help, and it must not hold up the rest of the batch.
        refused = f"message refused before sending: {type(exc).__name__}", type(exc).__name__
    # The event first: it locks the intervention's row before the task's, the order a
    # client's click takes them in (lifecycle moves, then cancels tasks), so the two
    # never wait on each other.
    if refused is None:
        add_event(
            mail.intervention_id,
            SYSTEM,
            "mail_sent",
            now,
            template=mail.template,
            message_id=sent.message_id,
            to=message.to,
            sha256=sent.sha256,
            smtp_reply=sent.reply,
        )
        mail_copies.keep(mail.intervention_id, sent.message_id, sent.sha256, sent.data, now)
        if mail.template == "completion_request":
            # Told at last: the client's window starts now (once, for a first request).
            lifecycle.mail_accepted(
                _intervention(mail),
                now,
                mail.payload.get("note") or "note.completed",
                mail.payload.get("note_values") or {},
            )
        outbox.mark_done(mail.task_id, now, {"message_id": sent.message_id})
    else:
        reason, error = refused
        add_event(
            mail.intervention_id, SYSTEM, "mail_refused", now, template=mail.template, error=error
        )
        if mail.template == "completion_request":
            # Never told: no deadline runs, and staff must know at once.
            lifecycle.mail_failed(_intervention(mail), error, now)
        outbox.mark_failed(mail.task_id, mail.attempts, now, reason)
    # Committing right after each send keeps the window for a repeated mail to one message.
    db.session.commit()


def _intervention(mail: _Mail) -> Intervention:
    intervention = db.session.get(Intervention, mail.intervention_id)
    assert intervention is not None  # the batch read it, and interventions are never deleted
    return intervention


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)[:200]}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = exc.recipients.values()
        return "; ".join(f"{code} {_text(msg)[:100]}" for code, msg in refusals)
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
