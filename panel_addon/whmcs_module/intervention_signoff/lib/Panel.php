<?php

/**
 * Intervention sign-off: the WHMCS side of the module (settings, tickets, banners, pages).
 *
 * Thin on purpose: the service keeps the state of every intervention; this class reads
 * the ticket and the client from WHMCS (localAPI), sends the service signed events, and
 * shows what the service answers. Every public method that a hook calls catches its own
 * errors, logs them with logModuleCall and returns something harmless: a slow or broken
 * service never breaks a WHMCS page.
 */

declare(strict_types=1);

namespace InterventionSignoff;

use WHMCS\Database\Capsule;

final class Panel
{
    public const MODULE = 'intervention_signoff';
    public const ACTIVE_STATES = ['in_progress', 'awaiting_validation'];
    private const FLASH = 'intervention_signoff_flash';
    private const NONCE = 'intervention_signoff_nonce';
    /** A client link's or a staff login link's token (itsdangerous: base64url and dots). */
    private const LINK_TOKEN = '#((?:/|\\\\/)(?:i|staff(?:/|\\\\/)login)(?:/|\\\\/))[A-Za-z0-9_.\\-]{8,}#';

    /** Set while this module itself changes a ticket's status (its hook must not react). */
    private static bool $changingStatus = false;

    private array $settings;
    private array $lang;
    /** @var array<string, Client> one per timeout: 'page' and 'action' */
    private array $clients = [];

    public function __construct(array $settings, ?array $lang = null)
    {
        $this->settings = $settings;
        $this->lang = $lang ?? self::language('english');
    }

    /** `_output`: the addon's admin page, for the admin signed in; never throws. */
    public static function adminPage(array $vars): void
    {
        try {
            $adminId = self::currentAdminId();
            echo self::forAdmin($vars, $adminId)->output($_REQUEST, $adminId);
        } catch (\Throwable $e) {
            self::record('output', $_REQUEST['action'] ?? '', $e->getMessage());
            echo '<div class="alert alert-danger">Intervention sign-off: ' . self::h($e->getMessage()) . '</div>';
        }
    }

    /**
     * Run an admin-area hook: `$work` gets the Panel (settings from the database, the
     * admin's language); whatever it throws is logged and `$fallback` returned.
     */
    public static function hook(string $name, array $vars, callable $work, mixed $fallback): mixed
    {
        try {
            return $work(self::fromDatabase((int) ($vars['adminid'] ?? 0) ?: null));
        } catch (\Throwable $e) {
            self::record($name, $vars, $e->getMessage());
            return $fallback;
        }
    }

    /** The module's settings as saved in Setup > Addon Modules, for hooks (which get none). */
    public static function fromDatabase(?int $adminId = null): self
    {
        return self::forAdmin(self::settingsFromDatabase(), $adminId ?? self::currentAdminId());
    }

    /** The module's settings from `tbladdonmodules` (hooks get none from WHMCS). */
    public static function settingsFromDatabase(): array
    {
        $rows = Capsule::table('tbladdonmodules')->where('module', self::MODULE)->pluck('value', 'setting');
        return is_object($rows) && method_exists($rows, 'toArray') ? $rows->toArray() : (array) $rows;
    }

    /** A Panel speaking the admin's language (their WHMCS admin language). */
    public static function forAdmin(array $settings, int $adminId): self
    {
        $panel = new self($settings);
        $panel->lang = self::language($panel->admin($adminId)['language'] ?? 'english');
        return $panel;
    }

    /** The `$_ADDONLANG` texts of `lang/<language>.php`, English for missing ones. */
    public static function language(string $language): array
    {
        $load = static function (string $name): array {
            $file = __DIR__ . '/../lang/' . $name . '.php';
            if (!preg_match('/^[a-z_]+$/', $name) || !is_file($file)) {
                return [];
            }
            $_ADDONLANG = [];
            include $file;
            return $_ADDONLANG;
        };
        return array_merge($load('english'), $load(strtolower($language)));
    }

    public static function currentAdminId(): int
    {
        return (int) ($_SESSION['adminid'] ?? 0);
    }

    public function t(string $key, array $values = []): string
    {
        $text = $this->lang[$key] ?? $key;
        foreach ($values as $name => $value) {
            $text = str_replace('{' . $name . '}', (string) $value, $text);
        }
        return $text;
    }

    public function setting(string $key, string $default = ''): string
    {
        $value = $this->settings[$key] ?? $default;
        return is_scalar($value) ? trim((string) $value) : $default;
    }

    public function configured(): bool
    {
        return preg_match('#^https?://[^/\s]+#i', $this->setting('service_url')) === 1
            && $this->setting('staff_token') !== '';
    }

