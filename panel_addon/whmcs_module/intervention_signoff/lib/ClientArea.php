<?php

/**
 * Intervention sign-off: the client area (what the client who is signed in sees).
 *
 * "My interventions" (index.php?m=intervention_signoff) lists the client's
 * interventions with their state, deadline and backup; a panel on the client's home page
 * shows those awaiting their validation. The buttons are the service's own signed links,
 * asked for fresh from the staff API each time, so they open the same pages as the mail.
 * A client only ever sees their own: the module asks for the signed-in client's
 * (`$_SESSION['uid']`), and the service refuses another client's intervention.
 */

declare(strict_types=1);

namespace InterventionSignoff;

use WHMCS\Database\Capsule;

final class ClientArea
{
    private const LINK = 'index.php?m=' . Panel::MODULE;

    public function __construct(private Panel $panel, private int $clientId)
    {
    }

    /** The client signed in to the client area (0 when none). */
    public static function currentClientId(): int
    {
        return (int) ($_SESSION['uid'] ?? 0);
    }

    /** `_clientarea`: the page's title, breadcrumb, template and its variables. */
    public static function page(array $vars): array
    {
        $clientId = self::currentClientId();
        $lang = array_merge(Panel::language('english'), is_array($vars['_lang'] ?? null) ? $vars['_lang'] : []);
        $area = new self(new Panel($vars, $lang), $clientId);
        $title = $area->panel->t('ca_title');
        $result = [
            'pagetitle' => $title,
            'breadcrumb' => [self::LINK => $title],
            'templatefile' => 'clientarea',
            'requirelogin' => true,
            'vars' => ['signoff_body' => '', 'interventions' => []],
        ];
        if ($clientId <= 0) {
            return $result; // WHMCS asks the visitor to sign in first
        }
        $id = trim((string) ($_GET['intervention'] ?? ''));
        [$body, $items] = $id !== '' ? $area->detail($id) : $area->listing();
        if ($id !== '') {
            $result['breadcrumb'][self::LINK . '&intervention=' . rawurlencode($id)] = $id;
        }
        $result['vars'] = ['signoff_body' => $body, 'interventions' => $items];
        return $result;
    }

    /** ClientAreaHomepagePanels: a panel while an intervention awaits the client's validation. */
    public static function homePanel(mixed $homePagePanels): void
    {
        $clientId = self::currentClientId();
        if ($clientId <= 0 || !is_object($homePagePanels)) {
            return;
        }
        try {
            $area = self::forHook($clientId);
            if ($area === null) {
                return;
            }
            $awaiting = array_values(array_filter(
                $area->panel->client()->clientInterventions((string) $clientId, 10),
                static fn (array $iv): bool => ($iv['state'] ?? '') === 'awaiting_validation'
            ));
            if (!$awaiting) {
                return;
            }
            $body = '';
            foreach (array_slice($awaiting, 0, 3) as $iv) {
                $body .= $area->card($iv, true);
            }
            $homePagePanels->addChild('intervention-signoff', [
                'label' => $area->panel->t('ca_awaiting_title'),
                'icon' => 'fa-clipboard-check',
                'order' => 5,
                'extras' => ['color' => 'gold'],
                // WHMCS puts bodyHtml in the panel's body (padding and all).
                'bodyHtml' => $body . $area->panel->countdownScript(),
                'footerHtml' => '<a href="' . Panel::h(self::LINK) . '">' . Panel::h($area->panel->t('ca_all'))
                    . '</a>',
            ]);
        } catch (\Throwable $e) {
            Panel::record('ClientAreaHomepagePanels', (string) $clientId, $e->getMessage());
        }
    }

    /** ClientAreaPrimaryNavbar: "My interventions" under Support, for a signed-in client. */
    public static function menuItem(mixed $primaryNavbar): void
    {
        $clientId = self::currentClientId();
        if ($clientId <= 0 || !is_object($primaryNavbar)) {
            return;
        }
        try {
            $area = self::forHook($clientId);
            $support = $area !== null ? $primaryNavbar->getChild('Support') : null;
            if ($support !== null) {
                $support->addChild('intervention-signoff', [
                    'label' => $area->panel->t('ca_title'),
                    'uri' => self::LINK,
                    'order' => 100,
                ]);
            }
        } catch (\Throwable $e) {
            Panel::record('ClientAreaPrimaryNavbar', (string) $clientId, $e->getMessage());
        }
    }

    /** The client area of a hook (settings from the database), or null when it is off. */
    private static function forHook(int $clientId): ?self
    {
        $settings = Panel::settingsFromDatabase();
        $panel = new Panel($settings, Panel::language(self::clientLanguage($clientId)));
        if (!$panel->configured() || $panel->setting('client_area', 'on') !== 'on') {
            return null;
        }
        return new self($panel, $clientId);
    }

    /** The client's WHMCS language (the system's when they chose none). */
    private static function clientLanguage(int $clientId): string
    {
        try {
            $language = (string) (Capsule::table('tblclients')->where('id', $clientId)->value('language') ?? '');
            if ($language === '') {
                $system = Capsule::table('tblconfiguration')->where('setting', 'Language')->value('value');
                $language = (string) ($system ?? '');
            }
        } catch (\Throwable) {
            $language = '';
        }
        return $language !== '' ? strtolower($language) : 'english';
    }

