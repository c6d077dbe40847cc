"""The live monitor of one campaign, and the overview of every running and scheduled campaign."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from messagehub_tui import views
from messagehub_tui.models import ACTIVE, FINISHED, RESUMABLE, CampaignStatus
from messagehub_tui.progress import RateMeter, duration
from messagehub_tui.screens.actions import CampaignActionsScreen
from messagehub_tui.screens.deliveries import DeliveriesScreen
from messagehub_tui.screens.polling import PollingScreen
from messagehub_tui.screens.widgets.monitor_panels import (
    CountsPanel,
    EventLog,
    FeedbackPanel,
    RatePanel,
)
from messagehub_tui.state import CampaignState
from messagehub_tui.timefmt import countdown, local_text, to_local
from messagehub_tui.views import MonitorData

# What a state means and which key moves it on, where that is not obvious from the word alone.
STATE_HINTS = {
    CampaignStatus.INTERRUPTED: "interrupted: its runner stopped without finishing; r resumes",
    CampaignStatus.PAUSED: "paused: r resumes, c cancels",
    CampaignStatus.SCHEDULED: "scheduled: it launches by itself while the app or the daemon runs",
}


# Which keys apply to a campaign in the state it is in now.
APPLIES = {
    "pause": lambda data: data.state.status in ACTIVE,
    "resume": lambda data: data.state.status in RESUMABLE,
    "cancel": lambda data: data.state.status not in FINISHED,
    "retry_unknown": lambda data: data.state.counts.unknown > 0,
}


def unknown_hint(campaign_id: int, unknown: int) -> str:
    """Why some deliveries are unknown and how to decide about them."""
    # the cause may be the server (a timeout or a drop after the message) as much as a runner
    return (f"{unknown} unknown: no answer came after sending (a timeout, a drop, a runner that "
            f"stopped), so they may or may not have arrived. u sends them again (some people "
            f"may get it twice; also `messagehub-tui retry {campaign_id} --unknown`), d lists "
            "them.")


class MonitorScreen(CampaignActionsScreen[MonitorData]):
    """One campaign, live: progress, counts, rate, ETA, errors and its event log."""

    BINDINGS = [Binding("p", "pause", "Pause"), Binding("r", "resume", "Resume"),
                Binding("c", "cancel", "Cancel"), Binding("d", "deliveries", "Deliveries"),
                Binding("u", "retry_unknown", "Retry unknown"),
                Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]
    # Below 24 rows the latest errors (also in the event log) are hidden: at 60x20 they left the
    # log one line.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-tall")]

    def __init__(self, campaign_id: int) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.meter = RateMeter()
        self.last_event = 0
        self.data: MonitorData | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="monitor"):
            yield Static("", id="headline")
            yield ProgressBar(id="progress", show_eta=False)
            yield CountsPanel(id="counts")
            yield FeedbackPanel(id="feedback", markup=False)
            yield RatePanel(id="rate-panel")
            yield Static("", id="timing")
            yield Static("", id="hints", markup=False)
            yield Static("", id="errors", classes="error", markup=False)
            yield EventLog(id="events")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"campaign {self.campaign_id}"
        self.start_polling()

    def fetch(self) -> MonitorData:
        return views.monitor_data(self.campaign_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer (in the footer too) only the keys that apply to the campaign's state."""
        if self.data is None or action not in APPLIES:
            return True
        return APPLIES[action](self.data)

    def apply(self, data: MonitorData) -> None:
        before, self.data = self.data, data
        if before is None or (before.state.status, before.state.counts.unknown) != \
                (data.state.status, data.state.counts.unknown):
            self.refresh_bindings()
        row, counts = data.state, data.state.counts
        self.query_one("#headline", Static).update(Content.from_markup(
            "[b]$name[/b]  $channel  [b]$status[/b]$error", name=row.name, channel=row.channel,
            status=row.status, error=f"  error: {row.last_error}" if row.last_error else ""))
        self.query_one(ProgressBar).update(total=max(counts.deliverable, 1), progress=counts.done)
        self.query_one(CountsPanel).show(counts.to_json())
        self.query_one(FeedbackPanel).show(row)
        rate = self.meter.follow(counts.sent, sending=row.status == CampaignStatus.RUNNING)
        self.query_one(RatePanel).show(rate, self.meter.history)
        self.query_one("#timing", Static).update(self.timing(data))
        hints = [STATE_HINTS[row.status]] if row.status in STATE_HINTS else []
        if counts.unknown:
            hints.append(unknown_hint(row.id, counts.unknown))
        self.query_one("#hints", Static).update("\n".join(hints))
        self.query_one("#hints").display = bool(hints)
        self.query_one("#errors", Static).update("\n".join(
            f"{to_local(error.at):%H:%M:%S} {error.message}" for error in data.errors[:3]))
        log = self.query_one(EventLog)
        for event in data.events:
            if event.id > self.last_event:
                log.add(f"{to_local(event.at):%H:%M:%S} {event.level:7} {event.message}")
                self.last_event = event.id

    def timing(self, data: MonitorData) -> str:
        now, state = self.hub.clock(), data.state
        if state.status == CampaignStatus.SCHEDULED and state.scheduled_at:
            at = state.scheduled_at
            return f"starts {local_text(at)} ({countdown(at, now)})"
        if state.started_at is None:
            return "not started"
        elapsed = state.elapsed(now)
        remaining = state.counts.unsent
        eta = self.meter.eta(remaining) if state.status == CampaignStatus.RUNNING else None
        return f"elapsed {duration(elapsed)}   ETA {duration(eta) if remaining else 'done'}"

    def action_pause(self) -> None:
        self.pause_campaign(self.campaign_id)

    def action_resume(self) -> None:
        self.resume_campaign(self.campaign_id)

    def action_cancel(self) -> None:
        self.cancel_campaign(self.campaign_id)

    def action_retry_unknown(self) -> None:
        self.retry_unknown(self.campaign_id)

    def action_deliveries(self) -> None:
        self.app.push_screen(DeliveriesScreen(self.campaign_id))


