"""The WHMCS panel: a client of its External API (``<WHMCS_URL>/includes/api.php``)."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeAlias
from urllib.parse import quote, quote_plus

import requests

from .interface import PanelError

__all__ = ["PERMANENT_MESSAGES", "REQUIRED_ACTIONS", "WhmcsClient", "WhmcsError"]

log = logging.getLogger(__name__)

API_PATH = "/includes/api.php"
DEFAULT_TIMEOUT = 15.0

# Documented "not found" answers: the ticket or client is gone, so no retry can succeed.
# Everything else is retried (see WhmcsError).
PERMANENT_MESSAGES = frozenset(
    message.casefold()
    for message in (
        "Ticket ID not found",  # AddTicketNote, AddTicketReply
        "Ticket ID Not Found",  # UpdateTicket, GetTicket
        "Client ID Not Found",  # UpdateClient, AddTicketReply
        "Client ID not found",  # AddClientNote
        "Client Not Found",  # GetClientsDetails
    )
)

# An API role without the action: WHMCS names it in lower case. A configuration error
# that no retry fixes: the task is parked (failed) with a message saying what to allow.
_PERMISSION = re.compile(r'^Invalid Permissions: API action "([^"]*)" is not allowed', re.I)
# An action this WHMCS does not have (the first is WHMCS 8's wording, the others older).
UNKNOWN_ACTION_MESSAGES = frozenset(
    m.casefold() for m in ("Invalid API Command", "API Function Not Found", "Command Not Found")
)

# Every action the service calls, with the parameters `missing_permissions` probes it
# with: an id that does not exist, and nothing that would change anything if it did.
_PROBE_ID = 2147483646
REQUIRED_ACTIONS: dict[str, dict[str, str | int]] = {
    "AddTicketNote": {"ticketid": _PROBE_ID, "message": ""},
    "GetTicket": {"ticketid": _PROBE_ID},
    "UpdateTicket": {"ticketid": _PROBE_ID},
    "GetClientsDetails": {"clientid": _PROBE_ID},
    "UpdateClient": {"clientid": _PROBE_ID},
}

# Names the client sets itself; a caller's parameter must never replace them.
_RESERVED_PARAMS = frozenset(
    {"action", "identifier", "secret", "accesskey", "username", "password", "responsetype"}
)

ParamValue: TypeAlias = str | int | float | bool | None


class WhmcsError(PanelError):
    """A failed External API call (a PanelError with WHMCS's action, status and message).

    ``transient`` tells the caller whether to retry. It is False for the documented
    "not found" answers in PERMANENT_MESSAGES (the ticket or client no longer exists),
    for an action the credentials' API role does not allow (``missing_permission``:
    retrying every hour would only fill the log until someone reads the message) and
    for an action this WHMCS does not have. Everything else is transient: connection
    errors, timeouts, HTTP 5xx and 429 (an HTML page from a WAF or proxy included),
    bodies that are not JSON, redirects, and also HTTP 4xx authentication or
    IP-restriction failures (403 "Authentication Failed", 400 "Invalid IP ...") and other
    ``"result": "error"`` answers, because those are configuration faults (credentials,
    allow-list, ticket statuses) that the operator fixes, after which the same
    call succeeds; the contract says a failed call is retried and never lost.

    The message never contains the identifier, the secret or the access key.
    """

    def __init__(
        self,
        action: str,
        message: str,
        *,
        transient: bool,
        status_code: int | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, transient=transient, configuration=_is_configuration(api_message))
        self.action = action
        self.status_code = status_code
        self.api_message = api_message

    @property
    def missing_permission(self) -> bool:
        """True when the credentials' API role does not allow the action."""
        return self.api_message is not None and _PERMISSION.match(self.api_message) is not None

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling.
        return (
            _rebuild_error,
            (self.action, str(self), self.transient, self.status_code, self.api_message),
        )


def _rebuild_error(
    action: str,
    message: str,
    transient: bool,
    status_code: int | None,
    api_message: str | None,
) -> WhmcsError:
    return WhmcsError(
        action,
        message,
        transient=transient,
        status_code=status_code,
        api_message=api_message,
    )


