<?php

/**
 * Intervention sign-off: an error whose message is shown as it is.
 */

declare(strict_types=1);

namespace InterventionSignoff;

/** An error whose message is meant for the technician as it is. */
final class UserFacingException extends \RuntimeException
{
}
