<?php

/**
 * Intervention sign-off: an error answer of the service.
 */

declare(strict_types=1);

namespace InterventionSignoff;

/** The service answered with an error (`status` is its HTTP status, `errorCode` its code). */
class ServiceException extends \RuntimeException
{
    public function __construct(
        string $message,
        public readonly int $status = 0,
        public readonly string $errorCode = '',
        ?\Throwable $previous = null
    ) {
        parent::__construct($message, $status, $previous);
    }
}
