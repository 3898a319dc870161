"""Drive an HTTP server with prebuilt requests: wrk where installed, else a Python fallback.

Requests are written to a file, one per line (`METHOD<tab>PATH<tab>BODY<tab>Name: value`...),
so the service and the bare app get byte-for-byte the same requests from the same tool.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
Request = tuple[str, str, str, dict[str, str]]


@dataclass
class Result:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    repeats: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for method, target, body, headers in requests:
            fields = [method, target, body, *(f"{k}: {v}" for k, v in headers.items())]
            if any("\t" in f or "\n" in f for f in fields):
                raise ValueError("a request field holds a tab or a line break")
            out.write("\t".join(fields) + "\n")
            count += 1
    return count


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(
    base_url: str, requests_file: Path, connections: int, seconds: float, cycle: bool = False
) -> Result:
    """Send the file's requests for `seconds` over `connections` connections."""
    if have_wrk():
        return _run_wrk(base_url, requests_file, connections, seconds, cycle)
    return _run_python(base_url, requests_file, connections, seconds, cycle)


def _run_wrk(base_url: str, path: Path, connections: int, seconds: float, cycle: bool) -> Result:
    threads = min(2, connections)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(HERE / "replay.lua"), base_url,
        "--", str(path), str(threads), *(["cycle"] if cycle else []),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    match = re.search(r"^BENCH (.*)$", out.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    values = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return Result(
        tool="wrk",
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        errors=values["socket_errors"] + values["status_errors"],
        repeats=values["exhausted"],
    )


def _run_python(base_url: str, path: Path, connections: int, seconds: float, cycle: bool) -> Result:
    """A small threaded load generator: slower than wrk, so it caps the rates it can show."""
    host, port = re.match(r"http://([^:/]+):(\d+)", base_url).groups()  # type: ignore[union-attr]
    lines = path.read_text(encoding="utf-8").splitlines()
    shares = [lines[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    repeats = [0] * connections
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn: http.client.HTTPConnection | None = None
        share = shares[n] or lines
        i = sent = 0
        while time.monotonic() < stop_at:
            if i >= len(share):
                i = 0
            sent += 1
            if not cycle and sent > len(share):
                repeats[n] += 1
            method, target, body, *headers = share[i].split("\t")
            i += 1
            fields = dict(h.split(": ", 1) for h in headers)
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request(method, target, body=body.encode() if body else None, headers=fields)
                answer = conn.getresponse()
                answer.read()
                if answer.status >= 400:
                    errors[n] += 1
                if answer.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            latencies[n].append(time.perf_counter() - started)

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    every = sorted(x for part in latencies for x in part)
    if not every:
        return Result("python", 0, elapsed, 0.0, 0.0, sum(errors), sum(repeats))
    cuts = statistics.quantiles(every, n=100) if len(every) > 1 else [every[0]] * 99
    return Result(
        tool="python",
        requests=len(every),
        seconds=elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        errors=sum(errors),
        repeats=sum(repeats),
    )