    /**
     * The service's client. Pages use the display timeout; actions (start, complete, a
     * status change) the action timeout, as they are worth waiting a little longer for.
     */
    public function client(bool $forAction = false): Client
    {
        $kind = $forAction ? 'action' : 'page';
        if (!isset($this->clients[$kind])) {
            $setting = $this->setting($forAction ? 'action_timeout' : 'timeout', $forAction ? '10' : '3');
            $timeout = (float) str_replace(',', '.', $setting);
            $this->clients[$kind] = new Client(
                $this->setting('service_url'),
                $this->setting('webhook_secret'),
                $this->setting('staff_token'),
                $timeout > 0 ? $timeout : ($forAction ? 10.0 : 3.0),
                fn (string $action, string $request, string $response) => $this->log($action, $request, $response)
            );
        }
        return $this->clients[$kind];
    }

    /** Log to WHMCS's Module Log, without this module's secrets or any link token. */
    public function log(string $action, mixed $request, mixed $response, string $processed = ''): void
    {
        $secrets = array_values(array_filter([$this->setting('staff_token'), $this->setting('webhook_secret')]));
        self::record($action, $request, $response, $processed, $secrets);
    }

    /**
     * The one way the module writes to WHMCS's Module Log: the token of every client link
     * (`/i/<token>/validate`) and staff login link (`/staff/login/<token>`) is replaced by
     * `…`, and WHMCS replaces each of `$secrets` by asterisks. Never throws.
     */
    public static function record(
        string $action,
        mixed $request,
        mixed $response,
        string $processed = '',
        array $secrets = []
    ): void {
        if (!function_exists('logModuleCall')) {
            return;
        }
        try {
            logModuleCall(
                self::MODULE,
                $action,
                self::maskLinks($request),
                self::maskLinks($response),
                (string) self::maskLinks($processed),
                $secrets
            );
        } catch (\Throwable) {
            // Logging must never break a page.
        }
    }

    /**
     * `$value` (text, or an array of them) with each link token replaced by `…`: the
     * path keeps its shape (`/i/…/validate`, `/staff/login/…`), the link is unusable.
     * JSON's escaped slashes (`\/i\/<token>`) are masked too.
     */
    public static function maskLinks(mixed $value): mixed
    {
        if (is_array($value)) {
            return array_map([self::class, 'maskLinks'], $value);
        }
        if (!is_string($value)) {
            return $value;
        }
        return (string) preg_replace(self::LINK_TOKEN, '$1…', $value);
    }

    // -- WHMCS data --------------------------------------------------------------------

    /** The admin's name and language from tbladmins (empty array when unknown). */
    public function admin(int $adminId): array
    {
        if ($adminId <= 0) {
            return [];
        }
        try {
            $row = Capsule::table('tbladmins')->where('id', $adminId)->first();
        } catch (\Throwable $e) {
            $this->log('admin lookup', (string) $adminId, $e->getMessage());
            return [];
        }
        if (!$row) {
            return [];
        }
        $row = (array) $row;
        $name = trim(($row['firstname'] ?? '') . ' ' . ($row['lastname'] ?? ''));
        return [
            'name' => $name !== '' ? $name : (string) ($row['username'] ?? 'admin ' . $adminId),
            'language' => (string) ($row['language'] ?? 'english'),
        ];
    }

    private function adminName(int $adminId): string
    {
        return $this->admin($adminId)['name'] ?? ('admin ' . $adminId);
    }

    private function api(string $command, array $values): array
    {
        $answer = localAPI($command, $values);
        if (!is_array($answer) || ($answer['result'] ?? '') !== 'success') {
            $message = is_array($answer) ? (string) ($answer['message'] ?? 'no answer') : 'no answer';
            $this->log('localAPI ' . $command, $values, $answer);
            throw new \RuntimeException($command . ': ' . $message);
        }
        return $answer;
    }

    /** What the service needs about a ticket's client: id, email, name, language. */
    private function clientOfTicket(array $ticket): array
    {
        $userId = (int) ($ticket['userid'] ?? 0);
        if ($userId <= 0) {
            throw new UserFacingException($this->t('error_no_client'));
        }
        $details = $this->api('GetClientsDetails', ['clientid' => $userId, 'stats' => false]);
        $client = is_array($details['client'] ?? null) ? $details['client'] : $details;
        $name = trim((string) ($client['fullname'] ?? ''));
        if ($name === '') {
            $name = trim(($client['firstname'] ?? '') . ' ' . ($client['lastname'] ?? ''));
        }
        $language = trim((string) ($client['language'] ?? ''));
        if ($language === '') {
            $language = $this->systemLanguage();
        }
        return [
            'id' => (string) $userId,
            'email' => (string) ($client['email'] ?? ''),
            'name' => $name !== '' ? $name : (string) ($client['companyname'] ?? ''),
            'language' => $language !== '' ? $language : null,
        ];
    }

    private function systemLanguage(): string
    {
        try {
            return (string) (Capsule::table('tblconfiguration')->where('setting', 'Language')->value('value') ?? '');
        } catch (\Throwable) {
            return '';
        }
    }

