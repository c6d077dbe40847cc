"""The app as a newcomer meets it at 80x24 (issue 8, items 3 and 8-16): Pilot flows asserting on
what the screen shows and on the database."""

import re
from pathlib import Path

import pytest
from textual.widgets import Button, Footer, Input, ProgressBar

from messagehub_tui import campaigns, control
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.events import record_event
from messagehub_tui.models import Campaign, Delivery, db
from messagehub_tui.screens.contacts import ContactsScreen
from messagehub_tui.screens.dialogs import ConfirmDialog, PromptDialog, QuitDialog
from messagehub_tui.screens.editor import EditorScreen
from messagehub_tui.screens.help import HelpScreen
from messagehub_tui.screens.monitor import MonitorScreen, OverviewScreen
from tests.tui import (
    Clock,
    make_app,
    opens,
    screen_text,
    seeded_in_utc,
    settle,
    status_of,
    toasts,
    until,
)


@pytest.fixture
def settings(home, monkeypatch):
    return seeded_in_utc(home, monkeypatch)


async def open_monitor(pilot, campaign_id: int) -> None:
    await settle(pilot)
    pilot.app.screen.select(campaign_id)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen)
                and pilot.app.screen.data is not None, what="monitor")


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


# --- item 3: styles scoped to their screen ---------------------------------------------------

def test_every_style_rule_names_its_screen_or_a_shared_class():
    """A bare `#id` rule matches that id on every screen (the monitor's `#rate` made the editor's
    Rate input 0 rows tall)."""
    css = (Path(__file__).resolve().parent.parent / "messagehub_tui" / "app.tcss").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")]
    assert selectors and [s for s in selectors if s.startswith("#")] == []
    assert sum(1 for s in selectors if s == ".row") == 1


async def test_the_editor_rate_field_shows_what_is_typed(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "e", EditorScreen)
        await settle(pilot)
        rate = app.screen.query_one("#rate", Input)
        rate.focus()
        await pilot.press(*"2.5")
        await settle(pilot)
        assert rate.value == "2.5"
        assert rate.size.height == 1 and rate.size.width > 30
        assert "2.5" in "".join(strip.text for strip in rate.render_lines(rate.region.reset_offset))


# --- item 8 (monitor part): which recipients failed ------------------------------------------

async def test_the_monitor_lists_failed_and_unknown_deliveries_first(settings):
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1 WHERE address LIKE 'ada%'")
    db.execute_sql("UPDATE delivery SET status = 'failed', attempts = 3, "
                   "error = '550 mailbox unavailable' WHERE address LIKE 'zoe%'")
    db.execute_sql("UPDATE delivery SET status = 'unknown', attempts = 1, "
                   "error = 'runner died mid-send' WHERE address LIKE 'grace%'")
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_monitor(pilot, 1)
        from messagehub_tui.screens.deliveries import DeliveriesScreen
        await opens(pilot, "d", DeliveriesScreen)
        await until(pilot, lambda: app.screen.query_one("DataTable").row_count == 3, what="rows")
        table = app.screen.query_one("DataTable")
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(3)]
        assert rows == [["zoe@example.com", "failed", "3", "-", "550 mailbox unavailable"],
                        ["grace@example.com", "unknown", "1", "-", "runner died mid-send"],
                        ["ada@example.com", "sent", "1", "-", ""]]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MonitorScreen), what="back")


# --- item 9: the state after a recovered crash, and what unknown means -----------------------

def interrupted_with_unknown(settings) -> int:
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1 WHERE address LIKE 'ada%'")
    db.execute_sql("UPDATE delivery SET status = 'unknown', attempts = 1 "
                   "WHERE address LIKE 'grace%'")
    Campaign.update(status="interrupted").where(Campaign.id == 1).execute()
    record_event(settings.logs_dir, 1, "interrupted: its runner stopped without finishing "
                 "(1 runner(s) found dead); resume to continue", "error")
    return 1


async def test_after_a_recovered_crash_the_monitor_shows_the_current_state(settings):
    campaign_id = interrupted_with_unknown(settings)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_monitor(pilot, campaign_id)
        assert "its runner stopped without finishing; r resumes" in text_of(app, "#hints")
        # the walk: unknowns from a server that timed out were blamed on a stopped runner
        assert ("1 unknown: no answer came after sending (a timeout, a drop, a runner that "
                "stopped), so they may or may not have arrived") in text_of(app, "#hints")
        assert "retry 1 --unknown" in text_of(app, "#hints")
        await pilot.press("r")
        await until(pilot, lambda: status_of(campaign_id) == "completed", what="resumed run")
        await until(pilot, lambda: "completed" in text_of(app, "#headline"), what="headline")
        assert "resume to continue" not in text_of(app, "#errors")
        assert "r resumes" not in text_of(app, "#hints")
        assert "1 unknown" in text_of(app, "#hints")
        await opens(pilot, "u", ConfirmDialog)
        assert "Send 1 unknown deliveries" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: Delivery.get(Delivery.address == "grace@example.com").status
                    == "sent", what="unknown one sent again")
        await until(pilot, lambda: not app.screen.query_one("#hints").display, what="no hint")


