"""What each kind of due work does: mail the client, call the panel, pass a deadline.

Handlers reload state and check it is still wanted (a reminder to a client who already
answered is skipped), so running one twice changes nothing twice; a mail or a panel
call that was made just before a crash may be made again, and that window is one task.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import select

from . import lifecycle, mailer, site_check, tasks  # site_check registers its tasks too
from .clock import now as clock_now
from .formatting import format_datetime, format_duration
from .i18n import translate
from .lifecycle import SYSTEM, BackupState, State
from .mail import MailSession, Message
from .models import Intervention, Task, db
from .tokens import link_url
from .whmcs import WhmcsClient, WhmcsError, add_ineligible_line, remove_ineligible_line

log = logging.getLogger(__name__)

# A mail of this template is only still wanted in these states.
MAIL_STATES = {
    "completion_request": {State.AWAITING_VALIDATION},
    "reminder": {State.AWAITING_VALIDATION},
    "validated": {State.VALIDATED},
    "reported": {State.REPORTED, State.RESOLVED},
}


def _intervention(task: Task) -> Intervention:
    intervention = db.session.get(Intervention, task.intervention_id)
    if intervention is None:
        raise tasks.PermanentError(f"intervention {task.intervention_id} is gone")
    return intervention


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
        "site_checks": site_check.client_lines(intervention, language),
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


def _send_batch(batch: list[Task], now: datetime) -> None:
    """Send a batch of mails over one SMTP connection; each task is committed as it goes."""
    # Each mail is committed as soon as it is sent. Expiring the batch's rows at every
    # commit would reload each task and its intervention (two SELECTs a mail) only to
    # read back what this worker wrote itself: its lease and its outcomes.
    orm = db.session()
    expire_on_commit, orm.expire_on_commit = orm.expire_on_commit, False
    try:
        _send_claimed(batch, now)
    finally:
        orm.expire_on_commit = expire_on_commit


def _send_claimed(batch: list[Task], now: datetime) -> None:
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
        if intervention is None or State(intervention.state) not in MAIL_STATES.get(template, ()):
            tasks.mark_skipped(task, now, "no longer wanted")
            continue
        try:
            message = build_message(intervention, template, now, _message_id(task))
            wanted.append((task, message))
        except Exception as exc:  # noqa: BLE001 - a broken template must not stop the batch
            log.exception("mail %s for task %s could not be rendered", template, task.id)
            tasks.mark_retry(task, now, f"rendering failed: {type(exc).__name__}")
    tasks.commit_and_kick()
    if not wanted:
        return
    try:
        with MailSession() as session:
            for task, message in wanted:
                if not tasks.still_claimed(task):
                    # A slow relay ate the lease: leave the rest to whoever takes over.
                    break
                _send_one(session, task, message)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        # The connection failed (refused, timeout, 4xx at connect): retry the unsent ones.
        for task, _message in wanted:
            if task.state == "pending" and task.claimed_until is not None:
                tasks.mark_retry(task, clock_now(), f"SMTP unavailable: {_smtp_error(exc)}")
        tasks.commit_and_kick()


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
        sent = session.send(
            message, name=f"{now:%Y%m%d-%H%M%S}-{task.id}-{task.payload.get('template')}"
        )
    except smtplib.SMTPRecipientsRefused as exc:
        tasks.mark_failed(task, now, f"recipient refused: {_smtp_error(exc)}")
        _mail_event(task, now, "mail_refused", error=_smtp_error(exc))
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            tasks.mark_failed(task, now, f"refused by SMTP: {_smtp_error(exc)}")
            _mail_event(task, now, "mail_refused", error=_smtp_error(exc))
        else:
            raise
    except ValueError as exc:
        # The message itself cannot be sent (an address with a line break in it): no retry
        # can help, and it must not hold up the rest of the batch.
        tasks.mark_failed(task, now, f"message refused before sending: {type(exc).__name__}")
        _mail_event(task, now, "mail_refused", error=type(exc).__name__)
    else:
        tasks.mark_done(task, now, {"message_id": sent.message_id})
        _mail_event(task, now, "mail_sent", message_id=sent.message_id, to=message.to)
    # Committing right after each send keeps the window for a repeated mail to one message.
    tasks.commit_and_kick()


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
    intervention = _intervention_or_none(task)
    if intervention is not None:
        lifecycle.add_event(
            intervention, SYSTEM, type_, now, template=task.payload.get("template"), **data
        )


def _intervention_or_none(task: Task) -> Intervention | None:
    if task.intervention_id is None:
        return None
    return db.session.get(Intervention, task.intervention_id)


tasks.BATCH_HANDLERS["mail"] = _send_batch


def _panel() -> WhmcsClient | None:
    client: WhmcsClient | None = current_app.extensions.get("panel_addon.whmcs")
    if client is None and current_app.config.get("WHMCS_URL"):
        client = WhmcsClient.from_config(current_app.config)
        current_app.extensions["panel_addon.whmcs"] = client
    return client


def _panel_call(task: Task, call: Any) -> dict[str, Any] | None:
    panel = _panel()
    if panel is None:
        tasks.mark_skipped(task, clock_now(), "the panel is not configured (WHMCS_URL)")
        return None
    try:
        result = call(panel)
    except WhmcsError as exc:
        if exc.transient:
            raise tasks.TransientError(str(exc)) from None
        raise tasks.PermanentError(str(exc)) from None
    intervention = _intervention_or_none(task)
    if intervention is not None:
        lifecycle.add_event(intervention, SYSTEM, "panel_updated", clock_now(), action=task.action)
    return {"result": (result or {}).get("result", "success")} if isinstance(result, dict) else None


@tasks.handler("add_ticket_note")
def add_ticket_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """AddTicketNote on the intervention's ticket, once.

    A first attempt just adds the note. A later one (the previous attempt failed, timed
    out or was interrupted, so its note may have landed anyway) reads the ticket's notes
    first and adds nothing if the same note is there. What remains: a panel that applies
    a call after we gave up on it, and after that check, gets the note twice.
    """
    payload = task.payload
    intervention = _intervention_or_none(task)
    if "message" in payload:
        # Scheduled by an earlier version, which wrote the note's text in the task.
        ticket_id, message = payload["ticket_id"], payload["message"]
    elif intervention is not None and intervention.ticket_id:
        ticket_id = intervention.ticket_id
        message = lifecycle.ticket_note_text(payload, intervention)
    else:
        tasks.mark_skipped(task, now, "the intervention has no ticket")
        return None

    def call(panel: WhmcsClient) -> dict[str, Any]:
        if task.attempts or task.last_error:
            wanted = _same_note_text(message)
            if any(_same_note_text(note) == wanted for note in panel.get_ticket_notes(ticket_id)):
                return {"result": "already_there"}
        return panel.add_ticket_note(ticket_id, message)

    return _panel_call(task, call)


def _same_note_text(text: str) -> str:
    # The panel may store the note with other line ends or trimmed.
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


@tasks.handler("update_ticket")
def update_ticket(task: Task, now: datetime) -> dict[str, Any] | None:
    """UpdateTicket to reopen the ticket; setting a status twice is harmless."""
    payload = task.payload
    return _panel_call(
        task, lambda p: p.update_ticket_status(payload["ticket_id"], payload["status"])
    )


def _ineligible_line(payload: dict[str, Any]) -> str:
    return translate(
        current_app.config["STAFF_LANGUAGE"],
        "internal_note.line",
        since=payload.get("since") or "-",
        intervention=payload.get("intervention") or "-",
    )


@tasks.handler("set_ineligible_note")
def set_ineligible_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """Add (or refresh) our line in the client's admin notes, keeping every other character.

    Reads the field, then writes it back only if our line is missing: safe to repeat.
    Skipped when the client became eligible again meanwhile.
    """
    from .models import Client

    client = db.session.get(Client, task.payload["client_id"])
    if client is not None and client.eligible:
        tasks.mark_skipped(task, now, "the client is eligible again")
        return None

    def call(panel: WhmcsClient) -> dict[str, Any]:
        notes = panel.get_client_notes(task.payload["client_id"])
        updated = add_ineligible_line(notes, _ineligible_line(task.payload))
        if updated == notes:
            return {"result": "unchanged"}
        return panel.set_client_notes(task.payload["client_id"], updated)

    return _panel_call(task, call)


@tasks.handler("remove_ineligible_note")
def remove_ineligible_note(task: Task, now: datetime) -> dict[str, Any] | None:
    """Remove our line from the client's admin notes, and only it: safe to repeat."""
    from .models import Client

    client = db.session.get(Client, task.payload["client_id"])
    if client is not None and not client.eligible:
        tasks.mark_skipped(task, now, "the client was made ineligible again")
        return None

    def call(panel: WhmcsClient) -> dict[str, Any]:
        notes = panel.get_client_notes(task.payload["client_id"])
        updated = remove_ineligible_line(notes)
        if updated == notes:
            return {"result": "unchanged"}
        return panel.set_client_notes(task.payload["client_id"], updated)

    return _panel_call(task, call)


@tasks.handler("lapse")
def lapse(task: Task, now: datetime) -> dict[str, Any]:
    """Lapse the intervention at its deadline if still undecided; safe to repeat."""
    intervention = _intervention(task)
    return {"lapsed": lifecycle.lapse(intervention, now)}


@tasks.handler("expire_backup")
def expire_backup(task: Task, now: datetime) -> dict[str, Any]:
    """Expire the backup at the end of retention unless held; safe to repeat."""
    intervention = _intervention(task)
    if intervention.backup_expires_at and intervention.backup_expires_at > now:
        # Moved later (a hold released, a retention change): come back then.
        raise tasks.Postpone(intervention.backup_expires_at)
    return {"expired": lifecycle.expire_backup(intervention, now)}
