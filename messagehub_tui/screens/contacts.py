"""Contacts: lists with member counts, CSV import with its rejected rows, the suppression list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from messagehub_tui import contacts
from messagehub_tui.addresses import channel_of
from messagehub_tui.contacts import ImportResult, Rejected
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Channel
from messagehub_tui.screens.base import HubScreen
from messagehub_tui.screens.dialogs import ConfirmDialog, PromptDialog
from messagehub_tui.screens.widgets.columns import (
    CELL_PADDING,
    MIN_WRAPPED,
    SCROLLBAR,
    wrapped_width,
)
from messagehub_tui.timefmt import local_text

SHOWN_PROBLEMS = 200  # rows listed on the screen; the rejects file has every one


class PathSuggester(Suggester):
    """Completes a file path from what is on disk: the first match, folders with a slash."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            matches = sorted(p for p in folder.iterdir() if p.name.startswith(stem)
                             and (p.is_dir() or p.suffix.lower() in (".csv", ".txt")))
        except OSError:
            return None
        if not matches:
            return None
        match = matches[0]
        prefix = value[: len(value) - len(stem)] if stem else value
        return prefix + match.name + ("/" if match.is_dir() else "")


def _address(text: str) -> tuple[Channel, str]:
    if not text:
        raise MessagehubError("type an email address or a phone number")
    return channel_of(text), text


@dataclass(frozen=True)
class SuppressionRow:
    """One row of the suppression table; its key is the suppression's id."""

    id: int
    cells: tuple[str, str, str, str]  # channel, address, reason, since


# The suppression table's columns: (key, label); the reason wraps, the others fit their text.
SUPPRESSION_COLUMNS = (("channel", "Channel"), ("address", "Address"), ("reason", "Reason"),
                       ("when", "Since"))
_ADDRESS, _REASON = 1, 2


def _lists_and_suppressions() -> tuple[list[tuple[str, int]], list[SuppressionRow]]:
    return contacts.lists(), [
        SuppressionRow(s.id, (s.channel, s.address, s.reason, local_text(s.created_at)))
        for s in contacts.suppressions()]


