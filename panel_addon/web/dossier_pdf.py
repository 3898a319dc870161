"""The dispute dossier as a PDF for a person: `GET /api/v1/interventions/<id>/evidence?format=pdf`.

Rendered from the dossier as the JSON answer carries it (contract §8), whatever else the
service knows, so the PDF says nothing the signed file does not: an HTML template
(`templates/evidence/dossier.html`) in the client's language, turned into a PDF by
WeasyPrint. The signed JSON travels inside the PDF as an attachment (`dossier.json`), so
whoever holds the PDF holds what a third party checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel.dates import format_date, format_datetime, format_time
from flask import current_app, render_template
from flask_babel import force_locale, gettext, lazy_gettext
from flask_babel.speaklater import LazyString

from .. import site_check
from ..formatting import zone
from ..i18n import normalise_language, template_gettext
from .staff_labels import LABELS

# What each kind of event says, in plain words; `%(name)s` values come from `_values`.
# A kind not listed here (a newer one) is shown by its staff label, or its code.
SENTENCES: dict[str, LazyString] = {
    "start": lazy_gettext("The technician %(technician)s started the intervention."),
    "complete": lazy_gettext("The technician marked the intervention as done."),
    "cancel": lazy_gettext("The intervention was cancelled."),
    "validate": lazy_gettext("The client validated the intervention."),
    "report": lazy_gettext("The client reported a problem."),
    "lapse": lazy_gettext(
        "The deadline passed without an answer: the intervention is taken as accepted."
    ),
    "resolve": lazy_gettext("Staff closed the report: %(resolution)s."),
    "backup_held": lazy_gettext("The backup %(reference)s is held: it is kept until released."),
    "backup_released": lazy_gettext("The backup is released: it is kept until its usual date."),
    "backup_expired": lazy_gettext("The retention of the backup %(reference)s ended."),
    "mail_sent": lazy_gettext("Mail “%(mail)s” sent to %(to)s."),
    "mail_refused": lazy_gettext("Mail “%(mail)s” refused: %(error)s."),
    "mail_resend_requested": lazy_gettext("Staff asked for the mail “%(mail)s” to be sent again."),
    "mail_held": lazy_gettext("The mail to the client was held: the site check saw a problem."),
    "mail_released": lazy_gettext("Staff released the held mail."),
    "panel_updated": lazy_gettext("The panel was updated: %(action)s."),
    "client_ineligible": lazy_gettext("The client was made not eligible for free interventions."),
    "client_eligible_again": lazy_gettext("The client is eligible for free interventions again."),
    "late_report_dismissed": lazy_gettext("Staff dismissed the late report."),
    "site_checked": lazy_gettext("The site was checked (%(phase)s)."),
    "site_regression": lazy_gettext("The site check saw a page answer worse than before."),
    "site_check_overdue": lazy_gettext("The site check did not finish in time."),
    "site_recheck_requested": lazy_gettext("Staff asked for the site to be checked again."),
    "link.viewed": lazy_gettext("The client opened the page “%(page)s”."),
    "trail_timestamped": lazy_gettext(
        "The time-stamping authority %(tsa)s certified the trail's head at that moment."
    ),
}
AUTOMATED_VIEW = lazy_gettext("A mail scanner or link preview fetched the page “%(page)s”.")
TICKET_NOTE = lazy_gettext("The service wrote a note on the ticket %(ticket)s.")
PHASES: dict[str, LazyString] = {
    "before": lazy_gettext("before the intervention"),
    "after": lazy_gettext("after the intervention"),
}
PAGES: dict[str, LazyString] = {
    "validate": lazy_gettext("validate the intervention"),
    "report": lazy_gettext("report a problem"),
}
ACTORS: dict[str, LazyString] = {
    "panel": lazy_gettext("The panel"),
    "client": lazy_gettext("The client"),
    "staff": lazy_gettext("Staff"),
    "system": lazy_gettext("The service"),
}


class PdfUnavailableError(RuntimeError):
    """No PDF can be drawn here: WeasyPrint's system libraries (Pango) are missing."""


@dataclass
class Line:
    """One event of the timeline, as the PDF shows it."""

    seq: Any
    day: str
    time: str
    who: str
    what: str
    where: str
    hash: str
    detail: str | None = None
    note: str | None = None


@dataclass
class View:
    day: str
    time: str
    page: str
    where: str
    automated: bool


@dataclass
class Mail:
    kind: str
    to: str
    when: str
    message_id: str
    sha256: str
    reply: str
    text: str | None


@dataclass
class Page:
    """The dossier in the reader's words: what the template shows."""

    language: str
    zone_name: str
    iv: Mapping[str, Any]
    outcome: str
    backup: str
    timeline: list[Line] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    notes: list[Line] = field(default_factory=list)
    site_check: list[dict[str, str]] = field(default_factory=list)


def language_of(dossier: Mapping[str, Any]) -> str:
    """The client's language if the service speaks it, else DEFAULT_LANGUAGE."""
    client = (dossier.get("intervention") or {}).get("client") or {}
    return normalise_language(client.get("language")) or current_app.config["DEFAULT_LANGUAGE"]


