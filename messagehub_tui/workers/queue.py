"""Delivery rows as a work queue: atomic batch claims, one-transaction result records, recovery."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from messagehub_tui import feedback
from messagehub_tui.channels.base import Outcome, SendResult
from messagehub_tui.config import DeliverySettings
from messagehub_tui.database import concurrent_transaction, executemany, lock_counters, on_postgres
from messagehub_tui.models import (
    DeliveryStatus,
    StopRequest,
    db,
    template_vars,
    utcnow,
    utcnow_text,
)
from messagehub_tui.workers.journal import Entries, Mark

PENDING, SENDING, SENT = DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value, \
    DeliveryStatus.SENT.value
FAILED, UNKNOWN = DeliveryStatus.FAILED.value, DeliveryStatus.UNKNOWN.value
CANCELLED = DeliveryStatus.CANCELLED.value


@dataclass(slots=True)
class Claimed:
    """A delivery claimed by a runner: what is needed to render and send it."""

    id: int
    address: str
    attempts: int
    contact_id: int | None
    variables: dict


class RunnerGone(Exception):
    """This runner's row is gone: the supervisor declared it dead and recovered its claims."""


def claim(campaign_id: int, runner_id: int, limit: int, now: float | None = None) -> list[Claimed]:
    """Atomically move up to `limit` due pending deliveries to sending, for this runner.

    Raises RunnerGone when the runner was declared dead, so it never claims again.

    SQLite's single writer makes this atomic as it stands. On PostgreSQL the runner row is
    key-share-locked (recovery, which deletes it, waits for this claim to commit and then
    settles it; heartbeats do not wait), the campaign's counters are taken (lock_counters), and
    rows another transaction holds are skipped, not waited for.
    """
    now = time.time() if now is None else now
    postgres = on_postgres()
    lock_runner, skip_locked = (" FOR KEY SHARE", " FOR UPDATE SKIP LOCKED") if postgres \
        else ("", "")
    with concurrent_transaction():
        if db.execute_sql(f"SELECT 1 FROM runner WHERE id = ?{lock_runner}",
                          (runner_id,)).fetchone() is None:
            raise RunnerGone(runner_id)
        lock_counters(campaign_id)
        rows = db.execute_sql(
            "UPDATE delivery SET status = ?, runner_id = ?, attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM delivery WHERE campaign_id = ? AND status = ? "
            f"AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?{skip_locked}) "
            "AND status = ? RETURNING id, address, attempts, contact_id",
            (SENDING, runner_id, campaign_id, PENDING, now, limit, PENDING)).fetchall()
    rows.sort()  # by id: the order they were queued in
    ids = [row[3] for row in rows if row[3] is not None]
    contacts = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        cursor = db.execute_sql(
            "SELECT id, email, phone, first_name, last_name, attributes FROM contact "
            f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        for row in cursor:
            contacts[row[0]] = template_vars(row[1], row[2], row[3], row[4], row[5])
    return [Claimed(delivery_id, address, attempts, contact_id, contacts.get(contact_id, {}))
            for delivery_id, address, attempts, contact_id in rows]


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before the next try: exponential from retry_base, capped, with equal jitter."""
    delay = min(settings.retry_max, settings.retry_base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def as_recorded(item: Claimed, result: SendResult, settings: DeliverySettings) -> SendResult:
    """The result as `record` stores it: a retry at max_attempts is given up, a failure that
    says so (the campaign's events must call it that, not another retry)."""
    if result.outcome == Outcome.RETRY and item.attempts >= settings.max_attempts:
        return result._replace(outcome=Outcome.FAILED,
                               reason=f"gave up after {item.attempts} attempts: {result.reason}")
    return result


def record(campaign_id: int, runner_id: int, results: list[tuple[Claimed, SendResult]],
           settings: DeliverySettings, channel: str) -> None:
    """Store a batch's outcomes in one transaction; retries past max_attempts fail.

    Only rows this runner still holds are touched: a runner declared dead (its rows recovered,
    perhaps claimed again by another runner) changes nothing. The campaign's last_error becomes
    the batch's last final failure (failed, unknown, or a retry given up).
    """
    now, stamp = time.time(), utcnow_text()
    sent, failed, unknown, retry, release = [], [], [], [], []
    suppress: dict[str, list[str]] = {}  # addresses by reason: one suppress_many per reason
    finals = []  # the final failures' reasons, in order: failed, unknown, a retry given up
    for item, result in results:
        outcome = result.outcome
        if outcome == Outcome.RETRY:
            result = as_recorded(item, result, settings)
            outcome = result.outcome
        if outcome == Outcome.SENT:
            sent.append((SENT, result.provider_id, stamp, item.id, runner_id))
        elif outcome == Outcome.FAILED:
            failed.append((FAILED, result.reason, stamp, item.id, runner_id))
            finals.append(result.reason)
            if result.suppress:
                suppress.setdefault(result.reason, []).append(item.address)
        elif outcome == Outcome.UNKNOWN:
            unknown.append((UNKNOWN, result.reason, stamp, item.id, runner_id))
            finals.append(result.reason)
        elif outcome == Outcome.RETRY:
            retry.append((PENDING, now + backoff(item.attempts, settings), result.reason, stamp,
                          item.id, runner_id))
        else:
            release.append((PENDING, stamp, item.id, runner_id))
    mine = f"WHERE id = ? AND runner_id = ? AND status = '{SENDING}'"
    with concurrent_transaction():  # only rows this runner holds, plus its campaign's row
        lock_counters(campaign_id)
        executemany(
            f"UPDATE delivery SET status = ?, provider_id = ?, error = NULL, updated_at = ? {mine}",
            sent)
        executemany(
            f"UPDATE delivery SET status = ?, error = ?, updated_at = ? {mine}", failed + unknown)
        executemany(
            f"UPDATE delivery SET status = ?, next_attempt_at = ?, error = ?, updated_at = ? "
            f"{mine}", retry)
        # A released delivery was claimed (which counts an attempt) but never handed to the
        # transport: give the attempt back, so max_attempts counts only real tries.
        executemany(
            f"UPDATE delivery SET status = ?, attempts = attempts - 1, updated_at = ? {mine}",
            release)
        if finals:  # a stop requested with its reason (a pause for a streak, say) keeps it
            db.execute_sql("UPDATE campaign SET last_error = ? WHERE id = ? AND control = ?",
                           (finals[-1], campaign_id, StopRequest.NONE.value))
    # After the runner's own transaction, in an ordinary one: a suppression also skips other
    # campaigns' pending deliveries, whose counters this concurrent transaction must not lock
    # (two runners doing so in opposite orders deadlock on PostgreSQL). A runner killed between
    # the two leaves the delivery failed with its reason but the address unsuppressed.
    for reason, addresses in suppress.items():
        feedback.suppress_many(channel, addresses, reason, campaign_id)


def settle_claims(runner_id: int, entries: Entries | None, reason: str) -> dict[str, int]:
    """Settle what a runner still holds, from its hand-off journal; returns counts by new state.

    Never handed: back to pending (the attempt is not counted). Handed and answered: sent, or
    pending to be tried again. Handed without an answer, or no journal at all (another host's
    runner, one from before journals): unknown, never resent automatically.
    """
    stamp = utcnow()
    marks = entries.marks if entries is not None else {}
    changes: dict[str, list] = {SENT: [], PENDING: [], UNKNOWN: [], "released": []}
    with db.atomic():
        lock_counters(runner_id=runner_id)
        held = db.execute_sql("SELECT id, attempts FROM delivery WHERE runner_id = ? "
                              "AND status = ?", (runner_id, SENDING)).fetchall()
        for delivery_id, attempts in held:
            attempt, mark = marks.get(delivery_id, (None, None))
            unanswered = attempt == attempts and mark in (Mark.HANDED, Mark.UNKNOWN)
            if entries is None or unanswered:
                changes[UNKNOWN].append((UNKNOWN, reason, stamp, delivery_id))
            elif attempt != attempts:
                changes["released"].append((PENDING, stamp, delivery_id))
            elif mark == Mark.SENT:
                changes[SENT].append((SENT, None, stamp, delivery_id))
            else:
                changes[PENDING].append((PENDING, None, stamp, delivery_id))
        executemany("UPDATE delivery SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                    changes[SENT] + changes[PENDING] + changes[UNKNOWN])
        # Claimed by a newer attempt than the journal saw handed: that attempt never happened.
        executemany("UPDATE delivery SET status = ?, attempts = attempts - 1, "
                    "runner_id = NULL, updated_at = ? WHERE id = ?", changes["released"])
    return {state: len(rows) for state, rows in changes.items()}


def confirm_sent(runner_id: int, entries: Entries) -> int:
    """Deliveries another host settled as unknown for this runner (it judged it dead by its
    heartbeat, without the journal, which lives on this host) that the journal shows the server
    accepted: sent after all, so `retry --unknown` does not send them twice. Returns how many."""
    stamp = utcnow()
    accepted = [(SENT, stamp, delivery_id, runner_id, UNKNOWN, attempt)
                for delivery_id, (attempt, mark) in entries.marks.items() if mark == Mark.SENT]
    if not accepted:
        return 0
    with db.atomic():
        lock_counters(runner_id=runner_id)
        # the same attempt, still this runner's: not one `retry --unknown` sent again since
        return executemany("UPDATE delivery SET status = ?, error = NULL, updated_at = ? "
                           "WHERE id = ? AND runner_id = ? AND status = ? AND attempts = ?",
                           accepted)


def cancel_pending(campaign_id: int) -> int:
    """Every pending delivery of a campaign becomes cancelled."""
    return db.execute_sql(
        "UPDATE delivery SET status = ?, updated_at = ? WHERE campaign_id = ? AND status = ?",
        (CANCELLED, utcnow(), campaign_id, PENDING)).rowcount


def requeue(campaign_id: int, channel: str, states: list[str]) -> tuple[int, int]:
    """Failed and/or unknown deliveries go back to pending with a fresh attempt count, except
    those whose address was suppressed meanwhile: they become skipped. (pending, skipped)."""
    skipped = feedback.skip_suppressed(campaign_id, channel, states)
    marks = ",".join("?" * len(states))
    return db.execute_sql(
        "UPDATE delivery SET status = ?, attempts = 0, next_attempt_at = 0, error = NULL, "
        f"updated_at = ? WHERE campaign_id = ? AND status IN ({marks})",
        (PENDING, utcnow(), campaign_id, *states)).rowcount, skipped


def open_work(campaign_id: int) -> tuple[int, int]:
    """(pending, sending) counts of a campaign, from the kept counters."""
    counts = dict(db.execute_sql(
        "SELECT status, n FROM delivery_count WHERE campaign_id = ? AND status IN (?, ?)",
        (campaign_id, PENDING, SENDING)).fetchall())
    return counts.get(PENDING, 0), counts.get(SENDING, 0)


def next_due(campaign_id: int) -> float | None:
    """When the earliest pending delivery may be tried, or None when none is pending."""
    return db.execute_sql(
        "SELECT MIN(next_attempt_at) FROM delivery WHERE campaign_id = ? AND status = ?",
        (campaign_id, PENDING)).fetchone()[0]
