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


# The staff view (/staff, panel_addon/staff_view.py), in STAFF_LANGUAGE.
CATALOG["fr"].update(
    {
        "staff.app": "Validation des interventions",
        "staff.skip": "Aller au contenu",
        "staff.signed_in_as": "Connecté : {name}",
        "staff.logout": "Se déconnecter",
        "staff.none": "—",
        "staff.yes": "oui",
        "staff.no": "non",
        "staff.list.title": "Interventions",
        "staff.list.counts": "Interventions par état",
        "staff.list.all": "Toutes",
        "staff.list.empty": "Aucune intervention ne correspond à ces filtres.",
        "staff.list.newer": "← Plus récentes",
        "staff.list.older": "Plus anciennes →",
        "staff.list.first": "Début de la liste",
        "staff.list.paging": "Pages",
        "staff.filter.title": "Filtrer",
        "staff.filter.state": "État",
        "staff.filter.client": "Client (n°)",
        "staff.filter.technician": "Technicien",
        "staff.filter.ticket": "Ticket (n°)",
        "staff.filter.from": "Commencée depuis le",
        "staff.filter.to": "jusqu'au",
        "staff.filter.late": "Signalements tardifs",
        "staff.filter.held": "Sauvegardes conservées",
        "staff.filter.apply": "Filtrer",
        "staff.filter.reset": "Effacer les filtres",
        "staff.col.intervention": "Intervention",
        "staff.col.client": "Client",
        "staff.col.ticket": "Ticket",
        "staff.col.technician": "Technicien",
        "staff.col.state": "État",
        "staff.col.deadline": "Échéance",
        "staff.col.backup": "Sauvegarde",
        "staff.col.started": "Commencée",
        "staff.left": "reste {left}",
        "staff.overdue": "échéance passée",
        "staff.ineligible": "Non éligible",
        "staff.late": "Tardif",
        "staff.mail_held": "E-mail retenu",
        "staff.state.in_progress": "En cours",
        "staff.state.awaiting_validation": "En attente du client",
        "staff.state.validated": "Validée",
        "staff.state.reported": "Problème signalé",
        "staff.state.lapsed": "Délai dépassé",
        "staff.state.resolved": "Signalement clos",
        "staff.state.cancelled": "Annulée",
        "staff.backup.none": "aucune",
        "staff.backup.kept": "conservée",
        "staff.backup.held": "retenue",
        "staff.backup.expired": "expirée",
        "staff.review.pending": "à examiner",
        "staff.review.flagged": "client rendu non éligible",
        "staff.review.dismissed": "classé sans suite",
        "staff.detail.back": "Toutes les interventions",
        "staff.detail.title": "Intervention {id}",
        "staff.detail.client": "Client",
        "staff.detail.eligible": "Éligible aux interventions gratuites",
        "staff.detail.ineligible": "Non éligible aux interventions gratuites depuis le {since}",
        "staff.detail.ineligible_reason": "Motif : {reason}",
        "staff.detail.ticket": "Ticket",
        "staff.detail.open_ticket": "ouvrir dans WHMCS",
        "staff.detail.site": "Site",
        "staff.detail.technician": "Technicien",
        "staff.detail.dates": "Dates",
        "staff.detail.started": "Commencée",
        "staff.detail.completed": "Terminée",
        "staff.detail.deadline": "Échéance de validation",
        "staff.detail.decided": "Décision du client",
        "staff.detail.summary": "Ce qui a été fait (envoyé au client)",
        "staff.detail.report": "Signalement du client",
        "staff.detail.report_message": "Message",
        "staff.detail.restore": "Restauration demandée",
        "staff.detail.late_report": "Signalement tardif",
        "staff.detail.review": "Examen",
        "staff.detail.resolution": "Issue",
        "staff.detail.cancelled": "Motif de l'annulation",
        "staff.detail.backup": "Sauvegarde",
        "staff.detail.backup_reference": "Référence",
        "staff.detail.backup_state": "État",
        "staff.detail.backup_created": "Faite le",
        "staff.detail.backup_expires": "Expire le",
        "staff.detail.site_check": "Vérification du site",
        "staff.detail.url": "Adresse",
        "staff.detail.verdict": "Résultat",
        "staff.verdict.pending": "en attente",
        "staff.verdict.unchanged": "inchangée",
        "staff.verdict.changed": "modifiée",
        "staff.verdict.regressed": "régression",
        "staff.detail.mail_held": "L'e-mail au client est retenu en attendant une décision.",
        "staff.detail.trail": "Historique",
        "staff.detail.when": "Quand",
        "staff.detail.who": "Qui",
        "staff.detail.what": "Quoi",
        "staff.detail.where": "D'où",
        "staff.detail.details": "Détails",
        "staff.detail.mails": "E-mails au client",
        "staff.detail.mail": "E-mail",
        "staff.detail.effects": "Effets dans le panel et travail planifié",
        "staff.detail.effect": "Action",
        "staff.detail.effect_state": "État",
        "staff.detail.attempts": "Échecs",
        "staff.detail.error": "Erreur",
        "staff.detail.due": "Prévu le",
        "staff.detail.done": "Fait le",
        "staff.detail.nothing": "Rien pour l'instant.",
        "staff.effect.pending": "en attente",
        "staff.effect.done": "fait",
        "staff.effect.failed": "échec",
        "staff.effect.skipped": "sans objet",
        "staff.effect.cancelled": "annulé",
        "staff.effect.retrying": "nouvel essai prévu",
        "staff.mail.completion_request": "Demande de validation",
        "staff.mail.reminder": "Rappel",
        "staff.mail.validated": "Confirmation de validation",
        "staff.mail.reported": "Accusé de réception du signalement",
        "staff.panel.add_ticket_note": "Note sur le ticket",
        "staff.panel.update_ticket": "Statut du ticket",
        "staff.panel.set_ineligible_note": "Note interne : client non éligible",
        "staff.panel.remove_ineligible_note": "Note interne : ligne retirée",
        "staff.panel.lapse": "Fin du délai de validation",
        "staff.panel.expire_backup": "Expiration de la sauvegarde",
        "staff.panel.send_mail": "E-mail",
        "staff.actor.panel": "panel",
        "staff.actor.client": "client",
        "staff.actor.staff": "équipe",
        "staff.actor.system": "service",
        "staff.event.start": "Intervention commencée",
        "staff.event.complete": "Intervention terminée",
        "staff.event.cancel": "Intervention annulée",
        "staff.event.validate": "Validée par le client",
        "staff.event.report": "Problème signalé par le client",
        "staff.event.lapse": "Délai de validation dépassé",
        "staff.event.resolve": "Signalement clos",
        "staff.event.backup_held": "Sauvegarde retenue",
        "staff.event.backup_released": "Sauvegarde libérée",
        "staff.event.backup_expired": "Sauvegarde expirée",
        "staff.event.mail_sent": "E-mail envoyé",
        "staff.event.mail_refused": "E-mail refusé",
        "staff.event.mail_resend_requested": "Nouvel envoi de l'e-mail demandé",
        "staff.event.panel_updated": "Panel mis à jour",
        "staff.event.client_ineligible": "Client rendu non éligible",
        "staff.event.client_eligible_again": "Client de nouveau éligible",
        "staff.event.late_report_dismissed": "Signalement tardif classé sans suite",
        "staff.actions": "Actions",
        "staff.action.resend": "Renvoyer l'e-mail",
        "staff.action.resend.help": (
            "Le client reçoit de nouveau l'e-mail qui correspond à "
            "l'état actuel, avec de nouveaux liens."
        ),
        "staff.action.hold": "Retenir la sauvegarde",
        "staff.action.hold.help": "La sauvegarde ne sera pas supprimée tant qu'elle est retenue.",
        "staff.action.release": "Libérer la sauvegarde",
        "staff.action.release.help": (
            "La sauvegarde expire à sa date normale (tout de suite si elle est passée)."
        ),
        "staff.action.resolve": "Clore le signalement",
        "staff.action.resolution": "Issue",
        "staff.action.flag": "Rendre le client non éligible",
        "staff.action.flag.help": "Ajoute une ligne à la note interne du client dans WHMCS.",
        "staff.action.flag.reason": "Pourquoi le client n'est plus éligible",
        "staff.action.cancel.reason": "Pourquoi l'intervention est annulée",
        "staff.action.lift": "Rendre le client de nouveau éligible",
        "staff.action.lift.help": "Retire la ligne de la note interne du client (et rien d'autre).",
        "staff.action.dismiss": "Classer le signalement tardif sans suite",
        "staff.action.cancel": "Annuler l'intervention",
        "staff.action.cancel.help": "Plus aucun e-mail ni délai pour cette intervention.",
        "staff.action.release_mail": "Envoyer l'e-mail retenu",
        "staff.action.recheck": "Vérifier le site à nouveau",
        "staff.done.resend": "L'e-mail va être renvoyé dans un instant.",
        "staff.done.hold": "La sauvegarde est retenue.",
        "staff.done.release": "La sauvegarde est libérée.",
        "staff.done.resolve": "Le signalement est clos.",
        "staff.done.flag": "Le client n'est plus éligible ; la note interne va être mise à jour.",
        "staff.done.lift": (
            "Le client est de nouveau éligible ; la note interne va être mise à jour."
        ),
        "staff.done.dismiss": "Le signalement tardif est classé sans suite.",
        "staff.done.cancel": "L'intervention est annulée.",
        "staff.done.release_mail": "L'e-mail va être envoyé.",
        "staff.done.recheck": "Le site va être vérifié à nouveau dans un instant.",
        "staff.done.nothing": "Rien à changer : c'était déjà fait.",
        "staff.error.refused": "Impossible : {detail}",
        "staff.error.csrf": "Ce formulaire a expiré. Rechargez la page et recommencez.",
        "staff.error.notfound": "Aucune intervention ne porte ce numéro.",
        "staff.error.filter": "Filtre non valide : {detail}",
        "staff.error.title": "Impossible d'afficher cette page",
        "staff.login.title": "Ouvrir la vue équipe",
        "staff.login.as": "Continuer en tant que {admin}",
        "staff.login.help": (
            "Ce lien à usage unique a été créé pour vous par WHMCS ; il "
            "n'est valable qu'une minute."
        ),
        "staff.login.invalid": "Ce lien de connexion n'est pas valide.",
        "staff.login.expired": "Ce lien de connexion a expiré (il n'est valable qu'une minute).",
        "staff.login.used": "Ce lien de connexion a déjà servi.",
        "staff.login.again": (
            "Ouvrez de nouveau la vue équipe depuis WHMCS : Addons > Intervention sign-off."
        ),
        "staff.session.ended": "Votre session est terminée.",
        "staff.session.out": "Vous êtes déconnecté.",
    }
)
CATALOG["en"].update(
    {
        "staff.app": "Intervention sign-off",
        "staff.skip": "Skip to content",
        "staff.signed_in_as": "Signed in: {name}",
        "staff.logout": "Sign out",
        "staff.none": "—",
        "staff.yes": "yes",
        "staff.no": "no",
        "staff.list.title": "Interventions",
        "staff.list.counts": "Interventions by state",
        "staff.list.all": "All",
        "staff.list.empty": "No intervention matches these filters.",
        "staff.list.newer": "← Newer",
        "staff.list.older": "Older →",
        "staff.list.first": "Back to the newest",
        "staff.list.paging": "Pages",
        "staff.filter.title": "Filter",
        "staff.filter.state": "State",
        "staff.filter.client": "Client (id)",
        "staff.filter.technician": "Technician",
        "staff.filter.ticket": "Ticket (id)",
        "staff.filter.from": "Started from",
        "staff.filter.to": "to",
        "staff.filter.late": "Late reports",
        "staff.filter.held": "Backups held",
        "staff.filter.apply": "Filter",
        "staff.filter.reset": "Clear the filters",
        "staff.col.intervention": "Intervention",
        "staff.col.client": "Client",
        "staff.col.ticket": "Ticket",
        "staff.col.technician": "Technician",
        "staff.col.state": "State",
        "staff.col.deadline": "Deadline",
        "staff.col.backup": "Backup",
        "staff.col.started": "Started",
        "staff.left": "{left} left",
        "staff.overdue": "deadline passed",
        "staff.ineligible": "Not eligible",
        "staff.late": "Late",
        "staff.mail_held": "Mail held",
        "staff.state.in_progress": "In progress",
        "staff.state.awaiting_validation": "Awaiting the client",
        "staff.state.validated": "Validated",
        "staff.state.reported": "Problem reported",
        "staff.state.lapsed": "Lapsed",
        "staff.state.resolved": "Report closed",
        "staff.state.cancelled": "Cancelled",
        "staff.backup.none": "none",
        "staff.backup.kept": "kept",
        "staff.backup.held": "held",
        "staff.backup.expired": "expired",
        "staff.review.pending": "to review",
        "staff.review.flagged": "client made not eligible",
        "staff.review.dismissed": "dismissed",
        "staff.detail.back": "All interventions",
        "staff.detail.title": "Intervention {id}",
        "staff.detail.client": "Client",
        "staff.detail.eligible": "Eligible for free interventions",
        "staff.detail.ineligible": "Not eligible for free interventions since {since}",
        "staff.detail.ineligible_reason": "Reason: {reason}",
        "staff.detail.ticket": "Ticket",
        "staff.detail.open_ticket": "open in WHMCS",
        "staff.detail.site": "Site",
        "staff.detail.technician": "Technician",
        "staff.detail.dates": "Dates",
        "staff.detail.started": "Started",
        "staff.detail.completed": "Completed",
        "staff.detail.deadline": "Validation deadline",
        "staff.detail.decided": "Client's decision",
        "staff.detail.summary": "What was done (sent to the client)",
        "staff.detail.report": "The client's report",
        "staff.detail.report_message": "Message",
        "staff.detail.restore": "Restore requested",
        "staff.detail.late_report": "Late report",
        "staff.detail.review": "Review",
        "staff.detail.resolution": "Outcome",
        "staff.detail.cancelled": "Why it was cancelled",
        "staff.detail.backup": "Backup",
        "staff.detail.backup_reference": "Reference",
        "staff.detail.backup_state": "State",
        "staff.detail.backup_created": "Taken",
        "staff.detail.backup_expires": "Expires",
        "staff.detail.site_check": "Site check",
        "staff.detail.url": "Address",
        "staff.detail.verdict": "Verdict",
        "staff.verdict.pending": "pending",
        "staff.verdict.unchanged": "unchanged",
        "staff.verdict.changed": "changed",
        "staff.verdict.regressed": "regressed",
        "staff.detail.mail_held": "The client's mail is held until someone decides.",
        "staff.detail.trail": "Event trail",
        "staff.detail.when": "When",
        "staff.detail.who": "Who",
        "staff.detail.what": "What",
        "staff.detail.where": "From where",
        "staff.detail.details": "Details",
        "staff.detail.mails": "Mails to the client",
        "staff.detail.mail": "Mail",
        "staff.detail.effects": "Panel effects and scheduled work",
        "staff.detail.effect": "Action",
        "staff.detail.effect_state": "State",
        "staff.detail.attempts": "Failed tries",
        "staff.detail.error": "Error",
        "staff.detail.due": "Due",
        "staff.detail.done": "Done",
        "staff.detail.nothing": "Nothing yet.",
        "staff.effect.pending": "pending",
        "staff.effect.done": "done",
        "staff.effect.failed": "failed",
        "staff.effect.skipped": "not needed",
        "staff.effect.cancelled": "cancelled",
        "staff.effect.retrying": "will be retried",
        "staff.mail.completion_request": "Validation request",
        "staff.mail.reminder": "Reminder",
        "staff.mail.validated": "Validation confirmed",
        "staff.mail.reported": "Report acknowledged",
        "staff.panel.add_ticket_note": "Ticket note",
        "staff.panel.update_ticket": "Ticket status",
        "staff.panel.set_ineligible_note": "Internal note: not eligible",
        "staff.panel.remove_ineligible_note": "Internal note: line removed",
        "staff.panel.lapse": "End of the validation window",
        "staff.panel.expire_backup": "Backup expiry",
        "staff.panel.send_mail": "Mail",
        "staff.actor.panel": "panel",
        "staff.actor.client": "client",
        "staff.actor.staff": "staff",
        "staff.actor.system": "service",
        "staff.event.start": "Intervention started",
        "staff.event.complete": "Intervention completed",
        "staff.event.cancel": "Intervention cancelled",
        "staff.event.validate": "Validated by the client",
        "staff.event.report": "Problem reported by the client",
        "staff.event.lapse": "Validation window lapsed",
        "staff.event.resolve": "Report closed",
        "staff.event.backup_held": "Backup held",
        "staff.event.backup_released": "Backup released",
        "staff.event.backup_expired": "Backup expired",
        "staff.event.mail_sent": "Mail sent",
        "staff.event.mail_refused": "Mail refused",
        "staff.event.mail_resend_requested": "Mail to be sent again",
        "staff.event.panel_updated": "Panel updated",
        "staff.event.client_ineligible": "Client made not eligible",
        "staff.event.client_eligible_again": "Client eligible again",
        "staff.event.late_report_dismissed": "Late report dismissed",
        "staff.actions": "Actions",
        "staff.action.resend": "Resend the mail",
        "staff.action.resend.help": (
            "The client gets the mail for the current state again, with new links."
        ),
        "staff.action.hold": "Hold the backup",
        "staff.action.hold.help": "A held backup is never deleted until released.",
        "staff.action.release": "Release the backup",
        "staff.action.release.help": (
            "The backup expires on its usual date (at once if that has passed)."
        ),
        "staff.action.resolve": "Close the report",
        "staff.action.resolution": "Outcome",
        "staff.action.flag": "Mark the client not eligible",
        "staff.action.flag.help": "Adds a line to the client's internal note in WHMCS.",
        "staff.action.flag.reason": "Why the client is no longer eligible",
        "staff.action.cancel.reason": "Why the intervention is cancelled",
        "staff.action.lift": "Make the client eligible again",
        "staff.action.lift.help": (
            "Removes that line from the client's internal note (nothing else)."
        ),
        "staff.action.dismiss": "Dismiss the late report",
        "staff.action.cancel": "Cancel the intervention",
        "staff.action.cancel.help": "No more mail or deadline for this intervention.",
        "staff.action.release_mail": "Send the held mail",
        "staff.action.recheck": "Check the site again",
        "staff.done.resend": "The mail will be sent again in a moment.",
        "staff.done.hold": "The backup is held.",
        "staff.done.release": "The backup is released.",
        "staff.done.resolve": "The report is closed.",
        "staff.done.flag": "The client is no longer eligible; the internal note will be updated.",
        "staff.done.lift": "The client is eligible again; the internal note will be updated.",
        "staff.done.dismiss": "The late report is dismissed.",
        "staff.done.cancel": "The intervention is cancelled.",
        "staff.done.release_mail": "The mail will be sent.",
        "staff.done.recheck": "The site will be checked again in a moment.",
        "staff.done.nothing": "Nothing to change: it was already so.",
        "staff.error.refused": "Not possible: {detail}",
        "staff.error.csrf": "This form has expired. Reload the page and try again.",
        "staff.error.notfound": "No intervention has this id.",
        "staff.error.filter": "Invalid filter: {detail}",
        "staff.error.title": "This page cannot be shown",
        "staff.login.title": "Open the staff view",
        "staff.login.as": "Continue as {admin}",
        "staff.login.help": "WHMCS made this single-use link for you; it lasts about a minute.",
        "staff.login.invalid": "This sign-in link is not valid.",
        "staff.login.expired": "This sign-in link has expired (it lasts about a minute).",
        "staff.login.used": "This sign-in link was already used.",
        "staff.login.again": (
            "Open the staff view again from WHMCS: Addons > Intervention sign-off."
        ),
        "staff.session.ended": "Your session has ended.",
        "staff.session.out": "You are signed out.",
    }
)


