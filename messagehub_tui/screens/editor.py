"""The editor: a campaign's fields, a live preview for the list's first contact, inline template errors."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Select, Static, TextArea

from messagehub_tui import audience, campaigns, contacts
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Campaign, db

PREVIEW_DELAY = 0.3


def _rate(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise MessagehubError(f"rate {text!r} is not a number of messages per second") from None


def _read_html(path: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise MessagehubError(f"cannot read the HTML file {path}: {exc.strerror}") from None


class EditorScreen(Screen):
    """Create a campaign, or edit one that has not been launched."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "app.pop_screen", "Back")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, campaign_id: int | None = None):
        super().__init__()
        self.campaign_id = campaign_id
        self._preview_timer = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            with Horizontal(classes="row"):
                yield Label("Name", classes="field")
                yield Input(compact=True, id="name", placeholder="December newsletter")
            with Horizontal(classes="row"):
                yield Label("Channel", classes="field")
                yield Select([("email", "email"), ("sms", "sms")], value="email", id="channel",
                             allow_blank=False, compact=True)
            with Horizontal(classes="row"):
                yield Label("List", classes="field")
                yield Select([], id="list", prompt="import contacts first (i)", compact=True)
            with Horizontal(classes="row", id="subject-row"):
                yield Label("Subject", classes="field")
                yield Input(compact=True, id="subject", placeholder="Hello {{ first_name }}")
            yield Label("Body (Jinja2: {{ first_name }}, {{ email }}, any CSV column)")
            yield TextArea(id="body")
            with Horizontal(classes="row"):
                yield Label("HTML file", classes="field")
                yield Input(compact=True, id="html", placeholder="optional: path to an HTML template")
            with Horizontal(classes="row"):
                yield Label("From", classes="field")
                yield Input(compact=True, id="sender", placeholder="default from messagehub.toml")
            with Horizontal(classes="row"):
                yield Label("Rate /s", classes="field")
                yield Input(compact=True, id="rate", placeholder="default from messagehub.toml; 0 = unlimited",
                            type="number")
        with VerticalScroll(id="preview-pane"):
            yield Static("", id="problems", classes="error", markup=False)
            yield Label("Preview for the list's first contact", id="preview-title")
            yield Static("", id="preview", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exit_on_error=False, group="editor")
    def load(self) -> None:
        try:
            names = [name for name, _ in contacts.lists()]
            campaign = campaigns.get(self.campaign_id) if self.campaign_id else None
            list_name = campaign.contact_list.name if campaign and campaign.contact_list_id else None
        finally:
            db.close()
        self.app.call_from_thread(self.fill, names, campaign, list_name)

    def fill(self, names: list[str], campaign: Campaign | None, list_name: str | None) -> None:
        chooser = self.query_one("#list", Select)
        chooser.set_options([(name, name) for name in names])
        if campaign is None:
            if names:
                chooser.value = names[0]
            self.query_one("#name", Input).focus()
            self.schedule_preview()
            return
        self.sub_title = f"campaign {campaign.id}"
        self.query_one("#name", Input).value = campaign.name
        self.query_one("#channel", Select).value = campaign.channel
        if list_name:
            chooser.value = list_name
        self.query_one("#subject", Input).value = campaign.subject or ""
        self.query_one("#body", TextArea).text = campaign.body
        self.query_one("#sender", Input).value = campaign.sender or ""
        self.query_one("#rate", Input).value = "" if campaign.rate is None else f"{campaign.rate:g}"
        self.query_one("#name", Input).focus()
        self.schedule_preview()

    def fields(self) -> dict:
        """The form's raw values; the rate is parsed and the HTML file read in the worker."""
        chosen = self.query_one("#list", Select).value
        return {
            "name": self.query_one("#name", Input).value.strip(),
            "channel": self.query_one("#channel", Select).value,
            "list_name": None if chosen is Select.BLANK else chosen,
            "subject": self.query_one("#subject", Input).value,
            "body": self.query_one("#body", TextArea).text,
            "html_path": self.query_one("#html", Input).value.strip(),
            "sender": self.query_one("#sender", Input).value.strip() or None,
            "rate": self.query_one("#rate", Input).value.strip(),
        }

    def on_input_changed(self) -> None:
        self.schedule_preview()

    def on_text_area_changed(self) -> None:
        self.schedule_preview()

    def on_select_changed(self) -> None:
        self.query_one("#subject-row").display = self.query_one("#channel", Select).value != "sms"
        self.schedule_preview()

    def schedule_preview(self) -> None:
        """Render the preview a moment after the last keystroke."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, lambda: self.render_preview(self.fields()))

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def render_preview(self, values: dict) -> None:
        settings = self.app.settings
        try:
            if not values["list_name"]:
                raise MessagehubError("choose a list (import contacts with i on the launcher)")
            contact_list = contacts.get_list(values["list_name"])
            values["rate"] = _rate(values["rate"])
            html = _read_html(values["html_path"])
            campaigns.validate(settings, values["channel"], contact_list, values["body"],
                               values["subject"], html, values["sender"], values["rate"])
            draft = Campaign(id=self.campaign_id or 0, channel=values["channel"],
                             subject=values["subject"], body=values["body"], html=html,
                             sender=values["sender"])
            contact = audience.first_member(contact_list.id, values["channel"])
            if contact is None:
                raise MessagehubError(f"list {contact_list.name} has nobody with an "
                                      f"{'email address' if values['channel'] == 'email' else 'phone'}")
            address = contact.email if values["channel"] == "email" else contact.phone
            text, problem = campaigns.render_for(draft, settings, contact.template_vars(),
                                                 address), ""
        except MessagehubError as exc:
            text, problem = "", str(exc)
        finally:
            db.close()
        self.app.call_from_thread(self.show_preview, text, problem)

    def show_preview(self, text: str, problem: str) -> None:
        problems = self.query_one("#problems", Static)
        problems.update(problem)
        problems.display = bool(problem)
        if text:
            self.query_one("#preview", Static).update(text)

    def action_save(self) -> None:
        values = self.fields()
        settings = self.app.settings

        def save() -> Campaign:
            html = _read_html(values.pop("html_path"))
            values["rate"] = _rate(values["rate"])
            if not values["list_name"]:
                raise MessagehubError("choose a list before saving")
            if self.campaign_id:
                changes = {k: v for k, v in values.items() if k != "channel"}
                return campaigns.update(settings, self.campaign_id, channel=values["channel"],
                                        html=html, **changes)
            return campaigns.create(settings, values["name"], values["channel"],
                                    values["list_name"], values["body"], values["subject"], html,
                                    values["sender"], values["rate"])

        def saved(campaign: Campaign) -> None:
            self.notify(f"saved campaign {campaign.id}")
            self.app.pop_screen()

        self.app.perform("save", save, saved, failed=lambda exc: self.show_preview("", str(exc)))

