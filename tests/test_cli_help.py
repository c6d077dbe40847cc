"""Every command's --help: each argument described, examples that parse, the exit codes listed."""

from __future__ import annotations

import argparse
import shlex

import pytest

from messagehub_tui.cli import build_parser
from tests.clitools import run

SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";"}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _example_argv(line: str) -> list[str]:
    words = shlex.split(line)
    for index, word in enumerate(words):  # after VAR=value, or inside a wrapping command
        if word == "messagehub-tui":
            words = words[index:]
            break
        if word.startswith("messagehub-tui "):
            words = shlex.split(word)
            break
    cut = next((i for i, word in enumerate(words) if word in SHELL_OPERATORS), len(words))
    return words[1:cut]


@pytest.mark.parametrize("name", [None, *_subcommands()])
def test_every_argument_is_described_and_every_example_parses(name):
    parser = build_parser() if name is None else _subcommands()[name]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    help_text = parser.format_help()
    assert "\nexamples:\n" in help_text and "\nexit codes:\n" in help_text, name
    examples = help_text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    parsed = [_example_argv(line.strip()) for line in examples if "messagehub-tui" in line]
    assert parsed, f"{name} has no example"
    for argv in parsed:
        args = build_parser().parse_args(argv)
        assert args.command == name, (name, argv)


def test_help_through_the_real_command(tmp_path):
    shown = run(tmp_path, "send", "--help")
    assert shown.returncode == 0
    assert "  3    the campaign finished with failed or unknown deliveries" in shown.stdout
    assert "  messagehub-tui send 3 --dry-run" in shown.stdout
    top = run(tmp_path, "--help")
    assert top.returncode == 0 and "deliveries" in top.stdout and "exit codes:" in top.stdout