    /** The domain of the service or domain the ticket is about, or ''. */
    public function siteOfTicket(array $ticket): string
    {
        $related = (string) ($ticket['service'] ?? '');
        try {
            if (preg_match('/^S(\d+)$/', $related, $m)) {
                $found = $this->api('GetClientsProducts', ['serviceid' => (int) $m[1]]);
                return (string) ($found['products']['product'][0]['domain'] ?? '');
            }
            if (preg_match('/^D(\d+)$/', $related, $m)) {
                $found = $this->api('GetClientsDomains', ['domainid' => (int) $m[1]]);
                return (string) ($found['domains']['domain'][0]['domainname'] ?? '');
            }
        } catch (\Throwable $e) {
            $this->log('site of ticket', $related, $e->getMessage());
        }
        return '';
    }

    private function ticket(int $ticketId): array
    {
        return $this->api('GetTicket', ['ticketid' => $ticketId]);
    }

    /** The newest staff reply on the ticket after `$since` (Unix time), as plain text. */
    private function lastStaffReply(array $ticket, int $since): string
    {
        $replies = $ticket['replies']['reply'] ?? [];
        if (!is_array($replies)) {
            return '';
        }
        $best = '';
        $bestAt = $since - 1;
        foreach ($replies as $reply) {
            if (!is_array($reply) || trim((string) ($reply['admin'] ?? '')) === '') {
                continue;
            }
            $at = strtotime((string) ($reply['date'] ?? '')) ?: 0;
            if ($at >= $bestAt) {
                $plain = strip_tags((string) ($reply['message'] ?? ''));
                $text = trim(html_entity_decode($plain, ENT_QUOTES | ENT_HTML5, 'UTF-8'));
                if ($text !== '') {
                    $best = $text;
                    $bestAt = $at;
                }
            }
        }
        return $best;
    }

    private function setTicketStatus(int $ticketId, string $status): void
    {
        if ($status === '' || $this->setting('set_status') !== 'on') {
            return;
        }
        self::$changingStatus = true;
        try {
            $this->api('UpdateTicket', ['ticketid' => $ticketId, 'status' => $status]);
        } catch (\Throwable $e) {
            $this->log('set ticket status', ['ticketid' => $ticketId, 'status' => $status], $e->getMessage());
        } finally {
            self::$changingStatus = false;
        }
    }

    // -- Starting and completing ---------------------------------------------------------

    /** The next intervention id of a ticket: T<ticket>-1, T<ticket>-2... */
    public static function nextId(int $ticketId, ?array $latest): string
    {
        $n = 1;
        if ($latest !== null && preg_match('/^T' . $ticketId . '-(\d+)$/', (string) ($latest['id'] ?? ''), $m)) {
            $n = (int) $m[1] + 1;
        }
        return 'T' . $ticketId . '-' . $n;
    }

    /**
     * Start an intervention on a ticket: its client, site, technician and backup go to
     * the service as `intervention.started`. Returns ['ok' => bool, 'message' => text].
     */
    public function start(int $ticketId, string $backup, string $site, int $adminId, bool $setStatus = true): array
    {
        try {
            $client = $this->client(true);
            $ticket = $this->ticket($ticketId);
            $latest = $client->latestForTicket((string) $ticketId);
            if ($latest !== null && in_array($latest['state'] ?? '', self::ACTIVE_STATES, true)) {
                return $this->fail($this->t('error_already_active', ['id' => $latest['id']]));
            }
            $id = self::nextId($ticketId, $latest);
            $site = trim($site) !== '' ? trim($site) : $this->siteOfTicket($ticket);
            $data = [
                'id' => $id,
                'ticket_id' => (string) $ticketId,
                'client' => $this->clientOfTicket($ticket),
                'site' => self::cut($site, 500),
                'technician' => self::cut($this->adminName($adminId), 200),
            ];
            $backup = trim($backup);
            if ($backup !== '') {
                $data['backup'] = ['reference' => self::cut($backup, 500), 'created_at' => gmdate('Y-m-d\TH:i:s\Z')];
            }
            try {
                $client->sendEvent('intervention.started', $data, 'start_' . $id);
            } catch (ServiceException $e) {
                // Two clicks, or two technicians at once: the same id was started already.
                if ($e->status !== 409) {
                    throw $e;
                }
            }
            if ($setStatus) {
                $this->setTicketStatus($ticketId, $this->setting('status_in_progress'));
            }
            return ['ok' => true, 'message' => $this->t('started', ['id' => $id])];
        } catch (UserFacingException $e) {
            return $this->fail($e->getMessage());
        } catch (\Throwable $e) {
            $this->log('start', ['ticketid' => $ticketId], $e->getMessage());
            return $this->fail($this->t('error_service', ['error' => $e->getMessage()]));
        }
    }

