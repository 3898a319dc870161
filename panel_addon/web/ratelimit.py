"""Rate limits on the public endpoints (Flask-Limiter), counted in Redis by every process.

The links, the webhooks and the staff API each have their own budget (RATE_LIMIT_LINKS,
RATE_LIMIT_WEBHOOKS, RATE_LIMIT_API), shared by every route of that group: one shared
limit on the group's blueprint. The client is `request.remote_addr`, which ProxyFix sets
from X-Forwarded-For when the service sits behind TRUSTED_PROXIES of its own. The staff
API, used from the panel's few servers, is counted per token instead, so one panel does
not starve another's staff. A genuine link (its signature checks) is counted per link,
and only bad or expired tokens per address: clients behind one address (an office, a
carrier's NAT) are never locked out of their own link by someone there guessing tokens.

When Redis is unreachable, Flask-Limiter counts the same limits in the process's memory
and tries Redis again after a few seconds: the links never break because Redis is down.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import cast

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter

from .. import tokens

EXTENSION_KEY = "panel_addon.limiter"


def client_ip() -> str:
    """The client's address, as the service's own proxies gave it."""
    return "ip:" + (request.remote_addr or "unknown")


def staff_token_or_ip() -> str:
    """The staff token when it is a valid one (hashed: never the token in Redis), else the IP."""
    config = current_app.config
    accepted = [str(config.get("STAFF_API_TOKEN") or ""), *config["STAFF_API_TOKEN_FALLBACKS"]]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token = given.strip().encode()
    if scheme.lower() == "bearer" and any(
        known and hmac.compare_digest(token, known.encode()) for known in accepted
    ):
        return "token:" + hashlib.sha256(token).hexdigest()[:16]
    return client_ip()


def link_or_ip() -> str:
    """A genuine link's own budget (its token hashed: never the token in Redis), else the IP."""
    args = request.view_args or {}
    token, purpose = args.get("token"), args.get("purpose")
    if isinstance(token, str) and isinstance(purpose, str) and tokens.genuine(token, purpose):
        return "link:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return client_ip()


# Blueprint -> the setting holding its limit, and whom it counts. Routes of no group (the
# health check, the OpenAPI description, static files) are not limited.
GROUPS: dict[str, tuple[str, Callable[[], str]]] = {
    "client_pages": ("RATE_LIMIT_LINKS", link_or_ip),
    "webhooks": ("RATE_LIMIT_WEBHOOKS", client_ip),
    "staff_api": ("RATE_LIMIT_API", staff_token_or_ip),
    "evidence_keys": ("RATE_LIMIT_API", client_ip),
    "staff_view": ("RATE_LIMIT_API", client_ip),
}


def init_app(app: Flask) -> None:
    """Limit each group's routes per client; call it once the blueprints are registered.

    Nothing is counted when RATELIMIT_ENABLED is off (Flask-Limiter reads that setting).
    """
    limiter = Limiter(
        client_ip,
        storage_uri=app.config["REDIS_URL"],
        # A Redis that hangs must not hang the pages.
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
        key_prefix=f"{app.config['QUEUE_PREFIX']}:ratelimit",
        # One Redis call a request (INCR with its expiry), with the headers off.
        strategy="fixed-window",
        # With no limits of its own, the fallback counts the groups' limits in memory.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        retry_after="delta-seconds",
    )
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter
    for name, (setting, key) in GROUPS.items():
        # Flask types app.blueprints with the sans-I/O base class of its Blueprint.
        blueprint = cast(Blueprint, app.blueprints[name])
        limiter.shared_limit(str(app.config[setting]), scope=name, key_func=key)(blueprint)


def retry_after() -> int:
    """Seconds until the window of the limit this request went over ends (for Retry-After)."""
    limiter: Limiter = current_app.extensions[EXTENSION_KEY]
    broken = limiter.current_limit
    if broken is None:
        return 60
    try:
        return max(1, broken.reset_at - int(time.time()))
    except Exception:  # noqa: BLE001 - the storage failed since the count: a whole window
        return broken.limit.get_expiry()
