<?php

/**
 * Intervention sign-off: loads the classes of lib/ (namespace InterventionSignoff) when
 * first used. Required only on a PHP the module supports (see intervention_signoff.php):
 * lib/ uses PHP 8.1 syntax.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'InterventionSignoff\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require_once $file;
    }
});