class OverviewScreen(PollingScreen[list[CampaignState]]):
    """Every running, queued, paused and scheduled campaign at once."""

    BINDINGS = [Binding("enter", "open", "Monitor"), Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]
    COLUMNS = (("id", "ID"), ("name", "Name"), ("status", "Status"), ("progress", "Progress"),
               ("rate", "Rate"), ("when", "When"))

    def __init__(self) -> None:
        super().__init__()
        self.meters: dict[str, RateMeter] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="overview", cursor_type="row")
        yield Static("Nothing is running, queued, paused or scheduled: launch or schedule a "
                     "campaign from the launcher.", id="overview-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "overview"
        table = self.query_one(DataTable)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#overview-empty").display = False  # until the first rows say so
        self.start_polling()

    def fetch(self) -> list[CampaignState]:
        return views.active_rows()

    def apply(self, rows: list[CampaignState]) -> None:
        table = self.query_one(DataTable)
        now = self.hub.clock()
        keys = {str(row.id) for row in rows}
        self.query_one("#overview-empty").display = not rows
        for key in [key for key in self.meters if key not in keys]:
            table.remove_row(key)
            del self.meters[key]
        for row in sorted(rows, key=lambda r: r.id):
            key = str(row.id)
            share = row.counts.progress
            bar = ("█" * int(share * 12)).ljust(12, "·")
            when = countdown(row.scheduled_at, now) \
                if row.status == CampaignStatus.SCHEDULED and row.scheduled_at else "-"
            is_new = key not in self.meters
            rate = self.meters.setdefault(key, RateMeter()).follow(
                row.counts.sent, sending=row.status == CampaignStatus.RUNNING)
            cells = (key, row.name[:24], row.status.value, f"{bar} {share:4.0%}",
                     "—" if rate is None else f"{rate:,.0f}/s", when)
            if is_new:
                table.add_row(*map(Text, cells), key=key)
            else:
                for (column, _), value in zip(self.COLUMNS, cells, strict=True):
                    table.update_cell(key, column, Text(value), update_width=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.meters:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key is not None:
                self.app.push_screen(MonitorScreen(int(key)))
