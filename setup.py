"""The one build step pyproject.toml cannot declare: compiling the gettext catalogs.

Everything else about the package is in pyproject.toml. `build_catalogs` is a sub-command
of setuptools' `build` (its SubCommand protocol, docs/deployment.md): it compiles each
`panel_addon/translations/<lang>/LC_MESSAGES/messages.po` with Babel into `messages.mo`,
inside the build for a wheel (`pip install .`) and in place for an editable install
(`pip install -e .`), so the service never compiles anything at run time. The `.mo` files
are build output, never committed.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import Command, setup
from setuptools.command.build import build
from setuptools.errors import SetupError

CATALOGS = Path("panel_addon", "translations")


class build_catalogs(Command):  # noqa: N801 - setuptools names commands in lower case
    """Compile the package's gettext catalogs (.po) to the .mo files Flask-Babel reads."""

    description = "compile panel_addon/translations/*/LC_MESSAGES/messages.po to .mo"
    user_options: list[tuple[str, str | None, str]] = []

    def initialize_options(self) -> None:
        self.build_lib: str | None = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def _catalogs(self) -> list[Path]:
        return sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po"))

    def _target(self, source: Path) -> Path:
        # In place for an editable install: the package is imported from the source tree.
        mo = source.with_suffix(".mo")
        return mo if self.editable_mode else Path(str(self.build_lib), mo)

    def run(self) -> None:
        for source in self._catalogs():
            with source.open("rb") as po:
                catalog = read_po(po)
            errors = [
                f"{source}:{message.lineno}: {error}"
                for message, problems in catalog.check()
                for error in problems
            ]
            if errors:
                raise SetupError("\n".join(errors))
            target = self._target(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as mo:
                write_mo(mo, catalog)

    def get_source_files(self) -> list[str]:
        return [str(source) for source in self._catalogs()]

    def get_outputs(self) -> list[str]:
        return [str(Path(str(self.build_lib), s.with_suffix(".mo"))) for s in self._catalogs()]

    def get_output_mapping(self) -> dict[str, str]:
        if not self.editable_mode:
            return {}  # built, not copied from the source tree
        return {
            str(Path(str(self.build_lib), s.with_suffix(".mo"))): str(s.with_suffix(".mo"))
            for s in self._catalogs()
        }


class build_with_catalogs(build):  # noqa: N801 - see build_catalogs
    """setuptools' build, with the catalogs compiled after the package's files are in place."""

    sub_commands = [*build.sub_commands, ("build_catalogs", None)]


setup(cmdclass={"build": build_with_catalogs, "build_catalogs": build_catalogs})
