"""Signed client links: one salt per purpose, key rotation through SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer

from .models import Intervention, db

PURPOSES = ("validate", "report")
# A link as `link_url` writes it: the token is base64url with dots (itsdangerous).
_LINK_TOKEN = re.compile(r"/i/[A-Za-z0-9_.-]+/(" + "|".join(PURPOSES) + r")\b")


class LinkError(Exception):
    """The link cannot be used; `reason` is `invalid`, `expired` or `unknown`.

    `language` is the client's, when the token still tells whose link it was (an expired
    link, a link cut short in a mail, one of an earlier mail): the error page speaks it.
    """

    def __init__(
        self,
        reason: str,
        intervention: Intervention | None = None,
        language: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.intervention = intervention
        self.language = language or (intervention.client.language if intervention else None)


@dataclass(frozen=True)
class Link:
    purpose: str
    intervention: Intervention


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    keys = (*current_app.config["SECRET_KEY_FALLBACKS"], current_app.config["SECRET_KEY"])
    return _serializer_for(purpose, keys)


@functools.lru_cache(maxsize=64)
def _serializer_for(purpose: str, keys: tuple[str, ...]) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and accepts any of them.
    return URLSafeTimedSerializer(list(keys), salt=f"intervention-signoff.{purpose}")


def make_token(intervention: Intervention, purpose: str) -> str:
    assert purpose in PURPOSES
    return _serializer(purpose).dumps({"i": intervention.id, "n": intervention.link_nonce})


def link_url(intervention: Intervention, purpose: str) -> str:
    base = current_app.config["PUBLIC_URL"]
    return f"{base}/i/{make_token(intervention, purpose)}/{purpose}"


def mask_links(text: str) -> str:
    """`text` with the token of every client link replaced by `…`: readable, not usable.

    For copies of mails shown to people other than the client (the dispute dossier).
    """
    return _LINK_TOKEN.sub(r"/i/…/\1", text)


def _ids(payload: object) -> tuple[int, str] | None:
    # The intervention's id and link nonce a token carries.
    if not isinstance(payload, dict):
        return None
    ident, nonce = payload.get("i"), payload.get("n")
    if not isinstance(ident, int) or not isinstance(nonce, str):
        return None
    return ident, nonce


def _loads(token: str, purpose: str) -> object:
    # The payload of a token for `purpose`; raises LinkError("invalid") for a token no
    # link could be, and itsdangerous' errors for a bad or expired signature.
    if purpose not in PURPOSES or len(token) > 512:
        raise LinkError("invalid")
    max_age = int(current_app.config["LINK_MAX_AGE"].total_seconds())
    return _serializer(purpose).loads(token, max_age=max_age)


def genuine(token: str, purpose: str) -> bool:
    """Whether the token is one of our links for `purpose`, signed and not expired.

    Checks the signature only (no database): what the rate limits need to tell a real
    link from a guessed one before the page is served.
    """
    try:
        _loads(token, purpose)
    except (LinkError, BadData):
        return False
    return True


def _lookup(payload: object) -> Intervention | None:
    ids = _ids(payload)
    if ids is None:
        return None
    ident, nonce = ids
    intervention = db.session.get(Intervention, ident)
    if intervention is None or intervention.link_nonce != nonce:
        return None
    return intervention


def resolve(token: str, purpose: str) -> Link:
    """Check a token for `purpose` and find its intervention; raise LinkError otherwise."""
    try:
        payload = _loads(token, purpose)
    except SignatureExpired as exc:
        try:
            expired_payload = (
                _serializer(purpose).load_payload(exc.payload) if exc.payload else None
            )
        except BadData:
            expired_payload = None
        raise LinkError("expired", _lookup(expired_payload)) from None
    except BadSignature as exc:
        raise LinkError("invalid", language=_language(purpose, exc.payload)) from None
    except BadData:
        raise LinkError("invalid") from None
    intervention = _lookup(payload)
    if intervention is None:
        ids = _ids(payload)
        # Signed by us, for an intervention whose links were renewed since.
        earlier = db.session.get(Intervention, ids[0]) if ids else None
        raise LinkError("unknown", language=earlier.client.language if earlier else None)
    return Link(purpose, intervention)


def _language(purpose: str, unsigned: bytes | None) -> str | None:
    """The client's language from the payload of a token whose signature is broken.

    Only the language is taken, and only when the payload names an intervention with its
    link nonce (which nobody can guess): nothing else of a forged token is trusted.
    """
    if not unsigned:
        return None
    try:
        payload = _serializer(purpose).load_payload(unsigned)
    except BadData:
        return None
    intervention = _lookup(payload)
    return intervention.client.language if intervention else None
