"""Delivery rows as a work queue: atomic batch claims, one-transaction result records, recovery."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from messagehub_tui.channels.base import Outcome, SendResult
from messagehub_tui.config import DeliverySettings
from messagehub_tui.models import (
    DeliveryStatus, bump_audience_version, db, template_vars, utcnow,
)


@dataclass(slots=True)
class Claimed:
    """A delivery claimed by a runner: what is needed to render and send it."""

    id: int
    address: str
    attempts: int
    contact_id: int | None
    variables: dict


def claim(campaign_id: int, runner_id: int, limit: int, now: float | None = None) -> list[Claimed]:
    """Atomically move up to `limit` due pending deliveries to sending, for this runner."""
    now = time.time() if now is None else now
    with db.atomic():
        rows = db.execute_sql(
            "UPDATE delivery SET status = 'sending', runner_id = ?, attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM delivery WHERE campaign_id = ? AND status = 'pending' "
            "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?) "
            "RETURNING id, address, attempts, contact_id",
            (runner_id, campaign_id, now, limit)).fetchall()
    ids = [row[3] for row in rows if row[3] is not None]
    contacts = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        cursor = db.execute_sql(
            "SELECT id, email, phone, first_name, last_name, attributes FROM contact "
            f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        for contact_id, *fields in cursor:
            contacts[contact_id] = template_vars(*fields)
    rows.sort(key=lambda row: row[0])
    return [Claimed(row[0], row[1], row[2], row[3], contacts.get(row[3], {})) for row in rows]


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before the next try: exponential from retry_base, capped, with equal jitter."""
    delay = min(settings.retry_max, settings.retry_base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def record(campaign_id: int, results: list[tuple[Claimed, SendResult]],
           settings: DeliverySettings, channel: str) -> None:
    """Store a batch's outcomes in one transaction; retries past max_attempts fail."""
    now, stamp = time.time(), utcnow()
    sent, failed, unknown, retry, release, suppress = [], [], [], [], [], []
    for item, result in results:
        outcome = result.outcome
        if outcome == Outcome.SENT:
            sent.append((result.provider_id, stamp, item.id))
        elif outcome == Outcome.FAILED:
            failed.append((result.reason, stamp, item.id))
            if result.suppress:
                suppress.append((channel, item.address, result.reason, stamp))
        elif outcome == Outcome.UNKNOWN:
            unknown.append((result.reason, stamp, item.id))
        elif outcome == Outcome.RETRY and item.attempts >= settings.max_attempts:
            failed.append((f"gave up after {item.attempts} attempts: {result.reason}", stamp,
                           item.id))
        elif outcome == Outcome.RETRY:
            retry.append((now + backoff(item.attempts, settings), result.reason, stamp, item.id))
        else:
            release.append((stamp, item.id))
    connection = db.connection()
    with db.atomic():
        connection.executemany(
            "UPDATE delivery SET status = 'sent', provider_id = ?, error = NULL, updated_at = ? "
            "WHERE id = ?", sent)
        connection.executemany(
            "UPDATE delivery SET status = 'failed', error = ?, updated_at = ? WHERE id = ?", failed)
        connection.executemany(
            "UPDATE delivery SET status = 'unknown', error = ?, updated_at = ? WHERE id = ?",
            unknown)
        connection.executemany(
            "UPDATE delivery SET status = 'pending', next_attempt_at = ?, error = ?, "
            "updated_at = ? WHERE id = ?", retry)
        connection.executemany(
            "UPDATE delivery SET status = 'pending', attempts = attempts - 1, updated_at = ? "
            "WHERE id = ?", release)
        if suppress:
            connection.executemany(
                "INSERT OR IGNORE INTO suppression (channel, address, reason, created_at) "
                "VALUES (?, ?, ?, ?)", suppress)
            bump_audience_version()


def release_claims(runner_id: int) -> int:
    """Return a runner's claimed-but-unsent deliveries to pending (a clean stop)."""
    with db.atomic():
        return db.execute_sql(
            "UPDATE delivery SET status = 'pending', attempts = attempts - 1, runner_id = NULL "
            "WHERE runner_id = ? AND status = 'sending'", (runner_id,)).rowcount


def mark_unknown(runner_ids: list[int]) -> int:
    """Deliveries in flight when their runner died become unknown: never resent automatically."""
    if not runner_ids:
        return 0
    marks = ",".join("?" * len(runner_ids))
    return db.execute_sql(
        "UPDATE delivery SET status = 'unknown', error = 'the runner died while sending', "
        f"updated_at = ? WHERE status = 'sending' AND runner_id IN ({marks})",
        (utcnow(), *runner_ids)).rowcount


def mark_unknown_ids(delivery_ids: list[int], reason: str) -> int:
    """Deliveries handed to the transport when their runner failed become unknown, not pending."""
    if not delivery_ids:
        return 0
    with db.atomic():
        return db.execute_sql(
            f"UPDATE delivery SET status = 'unknown', error = ?, updated_at = ? "
            f"WHERE status = 'sending' AND id IN ({','.join('?' * len(delivery_ids))})",
            (reason, utcnow(), *delivery_ids)).rowcount


def cancel_pending(campaign_id: int) -> int:
    """Every pending delivery of a campaign becomes cancelled."""
    return db.execute_sql(
        "UPDATE delivery SET status = 'cancelled', updated_at = ? "
        "WHERE campaign_id = ? AND status = 'pending'", (utcnow(), campaign_id)).rowcount


def requeue(campaign_id: int, states: list[str]) -> int:
    """Failed and/or unknown deliveries go back to pending with a fresh attempt count."""
    marks = ",".join("?" * len(states))
    return db.execute_sql(
        "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = 0, error = NULL, "
        f"updated_at = ? WHERE campaign_id = ? AND status IN ({marks})",
        (utcnow(), campaign_id, *states)).rowcount


def open_work(campaign_id: int) -> tuple[int, int]:
    """(pending, sending) counts of a campaign, from the kept counters."""
    counts = dict(db.execute_sql(
        "SELECT status, n FROM delivery_count WHERE campaign_id = ? AND status IN (?, ?)",
        (campaign_id, DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)).fetchall())
    return counts.get("pending", 0), counts.get("sending", 0)


def next_due(campaign_id: int) -> float | None:
    """When the earliest pending delivery may be tried, or None when none is pending."""
    return db.execute_sql(
        "SELECT MIN(next_attempt_at) FROM delivery WHERE campaign_id = ? AND status = 'pending'",
        (campaign_id,)).fetchone()[0]
