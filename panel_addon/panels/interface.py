"""What the service asks of a hosting panel, and how a panel says a call failed."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Panel", "PanelError", "PermissionProbe"]


class Panel(Protocol):
    """The five calls the service makes to a panel (the effects in panel_addon/effects.py).

    Ids are the panel's own, as its webhooks sent them. A write answers the panel's
    reply as a JSON-able dict; its ``"result"``, when there is one, is kept with the
    task's outcome. Every failure raises PanelError; a panel never retries by itself (the
    task machinery decides when to try again).
    """

    def add_ticket_note(self, ticket_id: str, message: str) -> dict[str, Any]:
        """Add a private staff note, as plain text, to the ticket.

        The panel shows it as text: markup in ``message`` (what a client typed) must
        never run in its admin area, and staff read the characters as they were typed.
        """
        ...

    def get_ticket_notes(self, ticket_id: str) -> list[str]:
        """The texts of the ticket's staff notes, oldest first ([] when it has none)."""
        ...

    def update_ticket_status(self, ticket_id: str, status: str) -> dict[str, Any]:
        """Set the ticket's status (REOPEN_TICKET_STATUS when a client reports a problem)."""
        ...

    def get_client_notes(self, client_id: str) -> str:
        """The client's whole admin-notes field as staff wrote it ("" when empty).

        Writing it back unchanged with set_client_notes changes nothing in the panel.
        """
        ...

    def set_client_notes(self, client_id: str, notes: str) -> dict[str, Any]:
        """Overwrite the client's whole admin-notes field ("" clears it)."""
        ...


@runtime_checkable
class PermissionProbe(Protocol):
    """A panel that can say which of the calls the service makes its credentials lack."""

    def missing_permissions(self) -> list[str]:
        """The panel's names of the actions the credentials may not call ([] when none).

        Probes without changing anything; raises PanelError when the panel cannot be
        asked at all.
        """
        ...


class PanelError(Exception):
    """A panel call that failed, with a message that says what and why.

    ``transient`` is True when the same call can succeed later (the panel was down, slow
    or refused for a reason the operator can fix: credentials, permissions, allow-list),
    so the task is retried; False when no retry can succeed (the ticket or the client no
    longer exists), so the task is marked failed. ``configuration`` is True when the
    panel refuses because of a setting only the operator can change and that the
    service's own retries would not see fixed (the credentials lack a permission): the
    task is parked, shown to staff with the message, until `panel-addon check` finds the
    setting fixed. The message never carries a credential.
    """

    def __init__(self, message: str, *, transient: bool, configuration: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.configuration = configuration

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling.
        return (_rebuild_panel_error, (str(self), self.transient, self.configuration))


def _rebuild_panel_error(message: str, transient: bool, configuration: bool = False) -> PanelError:
    return PanelError(message, transient=transient, configuration=configuration)