class ContactsScreen(HubScreen):
    """Import contacts, see the lists, and manage who must never be sent to."""

    BINDINGS = [Binding("a", "add_suppression", "Suppress"),
                Binding("x", "remove_suppression", "Unsuppress"),
                Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.help", "Help")]

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[Rejected] = []
        self.suppressed: list[SuppressionRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="contacts"):
            with Horizontal(classes="row"):
                yield Label("Import CSV", classes="field")
                yield Input(compact=True, id="path", suggester=PathSuggester(),
                            placeholder="path/to/contacts.csv  (→ completes; "
                                        "tab: tables; f1: help)")
            with Horizontal(classes="row"):
                yield Label("Into list", classes="field")
                yield Input(compact=True, id="list-name",
                            placeholder="a list name (default: the file's name)")
            yield Static("", id="import-result", markup=False)
            yield DataTable(id="rejects", cursor_type="row")
            yield Label("Lists")
            yield DataTable(id="lists", cursor_type="row")
            yield Label("Suppressions  (a add, x remove)")
            yield DataTable(id="suppressions", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "contacts"
        self.query_one("#lists", DataTable).add_columns("List", "Members")
        self.query_one("#rejects").display = False
        self.query_one("#path", Input).focus()
        self.load()

    def load(self) -> None:
        self.read(_lists_and_suppressions, self.show, group="contacts")

    def show(self, found: tuple[list[tuple[str, int]], list[SuppressionRow]]) -> None:
        lists, suppressed = found
        table = self.query_one("#lists", DataTable)
        table.clear()
        for name, members in lists:
            table.add_row(Text(name), str(members), key=name)
        self.suppressed = suppressed
        self.show_suppressions()

    def _room(self) -> int:
        return self.query_one("#contacts").content_size.width or self.size.width

    def show_suppressions(self) -> None:
        """Each suppression with its whole reason wrapped in its column: a STOP's reason ran
        the table past the screen's edge, cutting off "Since"."""
        table = self.query_one("#suppressions", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        widths = [max([cell_len(label), *(cell_len(row.cells[i]) for row in self.suppressed)])
                  for i, (_, label) in enumerate(SUPPRESSION_COLUMNS)]
        # A long address wraps too, once it would take more than half the room the two share.
        share = self._room() - CELL_PADDING * len(widths) - SCROLLBAR - widths[0] - widths[3]
        widths[_ADDRESS] = min(widths[_ADDRESS], max(MIN_WRAPPED, share // 2))
        widths[_REASON] = wrapped_width(self._room(), widths[:_REASON] + widths[_REASON + 1:])
        for (key, label), width in zip(SUPPRESSION_COLUMNS, widths, strict=True):
            table.add_column(label, key=key, width=width)
        for row in self.suppressed:
            table.add_row(*map(Text, row.cells), key=str(row.id), height=None)
        if self.suppressed:
            table.move_cursor(row=min(cursor, len(self.suppressed) - 1))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.query_one("#path", Input).focus()
            return
        list_name = self.query_one("#list-name", Input).value.strip() or None
        settings = self.hub.settings
        self.query_one("#import-result", Static).update(f"importing {path} …")
        self.hub.perform("import", lambda: contacts.import_csv(
            Path(path).expanduser(), settings.home, list_name, settings.sms.default_region),
            self.imported,
            failed=lambda exc: self.query_one("#import-result", Static).update(str(exc)))

    def imported(self, result: ImportResult) -> None:
        where = f"; rejected rows saved to {result.rejects_path}" if result.rejects_path else ""
        self.query_one("#import-result", Static).update(
            f"{result.summary()} (list {result.list_name}){where}")
        self.problems = result.problems[:SHOWN_PROBLEMS]
        self.show_problems()
        self.query_one("#lists", DataTable).focus()
        self.notify(result.summary())
        self.load()

    def show_problems(self) -> None:
        """Each problem row with its whole reason, wrapped to the screen's width: a reason such
        as "imported without its phone: phone '+1415' is not a valid number (check its digits
        and country code)" was cut at 80 columns."""
        rejects = self.query_one("#rejects", DataTable)
        rejects.clear(columns=True)
        rejects.display = bool(self.problems)
        if not self.problems:
            return
        line = max(len("Line"), *(len(str(problem.line)) for problem in self.problems))
        room = self._room()
        rejects.add_column("Line", width=line)
        rejects.add_column("Problem", width=wrapped_width(room, [line]))
        for problem in self.problems:
            rejects.add_row(str(problem.line), Text(problem.reason), height=None)

    def on_resize(self, event: events.Resize) -> None:
        # the reasons wrap anew to the new width
        if self.problems:
            self.show_problems()
        self.show_suppressions()

    def action_add_suppression(self) -> None:
        settings = self.hub.settings

        def add(answer: tuple[Channel, str] | None) -> None:
            if answer:
                channel, address = answer
                self.hub.perform("suppress", lambda: contacts.suppress(
                    [address], channel, "added by hand", settings.sms.default_region),
                    lambda _: self.load())
        self.app.push_screen(PromptDialog("Never send to:", "an email address or phone number",
                                          _address), add)

    def action_remove_suppression(self) -> None:
        table = self.query_one("#suppressions", DataTable)
        if not table.row_count:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        if row_key.value is None:
            return
        key = int(row_key.value)  # the row key is the suppression's id
        channel, address, reason = (str(cell) for cell in table.get_row(row_key)[:3])

        def chosen(allow: bool | None) -> None:
            if allow:
                self.hub.perform("unsuppress", lambda: contacts.unsuppress_ids([key]),
                                 lambda _: self.load())
        # one key must not undo someone's request to stop: ask, with the reason it was kept
        self.app.push_screen(ConfirmDialog(f"Send {channel} to {address} again? It was "
                                           f"suppressed: {reason}."), chosen)
