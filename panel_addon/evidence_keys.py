"""The Ed25519 keys that sign dossiers: the current one, and the public keys still published.

EVIDENCE_SIGNING_KEY is the private key as base64url of its 32 raw bytes. Without it, in
development and tests, one is generated once into the instance folder; in production
no dossier is signed until it is set. EVIDENCE_PUBLIC_KEYS are the public keys of earlier
signing keys, still published after a rotation so older dossiers keep verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION_KEY = "panel_addon.evidence_keys"
DEV_KEY_FILE = "evidence-signing-key"
ALG = "Ed25519"


def b64url(raw: bytes) -> str:
    """base64url without padding (contract §8)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Decode base64url with or without its padding; ValueError if it is not base64url."""
    cleaned = text.strip()
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def private_key(text: str) -> Ed25519PrivateKey:
    """The signing key from its base64url text; ValueError when it is not 32 bytes."""
    raw = from_b64url(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes (base64url, 43 characters)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64url text; ValueError when it is not 32 bytes."""
    raw = from_b64url(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (base64url, 43 characters)")
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex characters of the SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def new_private_key_text() -> str:
    """A fresh signing key, as EVIDENCE_SIGNING_KEY takes it."""
    return b64url(Ed25519PrivateKey.generate().private_bytes_raw())


class Keys:
    """The current signing key (None: not set) and every public key published."""

    def __init__(self, signing: Ed25519PrivateKey | None, older: list[Ed25519PublicKey]) -> None:
        self.signing = signing
        published = ([signing.public_key()] if signing else []) + older
        self.public: dict[str, Ed25519PublicKey] = {}
        for key in published:
            self.public.setdefault(key_id(key), key)

    def published(self) -> list[dict[str, Any]]:
        """The keys as `GET /api/v1/evidence/keys` lists them, the current one first."""
        return [
            {"key_id": ident, "alg": ALG, "public_key": b64url(raw_public(key))}
            for ident, key in self.public.items()
        ]


def init_app(app: Flask) -> None:
    """Load the keys the settings name (checked by settings.validate); in development, make one."""
    text = app.config.get("EVIDENCE_SIGNING_KEY")
    relaxed = app.config.get("ENV") == "development" or app.config.get("TESTING")
    if not text and relaxed:
        text = _development_key(Path(app.instance_path) / DEV_KEY_FILE)
    signing = private_key(text) if text else None
    older = [public_key(item) for item in app.config["EVIDENCE_PUBLIC_KEYS"]]
    app.extensions[EXTENSION_KEY] = Keys(signing, older)


def _development_key(path: Path) -> str:
    """The instance folder's key, made on first use (readable by its owner only).

    Written whole under another name, then linked into place: a process starting at the
    same moment reads the whole key or makes none.
    """
    if not path.exists():
        text = new_private_key_text()
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".evidence-key-")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(text + "\n")
            os.link(temporary, path)
            log.warning("no EVIDENCE_SIGNING_KEY: dossiers are signed with %s (development)", path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            os.unlink(temporary)
    return path.read_text(encoding="ascii").strip()


def keys() -> Keys:
    """The app's evidence keys."""
    found: Keys = current_app.extensions[EXTENSION_KEY]
    return found
