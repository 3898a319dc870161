"""`pip install .` (not only editable) carries the templates, migrations and static files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_data_file(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        "panel_addon/migrations/env.py",
        "panel_addon/migrations/alembic.ini",
        "panel_addon/migrations/script.py.mako",
        "panel_addon/migrations/versions/0001_initial.py",
        "panel_addon/templates/link.html",
        "panel_addon/static/app.css",
        "mail_templates/completion_request/fr/body.html",
        "mail_templates/reminder/en/subject.txt",
        "workers/runner.py",
    ]
    missing = [name for name in expected if name not in names]
    assert not missing
    sources = {
        str(p.relative_to(ROOT))
        for folder in ("panel_addon", "mail_templates", "workers")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert sources - names == set()
