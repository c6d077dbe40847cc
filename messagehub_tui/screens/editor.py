"""The editor: a campaign's fields, a live preview for the list's first contact, inline errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Collapsible, Footer, Header, Input, Label, Select, Static, TextArea

from messagehub_tui import campaigns, contacts
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Campaign, Channel
from messagehub_tui.preview import ReadablePreview, preview_draft
from messagehub_tui.screens.base import HubScreen
from messagehub_tui.screens.dialogs import ConfirmDialog

PREVIEW_DELAY = 0.3


def _rate(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise MessagehubError(f"rate {text!r} is not a number of messages per second") from None


def _rate_text(rate: float | None) -> str:
    """The rate as typed back into the form: short, but exact so saving keeps it."""
    if rate is None:
        return ""
    text = f"{rate:g}"
    return text if float(text) == rate else repr(rate)


def html_summary(html: str | None, removed: bool) -> str:
    """One line saying what HTML part saving will keep, so an unseen part is never lost."""
    if html is None:
        return "No HTML part (type a file path above to add one)."
    if removed:
        return "The HTML part will be removed on save (ctrl+r keeps it)."
    first = next((line.strip() for line in html.splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"HTML part: {len(html):,} characters, “{first}” (kept; a file above replaces it, " \
        "ctrl+r removes it)"


def _read_html(path: str, kept: str | None) -> str | None:
    """The HTML file typed in the form, or else the part the campaign already has."""
    if not path:
        return kept
    return campaigns.read_template(Path(path).expanduser(), "HTML")


def body_label(channel: str) -> str:
    """The body's label, naming the address variable of what the channel sends to."""
    address = "email" if channel == Channel.EMAIL else "phone"
    return f"Body (Jinja2: {{{{ first_name }}}}, {{{{ {address} }}}}, any CSV column)"


@dataclass(frozen=True)
class Form:
    """The editor's fields as typed (the rate as text, the HTML part as a path or the one kept)."""

    name: str
    channel: Channel
    list_name: str | None
    subject: str
    body: str
    html_path: str
    html_kept: str | None
    sender: str | None
    rate: str