async def test_keys_that_cannot_apply_are_not_offered(settings):
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent'")
    Campaign.update(status="completed").where(Campaign.id == 1).execute()
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_monitor(pilot, 1)
        shown = {active.binding.key for active in app.screen.active_bindings.values()
                 if active.enabled}
        assert "d" in shown and not shown & {"p", "r", "c", "u"}
        await pilot.press("u", "c")
        await settle(pilot)
        assert isinstance(app.screen, MonitorScreen)


# --- items 10-13: the launcher ---------------------------------------------------------------

async def test_the_launcher_countdown_ticks(settings):
    clock = Clock()
    Campaign.update(status="scheduled", scheduled_at=clock.now.replace(hour=9, minute=30)) \
        .where(Campaign.id == 1).execute()
    app = make_app(settings, clock=clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: "in 1h30m" in screen_text(app), what="first countdown")
        clock.advance(60)
        await until(pilot, lambda: "in 1h29m" in screen_text(app), what="a minute later")
        clock.advance(45 * 60)
        await until(pilot, lambda: "in 44m" in screen_text(app), what="later still")


async def test_the_launcher_says_overdue_when_nothing_fired_a_campaign(settings):
    # A campaign whose time passed while nothing ran showed its time and "due" for ever.
    clock = Clock()
    Campaign.update(status="scheduled", scheduled_at=clock.now.replace(hour=9, minute=30)) \
        .where(Campaign.id == 1).execute()
    app = make_app(settings, clock=clock)  # no scheduler: nothing fires it
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: "in 1h30m" in screen_text(app), what="first countdown")
        clock.advance(90 * 60 + 10)
        await until(pilot, lambda: "due" in screen_text(app), what="just due")
        assert "overdue" not in screen_text(app)
        clock.advance(60)
        await until(pilot, lambda: "overdue" in screen_text(app), what="overdue")


async def test_an_empty_time_unschedules(settings):
    control.schedule(settings, 1, Clock().now.replace(year=2099))
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "s", PromptDialog)
        assert "empty to unschedule" in str(app.screen.query_one(Input).placeholder)
        await pilot.press("enter")
        await until(pilot, lambda: status_of(1) == "draft", what="draft again")
        assert Campaign.get_by_id(1).scheduled_at is None
        await until(pilot, lambda: any("no longer scheduled" in t for t in toasts(app)),
                    what="message")


async def test_an_empty_time_on_a_draft_asks_for_a_time(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "s", PromptDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        assert "type a time such as +2h" in screen_text(app)
        assert status_of(1) == "draft"


async def test_a_new_home_offers_the_contacts_screen(home):
    (home / "messagehub.toml").write_text("")
    settings = load_settings(home)
    open_db(settings.db_location)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "n", ConfirmDialog)
        assert "No contacts yet: import a CSV first" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ContactsScreen), what="contacts")


async def test_quit_buttons_show_their_keys(settings, home):
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.push_screen(QuitDialog(1))
        await settle(pilot)
        labels = [str(button.label) for button in app.screen.query(Button)]
        assert labels == ["k Keep sending in the background", "p Pause them", "s Stay"]


def footer_keys(app) -> set[str]:
    from textual.widgets._footer import FooterKey
    return {key.key for key in app.screen.query_one(Footer).query(FooterKey)}


@pytest.mark.parametrize("width, secondary", [(80, False), (120, True)])
async def test_wider_terminals_show_more_keys_in_the_footer(settings, width, secondary):
    app = make_app(settings)
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        keys = footer_keys(app)
        assert {"n", "e", "l", "q"} <= keys
        assert ({"t", "d", "slash", "i", "o", "enter"} <= keys) is secondary


async def test_at_60x20_the_launchers_footer_shows_the_keys_a_session_needs_whole(settings):
    # Help and quit fell off the footer's end at 60 columns; edit and schedule make room now
    # (they work, and help lists them).
    from textual.widgets._footer import FooterKey
    app = make_app(settings)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        shown = {key.key: key.region for key in app.screen.query_one(Footer).query(FooterKey)}
        assert set(shown) == {"n", "l", "p", "r", "c", "question_mark", "q"}
        assert all(region.width > 0 and region.right <= 60 for region in shown.values()), shown
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert {"e", "s"} <= footer_keys(app)


