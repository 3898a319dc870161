"""The trail's hash chain (contract §8): an event as exported, its hash, and the check.

`hash = SHA-256(prev_hash + "\\n" + JCS(event))`, where the event is the object the
dossier exports, with its `prev_hash` and without its `hash`, and JCS is RFC 8785's
canonical JSON. No I/O: the trail, the migration that chained older trails, the dossier
and `panel-addon evidence` all use these functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature

GENESIS = "0" * 64


def rfc3339(moment: datetime) -> str:
    """An aware moment as RFC 3339 in UTC, always to the microsecond (as it is stored)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_object(
    *,
    seq: int,
    at: datetime,
    type_: str,
    actor: str,
    actor_name: str | None,
    ip: str | None,
    user_agent: str | None,
    data: Mapping[str, Any] | None,
    from_state: str | None,
    to_state: str | None,
    prev_hash: str,
) -> dict[str, Any]:
    """The event as the dossier exports it, without its `hash`.

    A move's states travel in `data` (`from_state`, `to_state`), so the object has
    exactly the contract's members.
    """
    exported = dict(data or {})
    if from_state is not None:
        exported["from_state"] = from_state
    if to_state is not None:
        exported["to_state"] = to_state
    return {
        "seq": seq,
        "at": rfc3339(at),
        "type": type_,
        "actor": {"kind": actor, "name": actor_name, "ip": ip, "user_agent": user_agent},
        "data": exported,
        "prev_hash": prev_hash,
    }


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash of an exported event (its own `hash` member, if any, is left out)."""
    unsigned = {key: value for key, value in event.items() if key != "hash"}
    canonical = rfc8785.dumps(unsigned)
    return hashlib.sha256(f"{event.get('prev_hash')}\n".encode() + canonical).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place where a chain does not hold: which event (by position) and why."""

    position: int
    seq: Any
    type: Any
    reason: str

    def __str__(self) -> str:
        if self.seq is None:
            return self.reason
        return f"event seq {self.seq} ({self.type}): {self.reason}"


def first_break(events: Iterable[Mapping[str, Any]], head: str | None) -> Break | None:
    """Walk a trail from its first event; return where it stops holding, or None.

    Each event must follow the previous one (`seq` one more, `prev_hash` its hash, 64
    zeros for the first), carry the hash of its own content, and the last hash must be
    `head` (a removed last event shows there). `head` None skips that last check.
    """
    previous, position, expected_seq = GENESIS, 0, 1
    for position, event in enumerate(events, start=1):
        seq, type_ = event.get("seq"), event.get("type")
        if seq != expected_seq:
            return Break(position, seq, type_, f"seq {seq} where {expected_seq} was expected")
        if event.get("prev_hash") != previous:
            return Break(position, seq, type_, "prev_hash is not the previous event's hash")
        try:
            computed = event_hash(event)
        except (TypeError, ValueError, rfc8785.CanonicalizationError) as exc:
            return Break(position, seq, type_, f"cannot be put in canonical JSON ({exc})")
        if event.get("hash") != computed:
            return Break(position, seq, type_, "hash does not match the event's content")
        previous, expected_seq = computed, expected_seq + 1
    if head is not None and head != previous:
        return Break(position + 1, None, None, f"head {head} is not the last event's hash")
    return None


def dossier_problem(dossier: Mapping[str, Any], public_keys: Mapping[str, Any]) -> str | None:
    """Check a whole dossier offline: its chain, its head, its signature; the first problem.

    `public_keys` maps key ids to Ed25519 public keys (cryptography's). None: it holds.
    """
    events = dossier.get("events")
    if not isinstance(events, list) or not all(isinstance(e, Mapping) for e in events):
        return "the dossier has no list of events"
    problem = first_break(events, str(dossier.get("head")))
    if problem is not None:
        return str(problem)
    signature = dossier.get("signature")
    if not isinstance(signature, Mapping) or signature.get("alg") != "Ed25519":
        return "the dossier carries no Ed25519 signature"
    key = public_keys.get(str(signature.get("key_id")))
    if key is None:
        return f"signed with key {signature.get('key_id')}, which is not among the keys given"
    unsigned = {name: value for name, value in dossier.items() if name != "signature"}
    try:
        value = str(signature.get("value"))
        key.verify(
            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), rfc8785.dumps(unsigned)
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return f"the signature does not match the dossier (key {signature.get('key_id')})"
    return None
