<?php

/**
 * Intervention sign-off: the service's HTTP client, for the WHMCS addon.
 *
 * No WHMCS dependency: it needs PHP 8.1+ with cURL and JSON. Events are signed per
 * Standard Webhooks; the staff API is called with the bearer token.
 *
 * One Client serves one page: every call made through it shares its timeout, so a slow
 * or unreachable service can never hold a WHMCS page longer than that in total, and
 * after a call that got no answer the next ones give up at once.
 */

declare(strict_types=1);

namespace InterventionSignoff;

final class Client
{
    /** The module's version (lib/Version.php), as intervention_signoff_config() gives it. */
    public const VERSION = Version::NUMBER;

    private string $baseUrl;
    private string $key;
    private string $staffToken;
    private float $timeout;
    private float $deadline;
    private ?string $down = null;
    /** @var callable|null */
    private $logger;

    /**
     * @param string        $serviceUrl    the service's base URL (https://signoff.example.com)
     * @param string        $webhookSecret `whsec_` + base64, as PANEL_ADDON_WEBHOOK_SECRET
     * @param string        $staffToken    PANEL_ADDON_STAFF_API_TOKEN
     * @param float         $timeout       seconds, shared by every call of this client
     * @param callable|null $logger        fn(string $action, string $request, mixed $response)
     */
    public function __construct(
        string $serviceUrl,
        string $webhookSecret,
        string $staffToken,
        float $timeout = 3.0,
        ?callable $logger = null
    ) {
        $url = rtrim(trim($serviceUrl), '/');
        if (!preg_match('#^https?://[^/\s]+#i', $url)) {
            throw new \InvalidArgumentException('the service URL must start with http:// or https://');
        }
        $this->baseUrl = $url;
        $this->key = self::decodeSecret($webhookSecret);
        $this->staffToken = trim($staffToken);
        $this->timeout = max(0.2, min($timeout, 60.0));
        $this->deadline = microtime(true) + $this->timeout;
        $this->logger = $logger;
    }

    /** The raw HMAC key of a `whsec_` secret ('' when there is none or it is malformed). */
    public static function decodeSecret(string $secret): string
    {
        $secret = trim($secret);
        if (str_starts_with($secret, 'whsec_')) {
            $secret = substr($secret, 6);
        }
        $key = base64_decode($secret, true);
        return $key === false ? '' : $key;
    }

    /** The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}". */
    public static function sign(string $key, string $messageId, int $timestamp, string $body): string
    {
        $mac = hash_hmac('sha256', $messageId . '.' . $timestamp . '.' . $body, $key, true);
        return 'v1,' . base64_encode($mac);
    }

    /**
     * Send a signed event (`intervention.started`, `.completed`, `.cancelled`) and return
     * the service's answer. A `$messageId` makes a retry of the same event harmless: the
     * service applies a `webhook-id` once.
     */
    public function sendEvent(string $type, array $data, ?string $messageId = null): array
    {
        if ($this->key === '') {
            throw new ServiceException('the webhook secret is missing or is not whsec_ followed by base64');
        }
        $messageId ??= 'msg_' . bin2hex(random_bytes(12));
        if ($messageId === '' || str_contains($messageId, '.') || strlen($messageId) > 200) {
            throw new \InvalidArgumentException('a webhook id has no dots and at most 200 characters');
        }
        $body = json_encode(
            ['type' => $type, 'timestamp' => gmdate('Y-m-d\TH:i:s\Z'), 'data' => $data],
            JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
        );
        $timestamp = time();
        return $this->request('POST', '/webhooks/panel', $body, [
            'Content-Type: application/json',
            'webhook-id: ' . $messageId,
            'webhook-timestamp: ' . $timestamp,
            'webhook-signature: ' . self::sign($this->key, $messageId, $timestamp, $body),
        ], $type);
    }

    /** One intervention with its trail, or null when the service does not know it. */
    public function intervention(string $id): ?array
    {
        try {
            return $this->staff('GET', '/interventions/' . rawurlencode($id));
        } catch (ServiceException $e) {
            if ($e->status === 404) {
                return null;
            }
            throw $e;
        }
    }

    /** `{"eligible": bool, "known": bool, "since", "reason", "intervention"}` for a client. */
    public function eligibility(string $clientId): array
    {
        return $this->staff('GET', '/clients/' . rawurlencode($clientId) . '/eligibility');
    }

    /**
     * Interventions newest first. Filters as the staff API takes them (`state`, `client`,
     * `technician`, `ticket`, `late_report`, `backup`, `from`, `to`, `before`).
     */
    public function interventions(array $filters = [], int $limit = 20, bool $counts = true): array
    {
        $query = array_filter($filters, static fn ($v) => $v !== null && $v !== '');
        $query['limit'] = max(1, min($limit, 200));
        if (!$counts) {
            $query['counts'] = 'false';
        }
        return $this->staff('GET', '/interventions?' . http_build_query($query, '', '&', PHP_QUERY_RFC3986));
    }

    /**
     * A client's interventions as they see them (the client area), newest first, each
     * with fresh links to the pages its state still takes.
     */
    public function clientInterventions(string $clientId, int $limit = 20): array
    {
        $path = '/clients/' . rawurlencode($clientId) . '/interventions?limit=' . max(1, min($limit, 50));
        $found = $this->staff('GET', $path);
        return is_array($found['interventions'] ?? null) ? $found['interventions'] : [];
    }

