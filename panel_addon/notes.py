"""Ticket notes and the internal-note line, by the key a pending task stores.

A ticket note is scheduled as `{"note": key, "language": STAFF_LANGUAGE, "values": {...}}`
and written when its task runs, so these keys are part of the stored data: tasks of a
database upgraded in place still hold them. The words a note is made of (`word.yes`,
`backup.held`...) are rendered when it is scheduled and stored among its values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import force_locale, lazy_gettext, ngettext
from flask_babel.speaklater import LazyString

NOTES: dict[str, LazyString] = {
    # Ticket notes, read by technicians in the panel.
    "note.completed": lazy_gettext(
        "Intervention %(panel_id)s completed: the client must validate it by %(deadline)s. "
        "A validation email was sent."
    ),
    "note.mail_failed": lazy_gettext(
        "The validation email of intervention %(panel_id)s to %(email)s could not be "
        "delivered: the mail server refused it (%(error)s). The client has not been told, so "
        "no validation deadline runs. Check the address, then resend the email from the "
        "staff view: the deadline starts when the mail server accepts it."
    ),
    "note.mail_resent": lazy_gettext(
        "The validation email of intervention %(panel_id)s, resent by %(staff)s, was accepted "
        "by the mail server: the client must validate it by %(deadline)s."
    ),
    "note.cancelled": lazy_gettext("Intervention %(panel_id)s cancelled (%(reason)s)."),
    "note.validated": lazy_gettext("The client validated intervention %(panel_id)s (from %(ip)s)."),
    "note.reported": lazy_gettext(
        "The client reports a problem after intervention %(panel_id)s.\n"
        "Restore requested: %(restore)s\n%(backup)s\nClient's message:\n%(message)s"
    ),
    "note.reported_late": lazy_gettext(
        "The client reports a problem after intervention %(panel_id)s, AFTER the validation "
        "deadline (late report).\nRestore requested: %(restore)s\n%(backup)s\n"
        "Client's message:\n%(message)s"
    ),
    "note.lapsed": lazy_gettext(
        "The client neither validated nor reported a problem for intervention %(panel_id)s "
        "by %(deadline)s: the validation window lapsed."
    ),
    "note.backup_expired": lazy_gettext(
        "Backup %(reference)s of intervention %(panel_id)s expired (retention over)."
    ),
    "note.backup_held": lazy_gettext("Backup %(reference)s of intervention %(panel_id)s is held."),
    "note.resolved": lazy_gettext(
        "Report on intervention %(panel_id)s closed by %(staff)s: %(resolution)s."
    ),
    "sitecheck.note.released": lazy_gettext(
        "%(staff)s released the validation email of intervention %(panel_id)s, held by the "
        "site check: the client must validate it by %(deadline)s."
    ),
    "sitecheck.note.timed_out": lazy_gettext(
        "The automatic site check after intervention %(panel_id)s did not finish in time: the "
        "validation email was sent without it. The client must validate by %(deadline)s."
    ),
    # The words of a note, rendered when it is scheduled.
    "backup.held": lazy_gettext("Backup %(reference)s is held while the report is open."),
    "backup.already_expired": lazy_gettext("Backup %(reference)s had already expired."),
    "backup.none": lazy_gettext("No backup was recorded."),
    "resolution.restored": lazy_gettext("site restored from the backup"),
    "resolution.fixed": lazy_gettext("problem fixed"),
    "resolution.no_fault": lazy_gettext("no fault from the intervention"),
    "word.yes": lazy_gettext("yes"),
    "word.no": lazy_gettext("no"),
    "sitecheck.note.mail_held": lazy_gettext(
        "The client's validation email is HELD: release it from the staff side once the "
        "site works. The validation window starts only then."
    ),
    "sitecheck.note.mail_sent": lazy_gettext("The client's validation email was sent as usual."),
    "sitecheck.note.mail_already_sent": lazy_gettext(
        "The client's validation email had already been sent."
    ),
    "sitecheck.note.mail_still_held": lazy_gettext("The client's validation email is still held."),
    # The line of the client's internal note in the panel. The panel module finds it by the
    # marker it puts first (panels.notes.INELIGIBLE_MARKER), so its words may change.
    "internal_note.line": lazy_gettext(
        "Not eligible for free interventions since %(since)s (intervention %(intervention)s)"
    ),
}


def _regression(values: dict[str, Any]) -> str:
    return ngettext(
        "Automatic site check after intervention %(panel_id)s: %(count)d page got worse.\n"
        "%(pages)s\n%(mail)s",
        "Automatic site check after intervention %(panel_id)s: %(count)d pages got worse.\n"
        "%(pages)s\n%(mail)s",
        int(values["count"]),
        **values,
    )


# Notes whose wording follows a number.
COUNTED: dict[str, Callable[[dict[str, Any]], str]] = {"sitecheck.note.regression": _regression}


def note_text(language: str, key: str, **values: Any) -> str:
    """The note or words `key` in `language`, with `values` filled in.

    A language without a catalog reads English. Raises KeyError for an unknown key.
    """
    with force_locale(language):
        if key in COUNTED:
            return COUNTED[key](values)
        return str(NOTES[key] % values)
