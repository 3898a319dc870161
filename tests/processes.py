"""Running the real service: `panel-addon run` and `panel-addon worker` as child processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .support import free_port

BIN = Path(sys.executable).parent / "panel-addon"
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class Service:
    """The web process and the worker, with settings given as PANEL_ADDON_* variables."""

    def __init__(self, settings: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PANEL_ADDON_")}
        self.env.update(_settings_env(settings))
        self.env["PANEL_ADDON_PUBLIC_URL"] = self.url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def _spawn(
        self,
        name: str,
        *args: str,
        settings: dict[str, Any] | None = None,
        program: list[str] | None = None,
    ) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [*(program or [str(BIN)]), *args],
            env={**self.env, **_settings_env(settings or {})},
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start_web(self, **settings: Any) -> None:
        """`panel-addon run`; `settings` override the service's for this process only."""
        self._spawn("web", "run", "--port", str(self.port), "--no-reload", settings=settings)
        wait_for(self._healthy, timeout=30, what="the web process")

    def start_worker(self, **settings: Any) -> None:
        self._spawn("worker", "worker", settings=settings)

    def start_gunicorn(self, workers: int = 4, threads: int = 4, **settings: Any) -> None:
        """The web side under gunicorn (`wsgi:app`), several processes of several threads."""
        self._spawn(
            "web",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "2",
            # Access lines in web.log (read by the tests); no control socket shared in $HOME.
            "--access-logfile",
            "-",
            "--no-control-socket",
            "wsgi:app",
            settings=settings,
            program=[sys.executable, "-m", "gunicorn"],
        )
        wait_for(self._healthy, timeout=30, what="gunicorn")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:  # noqa: S310
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def crash(self, name: str) -> None:
        """SIGKILL the process and every process it started, at once (an OOM kill, a lost
        machine). RQ's work horse sits in a process group of its own: killpg misses it."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        frozen: set[int] = set()
        while tree := {proc.pid, *_descendants(proc.pid)} - frozen:
            for pid in tree:  # frozen first, so nothing forks while the tree is collected
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            frozen |= tree
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))


def _settings_env(settings: dict[str, Any]) -> dict[str, str]:
    return {
        f"PANEL_ADDON_{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.items()
    }


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
