"""The WHMCS addon module, shipped as package data, and `panel-addon whmcs-module`.

The module's files (PHP, its templates, language files, `whmcs.json`, logo and README)
live in `intervention_signoff/` next to this file; the command writes them out in the
layout of a WHMCS root (`modules/addons/intervention_signoff/`), or into a zip with that
layout, so a host copies or unzips the result over their WHMCS installation and
activates the addon. The host's own links (their support desk, their documentation) go
into the `support` block of the written `whmcs.json`.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import click

NAME = "intervention_signoff"
INSTALL_PATH = Path("modules") / "addons" / NAME
METADATA = "whmcs.json"
# The `support` block of WHMCS's whmcs.json (developers.whmcs.com/advanced/json-file).
SUPPORT_KEYS = ("homepage", "learn_more", "email", "support_url", "docs_url")


def metadata(support: Mapping[str, str | None] | None = None) -> bytes:
    """`whmcs.json` as shipped, with a `support` block of the values given (none: as is)."""
    source = (resources.files(__package__) / NAME / METADATA).read_bytes()
    links = {key: value for key, value in (support or {}).items() if value}
    if not links:
        return source
    unknown = set(links) - set(SUPPORT_KEYS)
    if unknown:
        raise ValueError(f"not a whmcs.json support key: {', '.join(sorted(unknown))}")
    meta = json.loads(source)
    ordered: dict[str, object] = {}
    for key, value in meta.items():
        if key == "authors":  # WHMCS's order: ... logo, support, authors
            ordered["support"] = {k: links[k] for k in SUPPORT_KEYS if k in links}
        if key != "support":
            ordered[key] = value
    ordered.setdefault("support", {k: links[k] for k in SUPPORT_KEYS if k in links})
    return (json.dumps(ordered, indent=4, ensure_ascii=False) + "\n").encode()


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


def write(target: Path, support: Mapping[str, str | None] | None = None) -> list[Path]:
    """Write the module under `target` (a WHMCS root) and return the files written.

    Files of an older copy are replaced; files the host added to the folder are left.
    `support` fills whmcs.json's `support` block (see `metadata`).
    """
    source = resources.files(__package__) / NAME
    destination = Path(target) / INSTALL_PATH
    written = []
    for name in files():
        path = destination / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == METADATA:
            path.write_bytes(metadata(support))
        else:
            with resources.as_file(source.joinpath(*name.split("/"))) as original:
                shutil.copyfile(original, path)
        path.chmod(0o644)
        written.append(path)
    return written


def write_zip(archive: Path, support: Mapping[str, str | None] | None = None) -> list[str]:
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
            if name == METADATA:
                content = metadata(support)
            else:
                content = source.joinpath(*name.split("/")).read_bytes()
            bundle.writestr(entry, content)
            names.append(entry.filename)
    return names


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not re.match(r"^https?://[^/\s]+\S*$", value):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


def _email(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
        raise click.BadParameter(f"{value!r} is not an email address")
    return value


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
@click.option(
    "--service-url",
    envvar="PANEL_ADDON_PUBLIC_URL",
    show_envvar=True,
    callback=_url,
    help="The service's public URL: its home page (what it is, its version and health) "
    "is the module's homepage in WHMCS. Default: PANEL_ADDON_PUBLIC_URL when set.",
)
@click.option(
    "--support-url",
    callback=_url,
    help="Where your admins get help with the module: your support desk or internal wiki.",
)
@click.option(
    "--support-email",
    callback=_email,
    help="Who your admins write to about the module (your technical team).",
)
@click.option(
    "--docs-url",
    callback=_url,
    help="Where your admins read how to use the module: your copy of docs/whmcs-module.md.",
)
@click.option(
    "--learn-more-url",
    callback=_url,
    help="A page about the service for your admins. Default: --docs-url.",
)
def whmcs_module_command(
    target: Path | None,
    archive: Path | None,
    service_url: str | None,
    support_url: str | None,
    support_email: str | None,
    docs_url: str | None,
    learn_more_url: str | None,
) -> None:
    """Write the WHMCS addon module, ready to copy into WHMCS and activate.

    The links given are shown with the module in WHMCS (whmcs.json's `support` block);
    without any, whmcs.json has none.
    """
    if (target is None) == (archive is None):
        raise click.UsageError("give either --target DIRECTORY or --zip FILE")
    support = {
        "homepage": f"{service_url.rstrip('/')}/" if service_url else None,
        "learn_more": learn_more_url or docs_url,
        "email": support_email,
        "support_url": support_url,
        "docs_url": docs_url,
    }
    if archive is not None:
        count = len(write_zip(archive, support))
        click.echo(f"{archive}: {count} files under {INSTALL_PATH.as_posix()}/")
    else:
        assert target is not None
        written = write(target, support)
        for path in written:
            click.echo(str(path))
        count = len(written)
    links = {key: value for key, value in support.items() if value}
    click.echo(
        f"whmcs.json support links: {', '.join(f'{k} {v}' for k, v in links.items())}"
        if links
        else "whmcs.json has no support links (see --support-url, --docs-url, --service-url)."
    )
    click.echo(
        f"\n{count} files written. In WHMCS: Setup > Addon Modules > Intervention "
        "sign-off > Activate, then Configure (service URL, webhook secret, staff API token) "
        "and give your technicians' admin roles access. See docs/whmcs-module.md."
    )
