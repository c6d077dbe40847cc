"""Defects found by walking the app as a newcomer, at 80x24 with Pilot."""

import pytest
from textual.widgets import DataTable

from messagehub_tui.screens.contacts import ContactsScreen
from tests.tui import make_app, open_deliveries, seed, settle, until


@pytest.fixture
def settings(home):
    return seed(home)


async def test_the_contacts_screen_lists_every_problem_row_in_line_order(settings, home):
    # The screen showed rows rejected while reading first and in-file duplicates after them,
    # and not at all the rows imported without their bad phone, which the CLI lists.
    (home / "messy.csv").write_text(
        "email,phone,first_name\n"
        "one@example.com,,One\n"
        "ONE@example.com,,Other\n"          # line 3: a duplicate inside the file
        "not-an-email,,Bad\n"               # line 4: rejected while reading
        "two@example.com,garbage,Two\n",    # line 5: imported without its phone
        encoding="utf-8")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ContactsScreen), what="contacts")
        await pilot.press(*str(home / "messy.csv"), "enter")
        table = app.screen.query_one("#rejects", DataTable)
        await until(pilot, lambda: table.row_count > 0, what="problem rows listed")
        rows = [table.get_row_at(index) for index in range(table.row_count)]
        assert [line for line, _ in rows] == ["3", "4", "5"]
        assert "imported without its phone" in str(rows[2][1])


async def test_the_command_palette_shows_keys_as_the_footer_does(settings):
    # The palette named keys by their internal names: "key: slash", "key: question_mark".
    from textual.command import CommandList, CommandPalette

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"Filter")
        commands = app.screen.query_one(CommandList)

        def shown() -> str:
            return "\n".join(str(commands.get_option_at_index(index).prompt)
                             for index in range(commands.option_count))
        await until(pilot, lambda: "Filter" in shown(), what="the filter command listed")
        assert "key: /" in shown() and "slash" not in shown()


async def test_an_empty_overview_says_why_it_is_empty(settings):
    # `o` with nothing running or scheduled showed a bare table header and nothing else.
    from textual.widgets import Static

    from messagehub_tui.screens.monitor import OverviewScreen
    from tests.tui import screen_text

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen), what="overview")
        await settle(pilot)
        note = app.screen.query_one("#overview-empty", Static)
        await until(pilot, lambda: note.display, what="the empty note shown")
        assert "nothing is running" in screen_text(app).lower()


async def test_a_launcher_cell_that_grows_is_shown_whole(settings):
    # Opened while a campaign was "queued" (or "draft"), the Status column kept that width:
    # once it completed the launcher read "comple" at 80x24.
    from messagehub_tui.models import Campaign
    from messagehub_tui.screens.widgets.campaign_table import CampaignTable

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(CampaignTable)
        await until(pilot, lambda: table.row_count == 1, what="the draft listed")
        Campaign.update(status="completed").execute()  # as another process would
        await until(pilot, lambda: "completed" in str(table.get_row_at(0)[3]),
                    what="the new status in the table")
        await settle(pilot)
        line = table.render_line(1).text  # row 0, under the header
        assert "completed" in line, line


async def test_an_overview_cell_that_grows_is_shown_whole(settings):
    # A campaign first seen "queued" kept a 6-column Status: "runnin" once it ran.
    from messagehub_tui.models import Campaign
    from messagehub_tui.screens.monitor import OverviewScreen

    Campaign.update(status="queued").execute()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen), what="overview")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, what="the queued campaign listed")
        Campaign.update(status="running").execute()  # as its runner would
        await until(pilot, lambda: str(table.get_row_at(0)[2]) == "running", what="running")
        await settle(pilot)
        assert "running" in table.render_line(1).text, table.render_line(1).text


