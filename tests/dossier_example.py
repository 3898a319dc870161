"""A dossier as the contract (§8) shapes it: a reported intervention with all kinds of events."""

from __future__ import annotations

import hashlib
from typing import Any

MAIL_TEXT_FR = """Bonjour Camille,

Alex, de notre équipe technique, a terminé l'intervention sur votre site boutique.example
(ticket n° T-100).

Ce qui a été fait :
Mise à jour de WordPress 6.4 vers 6.7 et de WooCommerce ; caches vidés.

Merci de vérifier votre site avant le samedi 28 novembre 2026 à 10:00 (CET) :
  Tout fonctionne : https://signoff.host.example/i/…/validate
  Signaler un problème : https://signoff.host.example/i/…/report
"""


NOTE = """Le client a signalé un problème sur iv-1 (demande de restauration).

Trail: a6980bec6c226717"""


def _hash(seq: int) -> str:
    return hashlib.sha256(f"event {seq}".encode()).hexdigest()


def _event(seq: int, at: str, type_: str, actor: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "type": type_,
        "actor": {"kind": "system", "name": None, "ip": None, "user_agent": None, **actor},
        "data": data,
        "prev_hash": _hash(seq - 1) if seq > 1 else "0" * 64,
        "hash": _hash(seq),
    }


PANEL = {"kind": "panel"}
SYSTEM = {"kind": "system"}
CLIENT = {
    "kind": "client",
    "name": "camille@example.test",
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
}
SCANNER = {
    "kind": "client",
    "ip": "40.94.12.3",
    "user_agent": "Mozilla/5.0 (compatible; Microsoft Safe Links)",
}


def reported_dossier(language: str = "fr") -> dict[str, Any]:
    """A reported intervention: mails, a scanner's fetch, the client's view and report."""
    events = [
        _event(1, "2026-11-26T08:00:00+00:00", "start", PANEL, technician="Alex"),
        _event(2, "2026-11-26T08:00:05+00:00", "site_checked", SYSTEM, phase="before", pages=2),
        _event(3, "2026-11-26T09:00:00+00:00", "complete", PANEL),
        _event(4, "2026-11-26T09:00:40+00:00", "site_checked", SYSTEM, phase="after", pages=2),
        _event(
            5,
            "2026-11-26T09:01:00+00:00",
            "mail_sent",
            SYSTEM,
            template="completion_request",
            message_id="<signoff.task-1.20261126090000000000@host.example>",
            to="camille@example.test",
            sha256="9f2c" + "0" * 60,
            smtp_reply="250 2.0.0 Ok: queued as 4BqXyZ1k2",
        ),
        _event(6, "2026-11-26T09:01:02Z", "link.viewed", SCANNER, page="validate", automated=True),
        _event(7, "2026-11-26T14:12:30Z", "link.viewed", CLIENT, page="report", automated=False),
        _event(8, "2026-11-26T14:15:02+00:00", "report", CLIENT, late=False),
        _event(9, "2026-11-26T14:15:02+00:00", "backup_held", CLIENT, reference="bk-iv-1"),
        _event(
            10,
            "2026-11-26T14:15:09+00:00",
            "panel_updated",
            SYSTEM,
            action="add_ticket_note",
            ticket="T-100",
            note=NOTE,
        ),
        _event(
            11,
            "2026-11-26T14:15:12+00:00",
            "mail_sent",
            SYSTEM,
            template="reported",
            message_id="<signoff.task-9.20261126141502000000@host.example>",
            to="camille@example.test",
            sha256="41d7" + "0" * 60,
            smtp_reply="250 2.0.0 Ok: queued as 4BqY03mQ7",
        ),
    ]
    return {
        "intervention": {
            "id": "iv-1",
            "state": "reported",
            "ticket_id": "T-100",
            "client": {
                "id": "7",
                "email": "camille@example.test",
                "name": "Camille Dupont",
                "language": language,
                "eligible": True,
            },
            "site": "boutique.example",
            "technician": "Alex",
            "started_at": "2026-11-26T08:00:00+00:00",
            "completed_at": "2026-11-26T09:00:00+00:00",
            "deadline_at": "2026-11-27T09:00:00+00:00",
            "decided_at": "2026-11-26T14:15:02+00:00",
            "late_report": False,
            "late_report_review": None,
            "restore_requested": True,
            "resolution": None,
            "backup": {
                "reference": "bk-iv-1",
                "state": "held",
                "created_at": "2026-11-26T08:00:00+00:00",
                "expires_at": "2026-11-28T09:00:00+00:00",
            },
            "mail_held": False,
            "mail_held_at": None,
            "site_check": [
                {
                    "url": "https://boutique.example/",
                    "label": "Home page",
                    "verdict": "unchanged",
                    "compared": True,
                    "note": None,
                    "changes": [],
                    "before": {"status": 200, "forms": [], "signs": [], "error": None},
                    "after": {"status": 200, "forms": [], "signs": [], "error": None},
                },
                {
                    "url": "https://boutique.example/checkout/",
                    "label": "Checkout page",
                    "verdict": "regressed",
                    "compared": True,
                    "note": None,
                    "changes": [{"code": "page_fails", "regression": True, "text": "now fails"}],
                    "before": {
                        "status": 200,
                        "forms": [{"id": "checkout", "fields": ["billing_email"]}],
                        "signs": [],
                        "error": None,
                    },
                    "after": {"status": 500, "forms": [], "signs": [], "error": None},
                },
            ],
            "summary": "Mise à jour de WordPress 6.4 vers 6.7 et de WooCommerce ; caches vidés.",
            "report_message": "Depuis la mise à jour, la page de paiement affiche une erreur 500.",
            "cancelled_reason": None,
        },
        "events": events,
        "mails": [
            {
                "kind": "completion_request",
                "to": "camille@example.test",
                "message_id": "<signoff.task-1.20261126090000000000@host.example>",
                "sha256": "9f2c" + "0" * 60,
                "smtp_reply": "250 2.0.0 Ok: queued as 4BqXyZ1k2",
                "sent_at": "2026-11-26T09:01:00+00:00",
                "text": MAIL_TEXT_FR,
            },
            {
                "kind": "reported",
                "to": "camille@example.test",
                "message_id": "<signoff.task-9.20261126141502000000@host.example>",
                "sha256": "41d7" + "0" * 60,
                "smtp_reply": "250 2.0.0 Ok: queued as 4BqY03mQ7",
                "sent_at": "2026-11-26T14:15:12+00:00",
            },
        ],
        "head": events[-1]["hash"],
        "generated_at": "2026-12-02T10:30:00+00:00",
        "signature": {"alg": "Ed25519", "key_id": "k-2026-11", "value": "c2lnbmF0dXJl" * 7},
    }
