"""`pip install .` (not only editable) carries the templates, migrations, static files and
compiled translations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

from babel.support import Translations

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_data_file(tmp_path: Path) -> None:
    # Built from a copy of the tree as a fresh clone has it: no compiled catalog.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "*.mo", "__pycache__", "*.egg-info", "build", "dist", "var", "instance"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
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
        "mail_templates/completion_request/body.html",
        "mail_templates/reminder/subject.txt",
        "mail_templates/_shared/request.txt",
        "panel_addon/translations/messages.pot",
        "panel_addon/translations/fr/LC_MESSAGES/messages.po",
        "workers/runner.py",
    ]
    missing = [name for name in expected if name not in names]
    assert not missing
    sources = {
        str(p.relative_to(ROOT))
        for folder in ("panel_addon", "mail_templates", "workers")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".mo")
    }
    assert sources - names == set()
    # The catalogs are compiled by the build (setup.py), not taken from the source tree.
    archive = zipfile.ZipFile(wheel)
    for language in ("fr", "en"):
        compiled = archive.read(f"panel_addon/translations/{language}/LC_MESSAGES/messages.mo")
        translations = Translations(BytesIO(compiled))
        words = translations.ngettext("%(num)d hour", "%(num)d hours", 24) % {"num": 24}
        assert words == ("24 heures" if language == "fr" else "24 hours")
    french = Translations(
        BytesIO(archive.read("panel_addon/translations/fr/LC_MESSAGES/messages.mo"))
    )
    assert french.gettext("Hello %(client_name)s,") == "Bonjour %(client_name)s,"
