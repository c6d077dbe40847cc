"""Modal dialogs: confirm with y/n, a one-line prompt with validation, and the quit question."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from messagehub_tui.errors import MessagehubError

Answer = TypeVar("Answer")


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question: `y` confirms, `n` or `escape` backs out."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "Back")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, id="question", markup=False)
            yield Label("[b]y[/b] yes   [b]n[/b] / [b]esc[/b] no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptDialog(ModalScreen[Answer]):
    """Ask for one value; `check` turns the text into a value or raises MessagehubError; escape
    answers None."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, title: str, placeholder: str, check: Callable[[str], Answer]) -> None:
        super().__init__()
        self.title_text, self.placeholder, self.check = title, placeholder, check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, markup=False)
            yield Input(placeholder=self.placeholder, id="answer")
            yield Static("", id="problem", classes="error", markup=False)
            yield Label("[b]enter[/b] ok   [b]esc[/b] back", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            value = self.check(event.value.strip())
        except MessagehubError as exc:
            self.query_one("#problem", Static).update(str(exc))
            return
        self.dismiss(value)

    def action_back(self) -> None:
        self.dismiss(None)


class QuitDialog(ModalScreen[str]):
    """Campaigns are running: keep them sending, pause them, or stay."""

    BINDINGS = [Binding("k", "choose('keep')", "Keep sending"),
                Binding("p", "choose('pause')", "Pause them"),
                Binding("escape", "choose('stay')", "Stay"), Binding("s", "choose('stay')", "Stay")]

    def __init__(self, running: int) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        plural = "campaign is" if self.running == 1 else "campaigns are"
        with Vertical(classes="dialog"):
            yield Static(f"{self.running} {plural} still sending.")
            with Horizontal(classes="buttons"):
                # Content, not a markup string: "[k]" would be read as a (missing) style tag.
                yield Button(Content.from_markup("[b]k[/b] Keep sending in the background"),
                             id="keep", variant="primary")
                yield Button(Content.from_markup("[b]p[/b] Pause them"), id="pause")
                yield Button(Content.from_markup("[b]s[/b] Stay"), id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
