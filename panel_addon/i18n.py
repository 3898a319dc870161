"""Short texts of the service in French and English: ticket notes and the client pages.

Mails live in mail_templates/ (one folder per mail and language) so a host can brand
them; the texts here are the ones a host rarely changes.
"""

from __future__ import annotations

from typing import Any

from .settings import SUPPORTED_LANGUAGES

CATALOG: dict[str, dict[str, str]] = {
    "fr": {
        # Ticket notes, read by technicians in the panel.
        "note.completed": (
            "Intervention {panel_id} terminée : le client doit la valider avant le {deadline}. "
            "Un e-mail de validation lui a été envoyé."
        ),
        "note.cancelled": "Intervention {panel_id} annulée ({reason}).",
        "note.validated": "Le client a validé l'intervention {panel_id} (depuis {ip}).",
        "note.reported": (
            "Le client signale un problème après l'intervention {panel_id}.\n"
            "Restauration demandée : {restore}\n{backup}\nMessage du client :\n{message}"
        ),
        "note.reported_late": (
            "Le client signale un problème après l'intervention {panel_id}, APRÈS le délai de "
            "validation (signalement tardif).\nRestauration demandée : {restore}\n{backup}\n"
            "Message du client :\n{message}"
        ),
        "note.lapsed": (
            "Le client n'a ni validé ni signalé de problème pour l'intervention {panel_id} "
            "avant le {deadline} : délai de validation dépassé."
        ),
        "note.backup_expired": (
            "Sauvegarde {reference} de l'intervention {panel_id} expirée "
            "(durée de conservation écoulée)."
        ),
        "note.backup_held": "Sauvegarde {reference} de l'intervention {panel_id} conservée.",
        "note.resolved": (
            "Signalement de l'intervention {panel_id} clos par {staff} : {resolution}."
        ),
        "backup.held": "Sauvegarde {reference} conservée tant que le signalement est ouvert.",
        "backup.already_expired": "Sauvegarde {reference} déjà expirée.",
        "backup.none": "Aucune sauvegarde enregistrée.",
        "resolution.restored": "site restauré depuis la sauvegarde",
        "resolution.fixed": "problème corrigé",
        "resolution.no_fault": "pas de problème dû à l'intervention",
        "word.yes": "oui",
        "word.no": "non",
        "internal_note.line": (
            "Non éligible aux interventions gratuites depuis le {since} "
            "(intervention {intervention})"
        ),
    },
    "en": {
        "note.completed": (
            "Intervention {panel_id} completed: the client must validate it by {deadline}. "
            "A validation email was sent."
        ),
        "note.cancelled": "Intervention {panel_id} cancelled ({reason}).",
        "note.validated": "The client validated intervention {panel_id} (from {ip}).",
        "note.reported": (
            "The client reports a problem after intervention {panel_id}.\n"
            "Restore requested: {restore}\n{backup}\nClient's message:\n{message}"
        ),
        "note.reported_late": (
            "The client reports a problem after intervention {panel_id}, AFTER the validation "
            "deadline (late report).\nRestore requested: {restore}\n{backup}\n"
            "Client's message:\n{message}"
        ),
        "note.lapsed": (
            "The client neither validated nor reported a problem for intervention {panel_id} "
            "by {deadline}: the validation window lapsed."
        ),
        "note.backup_expired": (
            "Backup {reference} of intervention {panel_id} expired (retention over)."
        ),
        "note.backup_held": "Backup {reference} of intervention {panel_id} is held.",
        "note.resolved": "Report on intervention {panel_id} closed by {staff}: {resolution}.",
        "backup.held": "Backup {reference} is held while the report is open.",
        "backup.already_expired": "Backup {reference} had already expired.",
        "backup.none": "No backup was recorded.",
        "resolution.restored": "site restored from the backup",
        "resolution.fixed": "problem fixed",
        "resolution.no_fault": "no fault from the intervention",
        "word.yes": "yes",
        "word.no": "no",
        "internal_note.line": (
            "Not eligible for free interventions since {since} (intervention {intervention})"
        ),
    },
}


def translate(language: str | None, key: str, **values: Any) -> str:
    """The text for `key` in `language` (English when missing), with `values` filled in."""
    lang = language if language in SUPPORTED_LANGUAGES else "en"
    text = CATALOG[lang].get(key) or CATALOG["en"][key]
    return text.format(**values) if values else text
