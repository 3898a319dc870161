"""WHMCS client against a real HTTP panel on loopback, and the internal-note line."""

from __future__ import annotations

import logging
import pickle
import random
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from panel_addon.panels import Panel, PanelError, configured_panel
from panel_addon.panels.notes import INELIGIBLE_MARKER, add_ineligible_line, remove_ineligible_line
from panel_addon.panels.whmcs import WhmcsClient, WhmcsError
from tests.fake_whmcs import FakeWhmcs

IDENTIFIER = "ident-Qx7"
SECRET = "s3cr3t!@#$%&=+ value"
ACCESS_KEY = "key!@#$%.()*[]-_9"
M = INELIGIBLE_MARKER


@pytest.fixture
def panel() -> Iterator[FakeWhmcs]:
    with FakeWhmcs(identifier=IDENTIFIER, secret=SECRET, hang_seconds=5.0) as server:
        server.add_client(7, notes="VIP customer\r\nPrefers email")
        server.add_ticket(42, status="Answered", client_id=7)
        yield server


@pytest.fixture
def whmcs(panel: FakeWhmcs) -> Iterator[WhmcsClient]:
    with WhmcsClient(panel.url, IDENTIFIER, SECRET, timeout=5.0) as client:
        yield client


def failure(client: WhmcsClient, action: str = "GetClientsDetails", **params: object) -> WhmcsError:
    """Run a call that must fail and return its error."""
    with pytest.raises(WhmcsError) as caught:
        client.call(action, **params)  # type: ignore[arg-type]
    return caught.value


def assert_no_credentials(error: WhmcsError, *credentials: str) -> None:
    texts = [str(error), repr(error), *map(str, error.args), str(error.api_message)]
    for credential in credentials:
        for text in texts:
            assert credential not in text
    # The requests exception (which holds the request body) is not kept either.
    assert error.__cause__ is None
    assert error.__context__ is None


# --- success paths -------------------------------------------------------------------


