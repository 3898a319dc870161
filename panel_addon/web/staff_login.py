"""Staff login links: short-lived, single-use, signed; minted for the WHMCS addon.

The addon asks `POST /api/v1/staff/login-links` (bearer STAFF_API_TOKEN) for a link
naming the WHMCS admin, and sends the admin's browser to it. The token is an
itsdangerous token with its own salt; its id is written to `staff_logins` when it is
used, so a second use is refused even within its short life.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ..clock import now as clock_now
from ..i18n import normalise_language
from ..models import StaffLogin, db

SALT = "intervention-signoff.staff-login"
ADMIN_MAX = 200
# Where a link lands: an intervention, a client's interventions, or an intervention's
# dispute dossier as a PDF or as the signed JSON.
_TARGET = re.compile(r"^(intervention|client|dossier-pdf|dossier-json):[^\x00-\x1f]{1,64}$")


class LoginError(Exception):
    """The login link cannot be used; `reason` is `invalid`, `expired` or `used`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grant:
    """What a valid login link grants: who signs in, and which page they land on."""

    token_id: str
    admin: str
    target: str | None
    # The admin's language, when the panel said it: the staff view speaks it.
    language: str | None = None


class _ClockSigner(TimestampSigner):
    # Tokens age on the service's clock, so tests move time instead of sleeping.
    def get_timestamp(self) -> int:
        return int(clock_now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=SALT, signer=_ClockSigner)


def clean_admin(name: Any) -> str:
    """The admin's display name as recorded in the trail; ValueError when unusable."""
    text = " ".join(str(name or "").split())[:ADMIN_MAX]
    if not text:
        raise ValueError("admin must name the WHMCS admin")
    return text


def make_link(
    admin: str, target: str | None = None, language: str | None = None
) -> tuple[str, int]:
    """A login URL for `admin`, landing on `target` (`intervention:<id>`, `client:<id>`,
    `dossier-pdf:<id>`, `dossier-json:<id>`).

    `language`, one the service speaks, is the staff view's for that session. Returns
    the URL and its life in seconds. Nothing is written: the token is recorded only
    when used.
    """
    if target is not None and not _TARGET.match(target):
        raise ValueError("target must be intervention:<id>, client:<id> or dossier-pdf|json:<id>")
    payload = {"a": clean_admin(admin), "j": secrets.token_urlsafe(16), "t": target}
    if language:
        payload["l"] = language
    token = _serializer().dumps(payload)
    max_age = int(current_app.config["STAFF_LOGIN_LINK_MAX_AGE"].total_seconds())
    return f"{current_app.config['PUBLIC_URL']}/staff/login/{token}", max_age


def check(token: str) -> Grant:
    """Read a login token without using it (the page that asks to continue)."""
    if len(token) > 1024:
        raise LoginError("invalid")
    max_age = int(current_app.config["STAFF_LOGIN_LINK_MAX_AGE"].total_seconds())
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LoginError("expired") from None
    except (BadSignature, BadData):
        raise LoginError("invalid") from None
    if not isinstance(payload, dict):
        raise LoginError("invalid")
    admin, token_id, target = payload.get("a"), payload.get("j"), payload.get("t")
    if not isinstance(admin, str) or not isinstance(token_id, str) or not admin or not token_id:
        raise LoginError("invalid")
    if target is not None and (not isinstance(target, str) or not _TARGET.match(target)):
        raise LoginError("invalid")
    if db.session.get(StaffLogin, token_id) is not None:
        raise LoginError("used")
    language = payload.get("l")
    spoken = current_app.config["LANGUAGES"]
    return Grant(token_id, admin, target, language if language in spoken else None)


def use(token: str, ip: str | None) -> Grant:
    """Check a login token and record it as used, in the caller's transaction.

    Raises LoginError; a second use (even racing the first) raises LoginError("used"),
    because the token id is the table's primary key.
    """
    grant = check(token)
    now = clock_now()
    max_age = current_app.config["STAFF_LOGIN_LINK_MAX_AGE"]
    # Rows older than any link that could still be valid are of no more use.
    db.session.execute(delete(StaffLogin).where(StaffLogin.used_at < now - 2 * max_age))
    db.session.add(
        StaffLogin(token_id=grant.token_id, admin=grant.admin, used_at=now, ip=(ip or "")[:64])
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise LoginError("used") from None
    return grant


def session_expired(started_at: float | None, now: datetime | None = None) -> bool:
    """Whether a staff session begun at `started_at` (Unix time) is past its lifetime."""
    if not isinstance(started_at, int | float):
        return True
    moment = (now or clock_now()).timestamp()
    lifetime = current_app.config["STAFF_SESSION_LIFETIME"].total_seconds()
    return not (0 <= moment - started_at < lifetime)


@click.command("staff-link")
@click.option("--admin", default="Developer", show_default=True, help="The name staff act in.")
@click.option("--intervention", default=None, help="Land on this intervention (its panel id).")
@click.option("--language", default=None, help="The staff view's language (fr, en...).")
@with_appcontext
def staff_link_command(admin: str, intervention: str | None, language: str | None) -> None:
    """Print a single-use link into the staff view (what the WHMCS addon asks for).

    Found by Flask's CLI through the `flask.commands` entry point (pyproject.toml).
    """
    target = f"intervention:{intervention}" if intervention else None
    try:
        url, max_age = make_link(admin, target, normalise_language(language))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(url)
    click.echo(f"(open it within {max_age} s; it works once)", err=True)