async def test_delete_on_a_scheduled_campaign_does_not_ask(settings):
    control.schedule(settings, 1, Clock().now.replace(year=2099))
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await until(pilot, lambda: toasts(app), what="refusal")
        assert not isinstance(app.screen, ConfirmDialog)
        assert "campaign 1 is scheduled; only a draft can be deleted; s with an empty time " \
               "makes it a draft again" in toasts(app)[0]
        assert status_of(1) == "scheduled"


async def test_schedule_on_a_finished_campaign_does_not_ask_for_a_time(settings):
    # s on a completed campaign asked for a time, then refused whatever was typed.
    control.launch(settings, 1, start=False)
    control.cancel(settings, 1)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("s")
        refusal = "only a draft, missed or scheduled campaign can be scheduled"
        await until(pilot, lambda: any(refusal in t for t in toasts(app)), what=refusal)
        assert not isinstance(app.screen, PromptDialog)
        assert status_of(1) == "cancelled"


async def test_launch_and_cancel_on_a_finished_campaign_do_not_ask(settings):
    control.launch(settings, 1, start=False)
    control.cancel(settings, 1)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        for key, refusal in (("l", "only a draft, scheduled or missed campaign can be launched"),
                             ("c", "campaign 1 is already cancelled")):
            await pilot.press(key)
            await until(pilot, lambda refusal=refusal: any(refusal in t for t in toasts(app)),
                        what=refusal)
            assert not isinstance(app.screen, ConfirmDialog)


# --- item 14: 80x24 ---------------------------------------------------------------------------

async def test_notifications_come_one_at_a_time_and_go_quickly(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        for text in ("first", "second", "third"):
            app.notify(text)
        await settle(pilot)
        assert toasts(app) == ["third"]
        assert all(n.timeout <= 3 for n in app._notifications)


async def test_contacts_placeholders_are_readable(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "i", ContactsScreen)
        await settle(pilot)
        for box in app.screen.query(Input):
            assert box.size.width >= len(box.placeholder) + 1, box.id


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_help_never_wraps_an_entry(settings, size):
    # at 60x20 the editor's "^r Remove/keep HTML" was cut to "^r Remove/keep" by the 3 columns
    app = make_app(settings)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "question_mark", HelpScreen)
        await settle(pilot)
        entries = list(app.screen.query(".key"))
        assert len(entries) > 20
        for entry in entries:
            assert entry.size.height == 1
            assert len(str(entry.render())) <= entry.size.width, str(entry.render())


async def test_help_lists_every_key_of_every_screen(settings):
    from messagehub_tui.screens.help import sections
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "question_mark", HelpScreen)
        await settle(pilot)
        shown = {str(entry.render()) for entry in app.screen.query(".key")}
        for _, screen in sections():
            for binding in screen.BINDINGS:
                if binding.description:
                    name = binding.tooltip or binding.description
                    assert f"{app.get_key_display(binding)} {name}" in shown


async def test_the_preview_shows_the_decoded_body_first(settings):
    campaigns.update(settings, 1, body="Grüße, {{ first_name }}! Ça va ?")
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "e", EditorScreen)
        await until(pilot, lambda: "Grüße, Ada! Ça va ?" in text_of(app, "#preview"),
                    what="decoded body")
        assert "=C3" not in text_of(app, "#preview")
        fold = app.screen.query_one("#headers-fold")
        assert fold.collapsed and fold.title == "Subject: Welcome Ada"
        assert "To: Ada Lovelace <ada@example.com>" in text_of(app, "#headers")


# --- item 15: numbers that do not mislead ------------------------------------------------------

async def test_a_draft_with_suppressed_contacts_shows_no_progress(settings):
    from messagehub_tui import contacts
    contacts.suppress(["zoe@example.com"], "email", "asked to stop")
    control.launch(settings, 1, start=False)
    control.pause(settings, 1)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_monitor(pilot, 1)
        bar = app.screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (0, 2)
        await pilot.press("escape")
        await opens(pilot, "o", OverviewScreen)
        await until(pilot, lambda: "0%" in screen_text(app), what="overview row")
        assert "33%" not in screen_text(app)


# --- item 16: what SMS has no use for ---------------------------------------------------------

async def test_the_sms_editor_hides_subject_and_html(settings):
    sms = campaigns.create(settings, "Text", "sms", "people", "Hi {{ first_name }}")
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.screen.select(sms.id)
        await opens(pilot, "e", EditorScreen)
        await until(pilot, lambda: "segment" in str(app.screen.query_one("#headers-fold").title),
                    what="preview")
        for field in ("#subject-row", "#html-row", "#html-info"):
            assert not app.screen.query_one(field).display, field
        assert "HTML" not in " ".join(str(k) for k in footer_keys(app))
        assert "ctrl+r" not in footer_keys(app)


