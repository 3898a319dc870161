"""`panel-addon worker`: RQ workers for every queue, plus the sweep that finds due work."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from panel_addon import outbox, queues

from . import jobs

log = logging.getLogger(__name__)


class _Worker(Worker):
    """RQ's worker, told apart: asked to stop, or gone because Redis went away."""

    # RQ backs off up to a minute between tries to reach Redis; work is due sooner.
    max_connection_wait_time = 2.0
    stop_asked = False

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)


def sweep_once(app: Flask) -> list[str]:
    """Enqueue a drain for every kind with due work; return those kinds."""
    with app.app_context():
        return outbox.sweep(queues.connection())


def sweep_forever(app: Flask, parent: int) -> None:
    """Sweep every SWEEP_INTERVAL while the worker that started us lives.

    Database or Redis faults only delay the next pass. The worker ends this process
    with SIGTERM; a sweep cut short has written nothing but enqueued drains.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interval = app.config["SWEEP_INTERVAL"].total_seconds()
    failing = False
    while os.getppid() == parent:
        try:
            sweep_once(app)
            if failing:
                log.info("sweep works again")
            failing = False
        except Exception as exc:  # noqa: BLE001 - keep sweeping; the next pass retries
            if not failing:
                log.warning("sweep failed (%s); retrying every %.0fs", type(exc).__name__, interval)
            failing = True
        time.sleep(interval)


def run(app: Flask, burst: bool = False) -> None:
    """Run the worker until stopped (or, with burst, until no work is due)."""
    jobs.set_app(app)
    redis = queues.connection(app.config["REDIS_URL"])
    with app.app_context():
        for warning in queues.redis_warnings(redis):
            log.warning(warning)
        worker_queues = queues.queues(redis)
    if burst:
        worker = Worker(worker_queues, connection=redis)
        while True:
            due = sweep_once(app)
            with app.app_context():
                worker.work(burst=True, logging_level="WARNING")
            if not due and not sweep_once(app):
                return
            # Work done in this round may have made more work due (a lapse writes a note).
            time.sleep(0.05)

    ctx = multiprocessing.get_context("fork")
    sweeper = ctx.Process(target=sweep_forever, args=(app, os.getpid()), name="panel-addon-sweep")
    sweeper.start()
    # Site snapshots wait on clients' sites for up to a minute; they get a worker of
    # their own so mail, panel calls and deadlines never queue behind them.
    slow = [q for q in worker_queues if q.name in _separate_queues(app)]
    fast = [q for q in worker_queues if q not in slow]
    helper = None
    if slow:
        helper = ctx.Process(target=_work_in_app, args=(app, slow, redis), name="panel-addon-site")
        helper.start()
    log.info(
        "worker started (pid %s), sweeping every %s", os.getpid(), app.config["SWEEP_INTERVAL"]
    )
    try:
        with app.app_context():
            work_until_stopped(fast, redis)
    finally:
        sweeper.terminate()
        sweeper.join(timeout=5)
        if helper is not None:
            helper.terminate()
            helper.join(timeout=300)
            if helper.is_alive():
                helper.kill()


def _separate_queues(app: Flask) -> set[str]:
    """Queues served by their own worker process."""
    with app.app_context():
        return {queues.queue_name("site")}


def _work_in_app(app: Flask, worker_queues: list[Any], redis: Redis) -> None:
    with app.app_context():
        work_until_stopped(worker_queues, redis)


def work_until_stopped(worker_queues: list[Any], redis: Redis) -> None:
    """Run RQ's worker until SIGTERM or SIGINT, starting it again after a Redis outage.

    RQ's worker quits when Redis goes away mid-job or at a heartbeat; the due work is
    safe in the database, but nothing would run it any more. So wait for Redis and go on.
    """
    while True:
        worker = _Worker(worker_queues, connection=redis)
        try:
            worker.work(logging_level="INFO")
        except RedisError as exc:
            log.warning("Redis is unreachable (%s)", type(exc).__name__)
        if worker.stop_asked:
            return
        log.warning("the worker lost Redis; it starts again as soon as Redis answers")
        _wait_for_redis(redis)


def _wait_for_redis(redis: Redis) -> None:
    while True:
        try:
            redis.ping()
            return
        except RedisError:
            time.sleep(1)
