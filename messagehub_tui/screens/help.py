"""The help screen: what each key does on each screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = """\
[b]Campaigns[/b] (the launcher)
  n new   e edit   enter monitor   l launch   s schedule   p pause   r resume
  c cancel   t send a test   d delete a draft   / filter   i contacts
  o overview of running and scheduled campaigns   ? help   q quit

[b]Editor[/b]   tab next field   ctrl+s save   escape back
[b]Monitor[/b]  p pause   r resume   c cancel   escape back
[b]Contacts[/b] enter import the CSV file   a suppress an address   x remove a suppression
[b]Dialogs[/b]  y yes   n or escape no

ctrl+p opens the command palette: every action above is there too.
Launch and cancel ask first and say how many recipients they touch.
Quitting while campaigns send asks: keep them sending, pause them, or stay.
"""


class HelpScreen(ModalScreen):
    """Keys for every screen; escape, q or ? closes it."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close"),
                Binding("question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(KEYS)
