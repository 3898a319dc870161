"""The OpenAPI description covers every route, and a fuzz run against it finds no 5xx,
no stack trace in a body, and no JSON error out of the contract's shape.

Schemathesis generates valid and invalid requests for every operation from
`panel_addon/web/openapi.yaml` and sends them to the app in-process, on PostgreSQL (which,
unlike SQLite, refuses NUL characters), with data to find: an intervention and a client.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from panel_addon.web.openapi import spec

from .flow import complete, send
from .support import STAFF_TOKEN, signed_headers, started_data

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
# Routes that are no HTTP interface of the service: files, and the development outbox.
UNDESCRIBED = ("static", "dev_outbox.", "web.dev_staff")
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def backend() -> str:
    # Only PostgreSQL refuses NUL characters: the fuzz must meet that.
    return "postgresql"


@pytest.fixture
def fuzzed_app(make_app: Any) -> Flask:
    app = make_app()
    client = app.test_client()
    # The intervention and client of the spec's examples, for the requests to find.
    data = started_data("4711", client={"id": "42", "email": "c@example.test", "name": "C"})
    assert send(client, "intervention.started", data).status_code == 200
    assert complete(client, "4711").status_code == 200
    return app


def check_no_trace_and_error_shape(response: Any, path: str) -> None:
    body = response.content if hasattr(response, "content") else response.data
    assert b"Traceback" not in body, "a stack trace reached the client"
    assert b'File "' not in body, "a stack trace reached the client"
    if response.status_code >= 400 and path.startswith(("/webhooks/", "/api/")):
        error = json.loads(body)["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]


@schemathesis.check
def no_trace_and_contract_errors(ctx: Any, response: Any, case: Any) -> bool:
    check_no_trace_and_error_shape(response, case.formatted_path)
    return True


schema = schemathesis.openapi.from_dict(spec())


@schema.parametrize()
@FUZZ
def test_no_request_breaks_the_service(fuzzed_app: Flask, case: Any) -> None:
    case.call_and_validate(
        app=fuzzed_app,
        headers=AUTH,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            no_trace_and_contract_errors,
        ],
    )


def test_every_route_is_described(app: Flask) -> None:
    paths = spec()["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(UNDESCRIBED):
            continue
        for path in _openapi_paths(rule.rule):
            for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}):
                if method.lower() not in paths.get(path, {}):
                    missing.append(f"{method} {path}")
    assert not missing, f"routes missing from panel_addon/web/openapi.yaml: {missing}"
    described = {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops if m != "parameters"}
    served = {
        f"{method} {path}"
        for rule in app.url_map.iter_rules()
        for path in _openapi_paths(rule.rule)
        for method in rule.methods or ()
    }
    assert described <= served, f"described but not served: {sorted(described - served)}"


def _openapi_paths(rule: str) -> list[str]:
    """`/i/<token>/<any(validate, report):purpose>` -> `/i/{token}/validate`, `.../report`."""
    choices = re.search(r"<any\(([^)]*)\):[^>]+>", rule)
    if choices:
        options = [c.strip().strip("'\"") for c in choices.group(1).split(",")]
        return [p for o in options for p in _openapi_paths(rule.replace(choices.group(0), o))]
    return [re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)]


# Signed webhooks: the fuzz above never gets past the signature; these do.

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_strings = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    [
        "\x00",
        "a\r\nBcc: x@evil.test",
        "<script>alert(1)</script>",
        "\ud800",
        "' OR 1=1 --",
        "é" * 70,
    ]
)
_data = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(), _strings)},
    optional={
        "ticket_id": st.one_of(st.integers(), _strings),
        "client": st.fixed_dictionaries(
            {"id": st.one_of(st.integers(), _strings), "email": _strings},
            optional={"name": _strings, "language": _strings, "timezone": _strings},
        )
        | _json,
        "site": _strings,
        "technician": _strings,
        "summary": _strings,
        "reason": _strings,
        "completed_at": _strings,
        "backup": st.fixed_dictionaries({"reference": _strings}, optional={"created_at": _strings})
        | _json,
        "check_urls": st.lists(_strings, max_size=3) | _json,
        "extra": _json,
    },
)
_events = (
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["intervention.started", "intervention.completed", "intervention.cancelled"]
            )
            | _strings,
            "data": _data | _json,
        },
        optional={"timestamp": _strings},
    )
    | _json
)


@given(event=_events)
@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_signed_webhooks_of_any_shape_get_a_contract_answer(fuzzed_app: Flask, event: Any) -> None:
    body = json.dumps(event)
    response = fuzzed_app.test_client().post(
        "/webhooks/panel", data=body, headers=signed_headers(body)
    )
    assert response.status_code < 500, response.data
    assert response.status_code in (200, 400, 404, 409, 413, 422), response.data
    check_no_trace_and_error_shape(response, "/webhooks/panel")
