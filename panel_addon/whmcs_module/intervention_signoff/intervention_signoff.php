<?php
/**
 * Intervention sign-off: the WHMCS addon module.
 *
 * Technicians start and complete free interventions from the ticket they work on (see
 * hooks.php); clients validate or report them through the intervention sign-off
 * service, which writes back to WHMCS. This file declares the module's settings and its
 * page under Addons; the work is in lib/Panel.php and lib/Client.php.
 *
 * Written out by `panel-addon whmcs-module --target <WHMCS root>`; see the service's
 * docs/whmcs-module.md.
 */

declare(strict_types=1);

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/Panel.php';

use InterventionSignoff\Panel;

function intervention_signoff_config(): array
{
    return [
        'name' => 'Intervention sign-off',
        'description' => 'Clients validate or report the free interventions made on their sites; '
            . 'technicians start and complete them from the ticket.',
        'author' => 'Intervention sign-off',
        'language' => 'english',
        'version' => InterventionSignoff\Client::VERSION,
        'fields' => [
            'service_url' => [
                'FriendlyName' => 'Service URL',
                'Type' => 'text',
                'Size' => '60',
                'Default' => '',
                'Description' => 'Base URL of the intervention sign-off service, e.g. https://signoff.example.com',
            ],
            'webhook_secret' => [
                'FriendlyName' => 'Webhook secret',
                'Type' => 'password',
                'Size' => '60',
                'Default' => '',
                'Description' => 'The service\'s PANEL_ADDON_WEBHOOK_SECRET (whsec_...)',
            ],
            'staff_token' => [
                'FriendlyName' => 'Staff API token',
                'Type' => 'password',
                'Size' => '60',
                'Default' => '',
                'Description' => 'The service\'s PANEL_ADDON_STAFF_API_TOKEN',
            ],
            'timeout' => [
                'FriendlyName' => 'Page timeout (seconds)',
                'Type' => 'text',
                'Size' => '5',
                'Default' => '3',
                'Description' => 'The longest a ticket or client page waits for the service, in total',
            ],
            'action_timeout' => [
                'FriendlyName' => 'Action timeout (seconds)',
                'Type' => 'text',
                'Size' => '5',
                'Default' => '10',
                'Description' => 'The longest starting or completing an intervention waits for the service',
            ],
            'status_in_progress' => [
                'FriendlyName' => 'Status "intervention in progress"',
                'Type' => 'text',
                'Size' => '30',
                'Default' => '',
                'Description' => 'A custom ticket status; setting a ticket to it starts an intervention (empty: buttons only)',
            ],
            'status_awaiting' => [
                'FriendlyName' => 'Status "awaiting client validation"',
                'Type' => 'text',
                'Size' => '30',
                'Default' => '',
                'Description' => 'A custom ticket status; setting a ticket to it completes the intervention (empty: buttons only)',
            ],
            'set_status' => [
                'FriendlyName' => 'Set these statuses from the buttons',
                'Type' => 'yesno',
                'Default' => 'on',
                'Description' => 'Starting or completing with a button also sets the ticket to the status above',
            ],
            'default_summary' => [
                'FriendlyName' => 'Default summary',
                'Type' => 'textarea',
                'Rows' => '3',
                'Cols' => '60',
                'Default' => '',
                'Description' => 'Sent to the client when an intervention is completed by status and the ticket has no staff reply since it started',
            ],
        ],
    ];
}

function intervention_signoff_activate(): array
{
    if (!function_exists('curl_init')) {
        return ['status' => 'error', 'description' => 'Intervention sign-off needs PHP\'s cURL extension.'];
    }
    return [
        'status' => 'success',
        'description' => 'Intervention sign-off is active. Fill in the service URL, the webhook secret and '
            . 'the staff API token, and give your technicians\' admin roles access to the module.',
    ];
}

function intervention_signoff_deactivate(): array
{
    // Nothing is stored in WHMCS: the service keeps every intervention and its trail.
    return ['status' => 'success', 'description' => 'Intervention sign-off is deactivated; the service keeps its records.'];
}

function intervention_signoff_output(array $vars): void
{
    try {
        $adminId = Panel::currentAdminId();
        echo Panel::forAdmin($vars, $adminId)->output($_REQUEST, $adminId);
    } catch (\Throwable $e) {
        if (function_exists('logModuleCall')) {
            logModuleCall('intervention_signoff', 'output', $_REQUEST['action'] ?? '', $e->getMessage(), '', []);
        }
        echo '<div class="alert alert-danger">Intervention sign-off: ' . Panel::h($e->getMessage()) . '</div>';
    }
}
