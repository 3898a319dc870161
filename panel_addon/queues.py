"""The RQ side: one queue per kind of work, and "drain" jobs that are enqueued at most once.

The jobs themselves live in `workers.jobs`; they are named here by their dotted path, so
the service never imports the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from flask import current_app
from redis import Redis
from rq import Queue

log = logging.getLogger(__name__)

# The kinds of work, one queue each: mail, panel calls, deadlines, site snapshots.
KINDS = ("mail", "panel", "due", "site")

_connections: dict[str, Redis] = {}
DRAIN_TIMEOUT = 300


def connection(url: str | None = None) -> Redis:
    """A Redis connection for this process (redis-py reconnects after a fork)."""
    url = url or current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return _connections[url]


def queue_name(kind: str, prefix: str | None = None) -> str:
    return f"{prefix or current_app.config['QUEUE_PREFIX']}-{kind}"


def marker_key(kind: str, prefix: str | None = None) -> str:
    return f"{prefix or current_app.config['QUEUE_PREFIX']}:drain-queued:{kind}"


def queues(redis: Redis, prefix: str | None = None) -> list[Queue]:
    return [Queue(queue_name(kind, prefix), connection=redis) for kind in KINDS]


def enqueue_drains(kinds: Iterable[str], redis: Redis | None = None) -> list[str]:
    """Enqueue a drain job for each kind that has none waiting; return the kinds enqueued.

    A marker key with a short TTL stands for "a drain of this kind is waiting": the job
    clears it when it starts, so one drain can wait while another runs.
    """
    redis = redis or connection()
    kinds = list(kinds)
    # One round trip for all the markers: a decision kicks mail and panel together.
    with redis.pipeline(transaction=False) as pipe:
        for kind in kinds:
            pipe.set(marker_key(kind), "1", nx=True, ex=DRAIN_TIMEOUT)
        fresh = pipe.execute()
    enqueued = []
    for kind, marked in zip(kinds, fresh, strict=True):
        if not marked:
            continue
        Queue(queue_name(kind), connection=redis).enqueue_call(
            "workers.jobs.drain",
            args=(kind,),
            timeout=DRAIN_TIMEOUT,
            result_ttl=0,
            failure_ttl=7 * 86400,
            description=f"drain {kind}",
        )
        enqueued.append(kind)
    return enqueued


def redis_warnings(redis: Redis) -> list[str]:
    """What a deployment's Redis lacks for queue data (eviction, persistence)."""
    warnings = []
    try:
        config = cast(dict[str, Any], redis.config_get("maxmemory-policy"))
        policy = config.get("maxmemory-policy")
        if policy and policy != "noeviction":
            warnings.append(
                f"Redis maxmemory-policy is {policy!r}: set it to 'noeviction' so queued "
                "jobs are never evicted"
            )
        persistence = cast(dict[str, Any], redis.config_get("appendonly"))
        save = cast(dict[str, Any], redis.config_get("save"))
        if persistence.get("appendonly") != "yes" and not save.get("save"):
            warnings.append(
                "Redis keeps nothing on disk (no AOF, no RDB): after a restart the sweep "
                "re-enqueues due work from the database, but enable appendonly yes in production"
            )
    except Exception as exc:  # noqa: BLE001 - managed Redis often forbids CONFIG
        warnings.append(f"could not read the Redis configuration ({type(exc).__name__})")
    return warnings
