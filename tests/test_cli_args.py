"""Bad arguments get one clear line and exit 1 or 2: ids, WHEN, rates, names (and a fuzzer)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messagehub_tui.cli import main
from messagehub_tui.database import close_db
from tests.clitools import ok, run

ID_COMMANDS = [["schedule", "{}", "--clear"], ["delete", "{}"], ["preview", "{}"],
               ["status", "{}"], ["launch", "{}"], ["send", "{}"], ["pause", "{}"],
               ["resume", "{}"], ["cancel", "{}"], ["retry", "{}", "--failed"],
               ["send-test", "{}", "--to", "me@example.com"], ["deliveries", "{}"],
               ["export", "{}", "out.csv"]]
HUGE_ID = "12345678901234567890"


def _huge_id_refusal(name: str) -> str:
    return (f"messagehub-tui {name}: argument id: a campaign id is a whole number from 1 to "
            f"9223372036854775807, not '{HUGE_ID}' (usage: messagehub-tui {name} --help)\n")


def test_a_20_digit_id_is_a_usage_error(tmp_path):
    for command in (["status", "{}"], ["send", "{}"], ["export", "{}", "out.csv"]):
        refused = run(tmp_path, *(word.format(HUGE_ID) for word in command))
        assert (refused.returncode, refused.stderr) == (2, _huge_id_refusal(command[0]))


@pytest.mark.parametrize("command", ID_COMMANDS, ids=lambda command: command[0])
def test_a_20_digit_id_is_a_usage_error_in_every_command(fuzz_home, command):
    code, err = _cli(fuzz_home, *(word.format(HUGE_ID) for word in command))
    assert (code, err) == (2, _huge_id_refusal(command[0]))


@pytest.fixture(scope="module")
def draft_home(tmp_path_factory):
    """A home with one draft campaign (its id is in the file `draft`)."""
    home = tmp_path_factory.mktemp("draft")
    (home / "people.csv").write_text("email\nann@example.com\n")
    (home / "body.txt").write_text("hi")
    ok(home, "import", str(home / "people.csv"))
    (home / "draft").write_text(ok(home, "create", "--name", "n", "--channel", "email", "--list",
                                   "people", "--subject", "s", "--body",
                                   str(home / "body.txt")).strip())
    return home


@pytest.mark.parametrize("when, says", [
    ("+999999999d", "'+999999999d' is more than 10 years ahead"),
    ("9999-12-31T23:59:59-01:00", "'9999-12-31T23:59:59-01:00' is out of range: schedule "
                                  "between now and 10 years ahead"),
    ("2020-01-01T00:00Z", "'2020-01-01T00:00Z' is in the past"),
    ("next tuesday", "cannot read the time 'next tuesday'"),
])
def test_bad_when_is_one_clear_line(draft_home, when, says):
    refused = run(draft_home, "schedule", (draft_home / "draft").read_text(), "--at", when)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"messagehub-tui: {says}") and refused.stderr.count("\n") == 1


def test_a_campaign_name_with_a_line_break_is_refused(draft_home):
    tmp_path, draft = draft_home, (draft_home / "draft").read_text()
    refused = run(tmp_path, "create", "--name", "two\nlines", "--channel", "email", "--list",
                  "people", "--subject", "s", "--body", str(tmp_path / "body.txt"))
    assert refused.returncode == 1
    assert refused.stderr == ("messagehub-tui: the campaign name must be one line, without line "
                              "breaks or control characters\n")
    nan = run(tmp_path, "create", "--name", "x", "--channel", "email", "--list", "people",
              "--subject", "s", "--body", str(tmp_path / "body.txt"), "--rate", "nan")
    assert nan.returncode == 2 and "rate must be a number of messages per second" in nan.stderr
    assert [line.split()[0] for line in ok(tmp_path, "campaigns").splitlines()[1:]] == [draft]


# --- property tests: in-process (the same main() the command runs), thousands of inputs ---

def _fuzz_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    (home / "people.csv").write_text("email\nann@example.com\n")
    (home / "body.txt").write_text("hi")
    assert main(["--home", str(home), "import", str(home / "people.csv")]) == 0
    return home


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory):
    """A home with a list and no campaign, ever: every id names a missing campaign."""
    yield _fuzz_home(tmp_path_factory)
    close_db()


@pytest.fixture(scope="module")
def create_home(tmp_path_factory):
    """A home where fuzzed `create` commands may succeed."""
    yield _fuzz_home(tmp_path_factory)
    close_db()


def _cli(home, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, err.getvalue()


def _clear_or_refused(code: int, err: str) -> None:
    assert code in (0, 1, 2), code
    if code:
        assert err.endswith("\n") and err.count("\n") == 1, err
        assert err.startswith("messagehub-tui"), err


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ids = st.one_of(st.text(max_size=30), st.integers().map(str),
                st.integers(min_value=2**62).map(str), st.just("0"), st.just("-1"))
whens = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, u: f"+{n}{u}", st.integers(min_value=0, max_value=10**30),
              st.sampled_from("smhdx")),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M")))
rates = st.one_of(st.text(max_size=20), st.floats().map(repr), st.integers().map(str))


@FUZZ
@given(command=st.sampled_from(ID_COMMANDS), value=ids)
def test_fuzz_campaign_ids(fuzz_home, command, value):
    code, err = _cli(fuzz_home, *(word.format(value) for word in command))
    _clear_or_refused(code, err)
    assert code != 0  # no campaign exists in this home


@FUZZ
@given(when=whens)
def test_fuzz_when(fuzz_home, when):
    _clear_or_refused(*_cli(fuzz_home, "create", "--name", "w", "--channel", "email", "--list",
                            "nolist", "--subject", "s", "--body", str(fuzz_home / "body.txt"),
                            f"--at={when}"))


@FUZZ
@given(rate=rates, name=st.text(max_size=20))
def test_fuzz_rates_and_names(create_home, rate, name):
    _clear_or_refused(*_cli(create_home, "create", f"--name={name}", "--channel", "email",
                            "--list", "people", "--subject", "s",
                            "--body", str(create_home / "body.txt"), f"--rate={rate}"))


durations = st.one_of(st.text(max_size=20), st.floats().map(repr),
                      st.builds(lambda n, u: f"{n}{u}", st.integers(min_value=0),
                                st.sampled_from(["", "ms", "s", "m", "h", "d", "w"])))


@FUZZ
@given(command=st.sampled_from(["pause", "resume", "cancel"]), wait=durations)
def test_fuzz_wait_durations(fuzz_home, command, wait):
    code, err = _cli(fuzz_home, command, "1", f"--wait={wait}")
    _clear_or_refused(code, err)
    assert code != 0  # campaign 1 does not exist


@pytest.mark.parametrize("command, needs", [
    (["bounces"], "bounces needs an action: check"),
    (["schedule", "1"], "schedule needs --at or --clear"),
])
def test_a_missing_action_names_the_actions(tmp_path, command, needs):
    refused = run(tmp_path, *command)
    assert (refused.returncode, refused.stderr) == (
        2, f"messagehub-tui {command[0]}: {needs} (usage: messagehub-tui {command[0]} --help)\n")
