"""The monitor's panels: delivery counts by state, what was heard back, the send rate with
its sparkline, and the event log."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal
from textual.widgets import RichLog, Sparkline, Static

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


class RateSparkline(Sparkline):
    """Recent rates, one column per reading (the latest that fit, newest on the right), scaled
    from 0 to the highest. Textual's own scales from the lowest to the highest, so a steady
    rate with a little jitter drew a saw from floor to ceiling."""

    EIGHTHS = " ▁▂▃▄▅▆▇█"

    def render(self) -> RenderResult:
        width, height = self.size.width, self.size.height
        points = list(self.data or [])[-width:] if width else []
        top = max(points, default=0.0) or 1.0
        # in eighths of a line, a reading above 0 at least one: never drawn as nothing
        levels = [max(round(8 * height * point / top), 1 if point > 0 else 0)
                  for point in points]
        rows = ["".join(self.EIGHTHS[min(8, max(0, level - 8 * row))] for level in levels)
                .rjust(width) for row in reversed(range(height))]
        return Text("\n".join(rows), style=self.get_component_rich_style("sparkline--max-color"))


class RatePanel(Horizontal):
    """The current send rate in figures, and its recent history as a sparkline."""

    DEFAULT_CSS = """
    RatePanel { height: 3; }
    RatePanel > #figure { width: 16; padding: 1 0; }
    RatePanel > RateSparkline { width: 1fr; height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="figure")
        yield RateSparkline([0])

    def show(self, rate: float | None, history: Iterable[float]) -> None:
        """`rate` None: the campaign is not sending (shown as "— msg/s", with no sparkline)."""
        figure = "—" if rate is None else f"{rate:,.1f}"
        self.query_one("#figure", Static).update(f"{figure} msg/s")
        points = list(history)
        spark = self.query_one(RateSparkline)
        spark.display = any(points)
        spark.data = points


class EventLog(RichLog):
    """The campaign's events, wrapped to the log's width, and wrapped anew when that changes:
    a RichLog keeps only lines rendered at the width of their writing (written at 80 columns,
    they stayed 80 wide at 120), so the events' own text is kept to render again."""

    KEPT = 500

    def __init__(self, *, id: str | None = None) -> None:
        # min_width 1: RichLog renders at least 78 columns wide by default, which at 80x24
        # (a border, a scrollbar) cut the end of long events and scrolled them sideways.
        super().__init__(id=id, max_lines=self.KEPT, wrap=True, min_width=1)
        self.events: deque[str] = deque(maxlen=self.KEPT)
        self.wrapped_at: int | None = None  # the width the lines were rendered at

    def add(self, text: str) -> None:
        self.events.append(text)
        self._write(text)

    def _write(self, text: str) -> None:
        # The width given: RichLog measures a text against the app's console, whose width is
        # the terminal's at start, so in a terminal widened since it would wrap at the old one.
        room = self.scrollable_content_region.width
        self.write(text, width=min(cell_len(text), room) if room else None)

    def on_resize(self, event: events.Resize) -> None:
        # RichLog's own handler (called after this one) renders the writes made before the
        # first size was known; a later change of width renders every event again, once the
        # new layout is in place.
        width = event.size.width
        if self.wrapped_at is not None and width != self.wrapped_at:
            self.call_after_refresh(self.rewrap)
        self.wrapped_at = width

    def rewrap(self) -> None:
        self.clear()
        for text in self.events:
            self._write(text)