def render(dossier: Mapping[str, Any], language: str, timezone: str | None = None) -> bytes:
    """The PDF of `dossier` in `language`, times in `timezone` (else DEFAULT_TIMEZONE).

    Needs an app context. Fetches nothing: the template is self-contained, and any URL it
    holds (the client's site) is only printed. Raises PdfUnavailableError on a host
    without Pango.
    """
    tz_name = str(zone(timezone, current_app.config["DEFAULT_TIMEZONE"]))
    with force_locale(language):
        page = _page(dossier, language, tz_name)
        html = render_template(
            "evidence/dossier.html",
            page=page,
            dossier=dossier,
            company=current_app.config["COMPANY_NAME"],
            keys_url=current_app.config["PUBLIC_URL"].rstrip("/") + "/api/v1/evidence/keys",
            when=lambda value: _when(value, language, tz_name),
            **template_gettext(language),
        )
        described = gettext("The signed dossier, the file a third party checks")
    # Imported with the first PDF a process makes: at start-up it would cost every web
    # process about 25 MB and 0.7 s, for a page staff open now and then.
    try:
        import weasyprint
    except OSError as exc:  # a library WeasyPrint loads is missing (docs/deployment.md)
        raise PdfUnavailableError(str(exc)) from None

    # The same bytes as the JSON answer of the API.
    signed = (json.dumps(dossier, ensure_ascii=False, indent=2) + "\n").encode()
    attachment = weasyprint.Attachment(string=signed, name="dossier.json", description=described)
    document = weasyprint.HTML(
        string=html, url_fetcher=weasyprint.URLFetcher(allowed_protocols=frozenset())
    )
    pdf = document.write_pdf(attachments=[attachment], pdf_tags=True)
    assert pdf is not None  # write_pdf without a target answers the bytes
    return bytes(pdf)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _when(value: Any, language: str, tz_name: str) -> str:
    """A moment in local time, to the second, with its zone: `26 nov. 2026, 10:00:00 CET`."""
    moment = _moment(value)
    if moment is None:
        return "—"
    local = moment.astimezone(zone(tz_name, "UTC"))
    return f"{format_datetime(local, 'medium', locale=language)} {local.tzname()}"


def _day_and_time(value: Any, language: str, tz_name: str) -> tuple[str, str]:
    """A moment as its day and its time (with the zone), for a table's narrow column."""
    moment = _moment(value)
    if moment is None:
        return "—", ""
    local = moment.astimezone(zone(tz_name, "UTC"))
    day = format_date(local, "medium", locale=language)
    return day, f"{format_time(local, 'medium', locale=language)} {local.tzname()}"


def _label(kind: str, code: Any) -> str:
    words = LABELS.get(kind, {}).get(str(code))
    return str(words) if words is not None else str(code or "—")


def _actor(actor: Any) -> tuple[str, str]:
    """Who (in words, with a name where known) and from where (IP, user agent)."""
    if not isinstance(actor, Mapping):
        return str(actor or "—"), ""
    kind = str(actor.get("kind") or "")
    who = str(ACTORS.get(kind, kind or "—"))
    if actor.get("name"):
        who = f"{who} ({actor['name']})"
    where = " · ".join(str(actor[key]) for key in ("ip", "user_agent") if actor.get(key))
    return who, where


