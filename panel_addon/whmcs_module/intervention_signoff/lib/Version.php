<?php

/**
 * Intervention sign-off: the module's version, in one place.
 *
 * intervention_signoff_config() gives it to WHMCS and the Client sends it as its user
 * agent. It is the service's version too (pyproject.toml): they are released together.
 * This file parses on PHP 7.2 and later, as WHMCS reads the module's settings on any PHP.
 */

declare(strict_types=1);

namespace InterventionSignoff;

final class Version
{
    public const NUMBER = '1.1.0';
}
