"""messagehub-tui: email and SMS campaigns from the terminal."""

__version__ = "0.1.0"
