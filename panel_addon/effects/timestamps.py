"""An RFC 3161 time-stamp of the trail's head, by the authority EVIDENCE_TSA_URL names.

The token proves the head, hence every event up to it, existed at the authority's time;
it is kept in the trail itself (a `trail_timestamped` event) and so in the dossier.
Anyone checks it with `openssl ts -verify -digest <head> ...` (docs/evidence.md).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from asn1crypto import algos, tsp
from flask import current_app

from .. import outbox
from ..domain.trail import SYSTEM, add_event
from ..models import Intervention, Task, db

CONTENT_TYPE = "application/timestamp-query"


def request_for(digest: bytes, nonce: int) -> bytes:
    """The DER of a TimeStampReq over a SHA-256 digest, asking for the TSA's certificate."""
    imprint = tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": digest,
        }
    )
    request = tsp.TimeStampReq(
        {"version": "v1", "message_imprint": imprint, "nonce": nonce, "cert_req": True}
    )
    return bytes(request.dump())


def token_from(answer: bytes, digest: bytes, nonce: int) -> tuple[bytes, datetime]:
    """The token (DER of its ContentInfo) and its time, from a TSA's TimeStampResp.

    Raises ValueError when the answer is not a granted stamp of this digest and nonce.
    """
    try:
        response = tsp.TimeStampResp.load(answer)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = response["status"]["status_string"].native
            raise ValueError(f"the authority refused: {status} {text or ''}".strip())
        token = response["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        stamped, stamped_nonce = imprint["hashed_message"].native, info["nonce"].native
        gen_time = info["gen_time"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a time-stamp answer: {exc}") from None
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or stamped != digest:
        raise ValueError("the authority stamped another digest")
    if stamped_nonce != nonce:
        raise ValueError("the authority answered another request (nonce)")
    return bytes(token.dump()), gen_time


def timestamp_trail(task: Task, now: datetime) -> dict[str, Any] | None:
    """Have the head named in the task time-stamped; append the token to the trail.

    Scheduled at a decision or a lapse when EVIDENCE_TSA_URL is set. An authority that
    cannot be reached, or answers 5xx, is tried again later; one that refuses, for good.
    Run twice, it stamps the head twice (both tokens hold).
    """
    url = current_app.config.get("EVIDENCE_TSA_URL")
    if not url:
        raise outbox.Skip("no time-stamping authority (EVIDENCE_TSA_URL)")
    intervention = db.session.get(Intervention, task.intervention_id or 0)
    if intervention is None:
        raise outbox.Skip("the intervention is gone")
    head = str(task.payload["head"])
    digest, nonce = bytes.fromhex(head), secrets.randbits(63)
    timeout = current_app.config["EVIDENCE_TSA_TIMEOUT"].total_seconds()
    try:
        answer = requests.post(
            url,
            data=request_for(digest, nonce),
            headers={"Content-Type": CONTENT_TYPE},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise outbox.TransientError(f"time-stamping authority: {type(exc).__name__}") from None
    if answer.status_code >= 500 or answer.status_code == 429:
        raise outbox.TransientError(f"time-stamping authority: HTTP {answer.status_code}")
    if answer.status_code != 200:
        raise outbox.PermanentError(f"time-stamping authority: HTTP {answer.status_code}")
    try:
        token, gen_time = token_from(answer.content, digest, nonce)
    except ValueError as exc:
        raise outbox.PermanentError(f"time-stamping authority: {exc}") from None
    add_event(
        intervention,
        SYSTEM,
        "trail_timestamped",
        now,
        seq=task.payload.get("seq"),
        head=head,
        tsa=_without_credentials(url),
        gen_time=gen_time.isoformat(),
        token=base64.b64encode(token).decode("ascii"),
    )
    return {"gen_time": gen_time.isoformat()}


def _without_credentials(url: str) -> str:
    # A user and password in the URL are the operator's secret, not evidence.
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