    /** @return array{0: string, 1: array} the page's HTML and the interventions shown */
    private function listing(): array
    {
        if (!$this->available()) {
            return [$this->notice('ca_unavailable'), []];
        }
        try {
            $items = $this->panel->client()->clientInterventions((string) $this->clientId, 50);
        } catch (ServiceException $e) {
            return [$this->notice('ca_unavailable'), []];
        }
        if (!$items) {
            return ['<p>' . Panel::h($this->panel->t('ca_none')) . '</p>', []];
        }
        $html = '<p>' . Panel::h($this->panel->t('ca_intro')) . '</p>';
        foreach ($items as $iv) {
            $html .= $this->card($iv, false);
        }
        return [$html . $this->panel->countdownScript(), $items];
    }

    /** @return array{0: string, 1: array} one intervention, if it is this client's */
    private function detail(string $id): array
    {
        $back = '<p><a href="' . Panel::h(self::LINK) . '">' . Panel::h($this->panel->t('ca_back')) . '</a></p>';
        if (!$this->available()) {
            return [$this->notice('ca_unavailable') . $back, []];
        }
        try {
            $iv = $this->panel->client()->clientIntervention((string) $this->clientId, $id);
        } catch (ServiceException $e) {
            return [$this->notice('ca_unavailable') . $back, []];
        }
        if ($iv === null) {
            return ['<div class="alert alert-warning">' . Panel::h($this->panel->t('ca_not_found')) . '</div>'
                . $back, []];
        }
        return [$this->card($iv, false) . $back . $this->panel->countdownScript(), [$iv]];
    }

    private function available(): bool
    {
        return $this->panel->configured() && $this->panel->setting('client_area', 'on') === 'on';
    }

    private function notice(string $key): string
    {
        return '<div class="alert alert-info">' . Panel::h($this->panel->t($key)) . '</div>';
    }

    /** One intervention: what was done, its state, the deadline, the backup, the actions. */
    private function card(array $iv, bool $compact): string
    {
        $p = $this->panel;
        $state = (string) ($iv['state'] ?? '');
        $id = (string) ($iv['id'] ?? '');
        $stateText = $p->t('ca_state_' . $state);
        $html = '<div class="intervention-signoff-item" data-intervention="' . Panel::h($id) . '">';
        $title = trim((string) ($iv['site'] ?? '')) !== '' ? (string) $iv['site'] : $p->t('intervention') . ' ' . $id;
        $html .= '<h4>' . ($compact ? Panel::h($title) : '<a href="' . Panel::h(self::LINK . '&intervention='
            . rawurlencode($id))
            . '">' . Panel::h($title) . '</a>') . ' <span class="label label-default badge">'
            . Panel::h($stateText !== 'ca_state_' . $state ? $stateText : $state) . '</span></h4>';
        $rows = [];
        if (trim((string) ($iv['summary'] ?? '')) !== '') {
            $rows[] = [$p->t('ca_what'), nl2br(Panel::h($iv['summary']), false)];
        }
        if (!empty($iv['completed_at'])) {
            $rows[] = [$p->t('ca_completed'), Panel::h($p->when((string) $iv['completed_at']))];
        }
        if (!empty($iv['deadline_at']) && in_array($state, ['awaiting_validation', 'lapsed'], true)) {
            $deadline = Panel::h($p->when((string) $iv['deadline_at']));
            if ($state === 'awaiting_validation') {
                $deadline .= ' ' . $p->countdown((string) $iv['deadline_at']);
            }
            $rows[] = [$p->t('deadline'), $deadline];
        }
        $backup = is_array($iv['backup'] ?? null) ? $iv['backup'] : [];
        if (!empty($backup['reference'])) {
            $text = Panel::h($p->t('ca_backup_' . ($backup['state'] ?? 'kept')));
            if (($backup['state'] ?? '') === 'kept' && !empty($backup['expires_at'])) {
                $text .= ' ' . Panel::h($p->t('backup_until', ['date' => $p->when((string) $backup['expires_at'])]));
            }
            $rows[] = [$p->t('backup'), $text];
        }
        $html .= '<table class="table table-condensed table-sm">';
        foreach ($rows as [$label, $value]) {
            $html .= '<tr><th style="width:12em">' . Panel::h($label) . '</th><td>' . $value . '</td></tr>';
        }
        $html .= '</table>';
        $links = is_array($iv['links'] ?? null) ? $iv['links'] : [];
        $buttons = '';
        foreach (['validate' => 'btn-success', 'report' => 'btn-default btn-outline-secondary'] as $purpose => $class) {
            $url = (string) ($links[$purpose] ?? '');
            if (preg_match('#^https?://#i', $url) === 1) {
                $label = $purpose === 'report' && $state === 'lapsed' ? 'ca_report_late' : 'ca_' . $purpose;
                $buttons .= '<a class="btn ' . $class . '" rel="noopener" href="' . Panel::h($url) . '">'
                    . Panel::h($p->t($label)) . '</a> ';
            }
        }
        if ($buttons !== '') {
            $html .= '<p class="intervention-signoff-actions">' . trim($buttons) . '</p>';
        }
        return $html . '</div>';
    }
}
