"""Every keyboard flow of the app with Pilot, asserting on the database and on the screen."""


import pytest
from textual.widgets import Input

from messagehub_tui import control
from messagehub_tui.models import Campaign, Suppression
from messagehub_tui.screens.dialogs import ConfirmDialog, PromptDialog, QuitDialog
from messagehub_tui.screens.editor import EditorScreen
from messagehub_tui.screens.help import HelpScreen
from messagehub_tui.screens.monitor import MonitorScreen, OverviewScreen
from tests.tui import (
    make_app,
    opens,
    screen_text,
    seeded_in_utc,
    settle,
    status_of,
    toasts,
    until,
)

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def settings(home, monkeypatch):
    return seeded_in_utc(home, monkeypatch)


async def fill_new_campaign(pilot, name: str, subject: str, *body_keys: str) -> None:
    """Open the editor with `n` and type a name, a subject and a body (channel and list kept)."""
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, EditorScreen)
    await pilot.press(*name, "tab", "tab", "tab", *subject, "tab", *body_keys)


async def test_create_a_campaign_in_the_editor(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_new_campaign(pilot, "Launch day", "Big news, {{ first_name }}",
                                *"Dear {{ first_name }} of {{ city }}")
        await until(pilot, lambda: "Dear Ada of London" in screen_text(app), what="preview")
        assert "Subject: Big news, Ada" in screen_text(app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, EditorScreen), what="save")
        created = Campaign.get(Campaign.name == "Launch day")
        assert (created.subject, created.body) == ("Big news, {{ first_name }}",
                                                   "Dear {{ first_name }} of {{ city }}")
        assert created.contact_list.name == "people" and created.status == "draft"
        await until(pilot, lambda: "Launch day" in screen_text(app), what="new row")


async def test_the_list_chooser_asks_for_an_import_only_when_there_is_no_list(settings):
    from textual.widgets import OptionList, Select
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen)
                    and app.screen.query_one("#list", Select).value == "people", what="lists")
        # what the chooser offers when opened: its blank choice first, then the lists
        offered = app.screen.query_one("#list", Select).query_one("SelectOverlay", OptionList)
        shown = [str(offered.get_option_at_index(i).prompt) for i in range(offered.option_count)]
        assert shown == ["choose a list", "people"]


async def test_template_errors_show_inline_and_block_saving(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_new_campaign(pilot, "Broken", "s", *"Hi", "enter", *"{{ coupon }}")
        await until(pilot, lambda: "no recipient can supply the variable 'coupon'"
                    in screen_text(app), what="inline error")
        assert "body: line 2" in screen_text(app)
        app.screen.query_one("#rate").value = "-"
        await until(pilot, lambda: "rate '-' is not a number" in screen_text(app),
                    what="rate error")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert not Campaign.select().where(Campaign.name == "Broken").exists()


async def test_edit_a_draft(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen)
                    and app.screen.query_one("#name").value == "Welcome", what="form filled")
        await pilot.press("end", *"backspace" and ["backspace"] * 7, *"Hello again")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, EditorScreen), what="save")
        assert Campaign.get_by_id(1).name == "Hello again"


async def test_launch_asks_first_and_n_backs_out(settings, home):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "l", ConfirmDialog)
        assert "to 3 recipients (0 suppressed)" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert status_of(1) == "draft"
        await opens(pilot, "l", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: status_of(1) == "completed", what="campaign to complete")
        await until(pilot, lambda: "completed" in screen_text(app) and "3/3" in screen_text(app),
                    what="row to show completed")
        assert len(list((home / "outbox" / "1").glob("*.eml"))) == 3


def add_people(home, count: int) -> None:
    from messagehub_tui import contacts
    extra = home / "extra.csv"
    extra.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(count)))
    contacts.import_csv(extra, home, "people")


async def test_pause_resume_and_cancel_from_the_keyboard(settings, home):
    from messagehub_tui import campaigns
    add_people(home, 30)
    slow = campaigns.create(settings, "Slow", "email", "people", "x", subject="y", rate=1)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.select(slow.id)
        await opens(pilot, "l", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: status_of(slow.id) == "running", what="running")
        await pilot.press("p")
        await until(pilot, lambda: status_of(slow.id) == "paused", what="paused")
        await pilot.press("r")
        await until(pilot, lambda: status_of(slow.id) == "running", what="resumed")
        await opens(pilot, "c", ConfirmDialog)
        assert "unsent deliveries will be cancelled" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert status_of(slow.id) == "running"
        await opens(pilot, "c", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: status_of(slow.id) == "cancelled", what="cancelled")


