"""A screen refreshed from the database: a timer only starts an exclusive thread worker."""

from __future__ import annotations

from typing import Generic

from messagehub_tui.screens.base import Data, HubScreen


class PollingScreen(HubScreen, Generic[Data]):
    """Subclasses give `fetch()` (runs in a thread, no widgets) and `apply(data)` (UI thread)."""

    def start_polling(self, slower: float = 1) -> None:
        """Refresh now and every `slower` × `app.refresh_every` seconds while this screen is on
        top."""
        self.set_interval(self.hub.refresh_every * slower, self.poll)
        self.poll()

    def on_screen_resume(self) -> None:
        self.poll()

    def poll(self) -> None:
        """Skip the tick while a modal or another screen covers this one."""
        if self.app.screen is self:
            self.read(self.fetch, self.apply, group=f"poll-{type(self).__name__}")

    def fetch(self) -> Data:
        raise NotImplementedError

    def apply(self, data: Data) -> None:
        raise NotImplementedError