async def test_a_long_event_wraps_inside_the_monitor_at_80_columns(settings):
    # RichLog renders lines at least 78 columns wide (its min_width); inside the bordered log at
    # 80x24, with its scrollbar, it has 76: "passed more than" read "passed more th" and the log
    # scrolled sideways.
    from textual.widgets import RichLog

    from messagehub_tui.events import record_event
    from messagehub_tui.screens.monitor import MonitorScreen
    from tests.tui import opens

    words = ("missed: its time 2026-12-02T03:49:14.710335Z passed more than 5 s ago while "
             "nothing was running; launch it by hand")
    from messagehub_tui.models import Campaign
    Campaign.update(status="missed", last_error=words).execute()
    record_event(settings.logs_dir, 1, words, "error")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        log = app.screen.query_one("#events", RichLog)
        await until(pilot, lambda: log.lines, what="the event written")
        await settle(pilot)
        assert log.virtual_size.width <= log.scrollable_content_region.width
        shown = " ".join(strip.text.strip() for strip in log.lines)
        assert words in shown, shown


async def test_long_errors_leave_the_monitor_room_for_its_event_log_at_80x24(settings):
    # Three errors of a few lines each (Twilio's reasons are long) above the log pushed it off
    # the screen at 80x24: only its top border was left.
    from textual.widgets import RichLog

    from messagehub_tui.events import record_event
    from messagehub_tui.screens.monitor import MonitorScreen
    from tests.tui import opens

    for number in range(3):
        record_event(settings.logs_dir, 1, f"text to +1415555010{number} undelivered: Twilio "
                     "error 30003: unreachable destination handset (off, out of coverage, or "
                     "cannot receive SMS); the carrier said so after the message had been "
                     "accepted, which is why it counts as sent and heard back", "error")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        log = app.screen.query_one("#events", RichLog)
        await until(pilot, lambda: log.lines, what="the events written")
        await settle(pilot)
        assert log.scrollable_content_region.height >= 3, log.region


async def test_the_deliveries_screen_shows_each_whole_reason_at_80x24(settings):
    # "Twilio error 21211: Unable to create record: The 'To' number is not a valid phone
    # number." was cut at 80 columns ("... The"), the rest only by scrolling sideways.
    from messagehub_tui import control
    from messagehub_tui.models import db

    reason = ("Twilio error 21211: Unable to create record: The 'To' number is not a valid "
              "phone number.")
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET status = 'failed', attempts = 1, error = ?", (reason,))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_deliveries(pilot, 3)
        shown = [table.render_line(y).text for y in range(table.size.height)]
        assert table.virtual_size.width <= table.size.width, shown
        words = " ".join(" ".join(shown).split())
        assert words.count("not a valid phone number.") == 3, shown


async def test_a_long_import_reason_wraps_whole_on_the_contacts_screen_at_80x24(settings, home):
    # "imported without its phone: phone '+1415' is not a valid number (check its digits and
    # country code)" was cut at the screen's edge: the end of the reason was not readable.
    (home / "long.csv").write_text("email,phone,first_name\n"
                                   "five@example.com,+1415,Five\n", encoding="utf-8")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ContactsScreen), what="contacts")
        await pilot.press(*str(home / "long.csv"), "enter")
        table = app.screen.query_one("#rejects", DataTable)
        await until(pilot, lambda: table.row_count > 0, what="the problem row listed")
        await settle(pilot)
        reason = str(table.get_row_at(0)[1])
        assert len(reason) > 80, reason
        drawn = [strip.text for strip in table.render_lines(table.region.reset_offset)]
        problem = " ".join(" ".join(line[7:].split()) for line in drawn[1:])  # after "Line"
        assert reason in problem, drawn
        assert table.region.right <= 80


