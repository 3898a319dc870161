"""bench/run --quick runs end to end and prints its summary; the figures are not checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import POSTGRES_URL, REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = (
    "webhook_ratio",
    "page_ratio",
    "decision_ratio",
    "webhook_rps",
    "page_rps",
    "decision_rps",
    "webhook_cpu_ms",
    "page_cpu_ms",
    "decision_cpu_ms",
    "p99_ms",
    "mail_ratio",
    "sweep_growth",
    "list_growth",
    "eligibility_growth",
    "counts_growth",
    "web_rss_mb",
    "worker_rss_mb",
    "massday_mail_s",
    "massday_check_s",
    "massday_check_ratio",
)


def _bench(*command: str, timeout: float) -> str:
    """Run a bench command against the tests' PostgreSQL and Redis; return its stdout."""
    env = dict(
        os.environ,
        BENCH_PYTHON=sys.executable,
        BENCH_POSTGRES_URL=POSTGRES_URL,
        BENCH_REDIS_URL=REDIS_URL,
    )
    run = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run.stdout


def test_the_quick_benchmark_prints_every_summary_figure() -> None:
    stdout = _bench(str(ROOT / "bench" / "run"), "--quick", timeout=180)
    last = stdout.strip().splitlines()[-len(SUMMARY) :]
    assert [line.split(":")[0] for line in last] == list(SUMMARY), stdout[-3000:]
    for line in last:
        assert re.fullmatch(r"[a-z0-9_]+: \S+", line), line


def test_the_cpu_profile_of_a_decision_runs_and_every_decision_lands() -> None:
    profile = (sys.executable, "-m", "bench.profile", "decision", "40", "--cprofile")
    stdout = _bench(*profile, timeout=120)
    assert "# 20 requests, statuses {'303 SEE OTHER': 20}" in stdout, stdout[-3000:]
    assert "panel_addon/domain/lifecycle.py" in stdout and "# CPU per request" in stdout
