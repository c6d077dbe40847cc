"""The Textual app: screens, the scheduler while open, campaign workers, the central error
handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from messagehub_tui import control, views
from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.follow import follow_runners
from messagehub_tui.models import ACTIVE, CampaignStatus, db
from messagehub_tui.screens.campaigns import CampaignsScreen
from messagehub_tui.screens.dialogs import QuitChoice, QuitDialog
from messagehub_tui.screens.help import HelpScreen
from messagehub_tui.web.serving import Endpoint, start_endpoint, unserved_warning
from messagehub_tui.workers.daemonlock import daemon_pid
from messagehub_tui.workers.scheduler import CampaignScheduler

FOLLOW_EVERY = 0.1
NOTIFY_SECONDS = 3.0

Result = TypeVar("Result")


class CampaignLaunched(Message):
    """A campaign's runners were started from this app."""

    def __init__(self, campaign_id: int, text: str) -> None:
        super().__init__()
        self.campaign_id, self.text = campaign_id, text


class CampaignFinished(Message):
    """A campaign followed by this app left queued/running."""

    def __init__(self, campaign_id: int, status: CampaignStatus, last_error: str | None) -> None:
        super().__init__()
        self.campaign_id, self.status, self.last_error = campaign_id, status, last_error


class MessagehubApp(App[None]):
    """messagehub-tui: campaigns from the keyboard."""

    CSS_PATH = "app.tcss"
    TITLE = "messagehub"
    # `?` types a "?" while a field has the focus (the contacts screen opens in one): F1 opens
    # help from anywhere. Hidden: the footers name `?` already, at no cost to their width.
    BINDINGS = [Binding("f1", "help", "Help", show=False)]

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None,
                 run_scheduler: bool = True, refresh_every: float = 1.0) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self.refresh_every = refresh_every
        self.scheduler = CampaignScheduler(settings, supervise=True) if run_scheduler else None
        self.endpoint: Endpoint | None = None

    @property
    def outbox_only(self) -> bool:
        return self.settings.email.transport == "outbox" and self.settings.sms.transport == "outbox"

    def on_mount(self) -> None:
        self.push_screen(CampaignsScreen())
        if self.scheduler is not None:
            self.scheduler.start()
        # [web] listen is served here only while no daemon runs for this home
        self.endpoint = start_endpoint(self.settings,
                                       lambda: daemon_pid(self.settings) is None)
        if self.endpoint is not None and self.settings.web.listen_warning:
            self.notify(self.settings.web.listen_warning, severity="warning",
                        timeout=2 * NOTIFY_SECONDS)
        if self.endpoint is not None:
            endpoint = self.endpoint
            self.perform("web", lambda: unserved_warning(endpoint), self._say_unserved)

    def _say_unserved(self, unserved: str | None) -> None:
        if unserved:
            self.notify(unserved, severity="warning", timeout=4 * NOTIFY_SECONDS)

    def on_unmount(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.endpoint is not None:
            self.endpoint.stop()

    def perform(self, name: str, job: Callable[[], Result],
                done: Callable[[Result], object] | None = None,
                failed: Callable[[Exception], object] | None = None) -> Worker[Result]:
        """Run a service call in a thread worker; `done(result)` or `failed(error)` run on the UI
        thread after, and the central handler reports any error."""
        def run() -> Result:
            try:
                with db.connection_context():
                    result = job()
            except Exception as exc:
                if failed is not None:
                    self.call_from_thread(failed, exc)
                raise
            if done is not None:
                self.call_from_thread(done, result)
            return result
        return self.run_worker(run, name=name, thread=True, exit_on_error=False, group="perform")

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry campaign names and server replies: never read them as markup.
        They go quickly (and only the newest shows, see app.tcss) to keep 80x24 readable."""
        super().notify(message, title=title, severity=severity,
                       timeout=NOTIFY_SECONDS if timeout is None else timeout, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors reach the user."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, MessagehubError) else \
            f"{event.worker.name} failed: {type(error).__name__}: {error}"
        self.notify(text, severity="error", timeout=2 * NOTIFY_SECONDS)

    def start_campaign(self, campaign_id: int, start: Callable[[Settings, int],
                       control.LaunchResult] = control.launch) -> None:
        """Start a campaign's runners with `start` (launch, resume or a retry) and follow the
        campaign until it stops, in a thread worker."""
        self.run_worker(partial(self._launch_and_follow, campaign_id, start),
                        name=f"campaign {campaign_id}", thread=True, exit_on_error=False,
                        group="campaigns")

    def _launch_and_follow(self, campaign_id: int,
                           start: Callable[[Settings, int], control.LaunchResult]) -> None:
        worker = get_current_worker()
        with db.connection_context():
            result = start(self.settings, campaign_id)
        self.post_message(CampaignLaunched(campaign_id, result.message))
        with db.connection_context():
            campaign = follow_runners(self.settings, campaign_id, result.runners,
                                      lambda: worker.is_cancelled, poll=FOLLOW_EVERY)
        if campaign.status not in ACTIVE:
            self.post_message(CampaignFinished(campaign_id, CampaignStatus(campaign.status),
                                               campaign.last_error))

    def on_campaign_launched(self, message: CampaignLaunched) -> None:
        self.notify(message.text)

    def on_campaign_finished(self, message: CampaignFinished) -> None:
        text = f"campaign {message.campaign_id} {message.status}"
        if message.last_error:
            text += f": {message.last_error}"
        bad = message.status == CampaignStatus.INTERRUPTED or message.last_error
        self.notify(text, severity="error" if bad else "information",
                    timeout=2 * NOTIFY_SECONDS if bad else None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is also a command in the palette."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                key = self.get_key_display(binding)  # "/" and "?", as the footer shows them
                yield SystemCommand(binding.tooltip or binding.description, f"key: {key}",
                                    partial(screen.run_action, binding.action))

    async def action_quit(self) -> None:
        """Leave at once when nothing runs; otherwise ask what to do with the running campaigns."""
        self.perform("quit", views.active_ids, self._ask_before_quitting)

    def _ask_before_quitting(self, active: list[int]) -> None:
        if not active:
            self.exit()
            return

        def chosen(choice: QuitChoice | None) -> None:
            if choice == QuitChoice.KEEP:
                self.exit()
            elif choice == QuitChoice.PAUSE:
                self.perform("pause all", lambda: [control.pause(self.settings, cid)
                                                   for cid in active],
                             lambda _: self.exit())

        self.push_screen(QuitDialog(len(active)), chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def create_app(settings: Settings, **options: Any) -> MessagehubApp:
    """The app for a home whose database is open; shared by the CLI and the tests."""
    return MessagehubApp(settings, **options)
