"""What every screen of this app shares: a typed handle on the app, and reading the database
in a thread worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from messagehub_tui.models import db

if TYPE_CHECKING:
    # Only for the type: app.py imports the screens, so a run-time import would be a cycle.
    from messagehub_tui.app import MessagehubApp

Data = TypeVar("Data")


class HubScreen(Screen[None]):
    """A screen of this app: `self.hub` is `self.app` typed as `MessagehubApp`."""

    @property
    def hub(self) -> MessagehubApp:
        """Textual types `self.app` as a plain `App`; this app's own attributes (settings,
        perform, clock, …) are reached here, the one place that says which app it is."""
        return cast("MessagehubApp", self.app)

    def read(self, job: Callable[[], Data], then: Callable[[Data], object],
             group: str) -> Worker[None]:
        """Run `job` (service calls, never widgets) in a thread worker with its own database
        connection, then `then(result)` on the UI thread. A newer read of the same group replaces
        one still running, so an old answer never overwrites a newer one. Errors reach the app's
        central handler (app.perform is the same for actions)."""
        def run() -> None:
            worker = get_current_worker()
            with db.connection_context():
                data = job()
            self.app.call_from_thread(deliver, worker, data)

        def deliver(worker: Worker[None], data: Data) -> None:
            # Cancelling a thread worker cannot stop its thread: a replaced read still ends
            # here. Checked on the UI thread, where replacing happens, so no answer slips by.
            if not worker.is_cancelled:
                then(data)
        return self.run_worker(run, thread=True, exclusive=True, group=group,
                               exit_on_error=False)
