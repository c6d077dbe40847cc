"""The monitor's panels: delivery counts by state, what was heard back, and the send rate with
its sparkline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from messagehub_tui.models import DeliveryStatus
from messagehub_tui.state import CampaignState


class CountsPanel(Static):
    """`pending 3  sending 0  sent 12 …`: every delivery state with its count."""

    DEFAULT_CSS = "CountsPanel { height: auto; }"

    def show(self, counts: Mapping[str, int]) -> None:
        self.update("  ".join(f"{state.value} [b]{counts.get(state.value, 0)}[/b]"
                              for state in DeliveryStatus))


class FeedbackPanel(Static):
    """What was heard back (bounces, complaints, unsubscribes, …) with rates; shown once any."""

    DEFAULT_CSS = "FeedbackPanel { height: auto; }"

    def show(self, state: CampaignState) -> None:
        self.display = state.feedback.total > 0
        self.update(state.feedback_summary())


class RatePanel(Horizontal):
    """The current send rate in figures, and its recent history as a sparkline."""

    DEFAULT_CSS = """
    RatePanel { height: 3; }
    RatePanel > #figure { width: 16; padding: 1 0; }
    RatePanel > Sparkline { width: 1fr; height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="figure")
        yield Sparkline([0])

    def show(self, rate: float, history: Iterable[float]) -> None:
        self.query_one("#figure", Static).update(f"{rate:,.1f} msg/s")
        points = list(history)
        spark = self.query_one(Sparkline)
        spark.display = any(points)
        spark.data = points
