"""`panel-addon`: a newcomer's first commands work with no setting at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "panel-addon"


def _bare(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`panel-addon ARGS` in an empty folder with no PANEL_ADDON_* setting."""
    return subprocess.run(
        [str(BIN), *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _readme_commands() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(r"^\| `panel-addon ([a-z][a-z-]*)", readme, re.MULTILINE))


def test_the_help_lists_every_command_of_the_readme_without_settings(tmp_path: Path) -> None:
    answer = _bare("--help", tmp_path=tmp_path)

    assert answer.returncode == 0, answer.stderr
    assert answer.stderr == ""
    commands = answer.stdout.partition("\nCommands:\n")[2]
    listed = set(re.findall(r"^  ([a-z][a-z-]*)  ", commands, re.MULTILINE))
    documented = _readme_commands()
    assert {"db", "run", "worker", "check", "sweep", "simulate", "whmcs-module"} <= documented
    assert documented <= listed, documented - listed
    # Every listed command is in the README too: nothing a newcomer meets is unexplained.
    assert listed - {"routes", "shell"} <= documented, listed - documented


@pytest.mark.parametrize(
    "command",
    [
        "db",
        "run",
        "worker",
        "check",
        "sweep",
        "simulate",
        "whmcs-module",
        "limiter",
    ],
)
def test_each_commands_help_needs_no_setting(command: str, tmp_path: Path) -> None:
    answer = _bare(*command.split(), "--help", tmp_path=tmp_path)

    assert answer.returncode == 0, answer.stderr
    assert "Traceback" not in answer.stderr
    assert answer.stdout.startswith(f"Usage: panel-addon {command}")


def test_a_missing_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    answer = _bare("check", tmp_path=tmp_path)

    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
    assert "PANEL_ADDON_SECRET_KEY is required" in answer.stderr


def test_the_version_is_shown(tmp_path: Path) -> None:
    answer = _bare("--version", tmp_path=tmp_path)

    assert answer.returncode == 0
    assert re.fullmatch(r"panel-addon, version \d+\.\d+\.\d+\S*\n", answer.stdout)