# The site check (panel_addon/site_check.py, docs/site-check.md): what the client reads in
# their mail and link page, and what staff read in ticket notes and the staff JSON.
CATALOG["fr"].update(
    {
        "sitecheck.label.home": "Page d'accueil",
        "sitecheck.label.checkout": "Page de commande",
        "sitecheck.label.cart": "Page panier",
        "sitecheck.label.contact": "Page de contact",
        "sitecheck.label.account": "Espace client",
        "sitecheck.label.page": "Page {path}",
        "sitecheck.line": "{label} : {outcome}",
        "sitecheck.page.heading": "Ce que nous avons vérifié automatiquement :",
        "sitecheck.page.own_check": (
            "Ces contrôles automatiques ne portent que sur quelques points et ne remplacent pas "
            "votre propre vérification : merci de tester vous-même l'ensemble de votre site."
        ),
        "sitecheck.outcome.reachable": "accessible",
        "sitecheck.outcome.form.order": "formulaire de commande présent",
        "sitecheck.outcome.form.contact": "formulaire de contact présent",
        "sitecheck.outcome.form.login": "formulaire de connexion présent",
        "sitecheck.outcome.http_error": "ne s'affiche pas (erreur {status})",
        "sitecheck.outcome.timeout": "ne répond pas dans les {seconds} secondes",
        "sitecheck.outcome.unreachable": "ne répond pas",
        "sitecheck.outcome.tls_invalid": "certificat de sécurité (HTTPS) non valide",
        "sitecheck.outcome.redirect_loop": "redirections en boucle",
        "sitecheck.outcome.offsite": "renvoie vers un autre site ({host})",
        "sitecheck.outcome.not_checked": "n'a pas pu être vérifiée",
        "sitecheck.outcome.sign.php_fatal": "affiche une erreur PHP",
        "sitecheck.outcome.sign.wp_critical": "affiche la page « erreur critique » de WordPress",
        "sitecheck.outcome.sign.db_error": "affiche une erreur de connexion à la base de données",
        "sitecheck.outcome.sign.maintenance": "affiche une page de maintenance",
        "sitecheck.outcome.sign.empty_body": "page vide",
        "sitecheck.outcome.sign.php_warning": "affiche des avertissements PHP",
        "sitecheck.sign.php_fatal": "erreur fatale PHP",
        "sitecheck.sign.wp_critical": "page « erreur critique » de WordPress",
        "sitecheck.sign.db_error": "erreur de connexion à la base de données",
        "sitecheck.sign.maintenance": "page de maintenance",
        "sitecheck.sign.empty_body": "page vide",
        "sitecheck.sign.php_warning": "avertissements PHP",
        "sitecheck.form.order": "commande",
        "sitecheck.form.contact": "contact",
        "sitecheck.form.login": "connexion",
        "sitecheck.form.search": "recherche",
        "sitecheck.form.form": "autre",
        "sitecheck.change.page_fails": "ne fonctionne plus : {before} → {after}",
        "sitecheck.change.page_recovered": "fonctionne de nouveau : {before} → {after}",
        "sitecheck.change.status": "réponse {before} → {after}",
        "sitecheck.change.final_url": "aboutit maintenant à {after} (avant : {before})",
        "sitecheck.change.sign_appeared": "nouveau : {sign}",
        "sitecheck.change.warning_appeared": "nouveau : {sign}",
        "sitecheck.change.sign_gone": "disparu : {sign}",
        "sitecheck.change.form_missing": "formulaire {form} ({kind}) disparu",
        "sitecheck.change.form_added": "nouveau formulaire {form} ({kind})",
        "sitecheck.change.form_fields": (
            "formulaire {form} : champs retirés {removed} ; champs ajoutés {added}"
        ),
        "sitecheck.change.slower": "{ratio} fois plus lente ({before} ms → {after} ms)",
        "sitecheck.change.tls_invalid": "le certificat HTTPS n'est plus valide",
        "sitecheck.change.title": "titre « {before} » → « {after} »",
        "sitecheck.change.size": "taille {before} → {after} octets",
        "sitecheck.note.no_before": (
            "Pas de capture avant l'intervention : rien à comparer, donc aucune régression "
            "ne peut être constatée."
        ),
        "sitecheck.note.failing_before": (
            "La page était déjà en échec avant l'intervention : ses changements ne comptent "
            "pas comme des régressions."
        ),
        "sitecheck.note.page_line": "- {label} ({url}) : {changes}",
        "sitecheck.note.regression": (
            "Vérification automatique du site après l'intervention {panel_id} : {count} page(s) "
            "en régression.\n{pages}\n{mail}"
        ),
        "sitecheck.note.mail_held": (
            "L'e-mail de validation du client est RETENU : libérez-le depuis l'espace équipe une "
            "fois le site réparé. Le délai de validation ne commencera qu'à ce moment."
        ),
        "sitecheck.note.mail_sent": (
            "L'e-mail de validation a été envoyé au client comme d'habitude."
        ),
        "sitecheck.note.mail_already_sent": (
            "L'e-mail de validation avait déjà été envoyé au client."
        ),
        "sitecheck.note.mail_still_held": "L'e-mail de validation du client est toujours retenu.",
        "sitecheck.note.released": (
            "{staff} a libéré l'e-mail de validation de l'intervention {panel_id}, retenu par la "
            "vérification du site : le client doit la valider avant le {deadline}."
        ),
        "sitecheck.note.timed_out": (
            "La vérification automatique du site après l'intervention {panel_id} n'a pas abouti "
            "à temps : l'e-mail de validation a été envoyé sans elle. Le client doit valider "
            "avant le {deadline}."
        ),
    }
)
CATALOG["en"].update(
    {
        "sitecheck.label.home": "Home page",
        "sitecheck.label.checkout": "Checkout page",
        "sitecheck.label.cart": "Cart page",
        "sitecheck.label.contact": "Contact page",
        "sitecheck.label.account": "Account page",
        "sitecheck.label.page": "Page {path}",
        "sitecheck.line": "{label}: {outcome}",
        "sitecheck.page.heading": "What we checked automatically:",
        "sitecheck.page.own_check": (
            "These automatic checks cover only a few points and do not replace your own: "
            "please test your whole site yourself."
        ),
        "sitecheck.outcome.reachable": "reachable",
        "sitecheck.outcome.form.order": "order form present",
        "sitecheck.outcome.form.contact": "contact form present",
        "sitecheck.outcome.form.login": "login form present",
        "sitecheck.outcome.http_error": "does not load (error {status})",
        "sitecheck.outcome.timeout": "does not answer within {seconds} seconds",
        "sitecheck.outcome.unreachable": "does not answer",
        "sitecheck.outcome.tls_invalid": "security certificate (HTTPS) not valid",
        "sitecheck.outcome.redirect_loop": "redirects in a loop",
        "sitecheck.outcome.offsite": "sends visitors to another site ({host})",
        "sitecheck.outcome.not_checked": "could not be checked",
        "sitecheck.outcome.sign.php_fatal": "shows a PHP error",
        "sitecheck.outcome.sign.wp_critical": "shows WordPress's “critical error” page",
        "sitecheck.outcome.sign.db_error": "shows a database connection error",
        "sitecheck.outcome.sign.maintenance": "shows a maintenance page",
        "sitecheck.outcome.sign.empty_body": "the page is empty",
        "sitecheck.outcome.sign.php_warning": "shows PHP warnings",
        "sitecheck.sign.php_fatal": "PHP fatal error",
        "sitecheck.sign.wp_critical": "WordPress critical error page",
        "sitecheck.sign.db_error": "database connection error",
        "sitecheck.sign.maintenance": "maintenance page",
        "sitecheck.sign.empty_body": "empty page",
        "sitecheck.sign.php_warning": "PHP warnings",
        "sitecheck.form.order": "order",
        "sitecheck.form.contact": "contact",
        "sitecheck.form.login": "login",
        "sitecheck.form.search": "search",
        "sitecheck.form.form": "other",
        "sitecheck.change.page_fails": "now fails: {before} → {after}",
        "sitecheck.change.page_recovered": "works again: {before} → {after}",
        "sitecheck.change.status": "answer {before} → {after}",
        "sitecheck.change.final_url": "now ends at {after} (was {before})",
        "sitecheck.change.sign_appeared": "{sign} appeared",
        "sitecheck.change.warning_appeared": "{sign} appeared",
        "sitecheck.change.sign_gone": "{sign} gone",
        "sitecheck.change.form_missing": "form {form} ({kind}) disappeared",
        "sitecheck.change.form_added": "new form {form} ({kind})",
        "sitecheck.change.form_fields": (
            "form {form}: fields removed {removed}; fields added {added}"
        ),
        "sitecheck.change.slower": "{ratio}× slower ({before} ms → {after} ms)",
        "sitecheck.change.tls_invalid": "the HTTPS certificate is no longer valid",
        "sitecheck.change.title": "title “{before}” → “{after}”",
        "sitecheck.change.size": "size {before} → {after} bytes",
        "sitecheck.note.no_before": (
            "No before snapshot: nothing to compare, so no regression can be told."
        ),
        "sitecheck.note.failing_before": (
            "The page already failed before the intervention: its changes do not count as "
            "regressions."
        ),
        "sitecheck.note.page_line": "- {label} ({url}): {changes}",
        "sitecheck.note.regression": (
            "Automatic site check after intervention {panel_id}: {count} page(s) got worse.\n"
            "{pages}\n{mail}"
        ),
        "sitecheck.note.mail_held": (
            "The client's validation email is HELD: release it from the staff side once the "
            "site works. The validation window starts only then."
        ),
        "sitecheck.note.mail_sent": "The client's validation email was sent as usual.",
        "sitecheck.note.mail_already_sent": "The client's validation email had already been sent.",
        "sitecheck.note.mail_still_held": "The client's validation email is still held.",
        "sitecheck.note.released": (
            "{staff} released the validation email of intervention {panel_id}, held by the site "
            "check: the client must validate it by {deadline}."
        ),
        "sitecheck.note.timed_out": (
            "The automatic site check after intervention {panel_id} did not finish in time: the "
            "validation email was sent without it. The client must validate by {deadline}."
        ),
    }
)
