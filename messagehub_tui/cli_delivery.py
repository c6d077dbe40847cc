"""CLI commands that send: launch, send (foreground with progress), pause, resume, cancel, retry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from messagehub_tui import campaigns, control
from messagehub_tui.channels.base import Outcome
from messagehub_tui.cli_args import AddCommand, add_id, wait_seconds
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import Settings
from messagehub_tui.follow import Runners, RunnerWatch, follow, wait_until
from messagehub_tui.models import ACTIVE, RESUMABLE, Campaign, CampaignStatus
from messagehub_tui.state import CampaignState

# LATE: doctor and delivery (address checks, every channel) are imported by the commands that
# use them, so that `send` and the others start without them.
SETTLE_TIMEOUT = 10.0
# How often `send` and `resume` look whether the campaign has settled: their exit is the user's
# wall time, which the default 0.1-s poll lengthened by 50 ms on average (a look is one read).
FOLLOW_POLL = 0.02
# Seconds between `send`'s progress lines: on a terminal (one line, redrawn) and without one.
PROGRESS_EVERY_TTY, PROGRESS_EVERY = 0.5, 5.0
RESUME_GRACE = 2.0
STOPPED = frozenset({CampaignStatus.PAUSED, CampaignStatus.CANCELLED,
                     CampaignStatus.INTERRUPTED})


def _settled(campaign: Campaign) -> bool:
    return campaign.status not in ACTIVE


def cmd_launch(args: argparse.Namespace, settings: Settings) -> int:
    print(control.launch(settings, args.id).message)
    return ExitCode.OK


def _not_reached(campaign_id: int, goal: str, seconds: float) -> int:
    """Say that the campaign did not get where the command meant it to, and why; exit 1."""
    campaign = campaigns.get(campaign_id)
    if campaign.status in ACTIVE:
        where = (f"it is still {campaign.status} after {seconds:g} s (the request stands: "
                 f"check with `messagehub-tui status {campaign_id}`)")
    else:
        where = f"it is {campaign.status}"
    reason = f": {campaign.last_error}" if campaign.last_error else ""
    print(f"messagehub-tui: campaign {campaign_id} did not {goal}: {where}{reason}",
          file=sys.stderr)
    return ExitCode.ERROR


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    unsent = campaigns.delivery_counts(args.id).unsent
    result = control.resume(settings, args.id)
    print(result.message)
    watch = RunnerWatch(settings, result.runners)

    def started(campaign: Campaign) -> bool:
        watch.check(campaign)  # runners that cannot start
        return campaign.status != CampaignStatus.QUEUED

    # A runner marks the campaign running before it connects; one refused at once (a server
    # that turns it away) pauses it again. So running counts once a delivery got settled, or
    # after RESUME_GRACE seconds of running without being stopped.
    campaign = wait_until(args.id, started, args.wait)
    if campaign.status == CampaignStatus.RUNNING:
        campaign = wait_until(
            args.id, lambda c: c.status != CampaignStatus.RUNNING
            or campaigns.delivery_counts(args.id).unsent < unsent,
            min(RESUME_GRACE, args.wait))
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.COMPLETED):
        return _not_reached(args.id, "resume", args.wait)
    print(f"campaign {args.id} is {campaign.status}")
    return ExitCode.OK


def _stop_and_wait(args: argparse.Namespace, settings: Settings,
                   action: Callable[[Settings, int], str], goal: str,
                   wanted: CampaignStatus) -> int:
    print(action(settings, args.id))
    campaign = wait_until(args.id, _settled, args.wait)
    if campaign.status != wanted:
        return _not_reached(args.id, goal, args.wait)
    print(f"campaign {args.id} is {campaign.status}")
    return ExitCode.OK


def cmd_pause(args: argparse.Namespace, settings: Settings) -> int:
    return _stop_and_wait(args, settings, control.pause, "pause", CampaignStatus.PAUSED)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    return _stop_and_wait(args, settings, control.cancel, "cancel", CampaignStatus.CANCELLED)


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    print(control.retry(settings, args.id, failed=args.failed or not args.unknown,
                        unknown=args.unknown).message)
    return ExitCode.OK


def cmd_send_test(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import delivery  # see LATE
    sent = delivery.send_test(settings, args.id, args.to, prefix=not args.no_test_prefix)
    if sent.result.outcome == Outcome.SENT:
        print(f"test message sent to {sent.address} ({sent.result.provider_id})")
        return ExitCode.OK
    print(f"messagehub-tui: test message to {sent.address} not sent: {sent.result.reason}",
          file=sys.stderr)
    return ExitCode.ERROR


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui.doctor import run_checks  # see LATE
    checks = run_checks(settings)
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:10} {check.detail}")
    return ExitCode.OK if all(check.ok for check in checks) else ExitCode.ERROR


def _progress_line(state: CampaignState, rate: float, tty: bool) -> str:
    counts, share = state.counts, state.counts.progress
    bar = ("#" * int(share * 30)).ljust(30, ".") if tty else ""
    return (f"{bar} {share:4.0%} sent {counts.sent_of_total()} failed {counts.failed} "
            f"unknown {counts.unknown} · {rate:,.0f}/s").strip()


def _follow(settings: Settings, campaign_id: int, runners: Runners
            ) -> tuple[CampaignState, bool]:
    """Print progress until the campaign leaves queued/running (or the `runners` started for it
    all exit without settling it); Ctrl-C pauses it cleanly.

    Returns the final state and whether the user interrupted."""
    tty = sys.stdout.isatty()

    def show(state: CampaignState, rate: float) -> None:
        line = _progress_line(state, rate, tty)
        print(f"\r{line}", end="", flush=True) if tty else print(line, flush=True)

    try:
        state = follow(campaign_id, show, every=PROGRESS_EVERY_TTY if tty else PROGRESS_EVERY,
                       poll=FOLLOW_POLL, settings=settings, runners=runners)
        if tty:
            print()
        return state, False
    except KeyboardInterrupt:
        print("\ninterrupted: pausing (in-flight messages finish first)", file=sys.stderr)
        control.pause(settings, campaign_id)
        wait_until(campaign_id, _settled, SETTLE_TIMEOUT)
        return campaigns.status(campaign_id), True


def send_exit_code(state: CampaignState) -> ExitCode:
    """How a followed campaign ended, as `send`'s exit status."""
    counts = state.counts
    if state.status == CampaignStatus.COMPLETED:
        return ExitCode.FAILURES if counts.failed or counts.unknown else ExitCode.OK
    if state.status == CampaignStatus.FAILED:
        return ExitCode.FAILURES
    if state.status in STOPPED:
        return ExitCode.STOPPED
    return ExitCode.ERROR


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run:
        from messagehub_tui import delivery  # see LATE
        rendered, problems = delivery.dry_run(settings, args.id)
        for address, problem in problems:
            print(f"{address}: {problem}", file=sys.stderr)
        print(f"dry run: {rendered} messages rendered, {len(problems)} problems, nothing sent")
        return ExitCode.ERROR if problems else ExitCode.OK
    campaign = campaigns.get(args.id)
    start = control.resume if campaign.status in RESUMABLE else control.launch
    result = start(settings, args.id)
    if not result.started and campaign.status not in ACTIVE:
        print(f"messagehub-tui: {result.message}", file=sys.stderr)
        return ExitCode.ERROR
    print(result.message)
    state, interrupted = _follow(settings, args.id, result.runners)
    counts = state.counts
    print(f"campaign {args.id} {state.status}: sent {counts.sent}, failed {counts.failed}, "
          f"unknown {counts.unknown}, skipped {counts.skipped}, "
          f"cancelled {counts.cancelled}, pending {counts.pending}")
    code = ExitCode.INTERRUPTED if interrupted else send_exit_code(state)
    if code != ExitCode.OK and state.last_error:
        print(f"messagehub-tui: {state.last_error}", file=sys.stderr)
    if counts.failed or counts.unknown:
        which = "failed" if counts.failed else "unknown"
        print(f"messagehub-tui: see who and why: messagehub-tui deliveries {args.id} "
              f"--status {which}", file=sys.stderr)
    return code