async def test_the_schedule_prompts_example_time_is_one_that_is_accepted(settings):
    # The walk: the placeholder said "2026-12-01 09:00", a date already past, so typing the
    # example was refused as "in the past".
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await opens(pilot, "s", PromptDialog)
        placeholder = str(app.screen.query_one(Input).placeholder)
        example = re.search(r"\d{4}-\d\d-\d\d 09:00", placeholder).group()
        await pilot.press(*example)
        await pilot.press("enter")
        await until(pilot, lambda: status_of(1) == "scheduled", what="scheduled at the example")


# --- the 02:00 walk: a launcher that agrees with the monitor, a monitor that stops with the run --

async def test_the_launcher_counts_suppressed_recipients_as_the_monitor_does(settings):
    """A completed campaign with one suppressed recipient read 2/3 in the launcher (one message
    missing?) while the monitor's progress counted it on neither side."""
    from messagehub_tui import contacts
    contacts.suppress(["zoe@example.com"], "email", "asked to stop")
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1 WHERE status = 'pending'")
    Campaign.update(status="completed").where(Campaign.id == 1).execute()
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = app.screen.query_one("CampaignTable")
        await until(pilot, lambda: table.row_count == 1, what="launcher row")
        assert str(table.get_cell("1", "sent")) == "2/2 (1 skipped)"
        await open_monitor(pilot, 1)
        bar = app.screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (2, 2)


async def test_a_paused_campaign_shows_no_rate_and_the_time_it_ran(settings):
    """Paused 14 minutes after sending for 2 seconds, the monitor read `elapsed 14m 29s` and
    went on showing the last rate and its sparkline."""
    clock = Clock()
    control.launch(settings, 1, start=False)
    Campaign.update(status="running", started_at=clock.now).where(Campaign.id == 1).execute()
    app = make_app(settings, clock=clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_monitor(pilot, 1)
        spark = app.screen.query_one("RateSparkline")
        db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1 "
                       "WHERE address LIKE 'ada%'")
        await until(pilot, lambda: spark.display, what="a rate while running")
        assert not text_of(app, "#rate-panel #figure").startswith("0.0")
        clock.advance(2)
        Campaign.update(status="paused", updated_at=clock.now).where(Campaign.id == 1).execute()
        clock.advance(14 * 60 + 27)
        await until(pilot, lambda: "paused" in text_of(app, "#headline"), what="paused")
        await settle(pilot)
        assert text_of(app, "#rate-panel #figure") == "— msg/s"
        assert not spark.display
        assert text_of(app, "#timing").startswith("elapsed 2s ")
        await pilot.press("escape")
        await opens(pilot, "o", OverviewScreen)
        table = app.screen.query_one("DataTable")
        await until(pilot, lambda: table.row_count == 1, what="overview row")
        assert str(table.get_cell("1", "rate")) == "—"


async def test_the_retry_unknown_question_counts_what_the_retry_will_send(settings):
    # The question counted an unknown delivery whose address was suppressed since; the retry
    # skips it, so it sent fewer than the question said.
    from messagehub_tui import contacts
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1 WHERE address LIKE 'ada%'")
    db.execute_sql("UPDATE delivery SET status = 'unknown', attempts = 1 "
                   "WHERE address LIKE 'grace%' OR address LIKE 'zoe%'")
    Campaign.update(status="completed").where(Campaign.id == 1).execute()
    contacts.suppress(["zoe@example.com"], "email", "asked to stop")
    app = make_app(settings)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await open_monitor(pilot, 1)
        await opens(pilot, "u", ConfirmDialog)
        assert "Send 1 unknown deliveries" in screen_text(app)
        assert "(1 suppressed since will be skipped)" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: Delivery.get(Delivery.address == "grace@example.com").status
                    == "sent", what="the unknown one sent again")
        assert Delivery.get(Delivery.address == "zoe@example.com").status == "skipped"


def test_the_retry_unknown_question_when_every_unknown_address_is_suppressed(settings):
    from messagehub_tui import confirmations, contacts
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1")
    db.execute_sql("UPDATE delivery SET status = 'unknown' WHERE address LIKE 'zoe%'")
    Campaign.update(status="completed").where(Campaign.id == 1).execute()
    contacts.suppress(["zoe@example.com"], "email", "asked to stop")
    name = Campaign.get_by_id(1).name
    assert confirmations.retry_unknown_question(1) == (
        f"Mark the 1 unknown deliveries of campaign 1 “{name}” skipped? Their addresses were "
        "suppressed since; nothing will be sent.")
