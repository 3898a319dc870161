"""Rate limits per client IP (counted in Redis, and in memory while Redis is down), their
settings, and the security headers on every answer of the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis

from panel_addon.settings import SettingsError

from .faultkit import RedisServer
from .flow import complete, path_of, run_due, start
from .processes import wait_for
from .support import STAFF_TOKEN, event_body, free_port, mail_links, signed_headers

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def _limited(make_app: Any, **overrides: Any) -> Flask:
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATE_LIMIT_LINKS": "3/minute",
        "RATE_LIMIT_WEBHOOKS": "2/minute",
        "RATE_LIMIT_API": "4/minute",
    }
    return make_app(**{**settings, **overrides})  # type: ignore[no-any-return]


def _from(ip: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def test_links_are_limited_per_client_ip_with_a_clear_page(make_app: Any) -> None:
    app = _limited(make_app)
    client = app.test_client()
    path = "/i/some-token-that-does-not-exist/validate"
    # GET, HEAD and POST of any link share one budget per IP.
    assert [
        client.open(path, method=m, **_from("203.0.113.7")).status_code
        for m in ("GET", "HEAD", "POST")
    ] == [404, 404, 404]
    refused = client.get(path, headers={"Accept-Language": "fr"}, **_from("203.0.113.7"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    page = refused.get_data(as_text=True)
    assert "Trop de demandes" in page and "Traceback" not in page
    assert refused.headers["Content-Type"].startswith("text/html")
    # Another client is not held back by the first.
    assert client.get(path, **_from("203.0.113.8")).status_code == 404


def test_webhooks_and_api_answer_429_in_the_contracts_shape(make_app: Any) -> None:
    app = _limited(make_app)
    client = app.test_client()
    body = event_body("intervention.cancelled", {"id": "nope"})
    answers = [
        client.post("/webhooks/panel", data=body, headers=signed_headers(body)).status_code
        for _ in range(3)
    ]
    assert answers == [404, 404, 429]
    refused = client.post("/webhooks/panel", data=body, headers=signed_headers(body))
    assert refused.json["error"]["code"] == "too_many_requests"
    assert refused.headers["Retry-After"]

    # The staff API counts per token; a wrong token counts against its IP.
    for _ in range(4):
        assert client.get("/api/v1/clients/1/eligibility", headers=AUTH).status_code == 200
    limited = client.get("/api/v1/clients/1/eligibility", headers=AUTH, **_from("198.51.100.1"))
    assert limited.status_code == 429 and limited.json["error"]["code"] == "too_many_requests"
    wrong = {"Authorization": "Bearer guess"}
    assert [
        client.get(
            "/api/v1/clients/1/eligibility", headers=wrong, **_from("198.51.100.9")
        ).status_code
        for _ in range(5)
    ] == [401, 401, 401, 401, 429]


def test_the_client_ip_is_taken_from_our_own_proxy(make_app: Any) -> None:
    app = _limited(make_app, TRUSTED_PROXIES=1)
    client = app.test_client()
    path = "/i/unknown-token-abcdef/report"
    for _ in range(3):
        client.get(path, headers={"X-Forwarded-For": "192.0.2.1"})
    assert client.get(path, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert client.get(path, headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 404


def test_health_and_the_api_description_are_not_limited(make_app: Any) -> None:
    app = _limited(make_app)
    client = app.test_client()
    assert {client.get("/healthz").status_code for _ in range(10)} == {200}
    assert {client.get("/openapi.json").status_code for _ in range(10)} == {200}


def test_links_keep_working_when_redis_is_down(make_app: Any, mailbox: Any) -> None:
    app = _limited(make_app, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    assert start(client).status_code == 200
    assert complete(client).status_code == 200
    run_due(app)
    validate = path_of(mail_links(mailbox.received()[0])[0])
    assert client.get(validate).status_code == 200
    assert client.post(validate).status_code == 303
    # Counted in the process's memory meanwhile: still limited, never broken.
    assert client.get(validate).status_code == 200
    assert client.get(validate).status_code == 429


def test_processes_share_one_count_in_redis(make_app: Any, redis: Any) -> None:
    # Two processes (two apps on one Redis and one prefix) count into one window, kept
    # under the deployment's prefix.
    first = _limited(make_app, RATE_LIMIT_LINKS="20/minute")
    second = _limited(
        make_app, RATE_LIMIT_LINKS="20/minute", QUEUE_PREFIX=first.config["QUEUE_PREFIX"]
    )
    path = "/i/unknown-token-abcdef/validate"
    answers = [first.test_client().get(path, **_from("192.0.2.50")).status_code for _ in range(15)]
    answers += [
        second.test_client().get(path, **_from("192.0.2.50")).status_code for _ in range(15)
    ]
    assert answers == [404] * 20 + [429] * 10
    keys = redis.keys(f"*{first.config['QUEUE_PREFIX']}:ratelimit*")
    assert sum(int(redis.get(key)) for key in keys) == 30


def test_the_staff_token_is_never_a_redis_key(make_app: Any, redis: Any) -> None:
    app = _limited(make_app)
    client = app.test_client()
    assert client.get("/api/v1/clients/1/eligibility", headers=AUTH).status_code == 200
    keys = [key.decode() for key in redis.keys(f"*{app.config['QUEUE_PREFIX']}:ratelimit*")]
    assert len(keys) == 1 and "token:" in keys[0]
    assert not [key for key in redis.scan_iter(count=1000) if STAFF_TOKEN.encode() in key]


def test_limits_go_back_to_redis_when_it_is_back(make_app: Any, tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        app = _limited(make_app, REDIS_URL=server.url, RATE_LIMIT_LINKS="1000/minute")
        client = app.test_client()
        path = "/i/unknown-token-abcdef/validate"
        prefix = f"*{app.config['QUEUE_PREFIX']}:ratelimit*"
        assert client.get(path).status_code == 404
        server.kill()
        # Counted in memory meanwhile, and the links answer.
        assert {client.get(path).status_code for _ in range(3)} == {404}
        server.start()
        redis = Redis.from_url(server.url)
        try:
            # The restarted Redis is empty: a count there means the limits use it again.
            wait_for(
                lambda: client.get(path).status_code == 404 and redis.keys(prefix),
                timeout=45,
                what="the rate limits counted in Redis again",
            )
        finally:
            redis.close()
    finally:
        server.stop()


def test_rate_limit_headers_when_enabled(make_app: Any) -> None:
    path = "/i/unknown-token-abcdef/validate"
    plain = _limited(make_app).test_client().get(path)
    assert "X-RateLimit-Limit" not in plain.headers
    client = _limited(make_app, RATELIMIT_HEADERS_ENABLED=True).test_client()
    first, second = client.get(path), client.get(path)
    assert first.headers["X-RateLimit-Limit"] == "3"
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == [
        "2",
        "1",
    ]
    client.get(path)
    refused = client.get(path)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60


# --- security headers -------------------------------------------------------------------


@pytest.fixture
def answers(make_app: Any, mailbox: Any) -> dict[str, Any]:
    """One answer of every kind the service gives: pages, errors, JSON, files."""
    app = _limited(make_app, RATE_LIMIT_LINKS="8/minute")
    client = app.test_client()
    start(client)
    complete(client)
    run_due(app)
    links = {u.rsplit("/", 1)[1]: path_of(u) for u in mail_links(mailbox.received()[0])}
    body = event_body("intervention.cancelled", {"id": "nope"})
    result = {
        "link page": client.get(links["validate"]),
        "link head": client.head(links["report"]),
        "decision": client.post(links["validate"]),
        "conflict page": client.post(links["report"]),
        "invalid link": client.get("/i/nonsense-token-xyz/validate"),
        "not found page": client.get("/nowhere"),
        "method not allowed": client.delete(links["validate"]),
        "webhook error": client.post("/webhooks/panel", data=body, headers=signed_headers(body)),
        "api": client.get("/api/v1/interventions/iv-1", headers=AUTH),
        "api 401": client.get("/api/v1/interventions/iv-1"),
        "api 404": client.get("/api/v1/nothing", headers=AUTH),
        "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
        "stylesheet": client.get("/static/app.css"),
    }
    for _ in range(8):
        result["rate limited"] = client.get("/i/nonsense-token-xyz/report")
    assert result["rate limited"].status_code == 429
    return result


def test_every_answer_carries_the_security_headers(answers: dict[str, Any]) -> None:
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        csp = headers["Content-Security-Policy"]
        # No script at all, let alone inline script; no framing unless configured.
        assert "default-src 'none'" in csp and "script-src" not in csp, name
        assert "unsafe-inline" not in csp, name
        assert "frame-ancestors 'none'" in csp and headers["X-Frame-Options"] == "DENY", name
        assert "Traceback" not in answer.get_data(as_text=True), name


def test_pages_carry_no_inline_script_or_style(answers: dict[str, Any]) -> None:
    for name in ("link page", "conflict page", "invalid link", "not found page", "rate limited"):
        page = answers[name].get_data(as_text=True)
        assert "<script" not in page and " style=" not in page and "<style" not in page, name
        assert " on" + "click=" not in page, name


def test_the_panel_may_frame_the_pages_when_allowed(make_app: Any) -> None:
    app = make_app(FRAME_ANCESTORS="https://panel.host.example")
    answer = app.test_client().get("/i/nonsense-token-xyz/validate")
    assert "frame-ancestors https://panel.host.example" in answer.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in answer.headers


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RATE_LIMIT_LINKS", "lots"),
        ("RATE_LIMIT_API", "10 per fortnight"),
        ("RATELIMIT_ENABLED", "yes"),
        ("RATELIMIT_HEADERS_ENABLED", "yes"),
        ("TASK_RETRY_BACKOFF", "5s,soon"),
        ("TASK_RETRY_BACKOFF", ""),
    ],
)
def test_a_bad_limit_or_backoff_setting_stops_the_start_naming_its_key(
    make_app: Any, key: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=f"PANEL_ADDON_{key}"):
        make_app(**{key: value})


def test_a_view_keeps_its_own_security_header_and_gets_the_others(make_app: Any) -> None:
    app = make_app()

    @app.get("/own-policy")
    def own_policy() -> Any:
        # Set in another case than the defaults: header names are case-insensitive.
        return "ok", 200, {"content-security-policy": "default-src 'self'"}

    answer = app.test_client().get("/own-policy")
    assert answer.headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_flood_of_bad_tokens_from_an_address_never_locks_out_a_valid_link_there(
    backend: str, make_app: Any, mailbox: Any, redis: Redis
) -> None:
    """Clients behind one address (an office, a carrier's NAT) share it with whoever
    floods bad tokens: a genuine link is counted on its own, never with them."""
    app = _limited(make_app, SITE_CHECK_ENABLED=False)
    client = app.test_client()
    assert start(client).status_code == 200 and complete(client).status_code == 200
    run_due(app)
    validate, report = (path_of(url) for url in mail_links(mailbox.received()[0]))
    shared = _from("198.51.100.77")
    forged = [f"/i/forged-token-{n}/validate" for n in range(10)]
    answers = [client.get(path, **shared).status_code for path in forged]
    assert answers == [404] * 3 + [429] * 7
    # The address is out of budget for bad tokens, not for the genuine links.
    assert client.get(validate, **shared).status_code == 200
    assert client.get(report, **shared).status_code == 200
    assert client.post(validate, **shared).status_code == 303
    # Each link has its own budget: a link fetched over and over is limited alone.
    assert [client.get(report, **shared).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(validate, **shared).status_code == 200
    # Counted by the token's hash: a link's token is never a Redis key.
    secret = validate.split("/")[2].encode()
    assert not [key for key in redis.scan_iter(count=1000) if secret in key]
