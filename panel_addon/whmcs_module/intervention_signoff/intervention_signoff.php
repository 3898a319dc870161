<?php

/**
 * Intervention sign-off: the WHMCS addon module.
 *
 * Technicians start and complete free interventions from the ticket they work on (see
 * hooks.php); clients validate or report them through the intervention sign-off
 * service, from its mail or from the client area (My interventions, and a panel on the
 * client's home page), and the service writes back to WHMCS. This file declares the
 * module's settings, its page under Addons and its client-area page; the work is in
 * lib/.
 *
 * WHMCS's Addon Modules page requires this file on every PHP it runs on, to read the
 * settings: it parses on PHP 7.2 and later, and loads lib/ (PHP 8.1 syntax) only on a
 * PHP the module supports; below that, activation is refused with the reason.
 *
 * Written out by `panel-addon whmcs-module --target <WHMCS root>`; see the service's
 * docs/whmcs-module.md.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/Version.php';

/** The oldest PHP the module runs on, as PHP_VERSION_ID. */
function intervention_signoff_minimum_php(): int
{
    return 80100;
}

/** Why the module cannot run on this server, or on the PHP given ('' when it can). */
function intervention_signoff_unsupported(int $version = PHP_VERSION_ID, string $text = PHP_VERSION): string
{
    if ($version < intervention_signoff_minimum_php()) {
        return 'Intervention sign-off needs PHP 8.1 or later; this server runs PHP ' . $text
            . '. Upgrade PHP (WHMCS 8.11 and later support PHP 8.1 and 8.2), then activate the module.';
    }
    if (!function_exists('curl_init')) {
        return 'Intervention sign-off needs PHP\'s cURL extension.';
    }
    return '';
}

/** Load lib/ (only once the PHP version is known to parse it). */
function intervention_signoff_load(): void
{
    require_once __DIR__ . '/lib/autoload.php';
}

function intervention_signoff_config(): array
{
    $unsupported = intervention_signoff_unsupported();
    return [
        'name' => 'Intervention sign-off',
        'description' => $unsupported !== ''
            ? $unsupported
            : 'Clients validate or report the free interventions made on their sites; '
                . 'technicians start and complete them from the ticket.',
        'author' => 'Intervention sign-off',
        'language' => 'english',
        'version' => \InterventionSignoff\Version::NUMBER,
        'fields' => [
            'service_url' => [
                'FriendlyName' => 'Service URL',
                'Type' => 'text',
                'Size' => '60',
                'Default' => '',
                'Description' => 'Base URL of the intervention sign-off service, '
                    . 'e.g. https://signoff.example.com',
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
                'Description' => 'The longest a ticket, client or client-area page waits for the service, in total',
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
                'Description' => 'A custom ticket status; a technician setting a ticket to it starts '
                    . 'an intervention (empty: buttons only)',
            ],
            'status_awaiting' => [
                'FriendlyName' => 'Status "awaiting client validation"',
                'Type' => 'text',
                'Size' => '30',
                'Default' => '',
                'Description' => 'A custom ticket status; a technician setting a ticket to it completes '
                    . 'the intervention (empty: buttons only)',
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
                'Description' => 'Sent to the client when an intervention is completed by status and '
                    . 'the ticket has no staff reply since it started',
            ],
            'client_area' => [
                'FriendlyName' => 'Client area',
                'Type' => 'yesno',
                'Default' => 'on',
                'Description' => 'Show clients their interventions (My interventions, and a panel on '
                    . 'their home page while one awaits their validation)',
            ],
        ],
    ];
}

function intervention_signoff_activate(): array
{
    $unsupported = intervention_signoff_unsupported();
    if ($unsupported !== '') {
        return ['status' => 'error', 'description' => $unsupported];
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
    return [
        'status' => 'success',
        'description' => 'Intervention sign-off is deactivated; the service keeps its records.',
    ];
}

function intervention_signoff_output(array $vars): void
{
    $unsupported = intervention_signoff_unsupported();
    if ($unsupported !== '') {
        echo '<div class="alert alert-danger">' . htmlspecialchars($unsupported, ENT_QUOTES, 'UTF-8') . '</div>';
        return;
    }
    intervention_signoff_load();
    \InterventionSignoff\Panel::adminPage($vars);
}

/** The client area's page (index.php?m=intervention_signoff): the client's interventions. */
function intervention_signoff_clientarea(array $vars): array
{
    $unsupported = intervention_signoff_unsupported();
    if ($unsupported !== '') {
        return [
            'pagetitle' => 'Interventions',
            'breadcrumb' => ['index.php?m=intervention_signoff' => 'Interventions'],
            'templatefile' => 'clientarea',
            'requirelogin' => true,
            'vars' => ['signoff_body' => ''],
        ];
    }
    intervention_signoff_load();
    return \InterventionSignoff\ClientArea::page($vars);
}