    /**
     * Complete the ticket's intervention in progress with the summary the client will
     * read; the service mails the client. Returns ['ok' => bool, 'message' => text].
     */
    public function complete(int $ticketId, string $summary, int $adminId, bool $setStatus = true): array
    {
        try {
            $summary = trim($summary);
            if ($summary === '') {
                return $this->fail($this->t('error_no_summary'));
            }
            $client = $this->client(true);
            $latest = $client->latestForTicket((string) $ticketId);
            if ($latest === null || ($latest['state'] ?? '') !== 'in_progress') {
                return $this->fail($this->t('error_nothing_in_progress'));
            }
            $id = (string) $latest['id'];
            $answer = $client->sendEvent(
                'intervention.completed',
                ['id' => $id, 'summary' => self::cut($summary, 20000)],
                'complete_' . $id
            );
            if ($setStatus) {
                $this->setTicketStatus($ticketId, $this->setting('status_awaiting'));
            }
            // The client's window starts when the mail server accepts the validation email,
            // usually a moment after this answer: no deadline to show yet.
            if (empty($answer['deadline_at'])) {
                return ['ok' => true, 'message' => $this->t('completed_mailing', ['id' => $id])];
            }
            $deadline = $this->when((string) $answer['deadline_at']);
            return ['ok' => true, 'message' => $this->t('completed', ['id' => $id, 'deadline' => $deadline])];
        } catch (\Throwable $e) {
            $this->log('complete', ['ticketid' => $ticketId], $e->getMessage());
            return $this->fail($this->t('error_service', ['error' => $e->getMessage()]));
        }
    }

    /**
     * TicketStatusChange: the configured "in progress" status starts an intervention (no
     * backup reference: use the ticket's button to give one), the "awaiting validation"
     * status completes it with the latest staff reply as the summary.
     */
    public function onStatusChange(array $vars): void
    {
        if (self::$changingStatus || !$this->configured()) {
            return;
        }
        $ticketId = (int) ($vars['ticketid'] ?? 0);
        $status = trim((string) ($vars['status'] ?? ''));
        $adminId = (int) ($vars['adminid'] ?? 0) ?: self::currentAdminId();
        if ($ticketId <= 0 || $status === '') {
            return;
        }
        if ($adminId <= 0) {
            // No admin: an API call (the service reopening the ticket on a report fires
            // this hook with no adminid and no admin session), the cron or a client. Only
            // a technician's own change starts or completes an intervention.
            $this->log('status change ignored (no admin)', $vars, '');
            return;
        }
        $starting = strcasecmp($status, $this->setting('status_in_progress')) === 0;
        $completing = strcasecmp($status, $this->setting('status_awaiting')) === 0;
        if (!$starting && !$completing) {
            return;
        }
        try {
            $latest = $this->client(true)->latestForTicket((string) $ticketId);
            $state = $latest['state'] ?? null;
            if ($starting && !in_array($state, self::ACTIVE_STATES, true)) {
                $result = $this->start($ticketId, '', '', $adminId, false);
            } elseif ($completing && $state === 'in_progress') {
                $ticket = $this->ticket($ticketId);
                $since = strtotime((string) ($latest['started_at'] ?? '')) ?: 0;
                $summary = $this->lastStaffReply($ticket, $since);
                if ($summary === '') {
                    $summary = $this->setting('default_summary') !== ''
                        ? $this->setting('default_summary')
                        : $this->t('default_summary');
                }
                $result = $this->complete($ticketId, $summary, $adminId, false);
            } else {
                return;
            }
        } catch (\Throwable $e) {
            $this->log('status change', $vars, $e->getMessage());
            $result = $this->fail($this->t('error_service', ['error' => $e->getMessage()]));
        }
        $this->flash($ticketId, $result);
    }

    private function fail(string $message): array
    {
        return ['ok' => false, 'message' => $message];
    }

    // -- Flash messages and CSRF -----------------------------------------------------------

    public function flash(int $ticketId, array $result): void
    {
        if (session_status() === PHP_SESSION_ACTIVE || isset($_SESSION)) {
            $_SESSION[self::FLASH] = ['ticket' => $ticketId] + $result;
        }
    }

    private function takeFlash(int $ticketId): ?array
    {
        $flash = $_SESSION[self::FLASH] ?? null;
        if (!is_array($flash) || (int) ($flash['ticket'] ?? 0) !== $ticketId) {
            return null;
        }
        unset($_SESSION[self::FLASH]);
        return $flash;
    }

    /** WHMCS's own CSRF token (`token`), or the module's nonce where WHMCS has none. */
    public static function csrfToken(): string
    {
        if (function_exists('generate_token')) {
            return (string) generate_token('plain');
        }
        if (empty($_SESSION[self::NONCE])) {
            $_SESSION[self::NONCE] = bin2hex(random_bytes(16));
        }
        return (string) $_SESSION[self::NONCE];
    }

    /** Check the form's `token`; WHMCS's check_token() stops the request itself on a bad one. */
    public static function checkCsrf(): bool
    {
        if (function_exists('check_token')) {
            check_token('WHMCS.admin.default');
            return true;
        }
        $sent = (string) ($_POST['token'] ?? '');
        $expected = (string) ($_SESSION[self::NONCE] ?? '');
        return $expected !== '' && hash_equals($expected, $sent);
    }

    // -- Rendering -----------------------------------------------------------------------

