"""The launcher: every campaign in a table kept current, and the keys that act on the selected one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from messagehub_tui import campaigns, control, snapshots
from messagehub_tui.errors import MessagehubError
from messagehub_tui.screens.contacts import ContactsScreen
from messagehub_tui.screens.dialogs import ConfirmDialog, PromptDialog
from messagehub_tui.screens.editor import EditorScreen
from messagehub_tui.screens.monitor import MonitorScreen, OverviewScreen
from messagehub_tui.screens.polling import PollingScreen
from messagehub_tui.snapshots import CampaignRow
from messagehub_tui.timefmt import countdown, local_text, parse_when, short_local

COLUMNS = (("id", "ID"), ("name", "Name"), ("channel", "Channel"), ("status", "Status"),
           ("sent", "Sent/Total"), ("when", "Scheduled"))


def row_cells(row: CampaignRow, now) -> tuple:
    """The launcher's cells for one campaign, in column order."""
    when = "-"
    if row.scheduled_at is not None:
        when = short_local(row.scheduled_at, now)
        if row.status == "scheduled":
            when += f" {countdown(row.scheduled_at, now)}"
    return (str(row.id), row.name[:28], row.channel, row.status, f"{row.sent}/{row.total}", when)


class CampaignsScreen(PollingScreen):
    """The first screen: pick a campaign and act on it."""

    BINDINGS = [
        Binding("n", "new", "New"), Binding("e", "edit", "Edit"),
        Binding("enter", "open", "Monitor"), Binding("l", "launch", "Launch"),
        Binding("s", "schedule", "Schedule"), Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"), Binding("c", "cancel", "Cancel"),
        Binding("t", "test", "Test send", show=False),
        Binding("d", "delete", "Delete draft", show=False),
        Binding("slash", "filter", "Filter", show=False), Binding("i", "contacts", "Contacts", show=False),
        Binding("o", "overview", "Overview", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"), Binding("escape", "clear_filter", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.rows: dict[str, CampaignRow] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        if self.app.outbox_only:
            yield Static("Outbox mode: messages are written to files in outbox/, nothing leaves "
                         "this machine.", id="banner")
        yield Input(placeholder="filter by name, channel or status", id="filter")
        yield DataTable(id="campaigns", cursor_type="row", zebra_stripes=True)
        yield Static("No campaigns yet: press n to write one, i to import contacts.",
                     id="empty")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#filter").display = False
        table.focus()
        self.start_polling()

    def fetch(self) -> list[CampaignRow]:
        return snapshots.campaign_rows()

    def apply(self, rows: list[CampaignRow]) -> None:
        """Update cells in place; rebuild only when rows come or go out of id order."""
        table = self.query_one(DataTable)
        needle = self.query_one("#filter", Input).value.strip().lower()
        now = self.app.clock()
        wanted = {str(row.id): row for row in sorted(rows, key=lambda r: r.id)
                  if not needle or needle in f"{row.name} {row.channel} {row.status}".lower()}
        kept = [key for key in self.rows if key in wanted]
        if kept + [key for key in wanted if key not in self.rows] != list(wanted):
            self._rebuild(table, wanted, now)
        else:
            for key in [key for key in self.rows if key not in wanted]:
                table.remove_row(key)
            for key, row in wanted.items():
                cells = row_cells(row, now)
                if key not in self.rows:
                    table.add_row(*map(Text, cells), key=key)
                elif row_cells(self.rows[key], now) != cells:
                    for (column, _), value in zip(COLUMNS, cells):
                        table.update_cell(key, column, Text(value))
        self.rows = wanted
        self.query_one("#empty").display = not rows

    def _rebuild(self, table: DataTable, wanted: dict[str, CampaignRow], now) -> None:
        current = self.selected_key()
        table.clear()
        for key, row in wanted.items():
            table.add_row(*map(Text, row_cells(row, now)), key=key)
        if current in wanted:
            table.move_cursor(row=table.get_row_index(current))

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected(self) -> CampaignRow | None:
        row = self.rows.get(self.selected_key())
        if row is None:
            self.notify("no campaign selected", severity="warning")
        return row

    def select(self, campaign_id: int) -> None:
        """Move the cursor to a campaign once it is in the table."""
        table = self.query_one(DataTable)
        if str(campaign_id) in self.rows:
            table.move_cursor(row=table.get_row_index(str(campaign_id)))

    def action_new(self) -> None:
        self.app.push_screen(EditorScreen())

    def action_edit(self) -> None:
        if not (row := self.selected()):
            return
        if row.status not in campaigns.EDITABLE:
            self.notify(f"campaign {row.id} is {row.status}; only a draft, scheduled or missed "
                        "campaign can be edited", severity="warning")
            return
        self.app.push_screen(EditorScreen(row.id))

    def action_open(self) -> None:
        if row := self.selected():
            self.app.push_screen(MonitorScreen(row.id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row opens its monitor."""
        self.action_open()

    def action_overview(self) -> None:
        self.app.push_screen(OverviewScreen())

    def action_contacts(self) -> None:
        self.app.push_screen(ContactsScreen())

    def action_launch(self) -> None:
        if not (row := self.selected()):
            return

        def ask(state: dict) -> None:
            counts = state["counts"]
            question = (f"Launch campaign {row.id} “{row.name}” to {counts['pending']} "
                        f"recipients ({counts['skipped']} suppressed)?")
            self.app.push_screen(ConfirmDialog(question),
                                 lambda yes: yes and self.app.start_campaign(row.id))
        self.app.perform("launch", lambda: campaigns.status(row.id), ask)

    def action_cancel(self) -> None:
        if not (row := self.selected()):
            return

        def ask(state: dict) -> None:
            unsent = state["counts"]["pending"] + state["counts"]["sending"]
            question = (f"Cancel campaign {row.id} “{row.name}”? {unsent} unsent "
                        f"deliveries will be cancelled.")
            self.app.push_screen(ConfirmDialog(question), lambda yes: yes and self._do(
                "cancel", lambda: control.cancel(self.app.settings, row.id)))
        self.app.perform("cancel", lambda: campaigns.status(row.id), ask)

    def _do(self, name: str, job) -> None:
        self.app.perform(name, job, lambda text: (self.notify(str(text)), self.poll()))

    def action_pause(self) -> None:
        if row := self.selected():
            self._do("pause", lambda: control.pause(self.app.settings, row.id))

    def action_resume(self) -> None:
        if row := self.selected():
            self.app.start_campaign(row.id, resume=True)

    def action_schedule(self) -> None:
        if not (row := self.selected()):
            return

        def chosen(at) -> None:
            if at is not None:
                self._do("schedule", lambda: (
                    f"campaign {row.id} scheduled for "
                    f"{local_text(control.schedule(self.app.settings, row.id, at).scheduled_at)}"))
        self.app.push_screen(PromptDialog(
            f"Schedule campaign {row.id} “{row.name}” for:", "+2h, 2026-12-01 09:00, or ISO-8601",
            parse_when), chosen)

    def action_test(self) -> None:
        if not (row := self.selected()):
            return

        def send(address) -> None:
            if not address:
                return

            def done(result) -> None:
                if result.outcome == "sent":
                    self.notify(f"test sent to {address} ({result.provider_id})")
                else:
                    self.notify(f"test to {address} not sent: {result.reason}", severity="error")
            self.app.perform("test send", lambda: control.send_test(self.app.settings, row.id,
                                                                    address), done)
        self.app.push_screen(PromptDialog(f"Send a test of campaign {row.id} to:",
                                          "an email address or phone number", _required), send)

    def action_delete(self) -> None:
        if not (row := self.selected()):
            return

        def delete() -> str:
            campaigns.delete(row.id)
            return f"deleted campaign {row.id}"
        self.app.push_screen(ConfirmDialog(f"Delete draft {row.id} “{row.name}”?"),
                             lambda yes: yes and self._do("delete", delete))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one(DataTable).focus()
        self.poll()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.poll()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()


def _required(text: str) -> str:
    if not text:
        raise MessagehubError("type an address")
    return text