class EditorScreen(HubScreen):
    """Create a campaign, or edit one that has not been launched."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"),
                Binding("ctrl+r", "toggle_html", "Remove/keep HTML"),
                Binding("escape", "back", "Back")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, campaign_id: int | None = None) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self._preview_timer: Timer | None = None
        self.html: str | None = None  # the campaign's stored HTML part, kept unless replaced
        self.html_removed = False
        self.loaded: Form | None = None  # the form as filled in, to tell unsaved changes

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            with Horizontal(classes="row"):
                yield Label("Name", classes="field")
                yield Input(compact=True, id="name", placeholder="e.g. December newsletter")
            with Horizontal(classes="row"):
                yield Label("Channel", classes="field")
                yield Select([(channel.value, channel) for channel in Channel],
                             value=Channel.EMAIL, id="channel",
                             allow_blank=False, compact=True)
            with Horizontal(classes="row"):
                yield Label("List", classes="field")
                yield Select([], id="list", prompt="import contacts first (i)", compact=True)
            with Horizontal(classes="row", id="subject-row"):
                yield Label("Subject", classes="field")
                yield Input(compact=True, id="subject", placeholder="e.g. Hello {{ first_name }}")
            yield Label(body_label(Channel.EMAIL), id="body-label")
            yield TextArea(id="body")
            with Horizontal(classes="row", id="html-row"):
                yield Label("HTML file", classes="field")
                yield Input(compact=True, id="html",
                            placeholder="optional: path to an HTML template")
            yield Static(html_summary(None, False), id="html-info", markup=False)
            with Horizontal(classes="row"):
                yield Label("From", classes="field")
                yield Input(compact=True, id="sender", placeholder="default from messagehub.toml")
            with Horizontal(classes="row"):
                yield Label("Rate /s", classes="field")
                yield Input(compact=True, id="rate",
                            placeholder="default from messagehub.toml; 0 = unlimited",
                            type="number")
        with VerticalScroll(id="preview-pane"):
            yield Static("", id="problems", classes="error", markup=False)
            yield Label("Preview for the list's first contact", id="preview-title")
            yield Static("", id="preview", markup=False)
            with Collapsible(title="headers", collapsed=True, id="headers-fold"):
                yield Static("", id="headers", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        def read() -> tuple[list[str], Campaign | None, str | None]:
            names = [name for name, _ in contacts.lists()]
            campaign = campaigns.get(self.campaign_id) if self.campaign_id else None
            chosen = campaign.contact_list if campaign is not None else None
            return names, campaign, chosen.name if chosen is not None else None
        self.read(read, lambda found: self.fill(*found), group="editor")

    def fill(self, names: list[str], campaign: Campaign | None, list_name: str | None) -> None:
        chooser = self.query_one("#list", Select)
        # the blank choice says what to do: pick one of the lists, or make the first one
        chooser.prompt = "choose a list" if names else "import contacts first (i)"
        chooser.set_options([(name, name) for name in names])
        if campaign is None:
            if names:
                chooser.value = names[0]
            self.loaded = self.fields()
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
        self.query_one("#rate", Input).value = _rate_text(campaign.rate)
        self.html = campaign.html
        self.show_html_info()
        self.loaded = self.fields()
        self.query_one("#name", Input).focus()
        self.schedule_preview()

    def fields(self) -> Form:
        """The form as typed; the rate is parsed and the HTML file read in the worker."""
        chooser = self.query_one("#list", Select)
        return Form(
            name=self.query_one("#name", Input).value.strip(),
            channel=Channel(str(self.query_one("#channel", Select).value)),
            list_name=None if chooser.is_blank() else str(chooser.value),
            subject=self.query_one("#subject", Input).value,
            body=self.query_one("#body", TextArea).text,
            html_path=self.query_one("#html", Input).value.strip(),
            html_kept=None if self.html_removed else self.html,
            sender=self.query_one("#sender", Input).value.strip() or None,
            rate=self.query_one("#rate", Input).value.strip(),
        )

    def on_input_changed(self) -> None:
        self.schedule_preview()

    def on_text_area_changed(self) -> None:
        self.schedule_preview()

    def on_select_changed(self) -> None:
        """An SMS has no subject and no HTML part: hide their fields (their values stay)."""
        email = self.query_one("#channel", Select).value == Channel.EMAIL
        for field in ("#subject-row", "#html-row", "#html-info"):
            self.query_one(field).display = email
        self.query_one("#body-label", Label).update(
            body_label(Channel.EMAIL if email else Channel.SMS))
        self.refresh_bindings()
        self.schedule_preview()

    def schedule_preview(self) -> None:
        """Render the preview a moment after the last keystroke."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY,
                                             lambda: self.render_preview(self.fields()))

    def render_preview(self, form: Form) -> None:
        settings = self.hub.settings

        def render() -> tuple[ReadablePreview | None, str]:
            try:
                return preview_draft(
                    settings, form.channel, form.list_name, form.body, form.subject,
                    _read_html(form.html_path, form.html_kept), form.sender, _rate(form.rate),
                    self.campaign_id), ""
            except MessagehubError as exc:
                return None, str(exc)
        self.read(render, lambda shown: self.show_preview(*shown), group="preview")

    def show_preview(self, preview: ReadablePreview | None, problem: str) -> None:
        problems = self.query_one("#problems", Static)
        problems.update(problem)
        problems.display = bool(problem)
        if preview is not None:
            self.query_one("#preview", Static).update(preview.body)
            fold = self.query_one("#headers-fold", Collapsible)
            fold.title = preview.summary
            self.query_one("#headers", Static).update(preview.headers)

    def show_html_info(self) -> None:
        self.query_one("#html-info", Static).update(html_summary(self.html, self.html_removed))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+r only where there is an HTML part to remove or keep."""
        if action == "toggle_html":
            return self.html is not None and \
                self.query_one("#channel", Select).value == Channel.EMAIL
        return True

    def action_toggle_html(self) -> None:
        self.html_removed = not self.html_removed
        self.show_html_info()
        self.schedule_preview()

    def action_back(self) -> None:
        """Leave; with unsaved changes, only once the user agrees to lose them."""
        if self.loaded is None or self.fields() == self.loaded:
            self.app.pop_screen()
            return
        def chosen(leave: bool | None) -> None:
            if leave:
                self.app.pop_screen()
        self.app.push_screen(ConfirmDialog("Leave the editor without saving? Your changes are "
                                           "lost."), chosen)

    def action_save(self) -> None:
        form = self.fields()
        settings = self.hub.settings

        def save() -> Campaign:
            html = _read_html(form.html_path, form.html_kept)
            rate = _rate(form.rate)
            if not form.list_name:
                raise MessagehubError("choose a list before saving")
            if self.campaign_id:
                return campaigns.update(
                    settings, self.campaign_id, name=form.name, channel=form.channel,
                    list_name=form.list_name, subject=form.subject, body=form.body, html=html,
                    sender=form.sender, rate=rate)
            return campaigns.create(settings, form.name, form.channel, form.list_name, form.body,
                                    form.subject, html, form.sender, rate)

        def saved(campaign: Campaign) -> None:
            self.notify(f"saved campaign {campaign.id}")
            self.app.pop_screen()

        self.hub.perform("save", save, saved, failed=lambda exc: self.show_preview(None, str(exc)))