def _values(event: Mapping[str, Any], iv: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    page = data.get("page") or data.get("purpose")
    return {
        **{key: value for key, value in data.items() if isinstance(value, str | int | float)},
        "technician": data.get("technician") or iv.get("technician") or "—",
        "resolution": _label("resolution", data.get("resolution") or iv.get("resolution")),
        "reference": data.get("reference") or (iv.get("backup") or {}).get("reference") or "—",
        "mail": _label("mail", data.get("template")),
        "to": data.get("to") or "—",
        "error": data.get("error") or "—",
        "action": _label("panel", data.get("action")),
        "phase": str(PHASES.get(str(data.get("phase")), data.get("phase") or "—")),
        "page": str(PAGES.get(str(page), page or "—")),
        "ticket": data.get("ticket") or iv.get("ticket_id") or "—",
    }


def _sentence(event: Mapping[str, Any], iv: Mapping[str, Any]) -> str:
    kind = str(event.get("type") or "")
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    template = SENTENCES.get(kind)
    if kind == "link.viewed" and isinstance(data, Mapping) and data.get("automated"):
        template = AUTOMATED_VIEW
    if _is_ticket_note(event):
        template = TICKET_NOTE
    if template is None:
        return _label("event", kind)
    try:
        return str(template) % _values(event, iv)
    except (KeyError, TypeError, ValueError):
        return _label("event", kind)


def _detail(event: Mapping[str, Any]) -> str | None:
    """What the event holds beyond its sentence, worth a second line."""
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    kind = event.get("type")
    if kind == "mail_sent":
        return " · ".join(str(data[k]) for k in ("message_id", "smtp_reply") if data.get(k))
    if kind == "trail_timestamped":
        return " · ".join(str(data[k]) for k in ("head", "gen_time") if data.get(k))
    if kind in ("client_ineligible", "cancel") and data.get("reason"):
        return str(data["reason"])
    return None


def _note(event: Mapping[str, Any]) -> str | None:
    """The text of a ticket note as the panel got it, when the event keeps it."""
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    note = data.get("note") if _is_ticket_note(event) else None
    return note if isinstance(note, str) else None


def _is_ticket_note(event: Mapping[str, Any]) -> bool:
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    return bool(
        event.get("type") == "panel_updated"
        and isinstance(data, Mapping)
        and data.get("action") == "add_ticket_note"
    )


def _outcome(iv: Mapping[str, Any], language: str, tz_name: str) -> str:
    """The decision, or the silence, in one sentence (or three)."""
    state = iv.get("state")
    decided = _when(iv.get("decided_at"), language, tz_name)
    deadline = _when(iv.get("deadline_at"), language, tz_name)
    if state == "validated":
        return gettext("The client validated the intervention on %(when)s.", when=decided)
    if state in ("reported", "resolved"):
        if iv.get("late_report"):
            said = gettext(
                "The client reported a problem on %(when)s, after the deadline (%(deadline)s).",
                when=decided,
                deadline=deadline,
            )
        else:
            said = gettext("The client reported a problem on %(when)s.", when=decided)
        if iv.get("restore_requested"):
            said += " " + gettext("They asked for the site to be restored from the backup.")
        if state == "resolved":
            resolution = _label("resolution", iv.get("resolution"))
            said += " " + gettext(
                "Staff then closed the report: %(resolution)s.", resolution=resolution
            )
        return said
    if state == "lapsed":
        return gettext(
            "The client did not answer before the deadline, %(deadline)s: "
            "the intervention is taken as accepted.",
            deadline=deadline,
        )
    if state == "awaiting_validation":
        return gettext("The client has until %(deadline)s to answer.", deadline=deadline)
    if state == "cancelled":
        return gettext("The intervention was cancelled.")
    return gettext("The intervention is in progress.")


def _backup(iv: Mapping[str, Any], language: str, tz_name: str) -> str:
    """What became of the backup taken before the work."""
    backup = iv.get("backup") or {}
    state, reference = backup.get("state"), backup.get("reference") or "—"
    expires = _when(backup.get("expires_at"), language, tz_name)
    if state == "kept":
        return gettext(
            "The backup %(reference)s is kept until %(expires)s.",
            reference=reference,
            expires=expires,
        )
    if state == "held":
        return gettext(
            "The backup %(reference)s is held: it is kept until staff release it.",
            reference=reference,
        )
    if state == "expired":
        return gettext(
            "The retention of the backup %(reference)s ended on %(expires)s.",
            reference=reference,
            expires=expires,
        )
    return gettext("No backup was recorded for this intervention.")


def _site_check(iv: Mapping[str, Any], language: str) -> list[dict[str, str]]:
    rows = []
    for page in iv.get("site_check") or []:
        if not isinstance(page, Mapping):
            continue
        before, after = page.get("before"), page.get("after")
        rows.append(
            {
                "page": site_check.label(str(page.get("url") or ""), language),
                "url": str(page.get("url") or ""),
                "before": site_check.outcome(before, language) if before else "—",
                "after": site_check.outcome(after, language) if after else "—",
                "verdict": _label("verdict", page.get("verdict") or "pending"),
                "regressed": "yes" if page.get("verdict") == "regressed" else "",
            }
        )
    return rows


def _page(dossier: Mapping[str, Any], language: str, tz_name: str) -> Page:
    iv = dossier.get("intervention") or {}
    page = Page(
        language=language,
        zone_name=tz_name,
        iv=iv,
        outcome=_outcome(iv, language, tz_name),
        backup=_backup(iv, language, tz_name),
        site_check=_site_check(iv, language),
    )
    for event in dossier.get("events") or []:
        if not isinstance(event, Mapping):
            continue
        who, where = _actor(event.get("actor"))
        day, time = _day_and_time(event.get("at"), language, tz_name)
        line = Line(
            seq=event.get("seq", ""),
            day=day,
            time=time,
            who=who,
            what=_sentence(event, iv),
            where=where,
            hash=str(event.get("hash") or "")[:16],
            detail=_detail(event),
            note=_note(event),
        )
        page.timeline.append(line)
        if event.get("type") == "link.viewed":
            data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
            assert isinstance(data, Mapping)
            raw = data.get("page") or data.get("purpose")
            page.views.append(
                View(
                    day,
                    time,
                    str(PAGES.get(str(raw), raw or "—")),
                    where,
                    bool(data.get("automated")),
                )
            )
        if _is_ticket_note(event):
            page.notes.append(line)
    for mail in dossier.get("mails") or []:
        if not isinstance(mail, Mapping):
            continue
        page.mails.append(
            Mail(
                kind=_label("mail", mail.get("kind")),
                to=str(mail.get("to") or "—"),
                when=_when(mail.get("sent_at"), language, tz_name),
                message_id=str(mail.get("message_id") or "—"),
                sha256=str(mail.get("sha256") or "—"),
                reply=str(mail.get("smtp_reply") or "—"),
                text=mail.get("text") if isinstance(mail.get("text"), str) else None,
            )
        )
    return page
