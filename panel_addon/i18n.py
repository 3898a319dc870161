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
        # Client pages.
        "page.title.validate": "Valider l'intervention",
        "page.title.report": "Signaler un problème",
        "page.intro": "{technician} a terminé une intervention sur votre site {site}.",
        "page.intro_no_tech": "Notre support technique a terminé une intervention sur votre site {site}.",
        "page.done": "Ce qui a été fait",
        "page.check": "Avant de répondre, vérifiez l'ensemble de votre site, en particulier :",
        "page.check.checkout": "le parcours d'achat (panier, commande, paiement) ;",
        "page.check.forms": "les formulaires de contact ;",
        "page.check.rest": "les pages importantes et l'espace d'administration.",
        "page.deadline": "Vous avez jusqu'au {deadline} pour répondre.",
        "page.silence": "Sans réponse à cette date, l'intervention sera considérée comme acceptée.",
        "page.backup": "Une sauvegarde ({reference}) a été faite avant l'intervention. Elle est conservée jusqu'au {expires}.",
        "page.validate.button": "Je valide l'intervention",
        "page.validate.help": "Tout fonctionne ? Confirmez en un clic.",
        "page.report.instead": "Quelque chose ne va pas ? Signaler un problème",
        "page.validate.instead": "Tout fonctionne ? Valider l'intervention",
        "page.report.message": "Décrivez ce qui ne fonctionne pas (facultatif)",
        "page.report.restore": "Je souhaite que mon site soit restauré à partir de la sauvegarde",
        "page.report.button": "Envoyer mon signalement",
        "page.report.late": "Le délai de validation est dépassé depuis le {deadline} : votre signalement sera enregistré comme tardif.",
        "page.validated": "Merci ! Vous avez validé l'intervention le {decided}.",
        "page.validated.next": "La sauvegarde faite avant l'intervention sera conservée jusqu'au {expires}, puis supprimée.",
        "page.reported": "Votre signalement a bien été transmis le {decided}.",
        "page.reported.next": "Le ticket {ticket} est rouvert et un technicien va s'en occuper. Un e-mail de confirmation vous a été envoyé.",
        "page.reported.backup": "La sauvegarde est conservée tant que le problème n'est pas réglé.",
        "page.reported.restore": "Vous avez demandé la restauration de votre site à partir de la sauvegarde.",
        "page.reported.late": "Ce signalement est arrivé après le délai de validation ; il a été enregistré comme tardif.",
        "page.lapsed": "Le délai de validation s'est terminé le {deadline} sans réponse : l'intervention est considérée comme acceptée.",
        "page.lapsed.report": "Si vous constatez un problème, vous pouvez encore le signaler.",
        "page.cancelled": "Cette intervention a été annulée. Vous n'avez rien à faire.",
        "page.resolved": "Votre signalement a été traité par notre équipe.",
        "page.in_progress": "L'intervention est encore en cours.",
        "page.already": "Une décision a déjà été enregistrée pour cette intervention ; elle ne peut plus être modifiée ici.",
        "page.window_closed": "Le délai de validation est dépassé : l'intervention n'a pas pu être validée.",
        "page.contact": "Une question ? Contactez notre support",
        "page.error.invalid.title": "Lien non valide",
        "page.error.invalid": "Ce lien n'est pas valide. Il a peut-être été mal copié. Utilisez le lien de l'e-mail le plus récent ou contactez notre support.",
        "page.error.expired.title": "Lien expiré",
        "page.error.expired": "Ce lien a expiré. Contactez notre support si vous avez besoin d'aide.",
        "page.error.unknown.title": "Intervention introuvable",
        "page.error.unknown": "Ce lien ne correspond à aucune intervention en cours. Contactez notre support si vous avez besoin d'aide.",
        "page.error.generic.title": "Une erreur est survenue",
        "page.error.generic": "Nous n'avons pas pu traiter votre demande. Réessayez dans quelques minutes ; rien n'a été perdu.",
        "page.error.busy": "Trop de demandes en peu de temps. Réessayez dans une minute.",
        "page.error.notfound": "Cette page n'existe pas.",
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
        "page.title.validate": "Validate the intervention",
        "page.title.report": "Report a problem",
        "page.intro": "{technician} completed an intervention on your site {site}.",
        "page.intro_no_tech": "Our support team completed an intervention on your site {site}.",
        "page.done": "What was done",
        "page.check": "Before you answer, please check your whole site, above all:",
        "page.check.checkout": "the purchase path (cart, checkout, payment);",
        "page.check.forms": "the contact forms;",
        "page.check.rest": "your main pages and your site's admin area.",
        "page.deadline": "You have until {deadline} to answer.",
        "page.silence": "Without an answer by then, the intervention will be considered accepted.",
        "page.backup": "A backup ({reference}) was taken before the intervention. It is kept until {expires}.",
        "page.validate.button": "I validate the intervention",
        "page.validate.help": "Everything works? Confirm with one click.",
        "page.report.instead": "Something is wrong? Report a problem",
        "page.validate.instead": "Everything works? Validate the intervention",
        "page.report.message": "Describe what does not work (optional)",
        "page.report.restore": "I want my site restored from the backup",
        "page.report.button": "Send my report",
        "page.report.late": "The validation window closed on {deadline}: your report will be recorded as late.",
        "page.validated": "Thank you! You validated the intervention on {decided}.",
        "page.validated.next": "The backup taken before the intervention is kept until {expires}, then deleted.",
        "page.reported": "Your report was received on {decided}.",
        "page.reported.next": "Ticket {ticket} is reopened and a technician will look into it. A confirmation email was sent to you.",
        "page.reported.backup": "The backup is kept until the problem is settled.",
        "page.reported.restore": "You asked for your site to be restored from the backup.",
        "page.reported.late": "This report arrived after the validation window; it was recorded as late.",
        "page.lapsed": "The validation window closed on {deadline} without an answer: the intervention is considered accepted.",
        "page.lapsed.report": "If you find a problem, you can still report it.",
        "page.cancelled": "This intervention was cancelled. There is nothing for you to do.",
        "page.resolved": "Your report was handled by our team.",
        "page.in_progress": "The intervention is still in progress.",
        "page.already": "A decision was already recorded for this intervention; it cannot be changed here.",
        "page.window_closed": "The validation window is closed: the intervention could not be validated.",
        "page.contact": "A question? Contact our support",
        "page.error.invalid.title": "Invalid link",
        "page.error.invalid": "This link is not valid. It may have been copied incompletely. Use the link in the most recent email, or contact our support.",
        "page.error.expired.title": "Expired link",
        "page.error.expired": "This link has expired. Contact our support if you need help.",
        "page.error.unknown.title": "Intervention not found",
        "page.error.unknown": "This link does not match any current intervention. Contact our support if you need help.",
        "page.error.generic.title": "Something went wrong",
        "page.error.generic": "We could not process your request. Please try again in a few minutes; nothing was lost.",
        "page.error.busy": "Too many requests in a short time. Please try again in a minute.",
        "page.error.notfound": "This page does not exist.",
    },
}


def translate(language: str | None, key: str, **values: Any) -> str:
    """The text for `key` in `language` (English when missing), with `values` filled in."""
    lang = language if language in SUPPORTED_LANGUAGES else "en"
    text = CATALOG[lang].get(key) or CATALOG["en"][key]
    return text.format(**values) if values else text