def test_call_posts_the_action_as_a_json_form_request(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    payload = whmcs.call("GetTicket", ticketid=42)

    assert payload["result"] == "success"
    assert payload["status"] == "Answered"
    (call,) = panel.calls("GetTicket")
    assert call.params == {"responsetype": "json", "ticketid": "42"}
    assert call.outcome == "success"


def test_add_ticket_note_adds_a_plain_text_private_note(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    whmcs.add_ticket_note(42, "Intervention validated by the client.\nBackup B-1 kept.")

    assert panel.ticket_notes(42) == ["Intervention validated by the client.\nBackup B-1 kept."]
    (call,) = panel.calls("AddTicketNote")
    # PHP reads (bool)(int)"0" as false; "false" would be read as false too only by luck.
    assert call.params["markdown"] == "0"
    assert panel.ticket(42)["notes"][0]["markdown"] is False


def test_added_note_is_visible_through_get_ticket(whmcs: WhmcsClient) -> None:
    assert whmcs.call("GetTicket", ticketid=42)["notes"] == []

    whmcs.add_ticket_note(42, "first")
    whmcs.add_ticket_note(42, "second")

    notes = whmcs.call("GetTicket", ticketid=42)["notes"]["note"]
    assert [note["message"] for note in notes] == ["first", "second"]


def test_update_ticket_status_sets_the_status(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    answer = whmcs.update_ticket_status(42, "Customer-Reply")

    assert answer["ticketid"] == "42"  # WHMCS answers ids as strings
    assert panel.ticket(42)["status"] == "Customer-Reply"


def test_get_client_notes_reads_the_admin_notes_field(whmcs: WhmcsClient) -> None:
    assert whmcs.get_client_notes(7) == "VIP customer\r\nPrefers email"


def test_get_client_notes_falls_back_to_the_top_level_copy_of_old_versions(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    panel.nest_client_details = False

    assert whmcs.get_client_notes(7) == "VIP customer\r\nPrefers email"


def test_get_client_notes_is_empty_when_the_field_is_absent(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    panel.add_client(8, notes=None)

    assert whmcs.get_client_notes(8) == ""


def test_set_client_notes_overwrites_the_whole_field_byte_for_byte(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    notes = "  Ligne 1 é 🙂\r\n\r\n&amp; <b>\n"

    whmcs.set_client_notes(7, notes)

    assert panel.staff_notes(7) == notes
    assert (
        panel.client(7)["notes"] == "  Ligne 1 é 🙂\r\n\r\n&amp;amp; &lt;b&gt;\n"
    )  # as WHMCS stores it
    assert whmcs.get_client_notes(7) == notes


def test_set_client_notes_to_empty_clears_the_field(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    whmcs.set_client_notes(7, "")

    assert panel.client(7)["notes"] == ""
    assert panel.calls("UpdateClient")[0].params["notes"] == ""


def test_ineligibility_round_trip_through_the_panel_keeps_the_staff_notes(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    original = whmcs.get_client_notes(7)
    line = "Not eligible for free interventions since 2025-03-01 (intervention 314)"

    whmcs.set_client_notes(7, add_ineligible_line(whmcs.get_client_notes(7), line))
    assert panel.staff_notes(7) == f"{original}\r\n{M} {line}"

    whmcs.set_client_notes(7, remove_ineligible_line(whmcs.get_client_notes(7)))
    assert panel.staff_notes(7) == original


def test_booleans_are_sent_as_one_and_zero_and_none_is_left_out(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    panel.add_client(9)

    whmcs.call("AddClientNote", userid=9, notes="Sticky", sticky=True, ignored=None)
    whmcs.call("GetClientsDetails", clientid=9, stats=False)

    assert panel.calls("AddClientNote")[0].params == {
        "responsetype": "json",
        "userid": "9",
        "notes": "Sticky",
        "sticky": "1",
    }
    assert panel.client(9)["client_notes"][0]["sticky"] is True
    assert panel.calls("GetClientsDetails")[0].params["stats"] == "0"


def test_a_parameter_cannot_replace_the_credentials(whmcs: WhmcsClient) -> None:
    with pytest.raises(ValueError, match="secret"):
        whmcs.call("GetClientsDetails", clientid=7, secret="other")


def test_access_key_is_sent_when_configured() -> None:
    with (
        FakeWhmcs(identifier=IDENTIFIER, secret=SECRET, access_key=ACCESS_KEY) as panel,
        WhmcsClient(panel.url, IDENTIFIER, SECRET, access_key=ACCESS_KEY) as whmcs,
    ):
        panel.add_ticket(1)

        whmcs.add_ticket_note(1, "ok")

        assert panel.ticket_notes(1) == ["ok"]
        assert "accesskey" not in panel.calls()[0].params  # credentials are never recorded


def test_calls_reuse_one_connection(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    for _ in range(3):
        whmcs.get_client_notes(7)

    assert panel.connections_accepted == 1


def test_full_api_address_as_url_is_accepted(panel: FakeWhmcs) -> None:
    with WhmcsClient(panel.url + "/includes/api.php/", IDENTIFIER, SECRET) as whmcs:
        assert whmcs.endpoint == panel.url + "/includes/api.php"
        assert whmcs.get_client_notes(7)


# --- failures ------------------------------------------------------------------------


def test_wrong_secret_is_a_transient_authentication_failure(panel: FakeWhmcs) -> None:
    wrong = "wrong-secret-value"
    with WhmcsClient(panel.url, IDENTIFIER, wrong) as whmcs:
        error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert error.status_code == 403
    assert error.api_message == "Authentication Failed"
    assert error.action == "GetClientsDetails"
    assert_no_credentials(error, IDENTIFIER, wrong, SECRET)


def test_missing_access_key_is_a_transient_invalid_ip_failure() -> None:
    with (
        FakeWhmcs(identifier=IDENTIFIER, secret=SECRET, access_key=ACCESS_KEY) as panel,
        WhmcsClient(panel.url, IDENTIFIER, SECRET) as whmcs,
    ):
        error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert error.status_code == 400
    assert error.api_message is not None and error.api_message.startswith("Invalid IP")


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("add_ticket_note", (999, "note"), "Ticket ID not found"),
        ("update_ticket_status", (999, "Open"), "Ticket ID Not Found"),
        ("get_client_notes", (999,), "Client Not Found"),
        ("set_client_notes", (999, "x"), "Client ID Not Found"),
    ],
)
def test_documented_not_found_answers_are_permanent(
    whmcs: WhmcsClient, method: str, args: tuple[object, ...], message: str
) -> None:
    with pytest.raises(WhmcsError) as caught:
        getattr(whmcs, method)(*args)

    assert caught.value.transient is False
    assert caught.value.api_message == message
    assert caught.value.status_code == 200
    assert message in str(caught.value)


def test_other_result_errors_are_transient(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    panel.fail_next(1, "result_error", message="Database busy")

    error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert error.api_message == "Database busy"
    assert whmcs.get_client_notes(7)  # the next call goes through


def test_a_warning_without_a_result_is_a_failure_that_says_the_warning(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    panel.fail_next(1, "warning_only", message="Invalid or Missing Information")

    error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert "warning: Invalid or Missing Information" in str(error)


def test_a_status_the_panel_does_not_know_is_a_transient_configuration_fault(
    whmcs: WhmcsClient,
) -> None:
    with pytest.raises(WhmcsError) as caught:
        whmcs.update_ticket_status(42, "Reopened-By-Typo")

    assert caught.value.transient is True
    assert "Invalid Ticket Status" in str(caught.value)


def test_an_unknown_action_is_a_permanent_error_that_says_so(whmcs: WhmcsClient) -> None:
    error = failure(whmcs, "NoSuchAction")

    assert error.transient is False
    assert error.api_message == "Invalid API Command"
    assert "this WHMCS has no NoSuchAction action" in str(error)


def test_an_action_the_api_role_does_not_allow_is_a_configuration_error(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    panel.restrict_role("GetTicket")

    error = failure(whmcs, "UpdateClient", clientid=7, notes="x")

    assert error.api_message == 'Invalid Permissions: API action "updateclient" is not allowed'
    assert error.missing_permission and error.configuration and not error.transient
    assert "must allow UpdateClient" in str(error)
    assert panel.staff_notes(7) == "VIP customer\r\nPrefers email"
    assert whmcs.call("GetTicket", ticketid=42)["result"] == "success"


def test_the_permission_probe_names_the_missing_actions(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    assert whmcs.missing_permissions() == []
    panel.restrict_role("GetClientsDetails", "UpdateClient")

    assert whmcs.missing_permissions() == ["AddTicketNote", "GetTicket", "UpdateTicket"]
    assert panel.ticket_notes(42) == [] and panel.hooks() == []


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("http500", 500),
        ("http429", 429),
        ("waf429", 429),
        ("waf503", 503),
        ("not_json", 200),
        ("redirect", 301),
    ],
)
def test_server_side_failures_are_transient(
    panel: FakeWhmcs, whmcs: WhmcsClient, mode: str, status: int
) -> None:
    panel.fail_next(1, mode, action="AddTicketNote")

    with pytest.raises(WhmcsError) as caught:
        whmcs.add_ticket_note(42, "note")

    assert caught.value.transient is True
    assert caught.value.status_code == status
    assert ("proxy or firewall" in str(caught.value)) == mode.startswith("waf")
    assert panel.ticket_notes(42) == []
    assert_no_credentials(caught.value, IDENTIFIER, SECRET)
    whmcs.add_ticket_note(42, "note")
    assert panel.ticket_notes(42) == ["note"]


def test_redirect_is_not_followed(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    panel.fail_next(1, "redirect")

    error = failure(whmcs, clientid=7)

    assert "WHMCS_URL" in str(error)
    assert len(panel.calls()) == 1


def test_dropped_connection_is_transient(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    panel.fail_next(1, "drop")

    error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert error.status_code is None
    assert_no_credentials(error, IDENTIFIER, SECRET)


def test_unreachable_panel_is_transient_and_recovers(panel: FakeWhmcs, whmcs: WhmcsClient) -> None:
    panel.down()

    error = failure(whmcs, clientid=7)
    assert error.transient is True
    assert "connection failed" in str(error)
    assert_no_credentials(error, IDENTIFIER, SECRET)

    panel.up()
    assert whmcs.get_client_notes(7) == "VIP customer\r\nPrefers email"


def test_wrong_path_is_transient(panel: FakeWhmcs) -> None:
    with WhmcsClient(panel.url + "/whmcs", IDENTIFIER, SECRET) as whmcs:
        error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert error.status_code == 404


def test_hanging_panel_raises_a_transient_timeout(panel: FakeWhmcs) -> None:
    panel.fail_next(1, "hang")

    with WhmcsClient(panel.url, IDENTIFIER, SECRET, timeout=0.5) as whmcs:
        error = failure(whmcs, clientid=7)

    assert error.transient is True
    assert "no answer within 0.5s" in str(error)
    assert_no_credentials(error, IDENTIFIER, SECRET)


def test_a_slow_panel_that_answers_within_the_timeout_is_waited_for(panel: FakeWhmcs) -> None:
    panel.latency = 0.4

    with WhmcsClient(panel.url, IDENTIFIER, SECRET, timeout=2.0) as whmcs:
        whmcs.add_ticket_note(42, "slow but fine")
        assert whmcs.get_ticket_notes(42) == ["slow but fine"]


def test_a_call_given_up_on_may_still_be_applied_by_the_panel(panel: FakeWhmcs) -> None:
    # Why callers must make ticket notes safe to repeat or accept a duplicate.
    panel.hang_seconds = 0.5
    panel.fail_next(1, "hang")

    with WhmcsClient(panel.url, IDENTIFIER, SECRET, timeout=0.1) as whmcs:
        with pytest.raises(WhmcsError):
            whmcs.add_ticket_note(42, "late")
        (call,) = panel.wait_for_calls("AddTicketNote", timeout=5.0)

    assert call.outcome == "hang"
    assert panel.ticket_notes(42) == ["late"]


def test_a_panel_message_echoing_a_credential_is_redacted() -> None:
    with (
        FakeWhmcs(identifier=IDENTIFIER, secret=SECRET, access_key=ACCESS_KEY) as panel,
        WhmcsClient(panel.url, IDENTIFIER, SECRET, access_key=ACCESS_KEY) as whmcs,
    ):
        panel.fail_next(1, "result_error", message=f"bad {IDENTIFIER}/{SECRET}/{ACCESS_KEY}")

        error = failure(whmcs, clientid=7)

    assert "[redacted]" in str(error)
    assert_no_credentials(error, IDENTIFIER, SECRET, ACCESS_KEY)


def test_logs_name_the_action_and_outcome_but_no_credential(
    panel: FakeWhmcs, whmcs: WhmcsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    panel.fail_next(1, "http500")

    with pytest.raises(WhmcsError):
        whmcs.get_client_notes(7)
    whmcs.get_client_notes(7)
    with WhmcsClient(panel.url, IDENTIFIER, "not-the-secret") as wrong:
        failure(wrong, clientid=7)

    assert "GetClientsDetails" in caplog.text
    for credential in (IDENTIFIER, SECRET, "not-the-secret"):
        assert credential not in caplog.text


def test_error_survives_pickling() -> None:
    error = WhmcsError("UpdateTicket", "boom", transient=False, status_code=200, api_message="x")

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object

    assert (copy.action, str(copy), copy.transient, copy.status_code, copy.api_message) == (
        "UpdateTicket",
        "boom",
        False,
        200,
        "x",
    )


# --- configuration -------------------------------------------------------------------


def test_from_config_is_none_without_a_url() -> None:
    assert WhmcsClient.from_config({"WHMCS_URL": None, "WHMCS_IDENTIFIER": "i"}) is None
    assert WhmcsClient.from_config({}) is None


def test_from_config_builds_the_endpoint_and_timeout() -> None:
    client = WhmcsClient.from_config(
        {
            "WHMCS_URL": "https://panel.example.test/billing/",
            "WHMCS_IDENTIFIER": "ident-cfg",
            "WHMCS_SECRET": "secret-cfg",
            "WHMCS_ACCESS_KEY": "key-cfg",
            "WHMCS_TIMEOUT": timedelta(seconds=90),
        }
    )
    assert client is not None
    with client:
        assert client.endpoint == "https://panel.example.test/billing/includes/api.php"
        assert client.timeout == 90.0
        assert not {"ident-cfg", "secret-cfg", "key-cfg"} & set(re.findall(r"[\w-]+", repr(client)))


def test_from_config_names_a_missing_credential() -> None:
    with pytest.raises(ValueError, match="WHMCS_SECRET"):
        WhmcsClient.from_config({"WHMCS_URL": "https://p.test", "WHMCS_IDENTIFIER": "i"})


# --- behind the Panel interface ------------------------------------------------------


def test_the_configured_panel_is_whmcs_when_its_settings_are_set(panel: FakeWhmcs) -> None:
    assert configured_panel({"WHMCS_URL": None}) is None
    config = {"WHMCS_URL": panel.url, "WHMCS_IDENTIFIER": IDENTIFIER, "WHMCS_SECRET": SECRET}
    configured: Panel | None = configured_panel(config)
    assert isinstance(configured, WhmcsClient)
    with configured:
        configured.add_ticket_note("42", "through the interface")
        assert configured.get_ticket_notes("42") == ["through the interface"]
        assert configured.get_client_notes("7") == "VIP customer\r\nPrefers email"


def test_a_whmcs_failure_is_a_panel_error_that_says_whether_to_retry(
    panel: FakeWhmcs, whmcs: WhmcsClient
) -> None:
    with pytest.raises(PanelError) as gone:
        whmcs.add_ticket_note(999, "to a ticket that is not there")
    assert gone.value.transient is False
    assert str(gone.value) == "WHMCS AddTicketNote failed: Ticket ID not found"
    panel.fail_next(1, "http500")
    with pytest.raises(PanelError) as down:
        whmcs.get_client_notes(7)
    assert down.value.transient is True


def test_a_panel_error_survives_pickling() -> None:
    copy = pickle.loads(pickle.dumps(PanelError("the panel is down", transient=True)))  # noqa: S301

    assert (type(copy), str(copy), copy.transient) == (PanelError, "the panel is down", True)
    error = PanelError("no permission", transient=False, configuration=True)
    assert pickle.loads(pickle.dumps(error)).configuration is True  # noqa: S301


# --- the internal-note line ----------------------------------------------------------

LINE = "Not eligible for free interventions since 2025-03-01 (intervention 314)"

TRICKY_NOTES = [
    "",
    "a",
    "a\n",
    "a\r\n",
    "\n",
    "\r\n",
    "\n\n",
    "\r\n\r\n",
    "a\nb",
    "a\r\nb\r\n",
    "a\r\nb\n",  # mixed endings
    "a\rb\r",  # old Mac endings
    "a\r",
    "\r",
    "  indented\n\ttabbed\t\n",
    "Déjà vu 🙂 日本語\u2028same line for us\u2029",
    "trailing spaces   ",
    f"mentions {M} mid-line",
    f" {M} indented, so not ours",
    f"x{M}",
    "&amp; <b>html</b> \"quotes\" 'single'",
    "\x00nul and \x0b vertical tab \x0c form feed \x85 next line",
    "a" * 10_000 + "\r\n",
]


def has_marker_line(notes: str) -> bool:
    return re.search(r"(?:\A|[\r\n])" + re.escape(M), notes) is not None


@pytest.mark.parametrize("notes", TRICKY_NOTES)
def test_adding_then_removing_the_line_gives_back_the_notes_exactly(notes: str) -> None:
    added = add_ineligible_line(notes, LINE)

    assert added.startswith(notes)  # every character kept, the line only appended
    assert f"{M} {LINE}" in added
    assert remove_ineligible_line(added) == notes


@pytest.mark.parametrize("notes", TRICKY_NOTES)
def test_adding_the_line_twice_changes_nothing_more(notes: str) -> None:
    once = add_ineligible_line(notes, LINE)

    assert add_ineligible_line(once, LINE) == once


@pytest.mark.parametrize("notes", TRICKY_NOTES)
def test_removing_when_there_is_no_line_changes_nothing(notes: str) -> None:
    assert remove_ineligible_line(notes) == notes


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        ("", f"{M} {LINE}"),
        ("Staff note", f"Staff note\n{M} {LINE}"),
        ("Staff note\n", f"Staff note\n{M} {LINE}\n"),
        ("a\r\nb", f"a\r\nb\r\n{M} {LINE}"),
        ("a\r\nb\r\n", f"a\r\nb\r\n{M} {LINE}\r\n"),
        (f"a\n{M} older text\nb", f"a\n{M} {LINE}\nb"),
        (f"{M}", f"{M} {LINE}"),
        (f"see {M}", f"see {M}\n{M} {LINE}"),
    ],
)
def test_add_places_or_replaces_the_marker_line(notes: str, expected: str) -> None:
    assert add_ineligible_line(notes, LINE) == expected


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        (f"a\n{M} x\nb", "a\nb"),
        (f"a\n{M} x", "a"),
        (f"{M} x\na", "a"),
        (f"{M} x", ""),
        (f"a\r\n{M} x\r\n", "a\r\n"),
        (f"{M} one\n{M} two\nkeep", "keep"),
        (f"keep {M} mid-line", f"keep {M} mid-line"),
    ],
)
def test_remove_takes_the_marker_lines_and_one_adjacent_line_end(notes: str, expected: str) -> None:
    assert remove_ineligible_line(notes) == expected


def test_replacing_the_line_keeps_everything_else() -> None:
    notes = add_ineligible_line("VIP\r\n", "since 2025-01-01 (intervention 1)")

    replaced = add_ineligible_line(notes, "since 2025-02-02 (intervention 2)")

    assert replaced == f"VIP\r\n{M} since 2025-02-02 (intervention 2)\r\n"
    assert remove_ineligible_line(replaced) == "VIP\r\n"


def test_line_breaks_inside_the_line_become_spaces() -> None:
    assert add_ineligible_line("", "one\r\ntwo\nthree\rfour") == f"{M} one two three four"


_PIECES = [
    "a",
    "Zz",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "é",
    "日本",
    "🙂",
    "\u2028",
    "\x85",
    M,
    f"{M} old",
    "&lt;",
    "",
]


def _random_text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, most)))


def test_round_trip_properties_hold_for_many_random_notes() -> None:
    rng = random.Random(20250301)  # fixed seed: a failure is reproducible
    checked_exact = 0
    for _ in range(3000):
        notes = _random_text(rng, 14)
        line, other = _random_text(rng, 4), _random_text(rng, 4)
        added = add_ineligible_line(notes, line)

        assert remove_ineligible_line(added) == remove_ineligible_line(notes), notes
        assert add_ineligible_line(added, line) == added, notes
        assert add_ineligible_line(added, other) == add_ineligible_line(notes, other), notes
        assert not has_marker_line(remove_ineligible_line(notes)), notes
        assert has_marker_line(added), notes
        if not has_marker_line(notes):
            checked_exact += 1
            assert added.startswith(notes), notes
            assert remove_ineligible_line(added) == notes, notes
            assert remove_ineligible_line(notes) == notes, notes
    assert checked_exact > 500  # the generator really exercised the exact round trip
