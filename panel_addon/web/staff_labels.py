"""The words staff read for the service's codes: states, actors, events, effects, actions.

Lazy msgids, rendered in the language of the page (STAFF_LANGUAGE on the staff view). A
code with no words here (a newer event type, say) is shown as the code itself.
"""

from __future__ import annotations

from typing import NamedTuple

from flask_babel import lazy_gettext
from flask_babel.speaklater import LazyString

LABELS: dict[str, dict[str, LazyString]] = {
    "state": {
        "in_progress": lazy_gettext("In progress"),
        "awaiting_validation": lazy_gettext("Awaiting the client"),
        "validated": lazy_gettext("Validated"),
        "reported": lazy_gettext("Problem reported"),
        "lapsed": lazy_gettext("Lapsed"),
        "resolved": lazy_gettext("Report closed"),
        "cancelled": lazy_gettext("Cancelled"),
    },
    "backup": {
        "none": lazy_gettext("none"),
        "kept": lazy_gettext("kept"),
        "held": lazy_gettext("held"),
        "expired": lazy_gettext("expired"),
    },
    "review": {
        "pending": lazy_gettext("to review"),
        "flagged": lazy_gettext("client made not eligible"),
        "dismissed": lazy_gettext("dismissed"),
    },
    "verdict": {
        "pending": lazy_gettext("pending"),
        "unchanged": lazy_gettext("unchanged"),
        "changed": lazy_gettext("changed"),
        "regressed": lazy_gettext("regressed"),
    },
    "effect": {
        "pending": lazy_gettext("pending"),
        "done": lazy_gettext("done"),
        "failed": lazy_gettext("failed"),
        "parked": lazy_gettext("parked: waits for the panel's configuration"),
        "skipped": lazy_gettext("not needed"),
        "cancelled": lazy_gettext("cancelled"),
    },
    "mail": {
        "completion_request": lazy_gettext("Validation request"),
        "reminder": lazy_gettext("Reminder"),
        "validated": lazy_gettext("Validation confirmed"),
        "reported": lazy_gettext("Report acknowledged"),
    },
    "panel": {
        "add_ticket_note": lazy_gettext("Ticket note"),
        "update_ticket": lazy_gettext("Ticket status"),
        "set_ineligible_note": lazy_gettext("Internal note: not eligible"),
        "remove_ineligible_note": lazy_gettext("Internal note: line removed"),
        "lapse": lazy_gettext("End of the validation window"),
        "expire_backup": lazy_gettext("Backup expiry"),
        "send_mail": lazy_gettext("Mail"),
        "timestamp_trail": lazy_gettext("Time-stamp of the trail"),
        "site_snapshot": lazy_gettext("Site snapshot"),
        "site_check_overdue": lazy_gettext("Site check deadline"),
    },
    "actor": {
        "panel": lazy_gettext("panel"),
        "client": lazy_gettext("client"),
        "staff": lazy_gettext("staff"),
        "system": lazy_gettext("service"),
    },
    "event": {
        "start": lazy_gettext("Intervention started"),
        "complete": lazy_gettext("Intervention completed"),
        "cancel": lazy_gettext("Intervention cancelled"),
        "validate": lazy_gettext("Validated by the client"),
        "report": lazy_gettext("Problem reported by the client"),
        "lapse": lazy_gettext("Validation window lapsed"),
        "resolve": lazy_gettext("Report closed"),
        "backup_held": lazy_gettext("Backup held"),
        "backup_released": lazy_gettext("Backup released"),
        "backup_expired": lazy_gettext("Backup expired"),
        "mail_sent": lazy_gettext("Mail sent"),
        "mail_refused": lazy_gettext("Mail refused"),
        "mail_failed": lazy_gettext("Validation email not delivered"),
        "webhook_refused": lazy_gettext("Panel event refused: its webhook-id was already used"),
        "mail_resend_requested": lazy_gettext("Mail to be sent again"),
        "panel_updated": lazy_gettext("Panel updated"),
        "client_ineligible": lazy_gettext("Client made not eligible"),
        "client_eligible_again": lazy_gettext("Client eligible again"),
        "late_report_dismissed": lazy_gettext("Late report dismissed"),
        "site_checked": lazy_gettext("Site checked"),
        "site_regression": lazy_gettext("Site got worse"),
        "site_check_overdue": lazy_gettext("Site check overdue"),
        "site_recheck_requested": lazy_gettext("Site check requested again"),
        "mail_held": lazy_gettext("Mail held"),
        "mail_released": lazy_gettext("Held mail released"),
        # A GET of a link page (docs/evidence.md): a person, or a scanner or link preview.
        "link.viewed": lazy_gettext("Page opened by the client"),
        "link.viewed.automated": lazy_gettext("Page fetched by a scanner"),
        "trail_timestamped": lazy_gettext("Trail time-stamped"),
    },
    "page": {
        "validate": lazy_gettext("validation page"),
        "report": lazy_gettext("report page"),
    },
    "signal": {
        "user_agent": lazy_gettext("a scanner's or link preview's user agent"),
        "soon_after_mail": lazy_gettext("seconds after the mail was sent"),
    },
    # The details an event records, by key.
    "data": {
        "technician": lazy_gettext("technician"),
        "backup_reference": lazy_gettext("backup"),
        "reference": lazy_gettext("backup"),
        "check_urls": lazy_gettext("pages checked"),
        "implicit": lazy_gettext("implied"),
        "template": lazy_gettext("mail"),
        "message_id": lazy_gettext("message ID"),
        "to": lazy_gettext("to"),
        "sha256": lazy_gettext("SHA-256"),
        "error": lazy_gettext("error"),
        "action": lazy_gettext("action"),
        "pages": lazy_gettext("pages"),
        "phase": lazy_gettext("snapshot"),
        "failing": lazy_gettext("failing pages"),
        "reason": lazy_gettext("reason"),
        "held_since": lazy_gettext("held since"),
        "count": lazy_gettext("count"),
        "smtp_reply": lazy_gettext("mail server's answer"),
        "ticket": lazy_gettext("ticket"),
        "note": lazy_gettext("note"),
        "page": lazy_gettext("page"),
        "signal": lazy_gettext("sign"),
        "automated": lazy_gettext("automated"),
        "webhook_id": lazy_gettext("webhook ID"),
        "refused_event": lazy_gettext("refused event"),
        "refused_intervention": lazy_gettext("intervention of the refused event"),
        "head": lazy_gettext("trail head"),
        "seq": lazy_gettext("event number"),
        "tsa": lazy_gettext("time-stamping authority"),
        "gen_time": lazy_gettext("time-stamped at"),
    },
    # The site check's two snapshots.
    "phase": {
        "before": lazy_gettext("before the intervention"),
        "after": lazy_gettext("after the intervention"),
    },
    "resolution": {
        "restored": lazy_gettext("site restored from the backup"),
        "fixed": lazy_gettext("problem fixed"),
        "no_fault": lazy_gettext("no fault from the intervention"),
    },
}


