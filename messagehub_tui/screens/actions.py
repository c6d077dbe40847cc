"""What the launcher and the monitor share: acting on one campaign, and asking first when a
step cannot be undone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic

from messagehub_tui import confirmations, control
from messagehub_tui.config import Settings
from messagehub_tui.screens.dialogs import ConfirmDialog
from messagehub_tui.screens.polling import Data, PollingScreen


class CampaignActionsScreen(PollingScreen[Data], Generic[Data]):
    """A polling screen whose keys pause, resume, cancel or retry a campaign."""

    def act(self, name: str, job: Callable[[], object]) -> None:
        """Run a service call; say what it did and refresh."""
        def done(text: object) -> None:
            self.notify(str(text))
            self.poll()
        self.hub.perform(name, job, done)

    def confirm(self, name: str, question: Callable[[], str], on_yes: Callable[[], object]) -> None:
        """Build the question in a worker (it raises, and nothing is asked, when a yes could not
        succeed), then ask it and call `on_yes` on y."""
        def answered(yes: bool | None) -> None:
            if yes:
                on_yes()
        self.hub.perform(name, question,
                         lambda text: self.app.push_screen(ConfirmDialog(text), answered))

    def pause_campaign(self, campaign_id: int) -> None:
        self.act("pause", lambda: control.pause(self.hub.settings, campaign_id))

    def resume_campaign(self, campaign_id: int) -> None:
        self.hub.start_campaign(campaign_id, control.resume)

    def cancel_campaign(self, campaign_id: int) -> None:
        self.confirm("cancel", lambda: confirmations.cancel_question(campaign_id),
                     lambda: self.act("cancel", lambda: control.cancel(self.hub.settings,
                                                                       campaign_id)))

    def retry_unknown(self, campaign_id: int) -> None:
        self.confirm("retry", lambda: confirmations.retry_unknown_question(campaign_id),
                     lambda: self.hub.start_campaign(campaign_id, retry_unknown))


def retry_unknown(settings: Settings, campaign_id: int) -> control.LaunchResult:
    """Send the unknown deliveries again (the failed ones stay failed)."""
    return control.retry(settings, campaign_id, failed=False, unknown=True)
