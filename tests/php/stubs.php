<?php
/**
 * WHMCS stood in for, for the module's tests: add_hook, localAPI, logModuleCall,
 * logActivity, the CSRF token functions and Capsule, over data the test gives as JSON
 * (see harness.php).
 */

declare(strict_types=1);

namespace WHMCS\Database {
    /** The few Capsule (Laravel query builder) calls the module makes, over arrays. */
    final class Capsule
    {
        public static function table(string $name): Query
        {
            return new Query($GLOBALS['__tables'][$name] ?? []);
        }
    }

    final class Query
    {
        public function __construct(private array $rows)
        {
        }

        public function where(string $column, mixed $value): self
        {
            if (!empty($GLOBALS['__capsule_fails'])) {
                throw new \RuntimeException('SQLSTATE[HY000] [2002] Connection refused');
            }
            return new self(array_values(array_filter(
                $this->rows,
                static fn (array $row) => (string) ($row[$column] ?? '') === (string) $value
            )));
        }

        public function pluck(string $value, string $key): Collection
        {
            $out = [];
            foreach ($this->rows as $row) {
                $out[$row[$key]] = $row[$value];
            }
            return new Collection($out);
        }

        public function first(): ?object
        {
            return isset($this->rows[0]) ? (object) $this->rows[0] : null;
        }

        public function value(string $column): mixed
        {
            return $this->rows[0][$column] ?? null;
        }
    }

    final class Collection
    {
        public function __construct(private array $items)
        {
        }

        public function toArray(): array
        {
            return $this->items;
        }
    }
}

namespace WHMCS\View\Menu {
    /** The menu items of the client area (home page panels, navigation bars), as arrays. */
    final class Item
    {
        /** @var array<string, Item> */
        private array $children = [];

        public function __construct(private string $name, private array $attributes = [])
        {
        }

        public function addChild(string $name, array $attributes = []): self
        {
            return $this->children[$name] = new self($name, $attributes);
        }

        public function getChild(string $name): ?self
        {
            return $this->children[$name] ?? null;
        }

        public function toArray(): array
        {
            return [
                'name' => $this->name,
                'attributes' => $this->attributes,
                'children' => array_map(static fn (self $c) => $c->toArray(), $this->children),
            ];
        }
    }
}

namespace {
    define('WHMCS', true);

    $GLOBALS['__hooks'] = [];
    $GLOBALS['__api_calls'] = [];
    $GLOBALS['__logs'] = [];
    $GLOBALS['__activity'] = [];
    $GLOBALS['__fired'] = [];

    function add_hook(string $point, int $priority, callable $fn): void
    {
        $GLOBALS['__hooks'][$point][] = $fn;
    }

    function logModuleCall(string $module, string $action, mixed $request, mixed $response, mixed $processed = '', array $replace = []): void
    {
        $text = static fn (mixed $v): string => is_string($v) ? $v : json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $entry = ['module' => $module, 'action' => $action, 'request' => $text($request), 'response' => $text($response)];
        // What WHMCS does with $replace: the secrets never reach the module log.
        foreach ($replace as $secret) {
            if ($secret !== '') {
                $entry['request'] = str_replace($secret, '***', $entry['request']);
                $entry['response'] = str_replace($secret, '***', $entry['response']);
            }
        }
        $GLOBALS['__logs'][] = $entry;
    }

    /** WHMCS's Activity Log (Utilities > Logs > Activity Log): every admin can read it. */
    function logActivity(string $message, int $userId = 0): void
    {
        $GLOBALS['__activity'][] = ['message' => $message, 'userid' => $userId];
    }

    function generate_token(string $type = 'form'): string
    {
        $token = 'csrf-token-of-this-session';
        return $type === 'plain' ? $token : '<input type="hidden" name="token" value="' . $token . '">';
    }

    function check_token(string $namespace = 'WHMCS.default'): void
    {
        // As WHMCS does: a wrong token ends the request with an error page.
        if (($_POST['token'] ?? $_REQUEST['token'] ?? '') !== 'csrf-token-of-this-session') {
            echo 'Invalid CSRF Protection Token';
            exit;
        }
    }

    function localAPI(string $command, array $values = [], ?string $admin = null): array
    {
        $GLOBALS['__api_calls'][] = ['command' => $command, 'values' => $values];
        $data = $GLOBALS['__localapi'];
        $not = static fn (string $what) => ['result' => 'error', 'message' => $what . ' Not Found'];
        switch ($command) {
            case 'GetTicket':
                $ticket = $data['tickets'][(string) ($values['ticketid'] ?? '')] ?? null;
                return $ticket ? ['result' => 'success'] + $ticket : $not('Ticket ID');
            case 'GetClientsDetails':
                $client = $data['clients'][(string) ($values['clientid'] ?? '')] ?? null;
                return $client ? ['result' => 'success', 'client' => $client] + $client : $not('Client');
            case 'GetClientsProducts':
                $product = $data['products'][(string) ($values['serviceid'] ?? '')] ?? null;
                return ['result' => 'success', 'products' => ['product' => $product ? [$product] : []]];
            case 'GetClientsDomains':
                $domain = $data['domains'][(string) ($values['domainid'] ?? '')] ?? null;
                return ['result' => 'success', 'domains' => ['domain' => $domain ? [$domain] : []]];
            case 'UpdateTicket':
                $id = (string) ($values['ticketid'] ?? '');
                if (!isset($GLOBALS['__localapi']['tickets'][$id])) {
                    return $not('Ticket ID');
                }
                $status = (string) ($values['status'] ?? '');
                $before = (string) ($GLOBALS['__localapi']['tickets'][$id]['status'] ?? '');
                $GLOBALS['__localapi']['tickets'][$id]['status'] = $status;
                if ($status !== '' && $status !== $before) {
                    // As WHMCS does: the hook runs inside the API call, with the admin of
                    // the session when there is one and no adminid otherwise (an API call).
                    $vars = ['ticketid' => (int) $id, 'status' => $status];
                    if (!empty($_SESSION['adminid'])) {
                        $vars['adminid'] = (int) $_SESSION['adminid'];
                    }
                    $GLOBALS['__fired'][] = ['hook' => 'TicketStatusChange'] + $vars;
                    foreach ($GLOBALS['__hooks']['TicketStatusChange'] ?? [] as $fn) {
                        $fn($vars);
                    }
                }
                return ['result' => 'success', 'ticketid' => $id];
        }
        return ['result' => 'error', 'message' => 'unknown command ' . $command];
    }
}