class ActionWords(NamedTuple):
    """What the staff view says about one action: its button, help, reason field, result."""

    button: LazyString
    done: LazyString
    help: LazyString | None = None
    reason: LazyString | None = None


ACTIONS: dict[str, ActionWords] = {
    "resend": ActionWords(
        lazy_gettext("Resend the mail"),
        lazy_gettext("The mail will be sent again in a moment."),
        lazy_gettext("The client gets the mail for the current state again, with new links."),
    ),
    "hold": ActionWords(
        lazy_gettext("Hold the backup"),
        lazy_gettext("The backup is held."),
        lazy_gettext("A held backup is never deleted until released."),
    ),
    "release": ActionWords(
        lazy_gettext("Release the backup"),
        lazy_gettext("The backup is released."),
        lazy_gettext("The backup expires on its usual date (at once if that has passed)."),
    ),
    "resolve": ActionWords(
        lazy_gettext("Close the report"),
        lazy_gettext("The report is closed."),
    ),
    "dismiss": ActionWords(
        lazy_gettext("Dismiss the late report"),
        lazy_gettext("The late report is dismissed."),
    ),
    "flag": ActionWords(
        lazy_gettext("Mark the client not eligible"),
        lazy_gettext("The client is no longer eligible; the internal note will be updated."),
        lazy_gettext("Adds a line to the client's internal note in WHMCS."),
        lazy_gettext("Why the client is no longer eligible"),
    ),
    "lift": ActionWords(
        lazy_gettext("Make the client eligible again"),
        lazy_gettext("The client is eligible again; the internal note will be updated."),
        lazy_gettext("Removes that line from the client's internal note (nothing else)."),
    ),
    "cancel": ActionWords(
        lazy_gettext("Cancel the intervention"),
        lazy_gettext("The intervention is cancelled."),
        lazy_gettext("No more mail or deadline for this intervention."),
        lazy_gettext("Why the intervention is cancelled"),
    ),
    "release_mail": ActionWords(
        lazy_gettext("Send the held mail"),
        lazy_gettext("The mail will be sent."),
    ),
    "recheck": ActionWords(
        lazy_gettext("Check the site again"),
        lazy_gettext("The site will be checked again in a moment."),
    ),
}

# Why a sign-in link was refused (staff_login.LoginError.reason).
LOGIN_REFUSED: dict[str, LazyString] = {
    "invalid": lazy_gettext("This sign-in link is not valid."),
    "expired": lazy_gettext("This sign-in link has expired (it lasts about a minute)."),
    "used": lazy_gettext("This sign-in link was already used."),
}