async def test_the_editors_body_label_names_the_channels_address_variable(settings):
    # An SMS body was labelled "{{ first_name }}, {{ email }}, any CSV column": an SMS
    # recipient's address is {{ phone }}.
    from textual.widgets import Label, Select

    from messagehub_tui.screens.editor import EditorScreen
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen), what="the editor")
        label = app.screen.query_one("#body-label", Label)
        assert "{{ email }}" in str(label.render())
        app.screen.query_one("#channel", Select).value = "sms"
        await until(pilot, lambda: "{{ phone }}" in str(label.render()), what="the SMS label")
        assert "{{ email }}" not in str(label.render())


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
async def test_the_suppressions_table_wraps_a_long_reason_within_the_screen(settings, size):
    # A STOP's reason ran the table past the screen's edge: "Since" was cut to "2026-12-02 03:4".
    from messagehub_tui import contacts
    from messagehub_tui.channels.twilio_feedback import STOP_REASON
    contacts.suppress(["+14155550109"], "sms", STOP_REASON, "US")
    contacts.suppress(["someone.with.a.long.name@example.com"], "email",
                      "hard bounce: 550 5.1.1 Recipient address rejected: User unknown in "
                      "virtual mailbox table")
    app = make_app(settings)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ContactsScreen), what="contacts")
        table = app.screen.query_one("#suppressions", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="the suppressions listed")
        for width, height in (size, (120, 30), size):  # and anew after a resize
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            assert table.virtual_size.width <= table.size.width
            drawn = " ".join(strip.text for strip in table.render_lines(
                table.region.reset_offset))
            words = drawn.split()
            assert "Since" in words, drawn
            for row in range(2):  # whole, not cut at the edge
                assert str(table.get_row_at(row)[3]) in drawn, drawn
            # (the second row's reason may run below the table's view)
            first_reason = str(table.get_row_at(0)[2])
            assert all(word in words for word in first_reason.split()), drawn


async def test_the_editors_placeholders_cannot_be_taken_for_values(settings):
    # Without colour (TERM=xterm-mono, NO_COLOR) the Name field's placeholder "December
    # newsletter" read as a name already typed; ctrl+s then said "the campaign needs a name".
    from textual.widgets import Input

    from messagehub_tui.screens.editor import EditorScreen
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen), what="the editor")
        await settle(pilot)
        for field in app.screen.query(Input):
            assert field.value == ""
            assert field.placeholder.startswith(("e.g. ", "optional", "default")), field.id
        drawn = app.screen.query_one("#name", Input).render_line(0).text
        assert drawn.strip() == "e.g. December newsletter"


async def test_the_monitors_event_log_wraps_anew_on_a_resize(settings):
    # RichLog keeps the lines rendered at the width of their writing: events written at 80
    # columns stayed 80 wide (wrapped early) at 120x30, and cut again at 80 after that.
    from textual.widgets import RichLog

    from messagehub_tui.events import record_event
    from messagehub_tui.screens.monitor import MonitorScreen
    from tests.tui import opens

    words = ("text to +14155550100 undelivered: Twilio error 30003: unreachable destination "
             "handset (off, out of coverage, or cannot receive SMS)")
    record_event(settings.logs_dir, 1, words, "error")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        log = app.screen.query_one("#events", RichLog)
        await until(pilot, lambda: log.lines, what="the event written")
        # the event is 148 characters with its time and level: 3 lines in the 76 columns the
        # log has at 80x24, 2 in its 116 at 120x30 (the first over 76 wide)
        for width, height, lines in ((120, 30, 2), (80, 24, 3), (120, 30, 2)):
            await pilot.resize_terminal(width, height)
            await until(pilot, lambda: len(log.lines) == lines  # noqa: B023 (awaited here)
                        and log.virtual_size.width <= log.scrollable_content_region.width,
                        what=f"the event wrapped anew at {width} columns")
            shown = " ".join(strip.text.strip() for strip in log.lines)
            assert words in " ".join(shown.split()), shown
        assert log.lines[0].text.rstrip().__len__() > 76


