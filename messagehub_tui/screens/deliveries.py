"""Which recipients of a campaign failed or are unknown, and why: opened from the monitor."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from messagehub_tui import views
from messagehub_tui.deliveries import DeliveryRow
from messagehub_tui.models import DeliveryStatus
from messagehub_tui.screens.polling import PollingScreen
from messagehub_tui.screens.widgets.columns import fitted_widths

SHOWN = 500
FIXED_WIDTHS = (max(map(len, DeliveryStatus)), len("Tries"))  # the Status and Tries columns
# Ordering a 100k-recipient campaign's deliveries by time takes about 0.5 s: refresh ten times
# less often than the other screens, and on g.
SLOWER = 10


class DeliveriesScreen(PollingScreen[list[DeliveryRow]]):
    """Failed and unknown deliveries first: address, state, attempts, what was heard back and
    the last reason."""

    BINDINGS = [Binding("g", "refresh", "Refresh"), Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]

    def __init__(self, campaign_id: int) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.rows: list[DeliveryRow] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="summary", markup=False)
        yield DataTable(id="deliveries", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"campaign {self.campaign_id}: deliveries"
        self.query_one(DataTable).focus()
        self.start_polling(SLOWER)

    def action_refresh(self) -> None:
        self.poll()

    def show_rows(self) -> None:
        """Each delivery with its whole reason, wrapped to the screen's width: Twilio's and SMTP
        servers' reasons ("Twilio error 21211: Unable to create record: The 'To' number is not a
        valid phone number.") were cut at 80 columns."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        rows = self.rows or []
        # what was heard back, as the CLI's FEEDBACK column: one kind a line when several
        heard = max([len("Feedback"), *(len(kind) for row in rows for kind in row.kinds)])
        address, reason = fitted_widths(
            self.size.width, max(len("Address"), *(len(row.address) for row in rows)),
            [*FIXED_WIDTHS, heard])
        table.add_column("Address", width=address)
        table.add_column("Status", width=FIXED_WIDTHS[0])
        table.add_column("Tries", width=FIXED_WIDTHS[1])
        table.add_column("Feedback", width=heard)
        table.add_column("Reason", width=reason)
        for row in rows:
            table.add_row(Text(row.address), row.status.value, str(row.attempts),
                          Text("\n".join(row.kinds) or "-"), Text(row.reason or ""),
                          key=str(row.id), height=None)
        table.move_cursor(row=min(cursor, max(table.row_count - 1, 0)))

    def on_resize(self, event: events.Resize) -> None:
        if self.rows:  # the reasons wrap anew to the new width
            self.show_rows()

    def fetch(self) -> list[DeliveryRow]:
        return views.delivery_rows(self.campaign_id, SHOWN)

    def apply(self, rows: list[DeliveryRow]) -> None:
        if rows == self.rows:
            return
        self.rows = rows
        self.show_rows()
        self.query_one("#summary", Static).update(
            f"{len(rows)} shown, failed and unknown first; all: messagehub-tui deliveries "
            f"{self.campaign_id}" if rows else "no deliveries yet")
