"""A screen refreshed from the database: a timer only starts an exclusive thread worker."""

from __future__ import annotations

from typing import Generic, TypeVar

from messagehub_tui.models import db
from messagehub_tui.screens.base import HubScreen

Data = TypeVar("Data")


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
            self.run_worker(self._fetch_and_apply, thread=True, exclusive=True,
                            group=f"poll-{type(self).__name__}", exit_on_error=False)

    def _fetch_and_apply(self) -> None:
        with db.connection_context():
            data = self.fetch()
        self.app.call_from_thread(self.apply, data)

    def fetch(self) -> Data:
        raise NotImplementedError

    def apply(self, data: Data) -> None:
        raise NotImplementedError
