"""Entry point for `python -m messagehub_tui`."""

from messagehub_tui.cli import entry

raise SystemExit(entry())
