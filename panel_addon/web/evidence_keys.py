"""`GET /api/v1/evidence/keys`: the public keys that check dossiers, for anyone (no token)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .. import evidence_keys

bp = Blueprint("evidence_keys", __name__, url_prefix="/api/v1")


@bp.get("/evidence/keys")
def public_keys() -> Response:
    """The current signing key's public key first, then those of earlier keys (rotation)."""
    response = jsonify({"keys": evidence_keys.keys().published()})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
