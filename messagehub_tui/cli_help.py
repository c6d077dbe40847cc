"""What the command line promises: its exit codes, and the help texts and examples of each
command."""

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


_EXIT_CODES = """exit codes:
  0    done
  1    error: one line on stderr says what went wrong
  2    usage: the command line is wrong (see --help)
  130  interrupted (Ctrl-C)
  141  the reader of the output went away (| head)"""

_SEND_EXIT_CODES = """exit codes:
  0    the campaign completed: every recipient delivered or skipped
  1    error: one line on stderr says what went wrong
  2    usage: the command line is wrong (see --help)
  3    the campaign finished with failed or unknown deliveries (see: deliveries ID)
  4    the campaign ended paused, cancelled or interrupted, not finished
  130  interrupted (Ctrl-C): the campaign was paused; send ID again to go on
  141  the reader of the output went away (| head); the campaign goes on sending
  --dry-run exits 0 when every message renders, 1 when some do not"""

_STOP_EXIT_CODES = """exit codes:
  0    the campaign is {state}
  1    error, or the campaign did not become {state} (a line says what it is instead)
  2    usage: the command line is wrong (see --help)"""

# Each command's examples, one command line each (a test parses every one of them).
EXAMPLES: dict[str | None, list[str]] = {
    None: ["messagehub-tui --home ./news", "MESSAGEHUB_HOME=./news messagehub-tui"],
    "init": ["messagehub-tui --home ~/campaigns init"],
    "import": ["messagehub-tui import people.csv", "messagehub-tui import people.csv --list vip"],
    "suppress": ["messagehub-tui suppress ann@example.com --channel email --reason 'asked'",
                 "messagehub-tui suppress +14155550101 --channel sms"],
    "unsuppress": ["messagehub-tui unsuppress ann@example.com --channel email"],
    "bounces": ["messagehub-tui bounces check"],
    "suppressions": ["messagehub-tui suppressions", "messagehub-tui suppressions --channel sms",
                     "messagehub-tui suppressions --json"],
    "lists": ["messagehub-tui lists", "messagehub-tui lists --json",
              "messagehub-tui lists --delete old-newsletter"],
    "create": ["messagehub-tui create --name 'May news' --channel email --list people "
               "--subject 'News for {{ first_name }}' --body may.txt --html may.html",
               "messagehub-tui create --name Reminder --channel sms --list people "
               "--body reminder.txt --rate 1 --at '+2h'"],
    "schedule": ["messagehub-tui schedule 3 --at '2026-12-01 09:00'",
                 "messagehub-tui schedule 3 --at +1d", "messagehub-tui schedule 3 --clear"],
    "demo": ["messagehub-tui --home ./messagehub-demo demo",
             "messagehub-tui --home ./messagehub-demo demo --no-app"],
    "daemon": ["tmux new-session -d -s messagehub 'messagehub-tui --home ./news daemon'"],
    "delete": ["messagehub-tui delete 3"],
    "campaigns": ["messagehub-tui campaigns", "messagehub-tui campaigns --json"],
    "preview": ["messagehub-tui preview 3", "messagehub-tui preview 3 --contact ann@example.com",
                "messagehub-tui preview 3 --raw"],
    "status": ["messagehub-tui status 3", "messagehub-tui status 3 --json"],
    "launch": ["messagehub-tui launch 3"],
    "send": ["messagehub-tui send 3", "messagehub-tui send 3 --dry-run",
             "messagehub-tui send 3 > send.log || echo \"send ended with $?\""],
    "pause": ["messagehub-tui pause 3", "messagehub-tui pause 3 --wait 1m"],
    "resume": ["messagehub-tui resume 3"],
    "cancel": ["messagehub-tui cancel 3", "messagehub-tui cancel 3 --wait 30s"],
    "retry": ["messagehub-tui retry 3 --failed", "messagehub-tui retry 3 --unknown"],
    "send-test": ["messagehub-tui send-test 3 --to me@example.com"],
    "doctor": ["messagehub-tui doctor"],
    "migrate-db": ["messagehub-tui migrate-db --to postgresql://messagehub@db.example.com/news"],
    "deliveries": ["messagehub-tui deliveries 3", "messagehub-tui deliveries 3 --status failed",
                   "messagehub-tui deliveries 3 --status unknown --json"],
    "export": ["messagehub-tui export 3 failed.csv",
               "messagehub-tui export 3 --status unknown unknown.csv"],
}


def epilog(command: str | None) -> str:
    """The text under a command's --help: its examples, then its exit codes."""
    examples = "\n".join(f"  {line}" for line in EXAMPLES[command])
    if command == "send":
        codes = _SEND_EXIT_CODES
    elif command in ("pause", "resume", "cancel"):
        codes = _STOP_EXIT_CODES.format(
            state={"pause": "paused", "resume": "running (or done)",
                   "cancel": "cancelled"}[command])
    else:
        codes = _EXIT_CODES
    return f"examples:\n{examples}\n\n{codes}"
