"""The Textual app: screens, the scheduler while open, campaign workers, the central error
handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial

from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from messagehub_tui import control
from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.follow import wait_until
from messagehub_tui.models import ACTIVE, Campaign, db
from messagehub_tui.screens.campaigns import CampaignsScreen
from messagehub_tui.screens.dialogs import QuitDialog
from messagehub_tui.screens.help import HelpScreen
from messagehub_tui.web.serving import Endpoint, start_endpoint
from messagehub_tui.workers.daemon import daemon_pid
from messagehub_tui.workers.scheduler import CampaignScheduler
from messagehub_tui.workers.supervisor import recover

FOLLOW_EVERY = 0.1
NOTIFY_SECONDS = 3.0


class CampaignLaunched(Message):
    """A campaign's runners were started from this app."""

    def __init__(self, campaign_id: int, text: str):
        super().__init__()
        self.campaign_id, self.text = campaign_id, text


class CampaignFinished(Message):
    """A campaign followed by this app left queued/running."""

    def __init__(self, campaign_id: int, status: str, last_error: str | None):
        super().__init__()
        self.campaign_id, self.status, self.last_error = campaign_id, status, last_error


class MessagehubApp(App):
    """messagehub-tui: campaigns from the keyboard."""

    CSS_PATH = "app.tcss"
    TITLE = "messagehub"

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None,
                 run_scheduler: bool = True, refresh_every: float = 1.0):
        super().__init__()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self.refresh_every = refresh_every
        self.scheduler = CampaignScheduler(settings, supervise=True) if run_scheduler else None
        self.active_count = 0
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

    def on_unmount(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.endpoint is not None:
            self.endpoint.stop()

    def perform(self, name: str, job: Callable, done: Callable | None = None,
                failed: Callable[[Exception], None] | None = None) -> Worker:
        """Run a service call in a thread worker; `done(result)` or `failed(error)` run on the UI
        thread after, and the central handler reports any error."""
        def run():
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

    def notify(self, message: str, *, title: str = "", severity="information",
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
        runners = result.runners

        def stopped(campaign: Campaign) -> bool:
            # Runners that all exited without settling it: recover marks it interrupted.
            if campaign.status in ACTIVE and runners \
                    and all(runner.poll() is not None for runner in runners):
                recover(self.settings)
            return campaign.status not in ACTIVE or worker.is_cancelled

        with db.connection_context():
            campaign = wait_until(campaign_id, stopped, poll=FOLLOW_EVERY)
        if campaign.status not in ACTIVE:
            self.post_message(CampaignFinished(campaign_id, campaign.status, campaign.last_error))

    def on_campaign_launched(self, message: CampaignLaunched) -> None:
        self.notify(message.text)

    def on_campaign_finished(self, message: CampaignFinished) -> None:
        text = f"campaign {message.campaign_id} {message.status}"
        if message.last_error:
            text += f": {message.last_error}"
        bad = message.status == "interrupted" or message.last_error
        self.notify(text, severity="error" if bad else "information",
                    timeout=2 * NOTIFY_SECONDS if bad else None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is also a command in the palette."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if binding.description:
                key = self.get_key_display(binding)  # "/" and "?", as the footer shows them
                yield SystemCommand(binding.tooltip or binding.description, f"key: {key}",
                                    partial(screen.run_action, binding.action))

    async def action_quit(self) -> None:
        """Leave at once when nothing runs; otherwise ask what to do with the running campaigns."""
        self.perform("quit", _active_ids, self._ask_before_quitting)

    def _ask_before_quitting(self, active: list[int]) -> None:
        if not active:
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "keep":
                self.exit()
            elif choice == "pause":
                self.perform("pause all", lambda: [control.pause(self.settings, cid)
                                                   for cid in active],
                             lambda _: self.exit())

        self.push_screen(QuitDialog(len(active)), chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def _active_ids() -> list[int]:
    """Campaigns still queued or running (one indexed query)."""
    return [c.id for c in Campaign.select(Campaign.id)
            .where(Campaign.status.in_(list(ACTIVE)))]


def create_app(settings: Settings, **options) -> MessagehubApp:
    """The app for a home whose database is open; shared by the CLI and the tests."""
    return MessagehubApp(settings, **options)
