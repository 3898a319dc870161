<?php
/**
 * Intervention sign-off: hooks on the ticket page, the client summary and ticket statuses.
 *
 * Each hook catches everything and logs it with logModuleCall: a slow or unreachable
 * service shows a short notice (after at most the module's page timeout), never an error.
 */

declare(strict_types=1);

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/Panel.php';

use InterventionSignoff\Panel;

add_hook('AdminAreaViewTicketPage', 1, function (array $vars): string {
    try {
        return Panel::fromDatabase()->ticketBanner((int) ($vars['ticketid'] ?? 0));
    } catch (\Throwable $e) {
        if (function_exists('logModuleCall')) {
            logModuleCall('intervention_signoff', 'AdminAreaViewTicketPage', $vars, $e->getMessage(), '', []);
        }
        return '';
    }
});

add_hook('AdminAreaClientSummaryPage', 1, function (array $vars): string {
    try {
        return Panel::fromDatabase()->clientBanner((int) ($vars['userid'] ?? 0));
    } catch (\Throwable $e) {
        if (function_exists('logModuleCall')) {
            logModuleCall('intervention_signoff', 'AdminAreaClientSummaryPage', $vars, $e->getMessage(), '', []);
        }
        return '';
    }
});

add_hook('TicketStatusChange', 1, function (array $vars): void {
    try {
        Panel::fromDatabase((int) ($vars['adminid'] ?? 0) ?: null)->onStatusChange($vars);
    } catch (\Throwable $e) {
        if (function_exists('logModuleCall')) {
            logModuleCall('intervention_signoff', 'TicketStatusChange', $vars, $e->getMessage(), '', []);
        }
    }
});
