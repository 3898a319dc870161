<?php
/**
 * Runs the WHMCS module as WHMCS would, for one test: reads a JSON scenario on stdin,
 * loads the module with WHMCS's functions stubbed (stubs.php), makes the calls it lists
 * (hooks, the addon page, the Client class) and prints one JSON document with what each
 * call returned or printed, the localAPI calls, the module log, the activity log and the
 * session.
 *
 * Scenario keys: module (folder), settings, admins, configuration, localapi, session,
 * server, calls: [{kind: hook|menu|output|clientarea|api|client|config|activate|
 * deactivate|version|unsupported|sign, ...}]. `menu` runs a client-area menu hook on a
 * menu object, `clientarea` the client area's page, `api` a localAPI call made as an
 * External API request (no admin session), as the service's calls are.
 */

declare(strict_types=1);

require __DIR__ . '/stubs.php';

$scenario = json_decode((string) stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$module = rtrim((string) $scenario['module'], '/');

$settings = $scenario['settings'] ?? [];
$GLOBALS['__tables'] = [
    'tbladdonmodules' => array_map(
        static fn ($k, $v) => ['module' => 'intervention_signoff', 'setting' => $k, 'value' => $v],
        array_keys($settings),
        array_values($settings)
    ),
    'tbladmins' => array_map(
        static fn ($id, $a) => ['id' => (string) $id] + $a,
        array_keys($scenario['admins'] ?? []),
        array_values($scenario['admins'] ?? [])
    ),
    'tblclients' => array_map(
        static fn ($id, $c) => ['id' => (string) $id, 'language' => (string) ($c['language'] ?? '')],
        array_keys($scenario['localapi']['clients'] ?? []),
        array_values($scenario['localapi']['clients'] ?? [])
    ),
    'tblconfiguration' => array_map(
        static fn ($k, $v) => ['setting' => $k, 'value' => $v],
        array_keys($scenario['configuration'] ?? []),
        array_values($scenario['configuration'] ?? [])
    ),
];
$GLOBALS['__capsule_fails'] = !empty($scenario['capsule_fails']);
$GLOBALS['__localapi'] = ($scenario['localapi'] ?? []) + ['tickets' => [], 'clients' => []];
$_SESSION = $scenario['session'] ?? [];
$_SERVER = array_merge($_SERVER, $scenario['server'] ?? []);
$GLOBALS['__results'] = [];

register_shutdown_function(static function (): void {
    // Also reached when the module (or check_token) exits in the middle of a call.
    $pending = ob_get_level() > 0 ? (string) ob_get_clean() : null;
    if ($pending !== null && isset($GLOBALS['__current'])) {
        $GLOBALS['__results'][] = $GLOBALS['__current'] + ['output' => $pending, 'exited' => true];
    }
    echo json_encode([
        'results' => $GLOBALS['__results'],
        'localapi_calls' => $GLOBALS['__api_calls'],
        'logs' => $GLOBALS['__logs'],
        'activity' => $GLOBALS['__activity'],
        'session' => $_SESSION,
        'tickets' => $GLOBALS['__localapi']['tickets'],
        'hooks_fired' => $GLOBALS['__fired'],
    ], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR);
});

require_once $module . '/intervention_signoff.php';
require_once $module . '/hooks.php';

foreach ($scenario['calls'] as $call) {
    $_GET = $call['get'] ?? [];
    $_POST = $call['post'] ?? [];
    $_REQUEST = array_merge($_GET, $_POST);
    $_SERVER['REQUEST_METHOD'] = $call['method'] ?? ($_POST ? 'POST' : 'GET');
    $GLOBALS['__current'] = ['kind' => $call['kind']];
    $started = microtime(true);
    $return = null;
    $error = null;
    ob_start();
    try {
        switch ($call['kind']) {
            case 'hook':
                foreach ($GLOBALS['__hooks'][$call['name']] ?? [] as $fn) {
                    $return = $fn($call['vars'] ?? []);
                }
                break;
            case 'output':
                intervention_signoff_output(($call['vars'] ?? []) + $settings + ['modulelink' => 'addonmodules.php?module=intervention_signoff']);
                break;
            case 'menu':
                // A client-area menu hook, given the menu WHMCS would build.
                $root = new WHMCS\View\Menu\Item('root');
                foreach ($call['children'] ?? [] as $child) {
                    $root->addChild($child);
                }
                foreach ($GLOBALS['__hooks'][$call['name']] ?? [] as $fn) {
                    $fn($root);
                }
                $return = $root->toArray();
                break;
            case 'clientarea':
                $_LANG_FILE = $module . '/lang/' . ($call['language'] ?? 'english') . '.php';
                $_ADDONLANG = [];
                include $_LANG_FILE;
                $return = intervention_signoff_clientarea(
                    $settings + ['modulelink' => 'index.php?m=intervention_signoff', '_lang' => $_ADDONLANG]
                );
                break;
            case 'api':
                // An External API call (the service's): no admin session, as in WHMCS.
                $saved = $_SESSION;
                $_SESSION = [];
                $return = localAPI($call['command'], $call['values'] ?? []);
                $_SESSION = $saved;
                break;
            case 'config':
                $return = intervention_signoff_config();
                break;
            case 'version':
                $return = InterventionSignoff\Client::VERSION;
                break;
            case 'unsupported':
                $return = intervention_signoff_unsupported($call['version'], $call['text']);
                break;
            case 'activate':
                $return = intervention_signoff_activate();
                break;
            case 'deactivate':
                $return = intervention_signoff_deactivate();
                break;
            case 'client':
                $client = new InterventionSignoff\Client(...$call['args']);
                $return = $client->{$call['method']}(...($call['params'] ?? []));
                break;
            case 'sign':
                $return = InterventionSignoff\Client::sign(
                    InterventionSignoff\Client::decodeSecret($call['secret']),
                    $call['id'],
                    (int) $call['timestamp'],
                    $call['body']
                );
                break;
            default:
                throw new RuntimeException('unknown call kind ' . $call['kind']);
        }
    } catch (Throwable $e) {
        $error = [
            'class' => get_class($e),
            'message' => $e->getMessage(),
            'status' => property_exists($e, 'status') ? $e->status : null,
            'code' => property_exists($e, 'errorCode') ? $e->errorCode : null,
        ];
    }
    $output = (string) ob_get_clean();
    $GLOBALS['__results'][] = [
        'kind' => $call['kind'],
        'return' => $return,
        'output' => $output,
        'error' => $error,
        'seconds' => round(microtime(true) - $started, 3),
    ];
    unset($GLOBALS['__current']);
}
