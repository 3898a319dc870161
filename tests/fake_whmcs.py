"""A WHMCS External API on loopback for tests: in-memory clients and tickets, recorded calls.

It behaves as a real WHMCS 8 does, as far as public evidence shows (the sources are in
/work/shared/reference/whmcs.md, section 8, and docs/whmcs-module.md), each behaviour on
by default so a test meets what production meets:

- every request field is HTML-encoded before an action sees it (``htmlspecialchars``,
  ENT_QUOTES) and stored so; reads answer what is stored;
- the API role: an action it does not list answers ``Invalid Permissions: API action
  "<action>" is not allowed`` (``restrict_role``); an unknown action answers
  ``Invalid API Command``;
- ids come back as strings; some answers carry a ``warning`` member;
- a WAF or proxy in front of the panel may answer 429 or 503 with an HTML page
  (``fail_next(mode="waf429")``), and every answer takes ``latency`` seconds;
- API calls fire the panel's hooks (``hooks_fired``): ``UpdateTicket`` changing a status
  fires ``TicketStatusChange`` with ``ticketid`` and ``status`` only (no admin: an API
  context), ``UpdateClient`` fires ``ClientEdit`` and logs "Client Profile Modified".
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

API_PATH = "/includes/api.php"
TEST_IDENTIFIER = "test-identifier"
TEST_SECRET = "test-secret"

# Request fields that carry credentials: checked, never recorded.
CREDENTIAL_FIELDS = frozenset({"identifier", "secret", "accesskey", "username", "password"})

# Injected failures, in the order a request meets them:
#   http500, http429  -- that status with a JSON error body, nothing applied
#   waf429, waf503    -- that status with an HTML page from a WAF or proxy, nothing applied
#   result_error      -- HTTP 200 {"result": "error", "message": <message>}, nothing applied
#   warning_only      -- HTTP 200 {"warning": <message>} and no result: the call failed
#                        (WHMCS/developer-docs issue 303), nothing applied
#   not_json          -- HTTP 200 with an HTML page (a PHP fatal error, a proxy page)
#   redirect          -- HTTP 301 to the same endpoint (e.g. http -> https)
#   drop              -- the connection is closed without an answer
#   hang              -- no answer for `hang_seconds`, then the call is applied and answered
#                        (a slow panel that did the work after the client gave up)
FAULT_MODES = frozenset(
    {
        "http500",
        "http429",
        "waf429",
        "warning_only",
        "waf503",
        "result_error",
        "not_json",
        "redirect",
        "drop",
        "hang",
    }
)

# What WHMCS answers for an action it does not have (older versions said the second).
UNKNOWN_ACTION = "Invalid API Command"
# The `warning` member GetClientsDetails carries: its top-level copy of the client is
# deprecated (documented); the wording is the fake's, what matters is that a `warning`
# member never breaks a call.
DETAILS_WARNING = "The top-level client fields are deprecated: read them from `client`."

TICKET_STATUSES = ("Open", "Answered", "Customer-Reply", "On Hold", "In Progress", "Closed")

# Client fields UpdateClient may change (a subset of WHMCS's own list).
_CLIENT_FIELDS = (
    "firstname",
    "lastname",
    "companyname",
    "email",
    "notes",
    "status",
    "language",
    "phonenumber",
)


@dataclass(frozen=True)
class Call:
    """One request that reached the endpoint: its action, its fields minus credentials."""

    action: str
    params: dict[str, str]
    outcome: str  # "success", "error", "auth_failed", "invalid_ip", "bad_request" or a fault


@dataclass
class _Fault:
    mode: str
    remaining: int
    action: str | None
    message: str


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def htmlspecialchars(text: str) -> str:
    """What WHMCS does to every request field: PHP's htmlspecialchars with ENT_QUOTES."""
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def permission_message(action: str) -> str:
    """WHMCS's answer to an action the API role does not allow (it names it in lower case)."""
    return f'Invalid Permissions: API action "{action.lower()}" is not allowed'


@dataclass(frozen=True)
class Hook:
    """A hook the panel fired while it applied an API call: its name and its variables."""

    name: str
    vars: dict[str, Any]


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _truthy(value: str | None) -> bool:
    # What PHP's (bool) makes of a form field.
    return value not in (None, "", "0")


def _to_xml(value: Any, tag: str) -> str:
    if isinstance(value, dict):
        inner = "".join(_to_xml(item, str(key)) for key, item in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):
        return "".join(_to_xml(item, tag) for item in value)
    if isinstance(value, bool):
        value = int(value)
    return f"<{tag}>{escape(str(value))}</{tag}>"


