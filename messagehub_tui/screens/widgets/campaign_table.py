"""The launcher's table of campaigns, kept current in place from successive reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from messagehub_tui.models import CampaignStatus
from messagehub_tui.state import CampaignState
from messagehub_tui.timefmt import countdown, short_local

COLUMNS = (("id", "ID"), ("name", "Name"), ("channel", "Channel"), ("status", "Status"),
           ("sent", "Sent/Total"), ("when", "Scheduled"))


def row_cells(row: CampaignState, now: datetime) -> tuple[str, ...]:
    """The launcher's cells for one campaign, in column order."""
    when = "-"
    if row.scheduled_at is not None:
        when = short_local(row.scheduled_at, now)
        if row.overdue(now):
            when += " overdue"  # nothing fired it: help and the README say what to do
        elif row.status == CampaignStatus.SCHEDULED:
            when += f" {countdown(row.scheduled_at, now)}"
    return (str(row.id), row.name[:28], row.channel.value, row.status.value,
            row.counts.sent_of_total(), when)


class CampaignTable(DataTable):
    """Campaigns in id order; `show` updates changed cells and rebuilds only when rows reorder."""

    DEFAULT_CSS = "CampaignTable { height: 1fr; }"
    BINDINGS = [Binding("enter", "select_cursor", "Open", show=False, tooltip="Monitor")]

    def __init__(self, **options: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **options)
        self.campaign_rows: dict[str, CampaignState] = {}
        # What each row shows now: compared with the new cells, not with the old row rendered
        # at the new time, so a countdown ticks even when its campaign did not change.
        self.shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, rows: list[CampaignState], now: datetime) -> None:
        wanted = {str(row.id): row for row in sorted(rows, key=lambda r: r.id)}
        kept = [key for key in self.campaign_rows if key in wanted]
        if kept + [key for key in wanted if key not in self.campaign_rows] != list(wanted):
            self._rebuild(wanted, now)
        else:
            for key in [key for key in self.campaign_rows if key not in wanted]:
                self.remove_row(key)
                del self.shown[key]
            for key, row in wanted.items():
                cells = row_cells(row, now)
                if key not in self.shown:
                    self.add_row(*map(Text, cells), key=key)
                elif self.shown[key] != cells:
                    changed = zip(COLUMNS, cells, self.shown[key], strict=True)
                    for (column, _), value, old in changed:
                        if value != old:
                            # update_width: a value longer than its column (draft → completed)
                            # widens it instead of being cut.
                            self.update_cell(key, column, Text(value), update_width=True)
                self.shown[key] = cells
        self.campaign_rows = wanted

    def _rebuild(self, wanted: dict[str, CampaignState], now: datetime) -> None:
        current = self.selected_key()
        self.clear()
        self.shown = {key: row_cells(row, now) for key, row in wanted.items()}
        for key, cells in self.shown.items():
            self.add_row(*map(Text, cells), key=key)
        if current in wanted:
            self.move_cursor(row=self.get_row_index(current))

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def selected_row(self) -> CampaignState | None:
        key = self.selected_key()
        return None if key is None else self.campaign_rows.get(key)

    def select(self, campaign_id: int) -> None:
        """Move the cursor to a campaign once it is in the table."""
        if str(campaign_id) in self.campaign_rows:
            self.move_cursor(row=self.get_row_index(str(campaign_id)))
