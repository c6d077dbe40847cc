"""Defects found by walking the app as a newcomer, at 80x24 with Pilot."""

import pytest
from textual.widgets import DataTable

from messagehub_tui.screens.contacts import ContactsScreen
from tests.tui import make_app, seed, settle, until


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
