"""Rate limits on the public endpoints, per client IP, counted in Redis (Flask-Limiter).

The links, the webhooks and the staff API each have their own budget (RATE_LIMIT_LINKS,
RATE_LIMIT_WEBHOOKS, RATE_LIMIT_API), shared by every route of that group. The client
IP is `request.remote_addr`, which ProxyFix sets from X-Forwarded-For when the service
sits behind TRUSTED_PROXIES of its own. The staff API, used from the panel's few
servers, is counted per token instead, so one panel does not starve another's staff.

When Redis is unreachable the limits are counted in the process's memory until it is
back: the links never break because Redis is down.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, request
from flask_limiter import Limiter

# Blueprint -> setting holding its limit. Routes of no group (the health check, the
# OpenAPI description, static files) are not limited.
_GROUPS = {
    "client_pages": "RATE_LIMIT_LINKS",
    "webhooks": "RATE_LIMIT_WEBHOOKS",
    "staff_api": "RATE_LIMIT_API",
    "staff_view": "RATE_LIMIT_API",
}


def _group() -> str | None:
    return _GROUPS.get(request.blueprint or "")


def _limit() -> str:
    # Also asked for exempt routes (Flask-Limiter sorts the limits before it exempts).
    group = _group()
    return str(current_app.config[group]) if group else "1/second"


def _key() -> str:
    if request.blueprint == "staff_api":
        config = current_app.config
        accepted = [str(config.get("STAFF_API_TOKEN") or ""), *config["STAFF_API_TOKEN_FALLBACKS"]]
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        token = given.strip().encode()
        if scheme.lower() == "bearer" and any(
            known and hmac.compare_digest(token, known.encode()) for known in accepted
        ):
            # Never the token itself in a Redis key.
            return "token:" + hashlib.sha256(token).hexdigest()[:16]
    return "ip:" + (request.remote_addr or "unknown")


def init_app(app: Flask) -> None:
    """Count requests of each group per client in Redis; nothing when RATELIMIT_ENABLED is off."""
    limiter = Limiter(
        key_func=_key,
        default_limits=[_limit],
        default_limits_exempt_when=lambda: _group() is None,
        # One counter per group, not per route: GET and POST of a link share it.
        request_identifier=lambda: request.blueprint or request.endpoint or "",
        storage_uri=app.config["REDIS_URL"],
        # A Redis that hangs must not hang the pages.
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
        # A fixed window costs one Redis round trip per request; the moving window two.
        strategy="fixed-window",
        key_prefix=f"{app.config['QUEUE_PREFIX']}:ratelimit",
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        # The X-RateLimit headers cost a second Redis call on every request; a refused
        # request still gets Retry-After (errors.py).
        headers_enabled=False,
    )
    limiter.init_app(app)
