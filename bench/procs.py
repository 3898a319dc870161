"""The processes a benchmark starts (gunicorn, the RQ worker) and their memory, from /proc."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The same production settings for the service and the bare app.
GUNICORN_SETTINGS = ["--workers", "2", "--worker-class", "sync", "--timeout", "30"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A child process in its own session, stopped (with its children) by its own id."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log = logdir / f"{name}.log"
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM to the process itself (gunicorn and RQ then stop their children
        cleanly), then SIGKILL to whatever is left of its process group."""
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.alive():
            self.popen.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def gunicorn(name: str, app: str, port: int, env: dict[str, str], logdir: Path) -> Process:
    command = [str(BIN / "gunicorn"), *GUNICORN_SETTINGS, "--bind", f"127.0.0.1:{port}", app]
    process = Process(name, command, env, logdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{name} exited at start:\n{process.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                return process
        except urllib.error.HTTPError:
            return process  # it answers (the bare app has no /healthz)
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{name} did not answer within 30 s:\n{process.tail()}")


def _processes() -> Iterator[tuple[int, str, list[str]]]:
    """Each process in /proc: its pid, its name and the fields of its stat after the name
    (from the state, field 3 of proc(5), on)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        yield int(entry.name), name, rest.split()


def _cpu_ticks(fields: list[str]) -> int:
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), in clock ticks.
    return sum(int(x) for x in fields[11:15])


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (no dependency)."""
    parents: dict[int, list[int]] = {}
    for child, _name, fields in _processes():
        parents.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its children it has waited for (RQ's work-horses)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return _cpu_ticks(fields) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process tree: live children count too (a work-horse still running)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


def named_cpu_seconds(prefix: str) -> float:
    """CPU time of every process whose name starts with `prefix` (PostgreSQL's: "postgres").

    Each process's own time and its exited children's (cutime, cstime): a PostgreSQL
    backend or autovacuum worker that exits during a run stays counted, in the
    postmaster's. NaN when no process has that name (PostgreSQL on another host, or a
    /proc that hides other users' processes).
    """
    ticks = [_cpu_ticks(fields) for _pid, name, fields in _processes() if name.startswith(prefix)]
    return sum(ticks) / os.sysconf("SC_CLK_TCK") if ticks else math.nan


def machine_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, /proc/stat).

    User, nice, system, irq and softirq: not idle nor iowait, nor steal (time a
    hypervisor gave to other machines); guest time is already within user.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemoryWatch:
    """Samples the peak RSS of each process in some process trees, in the background."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.roots: dict[str, tuple[int, bool]] = {}
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, label: str, pid: int, include_root: bool = True) -> None:
        self.roots[label] = (pid, include_root)
        self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample(self) -> None:
        for label, (root, include_root) in list(self.roots.items()):
            pids = descendants(root) + ([root] if include_root else [])
            peak = max((peak_rss_mb(pid) for pid in pids), default=0.0)
            self.peaks[label] = max(self.peaks.get(label, 0.0), peak)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
