"""The client's mails: rendered from mail_templates/, sent in batches over one connection."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app
from flask_mail import BadHeaderError
from sqlalchemy import select

from .. import mailer, outbox
from .. import site_check as checks
from ..clock import now as clock_now
from ..domain.states import MAIL_WANTED, BackupState
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

    left = intervention.deadline_at - now if intervention.deadline_at else None
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
        "deadline": when(intervention.deadline_at),
        "window": format_duration(config["VALIDATION_WINDOW"], language),
        "window_from_mail": _window_from_mail(intervention, config["VALIDATION_WINDOW"]),
        "validate_url": link_url(intervention, "validate"),
        "report_url": link_url(intervention, "report"),
        "backup_reference": intervention.backup_reference,
        "backup_state": intervention.backup_state,
        "backup_expires": (
            when(intervention.backup_expires_at)
            if intervention.backup_state != BackupState.NONE
            else None
        ),
        "retention": format_duration(config["BACKUP_RETENTION"], language),
        "time_left": format_duration(_round_left(left), language) if left else None,
        "report_message": intervention.report_message,
        "restore_requested": intervention.restore_requested,
        "late_report": intervention.late_report,
        "decided_at": when(intervention.decided_at),
        "site_checks": checks.client_lines(intervention, language),
    }


def _window_from_mail(intervention: Intervention, window: timedelta) -> bool:
    """Whether the client's time counts from the mail rather than from the end of the work.

    So it does when staff released a mail the site check held: the window opened then.
    """
    opened, deadline, completed = (
        intervention.window_opened_at,
        intervention.deadline_at,
        intervention.completed_at,
    )
    if opened is None or deadline is None or completed is None:
        return False
    return opened > completed and deadline == opened + window


def _round_left(left: timedelta) -> timedelta:
    minutes = max(int(left.total_seconds() // 60), 1)
    if minutes >= 120:
        return timedelta(hours=round(minutes / 60))
    return timedelta(minutes=minutes)


def build_message(intervention: Intervention, template: str, now: datetime) -> Message:
    language = intervention.client.language or current_app.config["DEFAULT_LANGUAGE"]
    rendered = mailer.render(
        template,
        language,
        mail_context(intervention, language, now),
        current_app.config.get("MAIL_TEMPLATES_DIR"),
    )
    message = Message(
        subject=rendered.subject,
        recipients=[intervention.client.email],
        body=rendered.text,
        html=rendered.html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    return message


def send_batch(batch: list[Task], now: datetime) -> None:
    """Send a batch of mails over one SMTP connection; each outcome is committed at once.

    A mail no longer wanted (states.MAIL_WANTED: a reminder to a client who answered)
    is skipped. A refused recipient fails for good; an SMTP server that cannot be
    reached leaves the unsent mails to be retried with backoff.
    """
    wanted: list[tuple[Task, Message]] = []
    ids = {task.intervention_id for task in batch if task.intervention_id is not None}
    # One query for the batch's interventions (fresh, for the "still wanted" check)
    # instead of one a mail; held here, so the session keeps them for the mail events.
    interventions = {
        intervention.id: intervention
        for intervention in db.session.scalars(
            select(Intervention)
            .where(Intervention.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    for task in batch:
        intervention = interventions.get(task.intervention_id or 0)
        template = task.payload.get("template", "")
        if intervention is None or intervention.state not in MAIL_WANTED.get(template, ()):
            outbox.mark_skipped(task, now, "no longer wanted")
            continue
        try:
            message = build_message(intervention, template, now)
            message.msgId = _message_id(task)
            wanted.append((task, message))
        except Exception as exc:  # noqa: BLE001 - a broken template must not stop the batch
            log.exception("mail %s for task %s could not be rendered", template, task.id)
            outbox.mark_retry(task, now, f"rendering failed: {type(exc).__name__}")
    db.session.commit()
    if not wanted:
        return
    try:
        with MailSession() as session:
            for task, message in wanted:
                if not outbox.still_claimed(task):
                    # A slow relay ate the lease: leave the rest to whoever takes over.
                    break
                _send_one(session, task, message)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        # The connection failed (refused, timeout, 4xx at connect): retry the unsent ones.
        for task, _message in wanted:
            if task.state == "pending" and task.claimed_until is not None:
                outbox.mark_retry(task, clock_now(), f"SMTP unavailable: {_smtp_error(exc)}")
        db.session.commit()


def _message_id(task: Task) -> str:
    """The same Message-ID for every attempt at one task's mail.

    Should a mail go out twice (the server took it but its answer was lost, or the worker
    died before recording the send), the copies share their Message-ID, by which mail
    services such as Gmail show only one.
    """
    domain = parseaddr(str(current_app.config["MAIL_DEFAULT_SENDER"]))[1].rpartition("@")[2]
    return f"<signoff.task-{task.id}.{task.created_at:%Y%m%d%H%M%S%f}@{domain or 'localhost'}>"


def _send_one(session: MailSession, task: Task, message: Message) -> None:
    now = clock_now()
    try:
        session.send(message, name=f"{now:%Y%m%d-%H%M%S}-{task.id}-{task.payload.get('template')}")
    except smtplib.SMTPRecipientsRefused as exc:
        outbox.mark_failed(task, now, f"recipient refused: {_smtp_error(exc)}")
        _mail_event(task, now, "mail_refused", error=_smtp_error(exc))
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            outbox.mark_failed(task, now, f"refused by SMTP: {_smtp_error(exc)}")
            _mail_event(task, now, "mail_refused", error=_smtp_error(exc))
        else:
            raise
    except (BadHeaderError, UnicodeError, ValueError) as exc:
        # The message itself cannot be sent (an address with a line break in it): no retry
        # can help, and it must not hold up the rest of the batch.
        outbox.mark_failed(task, now, f"message refused before sending: {type(exc).__name__}")
        _mail_event(task, now, "mail_refused", error=type(exc).__name__)
    else:
        outbox.mark_done(task, now, {"message_id": message.msgId})
        _mail_event(task, now, "mail_sent", message_id=message.msgId, to=message.recipients[0])
    # Committing right after each send keeps the window for a repeated mail to one message.
    db.session.commit()


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)[:200]}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = exc.recipients.values()
        return "; ".join(f"{code} {_text(msg)[:100]}" for code, msg in refusals)
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _mail_event(task: Task, now: datetime, type_: str, **data: Any) -> None:
    intervention = db.session.get(Intervention, task.intervention_id)
    if intervention is not None:
        add_event(intervention, SYSTEM, type_, now, template=task.payload.get("template"), **data)
