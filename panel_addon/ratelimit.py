"""Rate limits on the public endpoints, per client IP, counted in Redis.

The links, the webhooks and the staff API each have their own budget (RATE_LIMIT_LINKS,
RATE_LIMIT_WEBHOOKS, RATE_LIMIT_API), shared by every route of that group. The client
IP is `request.remote_addr`, which ProxyFix sets from X-Forwarded-For when the service
sits behind TRUSTED_PROXIES of its own. The staff API, used from the panel's few
servers, is counted per token instead, so one panel does not starve another's staff.

A fixed window per limit and client, its count kept in Redis so that every process of
every host adds to it. A process does not ask Redis at every request: it counts a
client's hits itself and adds them to Redis in one pipelined round trip, for all its
clients at once, at least every FLUSH_SECONDS. It lets a client through without asking
only while that client is far from the limit: at most a tenth of the limit unsent, and
never more than half of what the limit still allows by Redis's last count. Near the
limit every hit is counted in Redis before it is answered, so a client is refused at the
limit, give or take the few hits other processes have not sent yet. A click storm from
thousands of addresses costs one round trip a second a process, not one a request.

When Redis is unreachable the limits are counted exactly in the process's memory (the
`limits` library) until it is back (Redis is tried again every few seconds): the links
never break because Redis is down.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from redis import Redis
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
# A process sends the hits it counted to Redis at least this often.
FLUSH_SECONDS = 1.0
# Hits a process may hold unsent for one client: this share of the limit (none under 10).
UNSENT_SHARE = 10

# Add ARGV[1] hits to the window KEYS[1] (ARGV[2] seconds long from its first hit);
# answer its count and the milliseconds left in it.
_ADD_HITS = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2]) * 1000
end
return {count, left}
"""


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


@dataclass
class _Window:
    """One client's window of one limit, as this process knows it."""

    limit: RateLimitItem
    key: str
    counted: int = 0  # the window's count in Redis at the last answer
    unsent: int = 0  # hits counted here, not yet added in Redis
    ends: float | None = None  # time.monotonic() at which Redis drops the window

    def lets_through_unsent(self, now: float) -> bool:
        if self.ends is not None and now >= self.ends:
            self.counted, self.ends = 0, None
        amount = self.limit.amount
        room = amount - self.counted - self.unsent
        return self.unsent < amount // UNSENT_SHARE and self.unsent < room // 2


class Limits:
    """The app's limits per group, counted in Redis or, while it is down, in memory."""

    def __init__(self, app: Flask) -> None:
        self.prefix = f"{app.config['QUEUE_PREFIX']}:ratelimit"
        self.groups: dict[str, list[RateLimitItem]] = {
            group: parse_many(str(app.config[setting])) for group, setting in _GROUPS.items()
        }
        # A Redis that hangs must not hang the pages.
        self.redis = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1
        )
        self.memory = FixedWindowRateLimiter(MemoryStorage())
        self.redis_down_until = 0.0
        self.windows: dict[str, _Window] = {}
        self.flushed_at = time.monotonic()
        self.lock = threading.Lock()

    def check(self) -> None:
        """Count this request against its group's limits; raise RateLimited when over."""
        limits = self.groups.get(request.blueprint or "")
        if not limits:
            return
        identifiers = (self.prefix, request.blueprint or "", _key())
        for limit in limits:
            if time.monotonic() < self.redis_down_until:
                self._in_memory(limit, identifiers)
                continue
            try:
                with self.lock:
                    retry_after = self._hit(limit, limit.key_for(*identifiers))
            except Exception as exc:  # noqa: BLE001 - Redis being down must not fail the request
                self._redis_failed(exc)
                self._in_memory(limit, identifiers)
                continue
            if retry_after:
                raise RateLimited(retry_after)

    def _hit(self, limit: RateLimitItem, key: str) -> int:
        """Count one hit; the seconds to wait when it is over the limit, else 0."""
        now = time.monotonic()
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = _Window(limit, key)
        unasked = window.lets_through_unsent(now)
        window.unsent += 1
        if not unasked or now - self.flushed_at >= FLUSH_SECONDS:
            self._flush(now)
        if unasked or window.counted <= limit.amount:
            return 0
        ends = window.ends if window.ends is not None else now + limit.get_expiry()
        return max(1, min(limit.get_expiry(), int(ends - now) + 1))

    def _flush(self, now: float) -> None:
        """Add every window's unsent hits in Redis, in one round trip; learn their counts."""
        sending = [w for w in self.windows.values() if w.unsent]
        pipeline = self.redis.pipeline(transaction=False)
        for window in sending:
            pipeline.eval(_ADD_HITS, 1, window.key, window.unsent, window.limit.get_expiry())
        answers = pipeline.execute() if sending else []
        for window, (count, left_ms) in zip(sending, answers, strict=True):
            window.counted, window.unsent = int(count), 0
            window.ends = now + int(left_ms) / 1000
        self.flushed_at = now
        # Windows Redis has dropped are forgotten: a client seen once is not kept.
        for key in [k for k, w in self.windows.items() if w.ends is not None and w.ends <= now]:
            del self.windows[key]

    def _in_memory(self, limit: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        if not self.memory.hit(limit, *identifiers):
            window = limit.get_expiry()
            reset = self.memory.get_window_stats(limit, *identifiers).reset_time
            raise RateLimited(max(1, min(window, int(reset - time.time()) + 1)))

    def _redis_failed(self, exc: Exception) -> None:
        if time.monotonic() >= self.redis_down_until:
            log.warning(
                "rate limits counted in memory: Redis is unreachable (%s)", type(exc).__name__
            )
        self.redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        # What this process had not sent is counted in memory from now on.
        self.windows.clear()


def init_app(app: Flask) -> None:
    """Count requests of each group per client; nothing when RATELIMIT_ENABLED is off."""
    if not app.config["RATELIMIT_ENABLED"]:
        return
    limits = Limits(app)
    app.extensions["panel_addon.limits"] = limits

    @app.before_request
    def rate_limit() -> Any:
        limits.check()
