<?php

/**
 * Intervention sign-off: hooks on the ticket page, the client summary, ticket statuses
 * and the client area's home page and menu.
 *
 * Each hook catches everything and logs it with logModuleCall: a slow or unreachable
 * service shows a short notice (after at most the module's page timeout), never an error.
 * WHMCS loads this file on every page: it parses on PHP 7.2 and later and registers no
 * hook on a PHP the module does not support (lib/ uses PHP 8.1 syntax).
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

if (PHP_VERSION_ID < 80100) {
    return;
}

require_once __DIR__ . '/lib/autoload.php';

add_hook('AdminAreaViewTicketPage', 1, function (array $vars): string {
    return \InterventionSignoff\Panel::hook('AdminAreaViewTicketPage', $vars, function ($panel) use ($vars) {
        return $panel->ticketBanner((int) ($vars['ticketid'] ?? 0));
    }, '');
});

add_hook('AdminAreaClientSummaryPage', 1, function (array $vars): string {
    return \InterventionSignoff\Panel::hook('AdminAreaClientSummaryPage', $vars, function ($panel) use ($vars) {
        return $panel->clientBanner((int) ($vars['userid'] ?? 0));
    }, '');
});

add_hook('TicketStatusChange', 1, function (array $vars): void {
    \InterventionSignoff\Panel::hook('TicketStatusChange', $vars, function ($panel) use ($vars) {
        $panel->onStatusChange($vars);
        return null;
    }, null);
});

add_hook('ClientAreaHomepagePanels', 1, function ($homePagePanels): void {
    \InterventionSignoff\ClientArea::homePanel($homePagePanels);
});

add_hook('ClientAreaPrimaryNavbar', 1, function ($primaryNavbar): void {
    \InterventionSignoff\ClientArea::menuItem($primaryNavbar);
});