def register(add: AddCommand) -> None:
    """Add the sending commands to the parser through `add(name, handler, help)`."""
    p = add("launch", cmd_launch, "start sending a campaign in the background")
    add_id(p)
    p = add("send", cmd_send, "send a campaign in the foreground with progress; Ctrl-C pauses")
    add_id(p)
    p.add_argument("--dry-run", action="store_true",
                   help="render every message and report problems without sending")
    for name, handler, text in (
            ("pause", cmd_pause, "pause a queued or running campaign (in-flight messages "
                                 "finish first) and wait until it is paused"),
            ("resume", cmd_resume, "continue a paused or interrupted campaign and wait until "
                                   "its runner has started"),
            ("cancel", cmd_cancel, "stop a campaign for good and wait until it is cancelled")):
        p = add(name, handler, text)
        add_id(p)
        p.add_argument("--wait", type=wait_seconds, default=SETTLE_TIMEOUT, metavar="SECONDS",
                       help=f"how long to wait for it (default: {SETTLE_TIMEOUT:g} s; 90s, 2m)")
    p = add("retry", cmd_retry, "send failed and/or unknown deliveries again (an address "
            "suppressed since is skipped)")
    add_id(p)
    p.add_argument("--failed", action="store_true", help="retry failed deliveries (the default)")
    p.add_argument("--unknown", action="store_true",
                   help="retry deliveries whose outcome is unknown (they may arrive twice)")
    p = add("send-test", cmd_send_test, "send one rendered message to one address")
    add_id(p)
    p.add_argument("--to", required=True, metavar="ADDRESS",
                   help="where the test goes: an email address, or a phone number for SMS")
    p.add_argument("--no-test-prefix", action="store_true", help="send the subject (an SMS: the "
                   "text) as it is, without the leading \"[test] \"")
    add("doctor", cmd_doctor, "check configuration and connectivity without sending")
