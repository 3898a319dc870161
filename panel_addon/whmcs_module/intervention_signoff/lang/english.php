<?php
/** Intervention sign-off: the addon's texts in English (WHMCS picks lang/<admin language>.php). */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

$_ADDONLANG['title'] = 'Intervention sign-off';
$_ADDONLANG['intro'] = 'Free interventions on clients\' sites, validated or reported by the clients. Technicians start and complete them from the ticket page.';
$_ADDONLANG['intervention'] = 'Intervention';
$_ADDONLANG['ticket'] = 'Ticket';
$_ADDONLANG['client'] = 'Client';
$_ADDONLANG['state'] = 'State';
$_ADDONLANG['deadline'] = 'Deadline';
$_ADDONLANG['technician'] = 'Technician';
$_ADDONLANG['backup'] = 'Backup';
$_ADDONLANG['site'] = 'Site';
$_ADDONLANG['counts'] = 'Interventions by state';
$_ADDONLANG['recent'] = 'Latest interventions';
$_ADDONLANG['state_in_progress'] = 'In progress';
$_ADDONLANG['state_awaiting_validation'] = 'Awaiting the client';
$_ADDONLANG['state_validated'] = 'Validated';
$_ADDONLANG['state_reported'] = 'Problem reported';
$_ADDONLANG['state_lapsed'] = 'Lapsed (no answer)';
$_ADDONLANG['state_resolved'] = 'Report closed';
$_ADDONLANG['state_cancelled'] = 'Cancelled';
$_ADDONLANG['backup_none'] = 'No backup recorded';
$_ADDONLANG['backup_kept'] = 'kept';
$_ADDONLANG['backup_held'] = 'held (kept until released)';
$_ADDONLANG['backup_expired'] = 'expired';
$_ADDONLANG['backup_until'] = 'until {date}';
$_ADDONLANG['time_left'] = '{left} left';
$_ADDONLANG['unit_day'] = 'd';
$_ADDONLANG['deadline_passed'] = 'deadline passed';
$_ADDONLANG['not_eligible'] = 'This client is not eligible for free interventions.';
$_ADDONLANG['not_eligible_since'] = 'This client is not eligible for free interventions (since {since}).';
$_ADDONLANG['eligible'] = 'Eligible for free interventions.';
$_ADDONLANG['no_intervention'] = 'No intervention on this ticket yet.';
$_ADDONLANG['no_intervention_client'] = 'No intervention for this client yet.';
$_ADDONLANG['awaiting_client'] = 'The client has been mailed and is asked to validate the intervention or report a problem.';
$_ADDONLANG['backup_reference'] = 'Backup reference';
$_ADDONLANG['start_button'] = 'Start an intervention';
$_ADDONLANG['summary_label'] = 'What was done (the client reads this)';
$_ADDONLANG['summary_help'] = 'The client receives a mail with this summary and two links: validate, or report a problem.';
$_ADDONLANG['complete_button'] = 'Intervention complete: ask the client';
$_ADDONLANG['open_staff_view'] = 'Open the staff view';
$_ADDONLANG['opening'] = 'Opening the staff view…';
$_ADDONLANG['check_button'] = 'Check the connection';
$_ADDONLANG['check_health'] = 'Service reached. Database: {database}; Redis: {redis}.';
$_ADDONLANG['check_signature_ok'] = 'The service accepts this module\'s signature (webhook secret).';
$_ADDONLANG['check_signature_bad'] = 'The service refuses this module\'s signature: the webhook secret differs from the service\'s.';
$_ADDONLANG['back_to_ticket'] = 'Back to the ticket';
$_ADDONLANG['started'] = 'Intervention {id} started.';
$_ADDONLANG['completed'] = 'Intervention {id} completed: the client is mailed and has until {deadline} to answer.';
$_ADDONLANG['default_summary'] = 'Our technician completed the intervention described in your ticket.';
$_ADDONLANG['unavailable'] = 'The intervention sign-off service is not answering right now; the ticket works as usual. Try again in a moment.';
$_ADDONLANG['not_configured'] = 'Intervention sign-off is not configured yet: Setup > Addon Modules > Intervention sign-off > Configure.';
$_ADDONLANG['missing_service_url'] = 'The service URL is not set.';
$_ADDONLANG['missing_webhook_secret'] = 'The webhook secret is not set: interventions cannot be started or completed.';
$_ADDONLANG['missing_staff_token'] = 'The staff API token is not set.';
$_ADDONLANG['bad_service_url'] = 'The service URL must start with https:// (or http:// on a private network).';
$_ADDONLANG['bad_webhook_secret'] = 'The webhook secret must be whsec_ followed by base64, exactly as the service\'s PANEL_ADDON_WEBHOOK_SECRET.';
$_ADDONLANG['error_no_client'] = 'This ticket is not linked to a client account: interventions need one.';
$_ADDONLANG['error_already_active'] = 'Intervention {id} on this ticket is still in progress or awaiting the client.';
$_ADDONLANG['error_nothing_in_progress'] = 'No intervention is in progress on this ticket.';
$_ADDONLANG['error_no_summary'] = 'Write what was done: the client reads it.';
$_ADDONLANG['error_service'] = 'The intervention sign-off service refused or did not answer: {error}';
$_ADDONLANG['error_token'] = 'The service refuses the staff API token: {error}';
$_ADDONLANG['error_csrf'] = 'This form has expired. Go back to the ticket, reload it and try again.';
