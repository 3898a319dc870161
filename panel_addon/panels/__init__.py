"""The hosting panel behind a small interface: which one is configured, and its errors.

The service talks to a panel only through ``Panel`` (panels/interface.py); each panel is
one module here whose class builds itself from the settings. ``configured_panel`` asks
each in turn. Our line in the client's admin notes is panel-agnostic text
(panels/notes.py). docs/architecture.md ("Adding a panel") says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .interface import Panel, PanelError, PermissionProbe
from .whmcs import WhmcsClient

__all__ = ["PANELS", "Panel", "PanelError", "PermissionProbe", "configured_panel"]

# Each panel's builder: its instance from the settings, or None when they do not name it.
PANELS: tuple[Callable[[Mapping[str, Any]], Panel | None], ...] = (
    WhmcsClient.from_config,  # WHMCS_URL, WHMCS_IDENTIFIER, WHMCS_SECRET...
)


def configured_panel(config: Mapping[str, Any]) -> Panel | None:
    """The panel the settings configure (the first of PANELS that builds); None when none is.

    Raises ValueError when a panel's settings are set but incomplete.
    """
    for build in PANELS:
        panel = build(config)
        if panel is not None:
            return panel
    return None
