"""The domain's errors: what a service refuses, and why, for the web layer to answer."""

from __future__ import annotations


class LifecycleError(Exception):
    """Base of the domain errors the services raise."""

    code = "lifecycle_error"


class TransitionError(LifecycleError):
    """The policy forbids this action from the intervention's current state."""

    code = "transition_forbidden"

    def __init__(self, action: str, state: str | None) -> None:
        self.action = action
        self.state = state
        super().__init__(f"cannot {action} an intervention that is {state or 'unknown'}")


class WindowClosedError(LifecycleError):
    """A validation arrived after the deadline: the intervention lapsed instead."""

    code = "window_closed"


class NotFoundError(LifecycleError):
    code = "not_found"


class InvalidRequestError(LifecycleError):
    code = "invalid"
