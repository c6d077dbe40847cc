"""CLI commands that send: launch, send (foreground with progress), pause, resume, cancel, retry."""

from __future__ import annotations

import sys
import time

from messagehub_tui import campaigns, control
from messagehub_tui.channels.base import Outcome
from messagehub_tui.config import Settings
from messagehub_tui.doctor import run_checks
from messagehub_tui.models import CampaignStatus
from messagehub_tui.workers.supervisor import wait_until

SETTLE_TIMEOUT = 10.0


def _settled(campaign) -> bool:
    return campaign.status not in control.ACTIVE


def cmd_launch(args, settings: Settings) -> int:
    print(control.launch(settings, args.id).message)
    return 0


def cmd_resume(args, settings: Settings) -> int:
    print(control.resume(settings, args.id).message)
    return 0


def _stop_and_wait(args, settings: Settings, action) -> int:
    print(action(settings, args.id))
    campaign = wait_until(args.id, _settled, SETTLE_TIMEOUT)
    print(f"campaign {args.id} is {campaign.status}")
    return 0


def cmd_pause(args, settings: Settings) -> int:
    return _stop_and_wait(args, settings, control.pause)


def cmd_cancel(args, settings: Settings) -> int:
    return _stop_and_wait(args, settings, control.cancel)


def cmd_retry(args, settings: Settings) -> int:
    print(control.retry(settings, args.id, failed=args.failed or not args.unknown,
                        unknown=args.unknown).message)
    return 0


def cmd_send_test(args, settings: Settings) -> int:
    result = control.send_test(settings, args.id, args.to, prefix=not args.no_test_prefix)
    if result.outcome == Outcome.SENT:
        print(f"test message sent to {args.to} ({result.provider_id})")
        return 0
    print(f"messagehub-tui: test message to {args.to} not sent: {result.reason}", file=sys.stderr)
    return 1


def cmd_doctor(args, settings: Settings) -> int:
    checks = run_checks(settings)
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:10} {check.detail}")
    return 0 if all(check.ok for check in checks) else 1


def _progress_line(state: dict, rate: float, tty: bool) -> str:
    counts, total = state["counts"], state["total"] or 1
    done = total - counts["pending"] - counts["sending"]
    share = done / total
    bar = ("#" * int(share * 30)).ljust(30, ".") if tty else ""
    return (f"{bar} {share:4.0%} sent {counts['sent']}/{state['total']} failed {counts['failed']} "
            f"unknown {counts['unknown']} · {rate:,.0f}/s").strip()


def _follow(settings: Settings, campaign_id: int) -> dict:
    """Print progress until the campaign leaves queued/running; Ctrl-C pauses it cleanly."""
    tty = sys.stdout.isatty()
    every = 0.5 if tty else 5.0
    last_sent, last_time = campaigns.status(campaign_id)["counts"]["sent"], time.monotonic()
    try:
        while True:
            time.sleep(every)
            state = campaigns.status(campaign_id)
            now = time.monotonic()
            rate = (state["counts"]["sent"] - last_sent) / max(now - last_time, 1e-6)
            last_sent, last_time = state["counts"]["sent"], now
            line = _progress_line(state, rate, tty)
            print(f"\r{line}", end="", flush=True) if tty else print(line, flush=True)
            if state["status"] not in control.ACTIVE:
                if tty:
                    print()
                return state
    except KeyboardInterrupt:
        print("\ninterrupted: pausing (in-flight messages finish first)", file=sys.stderr)
        control.pause(settings, campaign_id)
        wait_until(campaign_id, _settled, SETTLE_TIMEOUT)
        return campaigns.status(campaign_id)


def cmd_send(args, settings: Settings) -> int:
    if args.dry_run:
        rendered, problems = control.dry_run(settings, args.id)
        for address, problem in problems:
            print(f"{address}: {problem}", file=sys.stderr)
        print(f"dry run: {rendered} messages rendered, {len(problems)} problems, nothing sent")
        return 1 if problems else 0
    campaign = campaigns.get(args.id)
    start = control.resume if campaign.status in control.RESUMABLE else control.launch
    result = start(settings, args.id)
    if not result.started and campaign.status not in control.ACTIVE:
        print(f"messagehub-tui: {result.message}", file=sys.stderr)
        return 1
    print(result.message)
    state = _follow(settings, args.id)
    counts = state["counts"]
    print(f"campaign {args.id} {state['status']}: sent {counts['sent']}, failed {counts['failed']}, "
          f"unknown {counts['unknown']}, skipped {counts['skipped']}, "
          f"cancelled {counts['cancelled']}, pending {counts['pending']}")
    if state["last_error"]:
        print(f"messagehub-tui: {state['last_error']}", file=sys.stderr)
    return 0 if state["status"] in (CampaignStatus.COMPLETED, CampaignStatus.PAUSED) \
        and not state["last_error"] else 1


def register(add) -> None:
    """Add the sending commands to the parser through `add(name, handler, help)`."""
    p = add("launch", cmd_launch, "start sending a campaign in the background")
    p.add_argument("id", type=int)
    p = add("send", cmd_send, "send a campaign in the foreground with progress; Ctrl-C pauses")
    p.add_argument("id", type=int)
    p.add_argument("--dry-run", action="store_true",
                   help="render every message and report problems without sending")
    for name, handler, text in (("pause", cmd_pause, "pause a queued or running campaign"),
                                ("resume", cmd_resume, "continue a paused or interrupted campaign"),
                                ("cancel", cmd_cancel, "stop a campaign for good")):
        add(name, handler, text).add_argument("id", type=int)
    p = add("retry", cmd_retry, "send failed and/or unknown deliveries again")
    p.add_argument("id", type=int)
    p.add_argument("--failed", action="store_true", help="retry failed deliveries (the default)")
    p.add_argument("--unknown", action="store_true",
                   help="retry deliveries whose outcome is unknown (they may arrive twice)")
    p = add("send-test", cmd_send_test, "send one rendered message to one address")
    p.add_argument("id", type=int)
    p.add_argument("--to", required=True, metavar="ADDRESS")
    p.add_argument("--no-test-prefix", action="store_true", help="send the subject (an SMS: the "
                   "text) as it is, without the leading \"[test] \"")
    add("doctor", cmd_doctor, "check configuration and connectivity without sending")
