"""The WHMCS addon module, shipped as package data, and `panel-addon whmcs-module`.

The PHP files live in `intervention_signoff/` next to this file; the command writes them
out in the layout of a WHMCS root (`modules/addons/intervention_signoff/`), so a host
copies the result over their WHMCS installation and activates the addon.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import click

NAME = "intervention_signoff"
INSTALL_PATH = Path("modules") / "addons" / NAME


def files() -> list[str]:
    """The module's files, relative to its folder (`hooks.php`, `lib/Client.php`...)."""
    root = resources.files(__package__) / NAME
    found: list[str] = []

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".php"):
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


@click.command("whmcs-module")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A WHMCS root (or an empty folder to copy from): the module goes to "
    "TARGET/modules/addons/intervention_signoff/.",
)
def whmcs_module_command(target: Path) -> None:
    """Write the WHMCS addon module, ready to copy into WHMCS and activate."""
    written = write(target)
    for path in written:
        click.echo(str(path))
    click.echo(
        f"\n{len(written)} files written. In WHMCS: Setup > Addon Modules > Intervention "
        "sign-off > Activate, then Configure (service URL, webhook secret, staff API token) "
        "and give your technicians' admin roles access. See docs/whmcs-module.md."
    )