class WhmcsClient:
    """Calls WHMCS's External API (``<url>/includes/api.php``) with API credentials.

    The service's Panel for WHMCS (see panels.interface), plus ``call`` for any other
    action. One ``requests.Session`` is kept for connection reuse; close the client (or use it as
    a context manager) when done. No call is retried here: a failure raises WhmcsError and
    the caller's due-work machinery decides when to try again.
    """

    def __init__(
        self,
        url: str,
        identifier: str,
        secret: str,
        access_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        base = url.strip().rstrip("/")
        # Tolerate an operator pasting the full API address instead of the base URL.
        if base.endswith(API_PATH):
            base = base[: -len(API_PATH)]
        self.url = base
        self.endpoint = base + API_PATH
        self.timeout = timeout
        self._identifier = identifier
        self._secret = secret
        self._access_key = access_key or None
        self._session = requests.Session()
        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": "intervention-signoff"}
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WhmcsClient | None:
        """Build from WHMCS_URL, WHMCS_IDENTIFIER, WHMCS_SECRET, WHMCS_ACCESS_KEY, WHMCS_TIMEOUT.

        None when WHMCS_URL is unset (the panel integration is off). WHMCS_TIMEOUT may be a
        timedelta (as settings parse it) or a number of seconds.
        """
        url = config.get("WHMCS_URL")
        if not url:
            return None
        for key in ("WHMCS_IDENTIFIER", "WHMCS_SECRET"):
            if not config.get(key):
                raise ValueError(f"{key} is required when WHMCS_URL is set")
        raw_timeout = config.get("WHMCS_TIMEOUT")
        if raw_timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif isinstance(raw_timeout, timedelta):
            timeout = raw_timeout.total_seconds()
        else:
            timeout = float(raw_timeout)
        return cls(
            str(url),
            str(config["WHMCS_IDENTIFIER"]),
            str(config["WHMCS_SECRET"]),
            access_key=config.get("WHMCS_ACCESS_KEY") or None,
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WhmcsClient({self.url!r})"

    def call(self, action: str, **params: ParamValue) -> dict[str, Any]:
        """POST one API action and return the decoded JSON answer.

        Parameters are form-encoded; booleans become "1"/"0" (what PHP's
        ``http_build_query`` sends and what WHMCS's ``(bool)(int)`` reads), None values are
        left out. Raises WhmcsError when the HTTP status is not 2xx, the body is not a JSON
        object, or ``result`` is not ``success``.
        """
        data = self._form(action, params)
        failure: WhmcsError | None = None
        response: requests.Response | None = None
        try:
            response = self._session.post(
                self.endpoint, data=data, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            failure = self._error(action, f"no answer within {self.timeout:g}s", transient=True)
        except requests.RequestException as exc:
            failure = self._error(
                action, f"connection failed: {type(exc).__name__}: {exc}", transient=True
            )
        # Raised outside the except block so the requests exception, which holds the
        # request body and so the credentials, is not kept as __context__.
        if failure is not None:
            raise failure
        assert response is not None
        payload = self._check(action, response)
        if payload.get("warning"):
            warning = self._redact(str(payload["warning"]))
            log.info("WHMCS %s succeeded with a warning: %s", action, warning)
        log.debug("WHMCS %s succeeded", action)
        return payload

    def add_ticket_note(self, ticket_id: int | str, message: str) -> dict[str, Any]:
        """Add a private staff note to a ticket (AddTicketNote), as plain text.

        Sent as is: WHMCS HTML-encodes every field it is sent, so its admin area shows
        markup in ``message`` as text (escaping it here would show staff ``&lt;``).
        """
        return self.call("AddTicketNote", ticketid=ticket_id, message=message, markdown=False)

    def update_ticket_status(self, ticket_id: int | str, status: str) -> dict[str, Any]:
        """Set a ticket's status (UpdateTicket), e.g. "Customer-Reply"."""
        return self.call("UpdateTicket", ticketid=ticket_id, status=status)

    def get_client_notes(self, client_id: int | str) -> str:
        """Return the client's admin-notes field as staff wrote it (GetClientsDetails).

        "" when absent. WHMCS HTML-encodes every request field before storing it and
        answers the stored text, so the text is decoded as the admin area's browser
        decodes it: what comes back is what staff see and edit, and writing it back
        (set_client_notes) stores exactly what was stored.
        """
        payload = self.call("GetClientsDetails", clientid=client_id)
        client = payload.get("client")
        # `client` is the documented place; the top-level copy serves older versions.
        if isinstance(client, Mapping) and "notes" in client:
            notes = client["notes"]
        else:
            notes = payload.get("notes")
        return "" if notes is None else html.unescape(str(notes))

    def get_ticket_notes(self, ticket_id: int | str) -> list[str]:
        """Return the messages of a ticket's staff notes (GetTicket), oldest first.

        Decoded as get_client_notes decodes the admin notes: WHMCS stored them encoded.
        """
        notes = self.call("GetTicket", ticketid=ticket_id).get("notes")
        # WHMCS answers [] when the ticket has no note, else {"note": [...]}.
        items = notes.get("note", []) if isinstance(notes, Mapping) else []
        if isinstance(items, Mapping):
            items = [items]
        return [
            html.unescape(str(note.get("message", "")))
            for note in items
            if isinstance(note, Mapping)
        ]

    def set_client_notes(self, client_id: int | str, notes: str) -> dict[str, Any]:
        """Overwrite the client's whole admin-notes field (UpdateClient ``notes``).

        ``notes`` is the text as staff see it (as get_client_notes answers it): sent as
        is, WHMCS encodes it as its admin area does. An empty string is sent as such and
        clears the field (WHMCS tests the presence of ``notes``, not its truth).
        """
        return self.call("UpdateClient", clientid=client_id, notes=notes)

    def missing_permissions(self) -> list[str]:
        """The actions of REQUIRED_ACTIONS the credentials' API role does not allow.

        Each is called with an id that does not exist: its "not found" answer proves the
        permission (WHMCS checks the role first), and nothing is changed. Raises
        WhmcsError when the panel cannot be asked at all (unreachable, credentials
        refused, an answer that is not the API's).
        """
        missing = []
        for action, params in REQUIRED_ACTIONS.items():
            try:
                self.call(action, **params)
            except WhmcsError as exc:
                if exc.missing_permission:
                    missing.append(action)
                elif exc.api_message is None or exc.status_code != 200:
                    raise
        return missing

    def _form(self, action: str, params: Mapping[str, ParamValue]) -> dict[str, str]:
        data = {
            "action": action,
            "identifier": self._identifier,
            "secret": self._secret,
            "responsetype": "json",
        }
        if self._access_key:
            data["accesskey"] = self._access_key
        for name, value in params.items():
            if name.lower() in _RESERVED_PARAMS:
                raise ValueError(f"parameter {name!r} is set by the client itself")
            encoded = _encode(name, value)
            if encoded is not None:
                data[name] = encoded
        return data

    def _check(self, action: str, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            decoded = response.json()
        except ValueError:
            decoded = None
        payload = decoded if isinstance(decoded, dict) else None
        api_message = _api_message(payload)

        if 300 <= status < 400:
            # A redirected POST turns into a GET without the form, so never follow it.
            location = response.headers.get("Location", "?")
            raise self._error(
                action,
                f"HTTP {status} redirect to {location}; set WHMCS_URL to the final address",
                transient=True,
                status_code=status,
            )
        if status >= 400:
            permanent = status < 500 and status != 429 and _is_permanent(api_message)
            detail = f"{api_message} (HTTP {status})" if api_message else f"HTTP {status}"
            if payload is None and "html" in response.headers.get("Content-Type", "").lower():
                # Not WHMCS's API: a firewall, rate limiter or proxy in front of it answered.
                detail += " with an HTML page: a proxy or firewall in front of WHMCS answered"
            raise self._error(
                action,
                detail,
                transient=not permanent,
                status_code=status,
                api_message=api_message,
            )
        if payload is None:
            kind = response.headers.get("Content-Type", "no content type")
            raise self._error(
                action,
                f"answer is not a JSON object (HTTP {status}, {kind})",
                transient=True,
                status_code=status,
            )
        result = payload.get("result")
        if result == "error":
            raise self._error(
                action,
                _explain(action, api_message) or "result is error, with no message",
                transient=not _is_permanent(api_message),
                status_code=status,
                api_message=api_message,
            )
        if result != "success":
            # Some failures answer only a `warning` member, with no result.
            warning = payload.get("warning")
            detail = f"warning: {warning}" if warning else f"unexpected result {result!r}"
            raise self._error(action, detail, transient=True, status_code=status)
        return payload

    def _error(
        self,
        action: str,
        detail: str,
        *,
        transient: bool,
        status_code: int | None = None,
        api_message: str | None = None,
    ) -> WhmcsError:
        detail = self._redact(detail)
        if api_message is not None:
            api_message = self._redact(api_message)
        log.warning("WHMCS %s failed (transient=%s): %s", action, transient, detail)
        return WhmcsError(
            action,
            f"WHMCS {action} failed: {detail}",
            transient=transient,
            status_code=status_code,
            api_message=api_message,
        )

    def _redact(self, text: str) -> str:
        # A panel or proxy may echo what it received; never let a credential through.
        for credential in (self._identifier, self._secret, self._access_key):
            if not credential:
                continue
            for form in {credential, quote(credential, safe=""), quote_plus(credential)}:
                text = text.replace(form, "[redacted]")
        return text


def _encode(name: str, value: ParamValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"parameter {name!r}: unsupported type {type(value).__name__}")


def _api_message(payload: Mapping[str, Any] | None) -> str | None:
    if payload is None:
        return None
    message = payload.get("message")
    return str(message) if message not in (None, "") else None


def _is_permanent(api_message: str | None) -> bool:
    if api_message is None:
        return False
    message = api_message.strip()
    return (
        message.casefold() in PERMANENT_MESSAGES
        or message.casefold() in UNKNOWN_ACTION_MESSAGES
        or _PERMISSION.match(message) is not None
    )


def _is_configuration(api_message: str | None) -> bool:
    # Refusals only the operator can fix in WHMCS: the task waits for `panel-addon check`.
    if api_message is None:
        return False
    message = api_message.strip()
    return _PERMISSION.match(message) is not None or message.casefold() in UNKNOWN_ACTION_MESSAGES


def _explain(action: str, api_message: str | None) -> str | None:
    """The panel's message, with what the operator does about a configuration error."""
    if api_message is None:
        return None
    if _PERMISSION.match(api_message.strip()):
        return (
            f"{api_message}: the API role of the service's WHMCS credentials must allow "
            f"{action} (WHMCS: Configuration > System Settings > Manage API Credentials > "
            "API Roles), then run `panel-addon check`, which resumes this task"
        )
    if api_message.strip().casefold() in UNKNOWN_ACTION_MESSAGES:
        return (
            f"{api_message}: this WHMCS has no {action} action (WHMCS 8 or later is "
            "needed); after the upgrade, run `panel-addon check`, which resumes this task"
        )
    return api_message
