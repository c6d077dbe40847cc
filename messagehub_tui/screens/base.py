"""The screens' typed handle on the app that runs them."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    # Only for the type: app.py imports the screens, so a run-time import would be a cycle.
    from messagehub_tui.app import MessagehubApp


class HubScreen(Screen[None]):
    """A screen of this app: `self.hub` is `self.app` typed as `MessagehubApp`."""

    @property
    def hub(self) -> MessagehubApp:
        """Textual types `self.app` as a plain `App`; this app's own attributes (settings,
        perform, clock, …) are reached here, the one place that says which app it is."""
        return cast("MessagehubApp", self.app)
