"""The help screen: each screen's keys, read from its BINDINGS so help and keys cannot drift."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

NOTES = """\
f1 opens this help from any screen, also while a field has the focus (? types there).
ctrl+p opens the command palette: every key of the current screen is there too.
Launch, cancel, delete and retry ask first, and only when they can succeed.
Quitting while campaigns send asks: keep them sending, pause them, or stay."""


def sections() -> list[tuple[str, type[Screen]]]:
    """The screens help describes, in the order a newcomer meets them."""
    # Imported here: these screens open help, so importing them at the top would be a cycle.
    from messagehub_tui.screens.campaigns import CampaignsScreen
    from messagehub_tui.screens.contacts import ContactsScreen
    from messagehub_tui.screens.deliveries import DeliveriesScreen
    from messagehub_tui.screens.dialogs import ConfirmDialog
    from messagehub_tui.screens.editor import EditorScreen
    from messagehub_tui.screens.monitor import MonitorScreen, OverviewScreen
    return [("Campaigns (the launcher)", CampaignsScreen), ("Editor", EditorScreen),
            ("Monitor", MonitorScreen), ("Deliveries", DeliveriesScreen),
            ("Overview", OverviewScreen), ("Contacts", ContactsScreen),
            ("Questions", ConfirmDialog)]


def documented(screen: type[Screen]) -> list[Binding]:
    """A screen's keys that have a description, one per action."""
    seen, keys = set(), []
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description and binding.action not in seen:
            seen.add(binding.action)
            keys.append(binding)
    return keys


class HelpScreen(ModalScreen):
    """Keys for every screen; escape, q, ? or f1 closes it."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close"),
                Binding("question_mark", "dismiss", "Close"), Binding("f1", "dismiss", "Close")]
    # Below 80 columns three entries a row cut the longer ones ("^r Remove/keep HTML" at 60x20):
    # two a row there.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (80, "-wide")]
    DEFAULT_CSS = """
    HelpScreen .keys { layout: grid; grid-size: 3; grid-rows: 1; grid-gutter: 0 1; height: auto; }
    HelpScreen.-narrow .keys { grid-size: 2; }
    HelpScreen .section { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            for title, screen in sections():
                yield Label(Content.from_markup("[b]$title[/b]", title=title), classes="section")
                with Grid(classes="keys"):
                    for binding in documented(screen):
                        yield Static(Content.from_markup(
                            "[b]$key[/b] $what", key=self.app.get_key_display(binding),
                            what=binding.tooltip or binding.description), classes="key")
            yield Static(NOTES, classes="section", markup=False)