async def test_schedule_from_the_launcher(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "s", PromptDialog)
        await pilot.press(*"yesterday", "enter")
        await settle(pilot)
        assert "cannot read the time 'yesterday'" in screen_text(app)
        await pilot.press(*["backspace"] * 9, *"+2h", "enter")
        await until(pilot, lambda: status_of(1) == "scheduled", what="scheduled")
        await until(pilot, lambda: "in 1h59m" in screen_text(app)
                    or "in 2h00m" in screen_text(app), what="countdown")


async def test_send_a_test_message(settings, home):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "t", PromptDialog)
        # an email campaign asks for an email address (the walk: it offered a phone number too,
        # which was then refused as an invalid email)
        assert str(app.screen.query_one(Input).placeholder) == "an email address"
        await pilot.press(*"qa@example.com", "enter")
        await until(pilot, lambda: list((home / "outbox" / "1").glob("test-*.eml")),
                    what="test message in the outbox")
        message = next((home / "outbox" / "1").glob("test-*.eml")).read_text()
        assert "To: Ada Lovelace <qa@example.com>" in message \
            and "Subject: [test] Welcome Ada" in message
        assert status_of(1) == "draft"


async def test_delete_a_draft_and_filter(settings):
    from messagehub_tui import campaigns
    campaigns.create(settings, "Other", "sms", "people", "x")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"oth")
        await until(pilot, lambda: app.screen.query_one("DataTable").row_count == 1,
                    what="filtered")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.query_one("DataTable").row_count == 2,
                    what="unfiltered")
        table = app.screen.query_one("DataTable")
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["Welcome", "Other"]
        app.screen.select(1)
        await opens(pilot, "d", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: app.screen.query_one("DataTable").row_count == 1,
                    what="row gone")
        assert not Campaign.select().where(Campaign.name == "Welcome").exists()


async def test_import_contacts_and_suppressions(settings, home):
    csv = home / "more.csv"
    csv.write_text("email,first_name\nnew@example.com,New\nbroken@,Bad\n")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*str(csv), "enter")
        await until(pilot, lambda: "imported 1, updated 0, rejected 1 (list more)"
                    in screen_text(app), what="import summary")
        text = screen_text(app)
        assert "3 email 'broken@' is not valid" in text and "more 1" in text
        await opens(pilot, "a", PromptDialog)
        await pilot.press(*"spam@example.com", "enter")
        await until(pilot, lambda: Suppression.select().count() == 1, what="suppressed")
        await until(pilot, lambda: "spam@example.com" in screen_text(app), what="row")
        app.screen.query_one("#suppressions").focus()
        # the walk: one x undid a suppression ("asked to stop") without a question
        await opens(pilot, "x", ConfirmDialog)
        assert "Send email to spam@example.com again? It was suppressed: added by hand" \
            in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert Suppression.select().count() == 1
        await opens(pilot, "x", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: Suppression.select().count() == 0, what="unsuppressed")


async def test_monitor_overview_and_help(settings):
    control.launch(settings, 1, start=False)
    control.pause(settings, 1)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        await until(pilot, lambda: "pending 3" in screen_text(app), what="counts")
        await pilot.press("escape", "o")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen), what="overview")
        await until(pilot, lambda: "Welcome paused" in screen_text(app), what="overview row")
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_quitting_while_sending_asks_and_can_pause(settings, home):
    from messagehub_tui import campaigns
    add_people(home, 30)
    slow = campaigns.create(settings, "Slow", "email", "people", "x", subject="y", rate=1)
    control.launch(settings, slow.id)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: status_of(slow.id) == "running", what="running")
        await opens(pilot, "q", QuitDialog)
        assert "1 campaign is still sending" in screen_text(app)
        await pilot.press("s")
        await settle(pilot)
        assert app.is_running
        await opens(pilot, "q", QuitDialog)
        await pilot.press("p")
        await until(pilot, lambda: not app.is_running, what="exit")
    assert status_of(slow.id) in ("paused", "running")
    from tests.engine import wait_status
    wait_status(slow.id, "paused", timeout=10)


async def test_quitting_with_nothing_running_exits_at_once(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="exit")


async def test_every_launcher_key_is_in_the_command_palette(settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New", "Edit", "Monitor", "Launch", "Schedule", "Pause", "Resume", "Cancel",
                "Test send", "Delete draft", "Filter", "Contacts", "Overview"} <= titles


