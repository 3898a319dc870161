<?php

/**
 * Intervention sign-off: the service did not answer.
 */

declare(strict_types=1);

namespace InterventionSignoff;

/** The service did not answer in time, or could not be reached at all. */
class ServiceUnavailableException extends ServiceException
{
}
