"""The launcher: every campaign in a table kept current, and keys that act on the selected one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from messagehub_tui import campaigns, confirmations, contacts, control, delivery, views
from messagehub_tui.delivery import Outcome, TestSend
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import CampaignStatus, Channel
from messagehub_tui.screens.actions import CampaignActionsScreen
from messagehub_tui.screens.contacts import ContactsScreen
from messagehub_tui.screens.dialogs import ConfirmDialog, PromptDialog
from messagehub_tui.screens.editor import EditorScreen
from messagehub_tui.screens.monitor import MonitorScreen, OverviewScreen
from messagehub_tui.screens.widgets.campaign_table import CampaignTable
from messagehub_tui.state import CampaignState
from messagehub_tui.timefmt import local_text, parse_when, to_local

# Keys the footer shows only when the terminal is at least this wide; help (?) and the command
# palette list them always, and they work at any width.
WIDE_FOOTER = 120
SECONDARY_KEYS = ("t", "d", "slash", "i", "o", "enter")
# Below 80 columns the footer keeps what a session needs (new, launch, pause, resume, cancel,
# help, quit): with edit and schedule too, help and quit fell off its end at 60 columns.
NARROW_FOOTER = 80
NARROW_HIDDEN_KEYS = ("e", "s")


class CampaignsScreen(CampaignActionsScreen[list[CampaignState]]):
    """The first screen: pick a campaign and act on it."""

    BINDINGS = [
        Binding("n", "new", "New"), Binding("e", "edit", "Edit"),
        Binding("enter", "open", "Monitor", show=False), Binding("l", "launch", "Launch"),
        Binding("s", "schedule", "Schedule"), Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"), Binding("c", "cancel", "Cancel"),
        # Short words in the footer (all keys fit in 120 columns), the full name as tooltip,
        # in help and in the command palette.
        Binding("t", "test", "Test", show=False, tooltip="Test send"),
        Binding("d", "delete", "Delete", show=False, tooltip="Delete draft"),
        Binding("slash", "filter", "Find", show=False, tooltip="Filter"),
        Binding("i", "contacts", "Import", show=False, tooltip="Contacts"),
        Binding("o", "overview", "Active", show=False, tooltip="Overview"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"), Binding("escape", "clear_filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        if self.hub.outbox_only:
            yield Static("Outbox mode: messages are written to files in outbox/, nothing leaves "
                         "this machine.", id="banner")
        yield Input(placeholder="filter by name, channel or status", id="filter")
        yield CampaignTable(id="campaigns")
        yield Static("No campaigns yet: press n to write one, i to import contacts.",
                     id="empty")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one(CampaignTable).focus()
        self.start_polling()

    def fetch(self) -> list[CampaignState]:
        return views.campaign_rows()

    def apply(self, rows: list[CampaignState]) -> None:
        needle = self.query_one("#filter", Input).value.strip().lower()
        self.query_one(CampaignTable).show(
            [row for row in rows
             if not needle or needle in f"{row.name} {row.channel} {row.status}".lower()],
            self.hub.clock())
        self.query_one("#empty").display = not rows

    def selected(self) -> CampaignState | None:
        row = self.query_one(CampaignTable).selected_row()
        if row is None:
            self.notify("no campaign selected", severity="warning")
        return row

    def select(self, campaign_id: int) -> None:
        """Move the cursor to a campaign once it is in the table."""
        self.query_one(CampaignTable).select(campaign_id)

    def on_resize(self, event: events.Resize) -> None:
        """Show in the footer the keys there is room for."""
        width = event.size.width
        shown = {key: width >= WIDE_FOOTER for key in SECONDARY_KEYS} \
            | {key: width >= NARROW_FOOTER for key in NARROW_HIDDEN_KEYS}
        # The table's own enter binding is the one in force while it has focus.
        for bindings in (self._bindings, self.query_one(CampaignTable)._bindings):
            for key, show in shown.items():
                if key in bindings.key_to_bindings:
                    bindings.key_to_bindings[key] = [
                        replace(binding, show=show) for binding in bindings.key_to_bindings[key]]
        self.refresh_bindings()

    def action_new(self) -> None:
        """Open the editor; with no contacts yet, offer the contacts screen instead."""
        def open_editor(has_lists: bool) -> None:
            if has_lists:
                self.app.push_screen(EditorScreen())
                return
            self.app.push_screen(
                ConfirmDialog("No contacts yet: import a CSV first. Open the contacts screen?"),
                lambda yes: self.action_contacts() if yes else None)
        self.hub.perform("new", lambda: bool(contacts.lists()), open_editor)

    def action_edit(self) -> None:
        if not (row := self.selected()):
            return
        if why := campaigns.uneditable(row.id, row.status):
            self.notify(why, severity="warning")
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
        if row := self.selected():
            self.confirm("launch", lambda: confirmations.launch_question(row.id),
                         lambda: self.hub.start_campaign(row.id))

    def action_cancel(self) -> None:
        if row := self.selected():
            self.cancel_campaign(row.id)

    def action_pause(self) -> None:
        if row := self.selected():
            self.pause_campaign(row.id)

    def action_resume(self) -> None:
        if row := self.selected():
            self.resume_campaign(row.id)

    def action_schedule(self) -> None:
        """Ask for a time; an empty answer clears the schedule."""
        if not (row := self.selected()):
            return
        if why := control.unschedulable(row.id, row.status):  # before asking for a time
            self.notify(why, severity="warning")
            return
        settings = self.hub.settings

        def chosen(at: datetime | Unschedule | None) -> None:
            if at is None:
                return
            if isinstance(at, Unschedule):
                self.act("unschedule", lambda: (
                    f"campaign {control.clear_schedule(settings, row.id).id} is a draft again: "
                    "no longer scheduled"))
                return
            self.act("schedule", lambda: (
                f"campaign {row.id} scheduled for "
                f"{local_text(control.schedule(settings, row.id, at).scheduled_at)}"))
        scheduled = row.status == CampaignStatus.SCHEDULED
        # an example that is valid now: tomorrow 09:00 local time (a fixed date goes stale)
        tomorrow = to_local(self.hub.clock()) + timedelta(days=1)
        example = f"{tomorrow:%Y-%m-%d} 09:00"
        self.app.push_screen(PromptDialog(
            f"Schedule campaign {row.id} “{row.name}” for:",
            f"+2h, {example}, or ISO-8601" + ("; empty to unschedule" if scheduled else ""),
            partial(_when, scheduled, example)), chosen)

    def action_test(self) -> None:
        if not (row := self.selected()):
            return

        def send(address: str | None) -> None:
            if not address:
                return

            def done(sent: TestSend) -> None:
                if sent.result.outcome == Outcome.SENT:
                    self.notify(f"test sent to {sent.address} ({sent.result.provider_id})")
                else:
                    self.notify(f"test to {sent.address} not sent: {sent.result.reason}",
                                severity="error")
            self.hub.perform("test send", lambda: delivery.send_test(self.hub.settings, row.id,
                                                                    address), done)
        wanted = "an email address" if row.channel == Channel.EMAIL else \
            "a phone number (+CC… or national with [sms] default_region)"
        self.app.push_screen(PromptDialog(f"Send a test of campaign {row.id} to:", wanted,
                                          _required), send)

    def action_delete(self) -> None:
        if not (row := self.selected()):
            return

        def delete() -> str:
            campaigns.delete(row.id)
            return f"deleted campaign {row.id}"
        self.confirm("delete", lambda: confirmations.delete_question(row.id),
                     lambda: self.act("delete", delete))

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


class Unschedule:
    """The schedule prompt's answer that clears the schedule."""


def _when(scheduled: bool, example: str, text: str) -> datetime | Unschedule:
    """A time to schedule at; an empty answer unschedules a scheduled campaign."""
    if not text:
        if scheduled:
            return Unschedule()
        raise MessagehubError(f"type a time such as +2h or {example}")
    return parse_when(text)


def _required(text: str) -> str:
    if not text:
        raise MessagehubError("type an address")
    return text