async def test_the_deliveries_screen_fits_60_columns_with_long_addresses(settings):
    # At 60x20 the Reason column kept its 20-column minimum beside a 25-column address: the
    # table ran 11 columns past the screen, cutting "X-Postfix; unknown user: …" to
    # "X-Postfix; unk" and "ghost@loop.ex" (seen with a real Postfix DSN).
    from messagehub_tui import control
    from messagehub_tui.models import db

    reason = 'X-Postfix; unknown user: "ghost@loop.example.net"'
    control.launch(settings, 1, start=False)
    db.execute_sql("UPDATE delivery SET address = 'someone.long@loop.example.net', "
                   "status = 'failed', attempts = 1, error = ? WHERE id = 1", (reason,))
    app = make_app(settings)
    async with app.run_test(size=(60, 20)) as pilot:
        table = await open_deliveries(pilot, 3)
        assert table.virtual_size.width <= table.size.width, table.virtual_size
        shown = [table.render_line(y).text for y in range(table.size.height)]
        start = shown[0].index("Reason")
        reasons = "".join(line[start:].strip() for line in shown)  # its wrapped lines joined
        assert reason.replace(" ", "") in reasons.replace(" ", ""), shown
        addresses = "".join(line[:start].split("  ")[0].strip() for line in shown)
        assert "someone.long@loop.example.net" in addresses, shown


async def test_the_monitor_keeps_its_event_log_readable_at_60x20(settings):
    # At 60x20 the three latest errors took three lines above the log, which was left one line
    # between its borders: an event took a keypress per line to read. Below 24 rows the errors
    # are hidden (each is in the log too).
    from textual.widgets import RichLog

    from messagehub_tui import control, feedback
    from messagehub_tui.events import record_event
    from messagehub_tui.models import db
    from messagehub_tui.screens.monitor import MonitorScreen
    from tests.tui import opens

    control.launch(settings, 1, start=False)  # completed, with what was heard back
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1")
    db.execute_sql("UPDATE campaign SET status = 'completed'")
    for delivery_id, kind in ((1, "bounced"), (2, "complained"), (3, "unsubscribed")):
        feedback.record(delivery_id, None, feedback.FeedbackKind(kind), "seen", f"k{kind}")
    for number in range(3):
        record_event(settings.logs_dir, 1, f"bounced for ghost{number}@loop.example.net: "
                     "X-Postfix; unknown user; address suppressed", "error")
    app = make_app(settings)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        log = app.screen.query_one("#events", RichLog)
        await until(pilot, lambda: log.lines, what="the events written")
        await settle(pilot)
        assert log.scrollable_content_region.height >= 3, log.region
        assert log.region.bottom <= 19  # above the footer


async def test_help_opens_from_the_contacts_import_field_with_f1(settings):
    # Contacts opens with the focus in the path field, where `?` types a "?": help was out of
    # reach and the footer showed only "esc Back". F1 opens help from any field; the field says so.
    from textual.widgets import Input

    from messagehub_tui.screens.help import HelpScreen
    from tests.tui import opens

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await opens(pilot, "i", ContactsScreen)
        path = app.screen.query_one("#path", Input)
        assert path.has_focus
        assert "f1: help" in path.placeholder and "tab: tables" in path.placeholder
        await opens(pilot, "f1", HelpScreen)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, ContactsScreen), what="help closed")
        assert path.value == ""


async def test_an_old_read_never_overwrites_a_newer_one(settings):
    # The editor showed "the body is empty" under a preview of the typed body: the render of
    # the form as it was before the body was typed came back last. A cancelled thread worker
    # runs on (threads cannot be stopped), so its answer must be dropped, not shown.
    import asyncio
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    class Recording(ThreadPoolExecutor):
        """Every job handed to a thread, so the test can wait for the old one to end."""

        def __init__(self) -> None:
            super().__init__(max_workers=4)
            self.futures: list[Future] = []

        def submit(self, fn, /, *args, **kwargs) -> Future:
            future = super().submit(fn, *args, **kwargs)
            self.futures.append(future)
            return future

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        threads = Recording()
        asyncio.get_running_loop().set_default_executor(threads)
        started, release, shown = threading.Event(), threading.Event(), []

        def old() -> str:
            started.set()
            release.wait()
            return "old"
        app.screen.read(old, shown.append, group="walk")
        await until(pilot, started.is_set, what="the old read running")
        app.screen.read(lambda: "new", shown.append, group="walk")
        await until(pilot, lambda: shown == ["new"], what="the newer answer")
        release.set()
        await until(pilot, lambda: all(future.done() for future in threads.futures),
                    what="the old read's thread ended")
        await pilot.pause()
        assert shown == ["new"]
