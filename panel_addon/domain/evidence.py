"""The dispute dossier (contract §8): the chained trail, the mails, the views, signed.

`build_dossier` gathers what a third party needs to check an intervention's trail,
`sign_dossier` signs it with Ed25519; `record_view` appends the client's views of a link
page; `check_trails` re-verifies every chain in the database. See docs/evidence.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from ..evidence_keys import ALG, b64url, key_id
from ..models import Event, Intervention, db
from . import chain, mail_copies, records
from .errors import NotFoundError
from .trail import Actor, add_event, exported, lock_trail

VIEWED = "link.viewed"

# Views of one page by one user agent within this time of the last one recorded are one.
VIEW_FOLD = timedelta(minutes=5)
# At most this many views of one intervention's pages are recorded an hour, whatever the
# user agents: someone holding a link cannot grow its trail without bound.
VIEWS_PER_HOUR = 20
# A view this soon after a mail was handed to SMTP is a machine's: no one reads that fast.
VIEW_AFTER_MAIL = timedelta(seconds=20)

# User agents of mail scanners, link previews and other machines (docs/evidence.md).
_SCANNERS = re.compile(
    r"""
    safelinks | safe\ links | microsoft\ office | ms-office | msoffice | office365
    | microsoftpreview | microsoft\ preview | bingpreview | skypeuripreview | teams/
    | proofpoint | urldefense | pfpt
    | mimecast | barracuda | ironport | messagelabs | symantec | forcepoint | zscaler
    | sophos | trend\ ?micro | fortiguard | fortinet | hornetsecurity | spamtitan
    | appriver | cloudmark | mailcontrol | checkpoint | paloalto | virustotal | urlscan
    | slackbot | slack-imgproxy | slack-linkexpanding
    | googleimageproxy | ggpht\.com | google-safety | googlebot | google-read-aloud
    | facebookexternalhit | facebot | twitterbot | linkedinbot | discordbot | telegrambot
    | whatsapp | applebot | redditbot | pinterest | embedly | iframely | vkshare
    | \bbot\b | bot[/;)-] | robot | crawler | spider | preview | scanner | headless
    | phantomjs | lighthouse
    | python- | python/ | curl/ | wget/ | go-http-client | okhttp | java/ | libwww
    | httpclient | axios/ | node-fetch | undici
    """,
    re.IGNORECASE | re.VERBOSE,
)


def automated_signal(
    user_agent: str | None, last_mail_at: datetime | None, now: datetime
) -> str | None:
    """Why a view looks like a machine's (`user_agent`, `soon_after_mail`), or None.

    A missing user agent, or one a scanner or link preview sends, is a machine; so is a
    view within VIEW_AFTER_MAIL of the last mail sent (scanners fetch links on delivery).
    """
    if not (user_agent or "").strip() or _SCANNERS.search(user_agent or ""):
        return "user_agent"
    if last_mail_at is not None and timedelta(0) <= now - last_mail_at <= VIEW_AFTER_MAIL:
        return "soon_after_mail"
    return None


def record_view(intervention: Intervention, page: str, actor: Actor, now: datetime) -> bool:
    """Append a `link.viewed` event for a GET of a link page, unless it folds into the last.

    Changes no state. Views of the same page by the same user agent within VIEW_FOLD of
    the one recorded are one event; the check is made under the trail's lock, so two
    views at once fold too. Returns whether an event was added. Safe to run twice.
    """
    user_agent = (actor.user_agent or None) and actor.user_agent[:500]
    if _recent_view(intervention, page, user_agent, now):
        return False
    lock_trail(intervention)
    if (
        _recent_view(intervention, page, user_agent, now)
        or _views_in_last_hour(intervention, now) >= VIEWS_PER_HOUR
    ):
        return False
    last_mail_at = db.session.scalar(
        select(Event.at)
        .where(Event.intervention_id == intervention.id, Event.type == "mail_sent")
        .order_by(Event.seq.desc())
        .limit(1)
    )
    signal = automated_signal(user_agent, last_mail_at, now)
    data: dict[str, Any] = {"page": page, "automated": signal is not None}
    if signal:
        data["signal"] = signal
    add_event(intervention, actor, VIEWED, now, **data)
    return True


def _recent_view(
    intervention: Intervention, page: str, user_agent: str | None, now: datetime
) -> bool:
    same_agent = (
        Event.user_agent.is_(None) if user_agent is None else Event.user_agent == user_agent
    )
    recent = db.session.scalars(
        select(Event.data).where(
            Event.intervention_id == intervention.id,
            Event.type == VIEWED,
            Event.at > now - VIEW_FOLD,
            same_agent,
        )
    )
    return any((data or {}).get("page") == page for data in recent)


def _views_in_last_hour(intervention: Intervention, now: datetime) -> int:
    return (
        db.session.scalar(
            select(func.count()).where(
                Event.intervention_id == intervention.id,
                Event.type == VIEWED,
                Event.at > now - timedelta(hours=1),
            )
        )
        or 0
    )


# --- the dossier -----------------------------------------------------------------------


def build_dossier(panel_id: str, *, now: datetime) -> dict[str, Any]:
    """The unsigned dossier of an intervention (contract §8), as of `now`.

    The trail is read up to the head the intervention shows, so an event written
    meanwhile is left for the next dossier rather than breaking this one. Changes
    nothing. Raises NotFoundError for an unknown id.
    """
    intervention = db.session.scalars(
        select(Intervention).where(Intervention.panel_id == str(panel_id))
    ).first()
    if intervention is None:
        raise NotFoundError(f"no intervention with id {panel_id!r}")
    head_seq, head = intervention.trail_seq or 0, intervention.trail_head or chain.GENESIS
    events = db.session.scalars(
        select(Event)
        .where(Event.intervention_id == intervention.id, Event.seq <= head_seq)
        .order_by(Event.seq)
    ).all()
    texts = mail_copies.texts(intervention.id)
    fields = records.intervention_fields(intervention)
    fields["summary"] = intervention.summary
    fields["report_message"] = intervention.report_message
    fields["cancelled_reason"] = intervention.cancelled_reason
    return {
        "intervention": fields,
        "events": [exported(event) for event in events],
        "mails": [_mail(event, texts) for event in events if event.type == "mail_sent"],
        "head": head,
        "generated_at": chain.rfc3339(now),
    }


def _mail(event: Event, texts: dict[str, str]) -> dict[str, Any]:
    data = event.data or {}
    return {
        "kind": data.get("template"),
        "to": data.get("to"),
        "message_id": data.get("message_id"),
        "sha256": data.get("sha256"),
        "smtp_reply": data.get("smtp_reply"),
        "sent_at": chain.rfc3339(event.at),
        # What the client read (its links' tokens masked), from the copy kept of the
        # message; null for a mail sent before copies were kept (docs/dossier-pdf.md).
        "text": texts.get(data.get("sha256") or ""),
    }


def sign_dossier(dossier: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The dossier with its `signature`: Ed25519 over JCS of the dossier without it."""
    unsigned = {name: value for name, value in dossier.items() if name != "signature"}
    value = key.sign(rfc8785.dumps(unsigned))
    signature = {"alg": ALG, "key_id": key_id(key.public_key()), "value": b64url(value)}
    return {**unsigned, "signature": signature}


# --- checking the database -------------------------------------------------------------


@dataclass(frozen=True)
class BrokenTrail:
    """An intervention whose stored trail does not hold, and where it first breaks."""

    panel_id: str
    problem: chain.Break

    def __str__(self) -> str:
        return f"{self.panel_id}: {self.problem}"


def check_trails(page: int = 500) -> Iterator[BrokenTrail]:
    """Re-verify every intervention's chain as stored, against the head it keeps.

    Reads a page of interventions at a time; changes nothing.
    """
    last = 0
    while True:
        rows = db.session.execute(
            select(Intervention.id, Intervention.panel_id, Intervention.trail_head)
            .where(Intervention.id > last)
            .order_by(Intervention.id)
            .limit(page)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        trails: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
        for event in db.session.scalars(
            select(Event)
            .where(Event.intervention_id.in_(list(trails)))
            .order_by(Event.intervention_id, Event.seq)
            .execution_options(yield_per=1000)
        ):
            trails[event.intervention_id].append(exported(event))
        db.session.expunge_all()
        for row in rows:
            problem = chain.first_break(trails[row.id], row.trail_head or chain.GENESIS)
            if problem is not None:
                yield BrokenTrail(row.panel_id, problem)
