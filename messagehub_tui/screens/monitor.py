"""The live monitor of one campaign, and the overview of every running and scheduled campaign."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, ProgressBar, RichLog, Sparkline, Static

from messagehub_tui import control, snapshots
from messagehub_tui.models import DeliveryStatus
from messagehub_tui.screens.dialogs import ConfirmDialog
from messagehub_tui.screens.polling import PollingScreen
from messagehub_tui.snapshots import MonitorData
from messagehub_tui.timefmt import countdown, local_text, to_local

SPARK_POINTS = 120


def duration(seconds: float | None) -> str:
    """`1h 02m 03s`, `4m 05s`, `6s`, or `-`."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class RateMeter:
    """Messages per second from successive sent counts, and the recent history for a sparkline."""

    def __init__(self):
        self.last: tuple[float, int] | None = None
        self.history: deque[float] = deque(maxlen=SPARK_POINTS)

    def update(self, sent: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        rate = 0.0
        if self.last is not None and now > self.last[0]:
            rate = max(0.0, (sent - self.last[1]) / (now - self.last[0]))
        self.last = (now, sent)
        self.history.append(rate)
        return rate


class MonitorScreen(PollingScreen):
    """One campaign, live: progress, counts, rate, ETA, errors and its event log."""

    BINDINGS = [Binding("p", "pause", "Pause"), Binding("r", "resume", "Resume"),
                Binding("c", "cancel", "Cancel"), Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]

    def __init__(self, campaign_id: int):
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
            yield Static("", id="counts")
            with Horizontal(id="rate-row"):
                yield Static("", id="rate")
                yield Sparkline([0], id="spark")
            yield Static("", id="timing")
            yield Static("", id="errors", classes="error", markup=False)
            yield RichLog(id="events", max_lines=500, wrap=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"campaign {self.campaign_id}"
        self.start_polling()

    def fetch(self) -> MonitorData:
        return snapshots.monitor_data(self.campaign_id)

    def apply(self, data: MonitorData) -> None:
        self.data = data
        row, counts = data.row, data.counts
        done = row.total - counts["pending"] - counts["sending"]
        self.query_one("#headline", Static).update(Content.from_markup(
            "[b]$name[/b]  $channel  [b]$status[/b]$error", name=row.name, channel=row.channel,
            status=row.status, error=f"  error: {row.last_error}" if row.last_error else ""))
        self.query_one(ProgressBar).update(total=max(row.total, 1), progress=done)
        self.query_one("#counts", Static).update("  ".join(
            f"{state.value} [b]{counts[state.value]}[/b]" for state in DeliveryStatus))
        rate = self.meter.update(counts["sent"])
        self.query_one("#rate", Static).update(f"{rate:,.1f} msg/s")
        spark = self.query_one(Sparkline)
        spark.display = any(self.meter.history)
        spark.data = list(self.meter.history)
        self.query_one("#timing", Static).update(self.timing(data, rate))
        self.query_one("#errors", Static).update("\n".join(
            f"{to_local(at):%H:%M:%S} {message}" for at, message in data.errors[:3]))
        log = self.query_one(RichLog)
        for event_id, at, level, message in data.events:
            if event_id > self.last_event:
                log.write(f"{to_local(at):%H:%M:%S} {level:7} {message}")
                self.last_event = event_id

    def timing(self, data: MonitorData, rate: float) -> str:
        now = self.app.clock()
        if data.row.status == "scheduled" and data.row.scheduled_at:
            return f"starts {local_text(data.row.scheduled_at)} ({countdown(data.row.scheduled_at, now)})"
        if data.started_at is None:
            return "not started"
        end = data.finished_at or now
        elapsed = (end - data.started_at).total_seconds()
        remaining = data.counts["pending"] + data.counts["sending"]
        eta = remaining / rate if rate > 0 and data.row.status == "running" else None
        return f"elapsed {duration(elapsed)}   ETA {duration(eta) if remaining else 'done'}"

    def _do(self, name: str, job) -> None:
        self.app.perform(name, job, lambda text: (self.notify(str(text)), self.poll()))

    def action_pause(self) -> None:
        self._do("pause", lambda: control.pause(self.app.settings, self.campaign_id))

    def action_resume(self) -> None:
        self.app.start_campaign(self.campaign_id, resume=True)

    def action_cancel(self) -> None:
        unsent = 0 if self.data is None else self.data.counts["pending"] + \
            self.data.counts["sending"]
        self.app.push_screen(
            ConfirmDialog(f"Cancel campaign {self.campaign_id}? {unsent} unsent deliveries will "
                          "be cancelled."),
            lambda yes: yes and self._do("cancel", lambda: control.cancel(self.app.settings,
                                                                           self.campaign_id)))


class OverviewScreen(PollingScreen):
    """Every running, queued, paused and scheduled campaign at once."""

    BINDINGS = [Binding("enter", "open", "Monitor"), Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]
    COLUMNS = (("id", "ID"), ("name", "Name"), ("status", "Status"), ("progress", "Progress"),
               ("rate", "Rate"), ("when", "When"))

    def __init__(self):
        super().__init__()
        self.meters: dict[str, RateMeter] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="overview", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "overview"
        table = self.query_one(DataTable)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self.start_polling()

    def fetch(self):
        return snapshots.active_rows()

    def apply(self, rows) -> None:
        table = self.query_one(DataTable)
        now = self.app.clock()
        keys = {str(row.id) for row in rows}
        for key in [key for key in self.meters if key not in keys]:
            table.remove_row(key)
            del self.meters[key]
        for row in sorted(rows, key=lambda r: r.id):
            key = str(row.id)
            share = row.sent / row.total if row.total else 0
            bar = ("█" * int(share * 12)).ljust(12, "·")
            when = countdown(row.scheduled_at, now) if row.status == "scheduled" else "-"
            is_new = key not in self.meters
            meter = self.meters.setdefault(key, RateMeter())
            cells = (key, row.name[:24], row.status, f"{bar} {share:4.0%}",
                     f"{meter.update(row.sent):,.0f}/s", when)
            if is_new:
                table.add_row(*map(Text, cells), key=key)
            else:
                for (column, _), value in zip(self.COLUMNS, cells):
                    table.update_cell(key, column, Text(value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.meters:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self.app.push_screen(MonitorScreen(int(key)))
