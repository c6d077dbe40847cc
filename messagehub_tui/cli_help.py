"""What the command line promises: its exit codes, and the help texts and examples of each command."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of every command; `send` uses all of them."""

    OK = 0              # done; for send: every recipient delivered or skipped
    ERROR = 1           # one line on stderr says what went wrong
    USAGE = 2           # the command line itself is wrong
    FAILURES = 3        # send: the campaign finished, some deliveries failed or are unknown
    STOPPED = 4         # send: the campaign ended paused, cancelled or interrupted
    INTERRUPTED = 130   # Ctrl-C (send pauses its campaign first)
    BROKEN_PIPE = 141   # the reader of stdout went away (`| head`), as for tools killed by SIGPIPE
