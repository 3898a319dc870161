"""The staff JSON of an intervention: what the staff API shows and the dossier carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import site_check
from ..models import Intervention, SiteSnapshot
from .lifecycle import window_of
from .states import MailWindow, State

# The validation request's state in the staff's JSON, by the state of the mail window.
VALIDATION_MAIL: dict[MailWindow, str] = {
    MailWindow.CHECKING: "not_sent",
    MailWindow.HELD: "held",
    MailWindow.SENDING: "sending",
    MailWindow.FAILED: "failed",
    MailWindow.OPEN: "accepted",
}


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def intervention_fields(
    iv: Intervention, site_rows: list[SiteSnapshot] | None = None
) -> dict[str, Any]:
    """The fields of `GET /api/v1/interventions/<id>` (contract §7) but its detail lists."""
    return {
        "id": iv.panel_id,
        "state": iv.state,
        "ticket_id": iv.ticket_id,
        "client": {
            "id": iv.client.id,
            "email": iv.client.email,
            "name": iv.client.name,
            "language": iv.client.language,
            "eligible": iv.client.eligible,
        },
        "site": iv.site,
        "technician": iv.technician,
        "started_at": iso(iv.started_at),
        "completed_at": iso(iv.completed_at),
        "deadline_at": iso(iv.deadline_at),
        "decided_at": iso(iv.decided_at),
        "late_report": iv.late_report,
        "late_report_review": iv.late_report_review,
        "restore_requested": iv.restore_requested,
        "resolution": iv.resolution,
        "backup": {
            "reference": iv.backup_reference,
            "state": iv.backup_state,
            "created_at": iso(iv.backup_created_at),
            "expires_at": iso(iv.backup_expires_at),
        },
        # The site check (docs/site-check.md): [] when nothing is checked.
        "mail_held": iv.mail_held_at is not None,
        "mail_held_at": iso(iv.mail_held_at),
        # The validation request: the window runs from its acceptance by the mail server.
        "validation_mail": {
            "state": validation_mail_state(iv),
            "queued_at": iso(iv.mail_queued_at),
            "accepted_at": iso(iv.window_opened_at),
            "failed_at": iso(iv.mail_failed_at),
            "error": iv.mail_error,
        },
        "site_check": site_check.staff_json(iv, site_rows),
    }


def validation_mail_state(iv: Intervention) -> str:
    """Where the validation request stands: not_sent, held, sending, failed or accepted."""
    window = window_of(iv)
    if window == MailWindow.SENDING and iv.state != State.AWAITING_VALIDATION:
        return "not_sent"  # cancelled before the server took it: it will not be sent
    return VALIDATION_MAIL[window]