    /**
     * One intervention as its client sees it, or null when it is not theirs (the service
     * answers 404 for another client's intervention as for an unknown one).
     */
    public function clientIntervention(string $clientId, string $id): ?array
    {
        try {
            return $this->staff(
                'GET',
                '/interventions/' . rawurlencode($id) . '/links?' . http_build_query(['client' => $clientId])
            );
        } catch (ServiceException $e) {
            if ($e->status === 404) {
                return null;
            }
            throw $e;
        }
    }

    /** The newest intervention recorded for a ticket, or null. */
    public function latestForTicket(string $ticketId): ?array
    {
        $found = $this->interventions(['ticket' => $ticketId], 1, false);
        return $found['interventions'][0] ?? null;
    }

    /**
     * A single-use link (valid about a minute) that signs this admin into the staff view,
     * landing on an intervention or a client's interventions when one is given, or on the
     * intervention's dispute dossier when `$dossier` is 'pdf' or 'json'. `$language`, the
     * admin's WHMCS language (`french`), is the staff view's when the service speaks it.
     */
    public function staffLoginUrl(
        string $adminName,
        ?string $intervention = null,
        ?string $clientId = null,
        ?string $dossier = null,
        ?string $language = null
    ): string {
        $body = ['admin' => $adminName];
        if ($language !== null && $language !== '') {
            $body['language'] = $language;
        }
        if ($intervention !== null && $intervention !== '') {
            $body['intervention'] = $intervention;
            if ($dossier === 'pdf' || $dossier === 'json') {
                $body['dossier'] = $dossier;
            }
        } elseif ($clientId !== null && $clientId !== '') {
            $body['client'] = $clientId;
        }
        $answer = $this->staff('POST', '/staff/login-links', $body);
        $url = $answer['url'] ?? '';
        if (!is_string($url) || !preg_match('#^https?://#i', $url)) {
            throw new ServiceException('the service gave no login link');
        }
        return $url;
    }

    /** `/healthz`: `{"database": "ok", "redis": "ok"|"unavailable"}`. */
    public function health(): array
    {
        return $this->request('GET', '/healthz', null, [], 'health');
    }

    /**
     * Whether the service accepts this module's signature: an event of no known type is
     * refused as a bad payload (422) once the signature passed, and as 401 before.
     */
    public function checkSignature(): bool
    {
        try {
            $this->sendEvent('signature.check', []);
        } catch (ServiceUnavailableException $e) {
            throw $e;
        } catch (ServiceException $e) {
            if ($e->status === 422 || $e->status === 400) {
                return true;
            }
            if ($e->status === 401) {
                return false;
            }
            throw $e;
        }
        return true;
    }

    /** Seconds this client may still spend waiting for the service. */
    public function timeLeft(): float
    {
        return max(0.0, $this->deadline - microtime(true));
    }

    private function staff(string $method, string $path, ?array $body = null): array
    {
        if ($this->staffToken === '') {
            throw new ServiceException('the staff API token is not set');
        }
        $headers = ['Authorization: Bearer ' . $this->staffToken];
        $json = null;
        if ($body !== null) {
            $json = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $headers[] = 'Content-Type: application/json';
        }
        $action = strtolower($method) . ' ' . strtok($path, '?');
        return $this->request($method, '/api/v1' . $path, $json, $headers, $action);
    }

    private function request(string $method, string $path, ?string $body, array $headers, string $action): array
    {
        if ($this->down !== null) {
            throw new ServiceUnavailableException('the service did not answer earlier on this page: ' . $this->down);
        }
        $left = $this->timeLeft();
        if ($left < 0.05) {
            $this->down = 'no time left';
            throw new ServiceUnavailableException('no time left to wait for the service on this page');
        }
        $handle = curl_init($this->baseUrl . $path);
        if ($handle === false) {
            throw new ServiceUnavailableException('cURL could not start');
        }
        $headers[] = 'Accept: application/json';
        curl_setopt_array($handle, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_NOSIGNAL => true,
            CURLOPT_TIMEOUT_MS => (int) ceil($left * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ceil($left * 1000),
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_USERAGENT => 'intervention-signoff-whmcs/' . self::VERSION,
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
        ]);
        if ($body !== null) {
            curl_setopt($handle, CURLOPT_POSTFIELDS, $body);
        }
        $raw = curl_exec($handle);
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        $errno = curl_errno($handle);
        $error = curl_error($handle);
        curl_close($handle);

        $request = $method . ' ' . $path . ($body !== null ? "\n" . $body : '');
        if ($raw === false || $errno !== 0) {
            $this->down = $error !== '' ? $error : 'no answer';
            $this->log($action, $request, 'no answer: ' . $this->down);
            throw new ServiceUnavailableException('the service did not answer: ' . $this->down);
        }
        $this->log($action, $request, 'HTTP ' . $status . "\n" . $raw);
        $decoded = json_decode((string) $raw, true);
        if ($status >= 200 && $status < 300) {
            if (!is_array($decoded)) {
                throw new ServiceException('the service answered something that is not JSON', $status);
            }
            return $decoded;
        }
        $error = is_array($decoded) && is_array($decoded['error'] ?? null) ? $decoded['error'] : [];
        $message = is_string($error['message'] ?? null) ? $error['message'] : 'HTTP ' . $status;
        $code = is_string($error['code'] ?? null) ? $error['code'] : '';
        if ($status >= 500 || $status === 429) {
            throw new ServiceUnavailableException($message, $status, $code);
        }
        throw new ServiceException($message, $status, $code);
    }

    private function log(string $action, string $request, string $response): void
    {
        if ($this->logger !== null) {
            try {
                ($this->logger)($action, $request, $response);
            } catch (\Throwable) {
                // Logging must never break a page.
            }
        }
    }
}
