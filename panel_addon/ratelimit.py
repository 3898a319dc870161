"""Rate limits on the public endpoints, per client IP, counted in Redis (the `limits` library).

The links, the webhooks and the staff API each have their own budget (RATE_LIMIT_LINKS,
RATE_LIMIT_WEBHOOKS, RATE_LIMIT_API), shared by every route of that group. The client
IP is `request.remote_addr`, which ProxyFix sets from X-Forwarded-For when the service
sits behind TRUSTED_PROXIES of its own. The staff API, used from the panel's few
servers, is counted per token instead, so one panel does not starve another's staff.

A fixed window, counted with one Redis round trip per request. When Redis is
unreachable the limits are counted in the process's memory until it is back (Redis is
tried again every few seconds): the links never break because Redis is down.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

# Blueprint -> setting holding its limit. Routes of no group (the health check, the
# OpenAPI description, static files) are not limited.
_GROUPS = {
    "client_pages": "RATE_LIMIT_LINKS",
    "webhooks": "RATE_LIMIT_WEBHOOKS",
    "staff_api": "RATE_LIMIT_API",
    "staff_view": "RATE_LIMIT_API",
}
# After Redis failed, count in memory this long before trying it again.
REDIS_RETRY_SECONDS = 5.0


class RateLimited(TooManyRequests):
    """A 429 that knows when the client may come back (the Retry-After header)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


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


class Limits:
    """The app's limits per group, counted in Redis or, while it is down, in memory."""

    def __init__(self, app: Flask) -> None:
        self.prefix = f"{app.config['QUEUE_PREFIX']}:ratelimit"
        self.groups: dict[str, list[RateLimitItem]] = {
            group: parse_many(str(app.config[setting])) for group, setting in _GROUPS.items()
        }
        # A Redis that hangs must not hang the pages.
        storage = storage_from_string(
            app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1
        )
        self.redis = FixedWindowRateLimiter(storage)  # type: ignore[arg-type]
        self.memory = FixedWindowRateLimiter(MemoryStorage())
        self.redis_down_until = 0.0

    def check(self) -> None:
        """Count this request against its group's limits; raise RateLimited when over."""
        limits = self.groups.get(request.blueprint or "")
        if not limits:
            return
        identifiers = (self.prefix, request.blueprint or "", _key())
        for limit in limits:
            limiter = self._limiter()
            try:
                allowed = limiter.hit(limit, *identifiers)
            except Exception as exc:  # noqa: BLE001 - Redis being down must not fail the request
                self._redis_failed(exc)
                limiter = self.memory
                allowed = limiter.hit(limit, *identifiers)
            if not allowed:
                raise RateLimited(self._retry_after(limiter, limit, identifiers))

    def _limiter(self) -> FixedWindowRateLimiter:
        return self.memory if time.monotonic() < self.redis_down_until else self.redis

    def _redis_failed(self, exc: Exception) -> None:
        if time.monotonic() >= self.redis_down_until:
            log.warning(
                "rate limits counted in memory: Redis is unreachable (%s)", type(exc).__name__
            )
        self.redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS

    @staticmethod
    def _retry_after(
        limiter: FixedWindowRateLimiter, limit: RateLimitItem, identifiers: tuple[str, ...]
    ) -> int:
        window = limit.get_expiry()
        try:
            reset = limiter.get_window_stats(limit, *identifiers).reset_time
        except Exception:  # noqa: BLE001 - the whole window, at worst
            return window
        return max(1, min(window, int(reset - time.time()) + 1))


def init_app(app: Flask) -> None:
    """Count requests of each group per client; nothing when RATELIMIT_ENABLED is off."""
    if not app.config["RATELIMIT_ENABLED"]:
        return
    limits = Limits(app)
    app.extensions["panel_addon.limits"] = limits

    @app.before_request
    def rate_limit() -> Any:
        limits.check()
