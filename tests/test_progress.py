"""The figures the monitor, the overview and the CLI show: progress and a smoothed rate."""

from messagehub_tui.progress import RateMeter, duration
from messagehub_tui.state import DeliveryCounts


def progress(counts: dict[str, int]) -> tuple[int, int]:
    """(done, deliverable), the rule that lived in progress.py before DeliveryCounts held it."""
    typed = DeliveryCounts.of(counts)
    return typed.done, typed.deliverable


def test_progress_counts_finished_deliveries_over_the_deliverable_ones():
    draft = {"pending": 5, "sending": 0, "sent": 0, "failed": 0, "skipped": 1, "unknown": 0,
             "cancelled": 0}
    assert progress(draft) == (0, 5)
    running = {"pending": 2, "sending": 1, "sent": 3, "failed": 1, "skipped": 4, "unknown": 1,
               "cancelled": 0}
    assert progress(running) == (5, 8)
    assert progress({"skipped": 3}) == (0, 0)


def test_delivery_counts_say_how_far_and_print_as_today():
    counts = DeliveryCounts.of({"pending": 2, "sending": 1, "sent": 3, "failed": 1,
                                "skipped": 4, "unknown": 1})
    assert (counts.unsent, counts.done, counts.total, counts.progress) == (3, 5, 12, 5 / 8)
    assert counts["sent"] == counts.sent == 3
    assert list(counts.to_json()) == ["pending", "sending", "sent", "failed", "skipped",
                                      "unknown", "cancelled"]
    assert DeliveryCounts(skipped=3).progress == 0.0


def test_a_steady_rate_read_at_uneven_moments_reads_steady():
    """Runners commit in batches: at 2 msg/s, reads a second apart saw 2, 1, 2, 1… (issue 8
    item 15). The smoothed rate stays within 10 % of 2 after the first reads."""
    meter = RateMeter()
    sent, now, readings = 0, 0.0, []
    for step in range(60):
        now += 1.0 + (0.1 if step % 2 else -0.1)
        sent = int(now * 2) // 3 * 3  # committed in batches of 3
        readings.append(meter.update(sent, now))
    settled = readings[10:]
    assert all(1.8 <= rate <= 2.2 for rate in settled), settled
    assert meter.eta(100) is not None and 45 <= meter.eta(100) <= 56


def test_the_rate_follows_a_real_change_within_the_window():
    meter = RateMeter()
    for second in range(30):
        meter.update(second * 10, float(second))
    assert 9.5 <= meter.rate <= 10.5
    for second in range(30, 70):
        meter.update(300, float(second))  # paused: nothing more sent
    assert meter.rate < 0.5
    assert meter.eta(10) is None or meter.eta(10) > 20


def test_no_rate_before_two_reads():
    meter = RateMeter()
    assert meter.update(5, 1.0) == 0.0 and meter.eta(10) is None
    assert meter.update(5, 1.0) == 0.0


def test_duration():
    assert [duration(s) for s in (None, -1, 6, 245, 3723)] == ["-", "-", "6s", "4m 05s",
                                                             "1h 02m 03s"]


def test_send_progress_counts_skipped_deliveries_as_neither_done_nor_to_do():
    """`send`'s bar follows the monitor's rule: suppressed (skipped) recipients are not progress
    (it showed 50 % before anything was sent when half the list was suppressed)."""
    from messagehub_tui.cli_delivery import _progress_line
    from messagehub_tui.state import CampaignState

    state = CampaignState(id=1, name="n", channel="email", status="running", list_name="l",
                          counts=DeliveryCounts(pending=2, skipped=2), scheduled_at=None,
                          started_at=None, finished_at=None, last_error=None)
    # and they count on neither side of sent/total, as in the launcher (named apart)
    assert _progress_line(state, 0.0, tty=False).startswith("0% sent 0/2 (2 skipped) failed 0")


def test_a_second_read_later_than_the_window_gives_the_average_instead_of_crashing():
    """The rate had no value yet when the second read came after the smoothing window (a monitor
    refresh delayed past 10 s): `None += …` raised TypeError in the refresh worker."""
    meter = RateMeter()
    meter.update(0, now=0.0)
    assert meter.update(20, now=20.0) == 1.0
    assert meter.update(40, now=40.0) == 1.0


def test_a_meter_that_is_not_sending_shows_no_rate_and_a_resumed_run_measures_afresh():
    """The monitor and the overview share this rule (`RateMeter.follow`): paused, the rate is
    None with no sparkline; resumed, the first read starts a new measure (it is not averaged
    with the pause)."""
    meter = RateMeter()
    for second in range(5):
        assert meter.follow(second * 10, sending=True, now=float(second)) is not None
    assert meter.rate == 10.0 and meter.history
    assert meter.follow(40, sending=False, now=20.0) is None
    assert not meter.history and meter.eta(10) is None
    assert meter.follow(40, sending=True, now=30.0) == 0.0
    assert meter.follow(45, sending=True, now=31.0) == 5.0