    /** At most `$max` characters of UTF-8 text (without needing mbstring). */
    public static function cut(string $text, int $max): string
    {
        if (strlen($text) <= $max) {
            return $text;
        }
        return preg_match('/^.{0,' . $max . '}/us', $text, $m) === 1 ? $m[0] : substr($text, 0, $max);
    }

    public static function h(mixed $text): string
    {
        return htmlspecialchars((string) $text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    public function when(?string $iso): string
    {
        if ($iso === null || $iso === '' || ($at = strtotime($iso)) === false) {
            return '—';
        }
        return date('Y-m-d H:i', $at);
    }

    /** Time left before `$iso` in words (`5 h 12 min`), or the "deadline passed" text. */
    public function timeLeft(?string $iso, ?int $now = null): string
    {
        $at = $iso ? strtotime($iso) : false;
        if ($at === false) {
            return '';
        }
        $left = $at - ($now ?? time());
        if ($left <= 0) {
            return $this->t('deadline_passed');
        }
        $minutes = intdiv($left, 60);
        $days = intdiv($minutes, 1440);
        $hours = intdiv($minutes % 1440, 60);
        $mins = $minutes % 60;
        if ($days > 0) {
            $text = $days . ' ' . $this->t('unit_day') . ' ' . $hours . ' h';
        } elseif ($hours > 0) {
            $text = $hours . ' h ' . sprintf('%02d', $mins) . ' min';
        } else {
            $text = max(1, $mins) . ' min';
        }
        return $this->t('time_left', ['left' => $text]);
    }

    private function stateLabel(string $state): string
    {
        $key = 'state_' . $state;
        return isset($this->lang[$key]) ? $this->lang[$key] : $state;
    }

    private function backupLabel(string $state): string
    {
        $key = 'backup_' . $state;
        return isset($this->lang[$key]) ? $this->lang[$key] : $state;
    }

    private function moduleLink(array $query = []): string
    {
        return 'addonmodules.php?' . http_build_query(['module' => self::MODULE] + $query);
    }

    private function box(string $body, string $badge = ''): string
    {
        return '<div class="panel panel-default intervention-signoff" id="intervention-signoff">'
            . '<div class="panel-heading"><strong>' . self::h($this->t('title')) . '</strong>' . $badge . '</div>'
            . '<div class="panel-body">' . $body . '</div></div>';
    }

    private function badge(string $state): string
    {
        $class = [
            'in_progress' => 'info', 'awaiting_validation' => 'warning', 'validated' => 'success',
            'reported' => 'danger', 'resolved' => 'success',
        ][$state] ?? 'default';
        return ' <span class="label label-' . $class . '">' . self::h($this->stateLabel($state)) . '</span>';
    }

    private function flashHtml(?array $flash): string
    {
        if ($flash === null) {
            return '';
        }
        $class = !empty($flash['ok']) ? 'success' : 'danger';
        return '<div class="alert alert-' . $class . '" role="status">' . self::h($flash['message'] ?? '') . '</div>';
    }

    private function ineligibleHtml(?array $eligibility): string
    {
        if ($eligibility === null || ($eligibility['eligible'] ?? true)) {
            return '';
        }
        $since = isset($eligibility['since']) ? $this->when((string) $eligibility['since']) : '';
        $text = $since !== '' && $since !== '—'
            ? $this->t('not_eligible_since', ['since' => $since])
            : $this->t('not_eligible');
        return '<div class="alert alert-danger"><strong>' . self::h($text) . '</strong></div>';
    }

    private function interventionHtml(array $iv): string
    {
        $rows = [];
        $rows[] = [$this->t('intervention'), self::h($iv['id']) . ' — '
            . self::h($this->stateLabel((string) $iv['state']))];
        if (!empty($iv['deadline_at'])) {
            $deadline = self::h($this->when((string) $iv['deadline_at']));
            if (($iv['state'] ?? '') === 'awaiting_validation') {
                $deadline .= ' ' . $this->countdown((string) $iv['deadline_at']);
            }
            $rows[] = [$this->t('deadline'), $deadline];
        }
        $backup = $iv['backup'] ?? [];
        if (!empty($backup['reference'])) {
            $text = self::h($backup['reference']) . ' — '
                . self::h($this->backupLabel((string) ($backup['state'] ?? '')));
            if (!empty($backup['expires_at']) && ($backup['state'] ?? '') === 'kept') {
                $until = $this->t('backup_until', ['date' => $this->when((string) $backup['expires_at'])]);
                $text .= ' (' . self::h($until) . ')';
            }
            $rows[] = [$this->t('backup'), $text];
        } else {
            $rows[] = [$this->t('backup'), self::h($this->t('backup_none'))];
        }
        if (!empty($iv['technician'])) {
            $rows[] = [$this->t('technician'), self::h($iv['technician'])];
        }
        $html = '<table class="table table-condensed" style="margin-bottom:8px">';
        foreach ($rows as [$label, $value]) {
            $html .= '<tr><th style="width:12em">' . self::h($label) . '</th><td>' . $value . '</td></tr>';
        }
        return $html . '</table>';
    }

    public function countdownScript(): string
    {
        // Keeps "time left" current while the page stays open; the text is right without it.
        return '<script>(function(){function tick(){'
            . 'document.querySelectorAll("[data-signoff-deadline]").forEach(function(e){'
            . 'var ms=Date.parse(e.dataset.signoffDeadline)-Date.now();if(isNaN(ms))return;'
            . 'if(ms<=0){e.textContent=e.dataset.signoffPassed;return;}'
            . 'var m=Math.floor(ms/60000),d=Math.floor(m/1440),h=Math.floor(m%1440/60),n=m%60;'
            . 'var t=d?d+" "+e.dataset.signoffDay+" "+h+" h":(h?h+" h "+(n<10?"0":"")+n+" min":Math.max(n,1)+" min");'
            . 'e.textContent=e.dataset.signoffLeft.replace("{left}",t);});}'
            . 'setInterval(tick,30000);})();</script>';
    }

    /** The time-left text, with what the page's script needs to keep it current. */
    public function countdown(string $iso): string
    {
        return '<strong data-signoff-deadline="' . self::h($iso) . '"'
            . ' data-signoff-passed="' . self::h($this->t('deadline_passed')) . '"'
            . ' data-signoff-left="' . self::h($this->t('time_left')) . '"'
            . ' data-signoff-day="' . self::h($this->t('unit_day')) . '">'
            . self::h($this->timeLeft($iso)) . '</strong>';
    }

    private function openLink(array $query, string $text): string
    {
        return '<a class="btn btn-default btn-sm" target="_blank" rel="noopener" href="'
            . self::h($this->moduleLink(['action' => 'open'] + $query)) . '">' . self::h($text) . '</a>';
    }

    /** AdminAreaViewTicketPage: the ticket's intervention, and the buttons to start or complete one. */
    public function ticketBanner(int $ticketId): string
    {
        try {
            if (!$this->configured()) {
                return $this->box('<p class="text-muted">' . self::h($this->t('not_configured')) . '</p>');
            }
            $flash = $this->takeFlash($ticketId);
            $ticket = $this->ticket($ticketId);
            $userId = (int) ($ticket['userid'] ?? 0);
            try {
                $client = $this->client();
                $iv = $client->latestForTicket((string) $ticketId);
                $eligibility = $iv !== null
                    ? ['eligible' => (bool) ($iv['client']['eligible'] ?? true)]
                    : ($userId > 0 ? $client->eligibility((string) $userId) : null);
                if ($iv !== null && !($iv['client']['eligible'] ?? true) && $userId > 0) {
                    $eligibility = $client->eligibility((string) $userId);
                }
            } catch (ServiceException $e) {
                return $this->box($this->flashHtml($flash) . '<p class="text-muted">'
                    . self::h($this->t('unavailable')) . '</p>');
            }
            $body = $this->flashHtml($flash) . $this->ineligibleHtml($eligibility);
            $badge = '';
            if ($iv !== null) {
                $badge = $this->badge((string) $iv['state']);
                $body .= $this->interventionHtml($iv);
            } else {
                $body .= '<p class="text-muted">' . self::h($this->t('no_intervention')) . '</p>';
            }
            $state = $iv['state'] ?? null;
            $token = self::h(self::csrfToken());
            $action = self::h($this->moduleLink());
            if ($userId <= 0) {
                $body .= '<p class="text-muted">' . self::h($this->t('error_no_client')) . '</p>';
            } elseif (!in_array($state, self::ACTIVE_STATES, true)) {
                $site = self::h($this->siteOfTicket($ticket));
                $body .= '<form method="post" action="' . $action . '" class="form-inline intervention-signoff-start">'
                    . '<input type="hidden" name="token" value="' . $token . '">'
                    . '<input type="hidden" name="action" value="start">'
                    . '<input type="hidden" name="ticketid" value="' . $ticketId . '">'
                    . '<label for="signoff-backup">' . self::h($this->t('backup_reference')) . '</label> '
                    . '<input class="form-control input-sm" id="signoff-backup" name="backup" required'
                    . ' maxlength="500"> '
                    . '<label for="signoff-site">' . self::h($this->t('site')) . '</label> '
                    . '<input class="form-control input-sm" id="signoff-site" name="site" maxlength="500" value="'
                    . $site . '"> '
                    . '<button type="submit" class="btn btn-primary btn-sm">' . self::h($this->t('start_button'))
                    . '</button>'
                    . '</form>';
            } elseif ($state === 'in_progress') {
                $body .= '<form method="post" action="' . $action . '" class="intervention-signoff-complete">'
                    . '<input type="hidden" name="token" value="' . $token . '">'
                    . '<input type="hidden" name="action" value="complete">'
                    . '<input type="hidden" name="ticketid" value="' . $ticketId . '">'
                    . '<label for="signoff-summary">' . self::h($this->t('summary_label')) . '</label>'
                    . '<textarea class="form-control" id="signoff-summary" name="summary" rows="4" required'
                    . ' maxlength="20000"></textarea>'
                    . '<p class="help-block">' . self::h($this->t('summary_help')) . '</p>'
                    . '<button type="submit" class="btn btn-success btn-sm">' . self::h($this->t('complete_button'))
                    . '</button>'
                    . '</form>';
            } else {
                $body .= '<p>' . self::h($this->t('awaiting_client')) . '</p>';
            }
            if ($iv !== null) {
                $body .= '<p style="margin:8px 0 0">'
                    . $this->openLink(['intervention' => $iv['id']], $this->t('open_staff_view'))
                    . ' ' . self::h($this->t('dossier')) . ' '
                    . $this->openLink(['intervention' => $iv['id'], 'dossier' => 'pdf'], 'PDF') . ' '
                    . $this->openLink(['intervention' => $iv['id'], 'dossier' => 'json'], 'JSON') . '</p>';
            }
            return $this->box($body, $badge) . $this->countdownScript();
        } catch (\Throwable $e) {
            $this->log('ticket banner', ['ticketid' => $ticketId], $e->getMessage());
            return '';
        }
    }

    /** AdminAreaClientSummaryPage: eligibility and the client's latest interventions. */
    public function clientBanner(int $userId): string
    {
        try {
            if (!$this->configured() || $userId <= 0) {
                return '';
            }
            try {
                $client = $this->client();
                $eligibility = $client->eligibility((string) $userId);
                $recent = $client->interventions(['client' => (string) $userId], 5, false)['interventions'] ?? [];
            } catch (ServiceException $e) {
                return $this->box('<p class="text-muted">' . self::h($this->t('unavailable')) . '</p>');
            }
            $body = $this->ineligibleHtml($eligibility);
            if ($eligibility['eligible'] ?? true) {
                $body .= '<p class="text-success">' . self::h($this->t('eligible')) . '</p>';
            }
            if ($recent) {
                $body .= '<table class="table table-condensed"><tr><th>' . self::h($this->t('intervention'))
                    . '</th><th>' . self::h($this->t('ticket')) . '</th><th>' . self::h($this->t('state'))
                    . '</th><th>' . self::h($this->t('deadline')) . '</th></tr>';
                foreach ($recent as $iv) {
                    $ticket = (string) ($iv['ticket_id'] ?? '');
                    $ticketCell = $ticket !== ''
                        ? '<a href="supporttickets.php?action=view&amp;id=' . rawurlencode($ticket) . '">#'
                            . self::h($ticket) . '</a>'
                        : '—';
                    $deadline = self::h($this->when($iv['deadline_at'] ?? null));
                    if (($iv['state'] ?? '') === 'awaiting_validation') {
                        $deadline .= ' ' . $this->countdown((string) ($iv['deadline_at'] ?? ''));
                    }
                    $body .= '<tr><td>' . self::h($iv['id']) . '</td><td>' . $ticketCell . '</td><td>'
                        . self::h($this->stateLabel((string) $iv['state'])) . '</td><td>' . $deadline . '</td></tr>';
                }
                $body .= '</table>';
            } else {
                $body .= '<p class="text-muted">' . self::h($this->t('no_intervention_client')) . '</p>';
            }
            $body .= '<p style="margin:0">'
                . $this->openLink(['client' => (string) $userId], $this->t('open_staff_view')) . '</p>';
            return $this->box($body) . $this->countdownScript();
        } catch (\Throwable $e) {
            $this->log('client banner', ['userid' => $userId], $e->getMessage());
            return '';
        }
    }

    // -- The addon's own page (Addons > Intervention sign-off) ----------------------------------

    /** `_output`: the actions posted from a ticket, the staff view's door, and a status page. */
    public function output(array $request, int $adminId): string
    {
        $action = (string) ($request['action'] ?? '');
        if (($action === 'start' || $action === 'complete') && ($_SERVER['REQUEST_METHOD'] ?? 'GET') === 'POST') {
            if (!self::checkCsrf()) {
                return '<div class="alert alert-danger">' . self::h($this->t('error_csrf')) . '</div>';
            }
            $ticketId = (int) ($request['ticketid'] ?? 0);
            $result = $action === 'start'
                ? $this->start(
                    $ticketId,
                    (string) ($request['backup'] ?? ''),
                    (string) ($request['site'] ?? ''),
                    $adminId
                )
                : $this->complete($ticketId, (string) ($request['summary'] ?? ''), $adminId);
            $this->flash($ticketId, $result);
            return $this->redirect('supporttickets.php?action=view&id=' . $ticketId, $result['message']);
        }
        if ($action === 'open') {
            return $this->openStaffView($request, $adminId);
        }
        if ($action === 'check') {
            return $this->overview($adminId, true);
        }
        return $this->overview($adminId, false);
    }

    private function redirect(string $url, string $message): string
    {
        if (!headers_sent()) {
            header('Location: ' . $url, true, 303);
        }
        return '<p>' . self::h($message) . '</p><p><a href="' . self::h($url) . '">'
            . self::h($this->t('back_to_ticket')) . '</a></p>';
    }

    private function openStaffView(array $request, int $adminId): string
    {
        if (!$this->configured()) {
            return '<div class="alert alert-warning">' . self::h($this->t('not_configured')) . '</div>';
        }
        $admin = $this->admin($adminId);
        try {
            $url = $this->client(true)->staffLoginUrl(
                $admin['name'] ?? ('admin ' . $adminId),
                isset($request['intervention']) ? (string) $request['intervention'] : null,
                isset($request['client']) ? (string) $request['client'] : null,
                isset($request['dossier']) ? (string) $request['dossier'] : null,
                $admin['language'] ?? null
            );
        } catch (\Throwable $e) {
            $this->log('staff login link', ['admin' => $adminId], $e->getMessage());
            return '<div class="alert alert-danger">'
                . self::h($this->t('error_service', ['error' => $e->getMessage()])) . '</div>';
        }
        // The link is used by a POST (a GET only asks to continue): post it straight away.
        return '<form method="post" action="' . self::h($url) . '" id="signoff-open">'
            . '<p>' . self::h($this->t('opening')) . '</p>'
            . '<button type="submit" class="btn btn-primary">' . self::h($this->t('open_staff_view'))
            . '</button></form>'
            . '<script>document.getElementById("signoff-open").submit();</script>';
    }

    private function overview(int $adminId, bool $check): string
    {
        $html = '<p>' . self::h($this->t('intro')) . '</p>';
        $problems = [];
        foreach (['service_url', 'webhook_secret', 'staff_token'] as $key) {
            if ($this->setting($key) === '') {
                $problems[] = $this->t('missing_' . $key);
            }
        }
        if ($this->setting('service_url') !== '' && !$this->configured() && $this->setting('staff_token') !== '') {
            $problems[] = $this->t('bad_service_url');
        }
        if ($this->setting('webhook_secret') !== '' && Client::decodeSecret($this->setting('webhook_secret')) === '') {
            $problems[] = $this->t('bad_webhook_secret');
        }
        foreach ($problems as $problem) {
            $html .= '<div class="alert alert-warning">' . self::h($problem) . '</div>';
        }
        if (!$this->configured()) {
            return $html;
        }
        $html .= '<p>' . $this->openLink([], $this->t('open_staff_view'))
            . ' <a class="btn btn-default btn-sm" href="' . self::h($this->moduleLink(['action' => 'check'])) . '">'
            . self::h($this->t('check_button')) . '</a></p>';
        try {
            $client = $this->client();
            if ($check) {
                $health = $client->health();
                $html .= '<div class="alert alert-info">' . self::h($this->t('check_health', [
                    'database' => $health['database'] ?? '?', 'redis' => $health['redis'] ?? '?',
                ])) . '<br>' . self::h($this->t(
                    $client->checkSignature() ? 'check_signature_ok' : 'check_signature_bad'
                )) . '</div>';
            }
            $found = $client->interventions([], 10, true);
        } catch (ServiceException $e) {
            $key = $e->status === 401 ? 'error_token' : 'error_service';
            return $html . '<div class="alert alert-danger">'
                . self::h($this->t($key, ['error' => $e->getMessage()])) . '</div>';
        }
        $html .= '<h3>' . self::h($this->t('counts')) . '</h3><ul class="list-inline">';
        $states = ['in_progress', 'awaiting_validation', 'validated', 'reported', 'lapsed', 'resolved', 'cancelled'];
        foreach ($states as $state) {
            $html .= '<li>' . self::h($this->stateLabel($state)) . ': <strong>'
                . (int) ($found['counts'][$state] ?? 0) . '</strong></li>';
        }
        $html .= '</ul><h3>' . self::h($this->t('recent')) . '</h3><table class="table table-condensed"><tr><th>'
            . self::h($this->t('intervention')) . '</th><th>' . self::h($this->t('ticket')) . '</th><th>'
            . self::h($this->t('client')) . '</th><th>' . self::h($this->t('state')) . '</th><th>'
            . self::h($this->t('deadline')) . '</th></tr>';
        foreach ($found['interventions'] ?? [] as $iv) {
            $ticket = (string) ($iv['ticket_id'] ?? '');
            $html .= '<tr><td>' . self::h($iv['id']) . '</td><td>'
                . ($ticket !== '' ? '<a href="supporttickets.php?action=view&amp;id=' . rawurlencode($ticket)
                . '">#' . self::h($ticket) . '</a>' : '—')
                . '</td><td>' . self::h($iv['client']['name'] ?? $iv['client']['email'] ?? '') . '</td><td>'
                . self::h($this->stateLabel((string) $iv['state'])) . '</td><td>'
                . self::h($this->when($iv['deadline_at'] ?? null))
                . '</td></tr>';
        }
        return $html . '</table>';
    }
}