async def test_no_color_and_a_large_terminal(settings, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(settings)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        assert app.no_color
        assert "Welcome" in screen_text(app)


async def test_a_runner_crash_reaches_the_user_as_a_notification(settings, home):
    import os
    import signal

    from messagehub_tui import campaigns
    from messagehub_tui.models import Runner
    add_people(home, 30)
    slow = campaigns.create(settings, "Fragile", "email", "people", "x", subject="y", rate=2)
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.start_campaign(slow.id)
        runner = await until(pilot, lambda: Runner.get_or_none(Runner.campaign == slow.id),
                             what="runner registered")
        os.kill(runner.pid, signal.SIGKILL)
        await until(pilot, lambda: any(f"campaign {slow.id} interrupted" in text
                                       for text in toasts(app)), what="crash notification")
    assert status_of(slow.id) == "interrupted"


async def test_names_and_errors_with_brackets_are_shown_as_typed(settings):
    from messagehub_tui import campaigns
    odd = campaigns.create(settings, "[b]Promo[/b] [red]", "email", "people", "x", subject="y")
    control.launch(settings, odd.id, start=False)
    control.pause(settings, odd.id)
    error = "cannot connect to 127.0.0.1:25: [Errno 111] Connect call failed"
    Campaign.update(last_error=error).where(Campaign.id == odd.id).execute()
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert "[b]Promo[/b] [red]" in screen_text(app)
        app.screen.select(odd.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MonitorScreen)
                    and app.screen.data is not None, what="monitor")
        assert "[b]Promo[/b] [red]" in screen_text(app) and "[Errno 111]" in screen_text(app)
        await pilot.press("escape")
        await opens(pilot, "t", PromptDialog)
        await pilot.press(*"[red]nobody", "enter")
        # The refusal comes back through the app's error handler as a notification.
        await until(pilot, lambda: any("'[red]nobody'" in text for text in toasts(app)),
                    what="refusal shown as typed")
        assert app.is_running


async def test_the_import_path_completes_from_disk(settings, home):
    (home / "subscribers-2026.csv").write_text("email\nx@example.com\n")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*str(home / "subscr"))
        # the suggester works in a worker: "right" takes the suggestion only once it is there
        path = app.screen.query_one("#path")
        await until(pilot, lambda: path._suggestion == str(home / "subscribers-2026.csv"),
                    what="the suggestion")
        await pilot.press("right")
        await until(pilot, lambda: app.screen.query_one("#path").value
                    == str(home / "subscribers-2026.csv"), what="completion")


async def test_saving_an_unchanged_draft_changes_nothing(settings, home):
    """`e` then `ctrl+s` on a draft with every field set, an HTML part included, writes back the
    same values (it used to drop the HTML part)."""
    from playhouse.shortcuts import model_to_dict

    from messagehub_tui import campaigns
    html = "\n<html><body><p>Hi {{ first_name }}</p></body></html>\n"
    full = campaigns.create(settings, "Full", "email", "people", "Line one\n\nLine {{ city }}\n",
                            subject="Hello {{ first_name }}", html=html,
                            sender="News <news@example.com>", rate=1 / 3)
    before = model_to_dict(Campaign.get_by_id(full.id), recurse=False)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.select(full.id)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen)
                    and app.screen.query_one("#name").value == "Full", what="form filled")
        await settle(pilot)
        assert f"HTML part: {len(html)} characters, “<html><body><p>Hi {{{{ first_name }}}}" \
            in screen_text(app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, EditorScreen), what="save")
    after = model_to_dict(Campaign.get_by_id(full.id), recurse=False)
    before.pop("updated_at"), after.pop("updated_at")
    assert after == before


async def test_the_html_part_is_removed_only_when_asked(settings):
    from messagehub_tui import campaigns
    full = campaigns.create(settings, "Full", "email", "people", "x", subject="y",
                            html="<p>{{ first_name }}</p>")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.select(full.id)
        await pilot.press("e")
        await until(pilot, lambda: "HTML part: 23 characters" in screen_text(app), what="info")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "will be removed on save" in screen_text(app), what="removal")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, EditorScreen), what="save")
    assert Campaign.get_by_id(full.id).html is None


async def test_unsuppress_removes_the_selected_row_only(settings):
    from messagehub_tui import contacts
    contacts.suppress(["first@example.com"], "email", "one")
    contacts.suppress(["+14155550109"], "sms", "two", "US")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await until(pilot, lambda: "first@example.com" in screen_text(app), what="rows")
        table = app.screen.query_one("#suppressions")
        table.focus()
        row = next(i for i in range(table.row_count)
                   if str(table.get_row_at(i)[1]) == "+14155550109")
        table.move_cursor(row=row)
        await opens(pilot, "x", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: Suppression.select().count() == 1, what="unsuppressed")
    assert Suppression.get().address == "first@example.com"