class FakeWhmcs:
    """A WHMCS panel speaking the External API on 127.0.0.1 (ephemeral port).

    Use as a context manager or with start()/stop(); ``url`` is the base URL (without
    ``/includes/api.php``). Credentials are ``identifier``/``secret`` (also accepted as
    ``username``/``password``); with ``access_key`` set, a request without that
    ``accesskey`` is refused as WHMCS refuses an IP missing from its allow-list.
    Quirks kept from WHMCS: business errors are HTTP 200 with ``"result": "error"``;
    GetClientsDetails copies the client at the top level; GetTicket's ``notes`` is ``[]``
    when the ticket has none; without ``responsetype=json`` the answer is XML.
    """

    def __init__(
        self,
        identifier: str = TEST_IDENTIFIER,
        secret: str = TEST_SECRET,
        access_key: str | None = None,
        hang_seconds: float = 5.0,
        latency: float = 0.002,
    ) -> None:
        self.identifier = identifier
        self.secret = secret
        self.access_key = access_key
        self.hang_seconds = hang_seconds
        # False imitates a WHMCS old enough to answer GetClientsDetails at the top level only.
        self.nest_client_details = True
        # The real panel's ways, each on by default (see the module's docstring).
        self.encode_input = True
        self.string_ids = True
        self.warnings = True
        self.latency = latency
        # The actions the credentials' API role allows (lower case); None: every one.
        self.role: frozenset[str] | None = None
        self.hooks_fired: list[Hook] = []
        self.activity_log: list[str] = []
        self._hook_listeners: list[Callable[[Hook], None]] = []
        self.connections_accepted = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._clients: dict[int, dict[str, Any]] = {}
        self._tickets: dict[int, dict[str, Any]] = {}
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._next_note_id = 1
        self._port = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()

    # --- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the panel, as WHMCS_URL would hold it."""
        if not self._port:
            raise RuntimeError("the fake panel was never started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def endpoint(self) -> str:
        """The API's full address."""
        return self.url + API_PATH

    def start(self) -> Self:
        """Listen (on the same port again after down()) and serve in a thread."""
        if self._httpd is not None:
            return self
        self._release.clear()
        httpd = _Server(("127.0.0.1", self._port), _Handler, self)
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, end open connections and hanging answers, join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        self._release.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()

    def down(self) -> None:
        """Make the panel unreachable: connections are refused until up()."""
        self.stop()

    def up(self) -> None:
        """Listen again on the same port after down()."""
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- state for tests -------------------------------------------------------------

    def add_client(
        self,
        client_id: int,
        notes: str | None = "",
        email: str | None = None,
        firstname: str = "Test",
        lastname: str | None = None,
        language: str = "",
    ) -> dict[str, Any]:
        """Create a client; ``notes=None`` leaves the admin-notes field out of answers.

        ``notes`` is what staff typed in the admin area: it is stored HTML-encoded, as
        WHMCS stores its forms' fields (``client()`` gives the stored text,
        ``staff_notes()`` what staff see).
        """
        client: dict[str, Any] = {
            "id": client_id,
            "firstname": firstname,
            "lastname": lastname if lastname is not None else f"Client {client_id}",
            "companyname": "",
            "email": email or f"client{client_id}@example.test",
            "status": "Active",
            "language": language,
            "phonenumber": "",
            "client_notes": [],
        }
        if notes is not None:
            client["notes"] = self._stored(notes)
        with self._lock:
            self._clients[client_id] = client
            return copy.deepcopy(client)

    def add_ticket(
        self,
        ticket_id: int,
        status: str = "Open",
        client_id: int = 0,
        subject: str = "Support request",
        tid: str | None = None,
    ) -> dict[str, Any]:
        """Create a ticket with no notes."""
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "tid": tid or f"{ticket_id:06d}",
            "userid": client_id,
            "subject": subject,
            "status": status,
            "priority": "Medium",
            "date": _now(),
            "notes": [],
        }
        with self._lock:
            self._tickets[ticket_id] = ticket
            return copy.deepcopy(ticket)

    def client(self, client_id: int) -> dict[str, Any]:
        """A copy of a client as stored (``notes`` is the admin-notes field)."""
        with self._lock:
            return copy.deepcopy(self._clients[client_id])

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """A copy of a ticket as stored (``notes`` is the list of note dicts)."""
        with self._lock:
            return copy.deepcopy(self._tickets[ticket_id])

    def ticket_notes(self, ticket_id: int) -> list[str]:
        """The messages of a ticket's notes as staff read them (decoded), oldest first."""
        return [html.unescape(note["message"]) for note in self.ticket(ticket_id)["notes"]]

    def staff_notes(self, client_id: int) -> str:
        """The client's admin notes as staff see and edit them (the stored text, decoded).

        The admin area shows the stored field inside a ``<textarea>``, so the browser
        decodes its character references once: html.unescape does the same.
        """
        return html.unescape(self.client(client_id).get("notes", ""))

    def set_staff_notes(self, client_id: int, notes: str) -> None:
        """Save the admin notes as staff do in the admin area (stored encoded)."""
        with self._lock:
            self._clients[client_id]["notes"] = self._stored(notes)

    def restrict_role(self, *actions: str) -> None:
        """Let the credentials' API role allow only these actions (none: every action)."""
        with self._lock:
            self.role = frozenset(a.lower() for a in actions) if actions else None

    def on_hook(self, listener: Callable[[Hook], None]) -> None:
        """Call ``listener`` with each hook fired from now on (in the request's thread)."""
        with self._lock:
            self._hook_listeners.append(listener)

    def hooks(self, name: str | None = None) -> list[Hook]:
        """The hooks fired so far, or those of one name."""
        with self._lock:
            return [h for h in self.hooks_fired if name is None or h.name == name]

    def calls(self, action: str | None = None) -> list[Call]:
        """Every recorded request, or those of one action (case-insensitive)."""
        with self._lock:
            return [c for c in self._calls if action is None or c.action.lower() == action.lower()]

    def clear_calls(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._calls.clear()

    def wait_for_calls(
        self, action: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Wait until at least ``count`` matching requests were recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    c for c in self._calls if action is None or c.action.lower() == action.lower()
                ]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._changed.wait(left)
        if len(found) < count:
            raise TimeoutError(f"{len(found)} {action or 'calls'} after {timeout}s, wanted {count}")
        return found

    def fail_next(
        self,
        n: int = 1,
        mode: str = "http500",
        *,
        action: str | None = None,
        message: str = "Simulated failure",
    ) -> None:
        """Make the next ``n`` requests (of ``action`` only, if given) fail with ``mode``."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {sorted(FAULT_MODES)}")
        with self._lock:
            self._faults.append(_Fault(mode, n, action, message))

    # --- request handling (called from the server's threads) -------------------------

    def _answer(self, params: dict[str, str]) -> _Answer | None:
        """Build the answer to one request; None means close without answering."""
        action = params.get("action", "")
        recorded = {k: v for k, v in params.items() if k not in CREDENTIAL_FIELDS}
        recorded.pop("action", None)
        as_json = params.get("responsetype", "").lower() == "json"

        if self.access_key is not None and params.get("accesskey") != self.access_key:
            self._record(action, recorded, "invalid_ip")
            return self._render(
                {"result": "error", "message": "Invalid IP 127.0.0.1"}, 400, as_json
            )
        if not action:
            self._record(action, recorded, "bad_request")
            return self._render(
                {"result": "error", "message": "Empty action request"}, 400, as_json
            )
        identifier = params.get("identifier", params.get("username"))
        secret = params.get("secret", params.get("password"))
        if identifier != self.identifier or secret != self.secret:
            self._record(action, recorded, "auth_failed")
            return self._render(
                {"result": "error", "message": "Authentication Failed"}, 403, as_json
            )

        if self.latency > 0 and self._release.wait(self.latency):
            return None  # the server is stopping
        fault = self._take_fault(action)
        if fault is not None and fault.mode != "hang":
            self._record(action, recorded, fault.mode)
            return self._fault_answer(fault, as_json)
        if fault is not None and self._release.wait(self.hang_seconds):
            self._record(action, recorded, "hang")
            return None  # the server is stopping: give up quietly

        handler = _ACTIONS.get(action.lower())
        fields = {
            name: (
                value if name in CREDENTIAL_FIELDS or not self.encode_input else self._stored(value)
            )
            for name, value in params.items()
        }
        with self._lock:
            if handler is None:
                payload: dict[str, Any] = {"result": "error", "message": UNKNOWN_ACTION}
            elif self.role is not None and action.lower() not in self.role:
                payload = {"result": "error", "message": permission_message(action)}
            else:
                payload = handler(self, fields)
                if self.string_ids:
                    payload = _ids_as_strings(payload)
        self._record(action, recorded, "hang" if fault else str(payload["result"]))
        return self._render(payload, 200, as_json)

    def _take_fault(self, action: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action is None or fault.action.lower() == action.lower():
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_answer(self, fault: _Fault, as_json: bool) -> _Answer | None:
        if fault.mode == "drop":
            return None
        if fault.mode == "http500":
            return self._render({"result": "error", "message": fault.message}, 500, as_json)
        if fault.mode == "http429":
            answer = self._render({"result": "error", "message": "Too Many Requests"}, 429, as_json)
            answer.headers["Retry-After"] = "1"
            return answer
        if fault.mode in ("waf429", "waf503"):
            status = 429 if fault.mode == "waf429" else 503
            title = "429 Too Many Requests" if status == 429 else "503 Service Unavailable"
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return _Answer(status, page.encode(), "text/html", {"Retry-After": "1"})
        if fault.mode == "result_error":
            return self._render({"result": "error", "message": fault.message}, 200, as_json)
        if fault.mode == "warning_only":
            return self._render({"warning": fault.message}, 200, as_json)
        if fault.mode == "redirect":
            return _Answer(
                301,
                b"Moved Permanently",
                "text/plain",
                {"Location": self.endpoint},
            )
        body = b"<html><body><b>Fatal error</b>: Simulated failure</body></html>"
        return _Answer(200, body, "text/html; charset=utf-8")

    def _record(self, action: str, params: dict[str, str], outcome: str) -> None:
        with self._changed:
            self._calls.append(Call(action, params, outcome))
            self._changed.notify_all()

    def _stored(self, value: str) -> str:
        return htmlspecialchars(value) if self.encode_input else value

    def _fire(self, name: str, **variables: Any) -> None:
        # Called with the lock held, as WHMCS runs hooks inside the API call.
        hook = Hook(name, variables)
        self.hooks_fired.append(hook)
        for listener in list(self._hook_listeners):
            listener(hook)

    @staticmethod
    def _render(payload: dict[str, Any], status: int, as_json: bool) -> _Answer:
        if as_json:
            return _Answer(status, json.dumps(payload).encode(), "application/json")
        xml = '<?xml version="1.0" encoding="utf-8"?>\n' + _to_xml(payload, "whmcsapi")
        return _Answer(status, xml.encode(), "text/xml; charset=utf-8")

    # --- actions: called with the lock held, return the JSON payload -----------------

    def _find_client(self, client_id: str | None, email: str | None) -> dict[str, Any] | None:
        if client_id:
            number = _as_int(client_id)
            return self._clients.get(number) if number is not None else None
        if email:
            return next((c for c in self._clients.values() if c["email"] == email), None)
        return None

    def _find_ticket(self, ticket_id: str | None, ticket_num: str | None) -> dict[str, Any] | None:
        if ticket_num:
            return next((t for t in self._tickets.values() if t["tid"] == ticket_num), None)
        number = _as_int(ticket_id)
        return self._tickets.get(number) if number is not None else None

    def _get_clients_details(self, params: dict[str, str]) -> dict[str, Any]:
        client_id, email = params.get("clientid"), params.get("email")
        if not client_id and not email:
            return {"result": "error", "message": "Either clientid Or email Is Required"}
        client = self._find_client(client_id, email)
        if client is None:
            return {"result": "error", "message": "Client Not Found"}
        details = {k: v for k, v in client.items() if k != "client_notes"}
        details.update(
            userid=client["id"],
            client_id=client["id"],
            fullname=f"{client['firstname']} {client['lastname']}",
        )
        payload: dict[str, Any] = {"result": "success", **details}
        if self.warnings:
            payload["warning"] = DETAILS_WARNING
        if self.nest_client_details:
            payload["client"] = dict(details)
        if _truthy(params.get("stats")):
            tickets = [t for t in self._tickets.values() if t["userid"] == client["id"]]
            active = [t for t in tickets if t["status"] != "Closed"]
            payload["stats"] = {"numtickets": len(tickets), "numactivetickets": len(active)}
        return payload

    def _update_client(self, params: dict[str, str]) -> dict[str, Any]:
        client = self._find_client(params.get("clientid"), params.get("clientemail"))
        if client is None:
            return {"result": "error", "message": "Client ID Not Found"}
        if "email" in params and any(
            c["email"] == params["email"] and c is not client for c in self._clients.values()
        ):
            return {"result": "error", "message": "Duplicate Email Address"}
        # WHMCS tests presence, not truth: notes="" clears the field.
        before = {name: client.get(name) for name in _CLIENT_FIELDS}
        for name in _CLIENT_FIELDS:
            if name in params:
                client[name] = params[name]
        self.activity_log.append(f"Client Profile Modified - User ID: {client['id']}")
        self._fire("ClientEdit", userid=client["id"], olddata=before)
        return {"result": "success", "clientid": client["id"]}

    def _add_client_note(self, params: dict[str, str]) -> dict[str, Any]:
        client = self._find_client(params.get("userid") or "0", None)
        if client is None:
            return {"result": "error", "message": "Client ID not found"}
        if not params.get("notes"):
            return {"result": "error", "message": "Notes can not be empty"}
        note_id = self._new_note_id()
        client["client_notes"].append(
            {
                "id": note_id,
                "note": params["notes"],
                "sticky": _truthy(params.get("sticky")),
                "created": _now(),
            }
        )
        return {"result": "success", "noteid": note_id}

    def _add_ticket_note(self, params: dict[str, str]) -> dict[str, Any]:
        ticket = self._find_ticket(params.get("ticketid"), params.get("ticketnum"))
        if ticket is None:
            return {"result": "error", "message": "Ticket ID not found"}
        if not params.get("message"):
            return {"result": "error", "message": "Message is required"}
        ticket["notes"].append(
            {
                "noteid": self._new_note_id(),
                "date": _now(),
                "message": params["message"],
                "admin": "API",
                "markdown": _truthy(params.get("markdown")),
            }
        )
        self._fire("TicketAddNote", ticketid=ticket["id"], message=params["message"], adminid=0)
        return {"result": "success"}

    def _update_ticket(self, params: dict[str, str]) -> dict[str, Any]:
        ticket = self._find_ticket(params.get("ticketid"), None)
        if ticket is None:
            return {"result": "error", "message": "Ticket ID Not Found"}
        status = params.get("status")
        if status and status not in TICKET_STATUSES:
            valid = ",".join(TICKET_STATUSES)
            return {
                "result": "error",
                "message": f"Invalid Ticket Status. Valid statuses are: {valid}",
            }
        if status and status != ticket["status"]:
            ticket["status"] = status
            # An API context: no admin session, so no adminid.
            self._fire("TicketStatusChange", ticketid=ticket["id"], status=status)
        if params.get("subject"):
            ticket["subject"] = params["subject"]
        return {"result": "success", "ticketid": ticket["id"]}

    def _get_ticket(self, params: dict[str, str]) -> dict[str, Any]:
        ticket = self._find_ticket(params.get("ticketid"), params.get("ticketnum"))
        if ticket is None:
            return {"result": "error", "message": "Ticket ID Not Found"}
        notes = [
            {k: note[k] for k in ("noteid", "date", "message", "admin")} for note in ticket["notes"]
        ]
        return {
            "result": "success",
            "ticketid": ticket["id"],
            "tid": ticket["tid"],
            "userid": ticket["userid"],
            "subject": ticket["subject"],
            "status": ticket["status"],
            "priority": ticket["priority"],
            "date": ticket["date"],
            "replies": {"reply": []},
            # WHMCS sends an empty list, not {"note": []}, when there is no note.
            "notes": {"note": notes} if notes else [],
        }

    def _new_note_id(self) -> int:
        note_id = self._next_note_id
        self._next_note_id += 1
        return note_id


def _ids_as_strings(value: Any, key: str = "") -> Any:
    # WHMCS answers most ids as strings ("clientid": "7"), read from the database as such.
    if isinstance(value, dict):
        return {k: _ids_as_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_as_strings(item, key) for item in value]
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (key == "id" or key.endswith("id"))
    ):
        return str(value)
    return value


_ACTIONS: dict[str, Callable[[FakeWhmcs, dict[str, str]], dict[str, Any]]] = {
    "getclientsdetails": FakeWhmcs._get_clients_details,
    "updateclient": FakeWhmcs._update_client,
    "addclientnote": FakeWhmcs._add_client_note,
    "addticketnote": FakeWhmcs._add_ticket_note,
    "updateticket": FakeWhmcs._update_ticket,
    "getticket": FakeWhmcs._get_ticket,
}


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so a test ends with no thread or socket left.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], panel: FakeWhmcs) -> None:
        self.panel = panel
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self._open_lock:
            self._open.add(conn)
            self.panel.connections_accepted += 1
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handlers waiting on idle keep-alive connections so they can end."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its end; that is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection reuse is real
    server_version = "FakeWHMCS/1.0"
    # Headers and body go out in two writes; without this, Nagle waits on a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        if urlsplit(self.path).path != API_PATH:
            self._send(_Answer(404, b"Not Found", "text/plain"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        params: dict[str, str] = {}
        # PHP fills $_POST only from form bodies; the last of repeated fields wins.
        if content_type.split(";")[0].strip() == "application/x-www-form-urlencoded":
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        answer = self.server.panel._answer(params)
        if answer is None:
            self.close_connection = True
            return
        self._send(answer)

    def do_GET(self) -> None:
        self._send(_Answer(405, b"Method Not Allowed", "text/plain", {"Allow": "POST"}))

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet
