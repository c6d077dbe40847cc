"""Argument types shared by the subcommands: each turns bad input into a one-line usage error."""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from typing import NoReturn

from messagehub_tui import config_checks
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import Settings
from messagehub_tui.config_checks import parse_duration
from messagehub_tui.errors import shown
from messagehub_tui.models import Channel

# A subcommand's handler, and what each cli_* module's `register(add)` is given to add one.
Handler = Callable[[argparse.Namespace, Settings], int]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]

# --channel's choices: every channel, by the name it is stored under
CHANNELS = [channel.value for channel in Channel]
ID_HELP = "the campaign's id (the ID column of `messagehub-tui campaigns`)"
SQLITE_MAX_INTEGER = 2**63 - 1
MAX_WAIT = 3600.0
# argparse's own words for a missing argument, reworded by Parser._needed
_REQUIRED = "the following arguments are required: "
_ONE_OF = re.compile(r"one of the arguments (.+) is required")


def print_json(value: object, indent: int | None = 2) -> None:
    """A command's JSON on stdout, non-ASCII text as itself ("Grüße", not "Gr\\u00fc\\u00dfe"),
    as the tables print it."""
    print(json.dumps(value, indent=indent, ensure_ascii=False))


def one_line(text: str) -> str:
    """Text for a one-line message: line breaks and other control characters escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (subcommand parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        said = self._needed(message) or message
        self.exit(ExitCode.USAGE, f"{self.prog}: {one_line(said)} (usage: {self.prog} --help)\n")

    def _needed(self, message: str) -> str | None:
        """A missing action in our words: argparse's "the following arguments are required:
        action" names a variable, not what to type ("bounces needs an action: check"), and
        "one of the arguments --at --clear is required" reads as a list of one."""
        command = self.prog.split()[-1]
        if message.startswith(_REQUIRED):
            missing = message.removeprefix(_REQUIRED).split(", ")
            for action in self._actions:
                name = action.metavar or action.dest
                if not action.option_strings and action.choices and name == missing[0]:
                    choices = " or ".join(map(str, action.choices))
                    article = "an" if str(name)[:1] in "aeiou" else "a"
                    return f"{command} needs {article} {name}: {choices}"
        group = _ONE_OF.fullmatch(message)
        if group:
            return f"{command} needs {' or '.join(group.group(1).split())}"
        return None


def campaign_id(text: str) -> int:
    """A campaign id: a whole number from 1 to SQLite's largest integer."""
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
        if 1 <= number <= SQLITE_MAX_INTEGER:
            return number
    raise argparse.ArgumentTypeError(
        f"a campaign id is a whole number from 1 to {SQLITE_MAX_INTEGER}, not {shown(text)}")


def one_line_note(text: str) -> str:
    """A note kept and shown on one line (a suppression's reason)."""
    if not config_checks.is_one_line(text):
        raise argparse.ArgumentTypeError("must be one line, without line breaks or control "
                                         "characters")
    return text


def rate(text: str) -> float:
    """Messages per second, by the one rule of config_checks.rate (0 for unlimited)."""
    try:
        value: object = float(text)
    except ValueError:
        value = text
    try:
        return config_checks.rate(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"rate {exc}") from None


def wait_seconds(text: str) -> float:
    """How long a command waits: a duration (`90`, `90s`, `2m`) of at most an hour."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_WAIT:
        raise argparse.ArgumentTypeError(
            f"a wait is a duration such as 30s or 2m, at most {MAX_WAIT // 60:.0f}m, "
            f"not {shown(text)}")
    return seconds


def add_id(parser: argparse.ArgumentParser) -> None:
    """The positional campaign id every campaign command takes."""
    parser.add_argument("id", type=campaign_id, help=ID_HELP)
