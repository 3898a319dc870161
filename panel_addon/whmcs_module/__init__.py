"""The WHMCS addon module, shipped as package data, and `panel-addon whmcs-module`.

The module's files (PHP, its templates, language files, `whmcs.json`, logo and README)
live in `intervention_signoff/` next to this file; the command writes them out in the
layout of a WHMCS root (`modules/addons/intervention_signoff/`), or into a zip with that
layout, so a host copies or unzips the result over their WHMCS installation and
activates the addon.
"""

from __future__ import annotations

import shutil
import zipfile
from importlib import resources
from pathlib import Path

import click

NAME = "intervention_signoff"
INSTALL_PATH = Path("modules") / "addons" / NAME


def files() -> list[str]:
    """Every file of the module, relative to its folder (`hooks.php`, `whmcs.json`...)."""
    root = resources.files(__package__) / NAME
    found: list[str] = []

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name != "__init__.py" and not child.name.endswith(".pyc"):
                found.append(f"{prefix}{child.name}")

    walk(root, "")
    return found


def write(target: Path) -> list[Path]:
    """Write the module under `target` (a WHMCS root) and return the files written.

    Files of an older copy are replaced; files the host added to the folder are left.
    """
    source = resources.files(__package__) / NAME
    destination = Path(target) / INSTALL_PATH
    written = []
    for name in files():
        path = destination / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with resources.as_file(source.joinpath(*name.split("/"))) as original:
            shutil.copyfile(original, path)
        path.chmod(0o644)
        written.append(path)
    return written


def write_zip(archive: Path) -> list[str]:
    """Write the module into a zip laid out as a WHMCS root; return the names it holds.

    Unzipped at the WHMCS root, it puts the module in `modules/addons/intervention_signoff/`.
    """
    source = resources.files(__package__) / NAME
    names = []
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name in files():
            entry = zipfile.ZipInfo(f"{INSTALL_PATH.as_posix()}/{name}", (2026, 1, 1, 0, 0, 0))
            entry.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            entry.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(entry, source.joinpath(*name.split("/")).read_bytes())
            names.append(entry.filename)
    return names


@click.command("whmcs-module")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A WHMCS root (or an empty folder to copy from): the module goes to "
    "TARGET/modules/addons/intervention_signoff/.",
)
@click.option(
    "--zip",
    "archive",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the module into this zip instead, laid out as a WHMCS root: unzip it "
    "in the WHMCS folder (or upload it with your hosting panel's file manager).",
)
def whmcs_module_command(target: Path | None, archive: Path | None) -> None:
    """Write the WHMCS addon module, ready to copy into WHMCS and activate."""
    if (target is None) == (archive is None):
        raise click.UsageError("give either --target DIRECTORY or --zip FILE")
    if archive is not None:
        count = len(write_zip(archive))
        click.echo(f"{archive}: {count} files under {INSTALL_PATH.as_posix()}/")
    else:
        assert target is not None
        written = write(target)
        for path in written:
            click.echo(str(path))
        count = len(written)
    click.echo(
        f"\n{count} files written. In WHMCS: Setup > Addon Modules > Intervention "
        "sign-off > Activate, then Configure (service URL, webhook secret, staff API token) "
        "and give your technicians' admin roles access. See docs/whmcs-module.md."
    )
