"""Entry point for `python -m messagehub_tui`."""

from messagehub_tui.cli import main

raise SystemExit(main())