async def test_the_app_notices_the_end_of_a_campaign_at_once(settings):
    """The follow worker itself reports a campaign's end (issue 15): with the screens not polling
    (refresh_every of an hour), the end is noticed while the launcher still shows the campaign
    running, so no screen refresh told it. How soon, in seconds, is bench/bench_notice.py's."""
    app = make_app(settings, refresh_every=3600)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.start_campaign(1)
        await until(pilot, lambda: any("campaign 1 completed" in t for t in toasts(app)),
                    what="end noticed")
        assert status_of(1) == "completed"
        shown = app.screen.query_one("#campaigns")
        assert "completed" not in " ".join(str(cell) for cell in shown.get_row_at(0)), \
            "a screen refresh, not the follow worker, showed the end"


async def test_the_app_says_at_once_when_a_campaigns_runners_cannot_start(settings):
    """Runners that die before registering (a stray messagehub_tui.py in the home, their working
    directory, shadows the package) make the campaign interrupted with why within seconds, not
    after the 30 s a queued campaign without runners takes to count as orphaned."""
    (settings.home / "messagehub_tui.py").write_text("")
    app = make_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.start_campaign(1)
        said = await until(pilot, lambda: [t for t in toasts(app) if "campaign 1 interrupted" in t],
                           timeout=20, what="the failed start noticed")
    assert "its runner exited with status 1 before sending" in said[0], said
    assert Campaign.get_by_id(1).status == "interrupted"


async def test_a_steady_rate_with_a_little_jitter_draws_a_level_sparkline():
    """Scaled from 0 to the highest reading: 10 msg/s give or take 2 % is a level graph near the
    top, not a saw from floor to ceiling (as a min..max scale drew it)."""
    from textual.app import App

    from messagehub_tui.screens.widgets.monitor_panels import RatePanel, RateSparkline

    class Panel(App):
        def compose(self):
            yield RatePanel()

    jitter = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0, 9.85, 10.15] * 4
    app = Panel()
    async with app.run_test(size=(60, 3)) as pilot:
        app.query_one(RatePanel).show(10.0, jitter)
        await pilot.pause()
        spark = app.query_one(RateSparkline)
        rows = [spark.render_line(y).text for y in range(3)]
        assert all(len(row) == spark.size.width for row in rows), rows
        columns = rows[0][-len(jitter):]
        assert set(rows[1][-len(jitter):]) == set(rows[2][-len(jitter):]) == {"█"}, rows
        assert set(columns) <= set("▆▇█"), rows  # the top line: every reading within an eighth
        # half the rate halves the bars
        app.query_one(RatePanel).show(5.0, [5.0] * 10 + [10.0])
        await pilot.pause()
        rows = [spark.render_line(y).text for y in range(3)]
        assert rows[0][-11:] == " " * 10 + "█" and rows[1][-11:] == "▄" * 10 + "█", rows


async def test_escape_in_the_editor_asks_before_losing_what_was_typed(settings):
    # The walk: a body typed in the editor was gone after one escape, without a question.
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "n", EditorScreen)
        await settle(pilot)
        await pilot.press("escape")  # nothing typed: back at once
        await until(pilot, lambda: not isinstance(app.screen, EditorScreen), what="back")
        await fill_new_campaign(pilot, "Typed", "Subject", *"A long body")
        await opens(pilot, "escape", ConfirmDialog)
        assert "without saving" in screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen), what="still editing")
        assert app.screen.query_one("#body").text == "A long body"
        await opens(pilot, "escape", ConfirmDialog)
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, (EditorScreen, ConfirmDialog)),
                    what="left")
        assert not Campaign.select().where(Campaign.name == "Typed").exists()


async def test_an_html_file_that_is_not_utf8_is_refused_in_one_line(settings, home):
    """The editor reads a template file by the CLI's rule: a Latin-1 file is named and refused
    ("not UTF-8 text"), not shown as a codec's complaint about a byte position."""
    latin1 = home / "latin1.html"
    latin1.write_bytes("<p>Grüße {{ first_name }}</p>".encode("latin-1"))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_new_campaign(pilot, "Latin", "s", *"Hi")
        app.screen.query_one("#html", Input).value = str(latin1)
        await until(pilot, lambda: "is not UTF-8 text" in screen_text(app), what="inline error")
        assert "codec" not in screen_text(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert not Campaign.select().where(Campaign.name == "Latin").exists()
