"""Argument types shared by the subcommands: each turns bad input into a one-line usage error."""

from __future__ import annotations

import argparse

ID_HELP = "the campaign's id (the ID column of `messagehub-tui campaigns`)"


def add_id(parser: argparse.ArgumentParser) -> None:
    """The positional campaign id every campaign command takes."""
    parser.add_argument("id", type=int, help=ID_HELP)
