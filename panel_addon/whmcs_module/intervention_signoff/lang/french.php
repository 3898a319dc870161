<?php
/** Intervention sign-off : les textes du module en français (WHMCS choisit lang/<langue de l'admin>.php). */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

$_ADDONLANG['title'] = 'Validation des interventions';
$_ADDONLANG['intro'] = 'Les interventions gratuites sur les sites des clients, validées ou signalées par les clients. Les techniciens les commencent et les terminent depuis la page du ticket.';
$_ADDONLANG['intervention'] = 'Intervention';
$_ADDONLANG['ticket'] = 'Ticket';
$_ADDONLANG['client'] = 'Client';
$_ADDONLANG['state'] = 'État';
$_ADDONLANG['deadline'] = 'Échéance';
$_ADDONLANG['technician'] = 'Technicien';
$_ADDONLANG['backup'] = 'Sauvegarde';
$_ADDONLANG['site'] = 'Site';
$_ADDONLANG['counts'] = 'Interventions par état';
$_ADDONLANG['recent'] = 'Dernières interventions';
$_ADDONLANG['state_in_progress'] = 'En cours';
$_ADDONLANG['state_awaiting_validation'] = 'En attente du client';
$_ADDONLANG['state_validated'] = 'Validée';
$_ADDONLANG['state_reported'] = 'Problème signalé';
$_ADDONLANG['state_lapsed'] = 'Délai dépassé (sans réponse)';
$_ADDONLANG['state_resolved'] = 'Signalement clos';
$_ADDONLANG['state_cancelled'] = 'Annulée';
$_ADDONLANG['backup_none'] = 'Aucune sauvegarde enregistrée';
$_ADDONLANG['backup_kept'] = 'conservée';
$_ADDONLANG['backup_held'] = 'retenue (gardée jusqu\'à nouvel ordre)';
$_ADDONLANG['backup_expired'] = 'expirée';
$_ADDONLANG['backup_until'] = 'jusqu\'au {date}';
$_ADDONLANG['time_left'] = 'reste {left}';
$_ADDONLANG['unit_day'] = 'j';
$_ADDONLANG['deadline_passed'] = 'échéance passée';
$_ADDONLANG['not_eligible'] = 'Ce client n\'est pas éligible aux interventions gratuites.';
$_ADDONLANG['not_eligible_since'] = 'Ce client n\'est pas éligible aux interventions gratuites (depuis le {since}).';
$_ADDONLANG['eligible'] = 'Éligible aux interventions gratuites.';
$_ADDONLANG['no_intervention'] = 'Aucune intervention sur ce ticket pour l\'instant.';
$_ADDONLANG['no_intervention_client'] = 'Aucune intervention pour ce client pour l\'instant.';
$_ADDONLANG['awaiting_client'] = 'Le client a reçu un e-mail : il doit valider l\'intervention ou signaler un problème.';
$_ADDONLANG['backup_reference'] = 'Référence de la sauvegarde';
$_ADDONLANG['start_button'] = 'Commencer une intervention';
$_ADDONLANG['summary_label'] = 'Ce qui a été fait (le client le lira)';
$_ADDONLANG['summary_help'] = 'Le client reçoit un e-mail avec ce résumé et deux liens : valider, ou signaler un problème.';
$_ADDONLANG['complete_button'] = 'Intervention terminée : demander au client';
$_ADDONLANG['open_staff_view'] = 'Ouvrir la vue équipe';
$_ADDONLANG['opening'] = 'Ouverture de la vue équipe…';
$_ADDONLANG['check_button'] = 'Vérifier la connexion';
$_ADDONLANG['check_health'] = 'Service joint. Base de données : {database} ; Redis : {redis}.';
$_ADDONLANG['check_signature_ok'] = 'Le service accepte la signature de ce module (secret des webhooks).';
$_ADDONLANG['check_signature_bad'] = 'Le service refuse la signature de ce module : le secret des webhooks diffère de celui du service.';
$_ADDONLANG['back_to_ticket'] = 'Retour au ticket';
$_ADDONLANG['started'] = 'Intervention {id} commencée.';
$_ADDONLANG['completed'] = 'Intervention {id} terminée : le client a reçu un e-mail et a jusqu\'au {deadline} pour répondre.';
$_ADDONLANG['default_summary'] = 'Notre technicien a terminé l\'intervention décrite dans votre ticket.';
$_ADDONLANG['unavailable'] = 'Le service de validation des interventions ne répond pas pour l\'instant ; le ticket fonctionne normalement. Réessayez dans un moment.';
$_ADDONLANG['not_configured'] = 'La validation des interventions n\'est pas encore configurée : Configuration > Modules complémentaires > Intervention sign-off > Configurer.';
$_ADDONLANG['missing_service_url'] = 'L\'URL du service n\'est pas renseignée.';
$_ADDONLANG['missing_webhook_secret'] = 'Le secret des webhooks n\'est pas renseigné : impossible de commencer ou terminer une intervention.';
$_ADDONLANG['missing_staff_token'] = 'Le jeton de l\'API équipe n\'est pas renseigné.';
$_ADDONLANG['bad_service_url'] = 'L\'URL du service doit commencer par https:// (ou http:// sur un réseau privé).';
$_ADDONLANG['bad_webhook_secret'] = 'Le secret des webhooks doit être whsec_ suivi de base64, exactement comme PANEL_ADDON_WEBHOOK_SECRET du service.';
$_ADDONLANG['error_no_client'] = 'Ce ticket n\'est rattaché à aucun compte client : une intervention en a besoin.';
$_ADDONLANG['error_already_active'] = 'L\'intervention {id} de ce ticket est encore en cours ou en attente du client.';
$_ADDONLANG['error_nothing_in_progress'] = 'Aucune intervention n\'est en cours sur ce ticket.';
$_ADDONLANG['error_no_summary'] = 'Écrivez ce qui a été fait : le client le lira.';
$_ADDONLANG['error_service'] = 'Le service de validation des interventions a refusé ou n\'a pas répondu : {error}';
$_ADDONLANG['error_token'] = 'Le service refuse le jeton de l\'API équipe : {error}';
$_ADDONLANG['error_csrf'] = 'Ce formulaire a expiré. Revenez au ticket, rechargez-le et recommencez.';
