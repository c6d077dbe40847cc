"""The SMTP connection's per-exchange time limit (channels/deadline.py): one timer that moves."""

import asyncio
import time

import pytest

from messagehub_tui.channels.deadline import Deadline


def test_an_exchange_longer_than_the_limit_times_out():
    async def run():
        deadline = Deadline(0.2)
        started = time.monotonic()
        with pytest.raises(TimeoutError), deadline:
            await asyncio.sleep(30)
        return time.monotonic() - started
    assert 0.2 <= asyncio.run(run()) < 30


def test_a_later_exchange_gets_its_whole_time_from_its_own_start():
    # The timer set for the first exchange fires in the middle of the second one, which must
    # not be cut short: it moves itself to the second exchange's deadline instead.
    async def run():
        deadline = Deadline(1.0)
        with deadline:
            await asyncio.sleep(0)
        await asyncio.sleep(0.7)
        with deadline:
            await asyncio.sleep(0.6)  # from 0.7 to 1.3: the first timer fires at 1.0
        # and then it still times out the exchange that does run too long
        with pytest.raises(TimeoutError), deadline:
            await asyncio.sleep(30)
    asyncio.run(run())


def test_a_cancellation_from_outside_stays_a_cancellation():
    async def run():
        deadline = Deadline(30)
        inside = asyncio.Event()

        async def exchange():
            with deadline:
                inside.set()
                await asyncio.sleep(30)
        task = asyncio.create_task(exchange())
        await inside.wait()  # cancelled inside the deadline, not before the task ran
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(run())
