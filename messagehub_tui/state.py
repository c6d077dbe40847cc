"""A campaign's state as every reader sees it: the launcher, the monitor, the overview and the
CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from messagehub_tui.feedback import RATES, FeedbackCounts, FeedbackKind
from messagehub_tui.models import CampaignStatus, Channel, DeliveryStatus, iso_utc

# A scheduled campaign this late was not fired: a running scheduler (the daemon's or the app's)
# fires it within seconds (it looks every 2 s), so this late means none runs for its home.
OVERDUE_AFTER = timedelta(seconds=30)

# The states a delivery ends in; skipped ones were never to be sent, so they count on neither side.
ENDED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN,
         DeliveryStatus.CANCELLED)


@dataclass(frozen=True)
class DeliveryCounts:
    """How many of a campaign's deliveries are in each state (one field per `DeliveryStatus`)."""

    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    cancelled: int = 0

    @classmethod
    def of(cls, by_state: Mapping[str, int]) -> DeliveryCounts:
        """From a mapping of state to count; states not in it count zero."""
        return cls(**{state.value: by_state.get(state.value, 0) for state in DeliveryStatus})

    def __getitem__(self, state: DeliveryStatus) -> int:
        return int(getattr(self, DeliveryStatus(state).value))

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name) for field in fields(self))

    @property
    def unsent(self) -> int:
        """Deliveries still to settle: pending, or handed to a runner and not yet settled."""
        return self.pending + self.sending

    @property
    def done(self) -> int:
        """Deliveries that reached an end state."""
        return sum(self[state] for state in ENDED)

    @property
    def deliverable(self) -> int:
        """Every delivery but the skipped ones."""
        return self.total - self.skipped

    @property
    def progress(self) -> float:
        """How far the campaign has got, 0 to 1: `done` out of `deliverable` (0 when none is)."""
        return self.done / self.deliverable if self.deliverable else 0.0

    def sent_of_total(self) -> str:
        """`sent/deliverable`, the launcher's Sent/Total: suppressed (skipped) recipients count
        on neither side, as in the monitor's progress, and are named apart, so a completed
        campaign never reads as one message missing."""
        shown = f"{self.sent}/{self.deliverable}"
        return f"{shown} ({self.skipped} skipped)" if self.skipped else shown

    def to_json(self) -> dict[str, int]:
        """Counts by state name, in the state machine's order (as `status --json` prints them)."""
        return {state.value: self[state] for state in DeliveryStatus}


@dataclass(frozen=True)
class CampaignState:
    """A campaign and its delivery counts, read together."""

    id: int
    name: str
    channel: Channel
    status: CampaignStatus
    list_name: str | None
    counts: DeliveryCounts
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    feedback: FeedbackCounts = FeedbackCounts()
    # When it stopped sending: its finish, or its pause or interruption; None while it goes on.
    stopped_at: datetime | None = None
    # Running, but no runner row is alive (killed, or its machine died): nothing sends until a
    # writing command, the app or the daemon recovers it. Read-only commands never recover, so
    # they say this instead of a bare "running" (workers.registry.runners_gone decides it).
    runners_gone: bool = False

    def runners_gone_note(self) -> str | None:
        """The line a reader adds when the campaign says running but its runners are gone."""
        if not self.runners_gone:
            return None
        return (f"campaign {self.id} is running, but its runners are gone: a writing command, "
                f"the app or the daemon will mark it interrupted; `resume {self.id}` continues")

    def overdue(self, now: datetime) -> bool:
        """Scheduled, and its time passed while nothing ran to fire it."""
        return (self.status == CampaignStatus.SCHEDULED and self.scheduled_at is not None
                and now - self.scheduled_at > OVERDUE_AFTER)

    def overdue_note(self, now: datetime) -> str | None:
        """The line a reader adds for an overdue campaign: why it did not go out, what to do."""
        if not self.overdue(now):
            return None
        return (f"campaign {self.id} is overdue: it waits for a daemon or the app, which send "
                "it at once (or mark it missed, to launch by hand, once [schedule] misfire_grace "
                "has passed)")

    @property
    def total(self) -> int:
        return self.counts.total

    def elapsed(self, now: datetime) -> float | None:
        """Seconds from its first start to its stop (frozen there while paused or interrupted,
        counting on again from the first start once resumed), or to `now` while it goes on;
        None before it started."""
        if self.started_at is None:
            return None
        return ((self.stopped_at or now) - self.started_at).total_seconds()

    def feedback_summary(self) -> str:
        """One line for the monitor: the count of each kind heard back (kinds never heard
        omitted), with the bounce, complaint and unsubscribe rates of the messages sent."""
        shown = []
        for kind in FeedbackKind:
            number = self.feedback[kind]
            if kind in RATES:
                share = self.feedback.rate(kind, self.counts.sent)
                shown.append(f"{kind.value.replace('_', ' ')} {number} ({share:.1%})")
            elif number:
                shown.append(f"{kind.value.replace('_', ' ')} {number}")
        return "heard back: " + "  ".join(shown)

    def to_json(self) -> dict[str, object]:
        """The JSON object `status --json` prints (and `campaigns --json` one of per campaign)."""
        return {
            "id": self.id,
            "name": self.name,
            "channel": self.channel,
            "status": self.status,
            "list": self.list_name,
            "total": self.total,
            "counts": self.counts.to_json(),
            "scheduled_at": iso_utc(self.scheduled_at),
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(self.finished_at),
            "last_error": self.last_error,
            "feedback": self.feedback.to_json(),
            "runners_gone": self.runners_gone,
        }
