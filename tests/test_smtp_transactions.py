"""One SMTP connection, many transactions: a failure in one never costs another recipient."""

import asyncio
import dataclasses
import time

import pytest

from messagehub_tui import control
from messagehub_tui.channels.base import NOT_SENT, Outcome, Outgoing, SendResult
from messagehub_tui.channels.smtp import SmtpChannel
from messagehub_tui.config import EmailSettings
from messagehub_tui.models import Delivery, DeliveryStatus
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.scripted_smtp import ScriptedSmtp

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

BODY = b"Subject: hello\r\n\r\nhello\r\n.a dotted line\r\n"


@pytest.fixture
def scripted():
    started = []

    def start(**options) -> ScriptedSmtp:
        server = ScriptedSmtp(**options)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


def email_settings(port: int, **extra) -> EmailSettings:
    return EmailSettings(transport="smtp", host="127.0.0.1", port=port, security="none",
                         sender="team@example.com", connections=1, timeout=5.0, **extra)


def send_all(settings: EmailSettings, recipients: list[str], ahead: bool = False
             ) -> list[SendResult]:
    """Send one message to each recipient in turn on one lane of a real SmtpChannel; `ahead`:
    each with the next one as `then`, as a runner's lane does."""
    channel = SmtpChannel(settings, "team@example.com")
    messages = [Outgoing(i, rcpt, BODY) for i, rcpt in enumerate(recipients)]

    async def run():
        await channel.open()
        try:
            return [await channel.send(0, message, messages[i + 1]
                                       if ahead and i + 1 < len(messages) else None)
                    for i, message in enumerate(messages)]
        finally:
            await channel.close()
    return asyncio.run(run())


RECIPIENTS = [f"r{i}@example.com" for i in range(6)]


@pytest.mark.parametrize("pipelining, ahead", [(True, False), (False, False), (True, True)],
                         ids=["pipelined", "one-by-one", "next-envelope-with-body"])
@pytest.mark.parametrize("fault, outcome, reason", [
    ("mail", Outcome.FAILED, "MAIL FROM: 550"),
    ("rcpt", Outcome.FAILED, "RCPT TO: 550"),
    ("data", Outcome.FAILED, "DATA: 554"),
    ("end", Outcome.FAILED, "end of DATA: 554"),
    ("unexpected", Outcome.RETRY, "protocol error: DATA: unexpected reply 250"),
    ("drop", Outcome.RETRY, "connection lost"),
])
def test_a_failed_transaction_costs_only_its_recipient(scripted, pipelining, ahead, fault,
                                                       outcome, reason):
    server = scripted(pipelining=pipelining, faults={3: fault})
    results = send_all(email_settings(server.port), RECIPIENTS, ahead)
    failed = {2}
    if ahead and fault == "drop":
        # the connection broke while answering the third envelope, sent with the second body:
        # the second was answered, and the third goes again, whole, on a new connection
        failed, outcome, reason = set(), Outcome.SENT, ""
    assert results[2].outcome == outcome, results[2]
    assert reason in results[2].reason
    others = [r for i, r in enumerate(results) if i not in failed]
    assert all(r.outcome == Outcome.SENT for r in others), others
    assert server.recipients() == {rcpt: 1 for i, rcpt in enumerate(RECIPIENTS) if i not in failed}
    assert not any("503" in c for c in server.commands)
    if fault in ("drop", "unexpected"):
        # out of step with the server: the connection is dropped and reopened
        assert server.connections == 2
    else:
        # the transaction was reset on the same connection, not by reconnecting
        assert server.connections == 1
        after = server.commands[server.commands.index(next(
            c for c in server.commands if c.startswith("MAIL"))):]
        mails = [i for i, c in enumerate(after) if c.startswith("MAIL")]
        assert "RSET" in after[mails[2]:mails[3]]


@pytest.mark.parametrize("fault, outcome, reason", [
    ("mail", Outcome.FAILED, "MAIL FROM: 550"),
    ("rcpt", Outcome.FAILED, "RCPT TO: 550"),
    ("end", Outcome.FAILED, "BDAT: 554"),
    ("drop", Outcome.UNKNOWN, "no reply after the message was sent"),
])
def test_with_chunking_a_failed_transaction_costs_only_its_recipient(scripted, fault, outcome,
                                                                     reason):
    server = scripted(chunking=True, faults={3: fault})
    results = send_all(email_settings(server.port), RECIPIENTS)
    assert results[2].outcome == outcome, results[2]
    assert reason in results[2].reason
    assert all(r.outcome == Outcome.SENT for i, r in enumerate(results) if i != 2), results
    assert server.recipients() == {rcpt: 1 for i, rcpt in enumerate(RECIPIENTS) if i != 2}
    assert not any("503" in c for c in server.commands)
    assert server.connections == (2 if fault == "drop" else 1)


def test_with_chunking_a_message_is_one_write_and_arrives_intact(scripted):
    server = scripted(chunking=True)
    results = send_all(email_settings(server.port), RECIPIENTS[:3])
    assert all(r.outcome == Outcome.SENT for r in results)
    body = BODY  # BDAT carries the message as is: no dot-stuffing, no terminating dot
    for rcpt in RECIPIENTS[:3]:
        assert (b"MAIL FROM:<team@example.com>\r\nRCPT TO:<" + rcpt.encode() + b">\r\n"
                b"BDAT %d LAST\r\n" % len(body) + body) in server.reads, server.reads
    assert [data for _, data in server.messages] == [body] * 3
    assert not any(c == "DATA" for c in server.commands)


@pytest.mark.parametrize("ahead", [False, True], ids=["pipelined", "next-envelope-with-body"])
def test_a_refused_rset_reopens_the_connection(scripted, ahead):
    # ahead: the server keeps message 2's refused transaction, so message 3's envelope (sent
    # with 2's body) meets "503 nested MAIL" and a 354: not 3's fault, it goes on a new connection
    server = scripted(faults={2: "end"}, broken_rset=True)
    results = send_all(email_settings(server.port), RECIPIENTS, ahead)
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED] + [Outcome.SENT] * 4
    assert server.recipients() == {rcpt: 1 for i, rcpt in enumerate(RECIPIENTS) if i != 1}
    assert server.connections == 2


@pytest.mark.parametrize("fault", ["end", "rcpt"])
def test_campaign_of_45_with_one_refusal_fails_one(home, scripted, fault):
    from tests.test_engine_smtp import smtp_toml
    server = scripted(faults={5: fault})
    settings, cid = make_home(home, smtp_toml(server.port, connections=1), count=45)
    control.launch(settings, cid)
    wait_status(cid, "completed", timeout=90)
    counts = counts_add_up(cid)
    assert counts["sent"] == 44 and counts["failed"] == 1, counts
    failed = Delivery.get((Delivery.campaign == cid) & (Delivery.status == DeliveryStatus.FAILED))
    assert "554" in failed.error or "550" in failed.error
    assert sum(server.recipients().values()) == 44


def test_mail_rcpt_and_data_reach_the_server_in_one_read(scripted):
    server = scripted(pipelining=True)
    results = send_all(email_settings(server.port), RECIPIENTS[:3])
    assert all(r.outcome == Outcome.SENT for r in results)
    for rcpt in RECIPIENTS[:3]:
        together = (b"MAIL FROM:<team@example.com>\r\nRCPT TO:<" + rcpt.encode() + b">\r\n"
                    b"DATA\r\n")
        assert together in server.reads, server.reads


def test_without_pipelining_each_command_waits_for_its_reply(scripted):
    server = scripted(pipelining=False)
    results = send_all(email_settings(server.port), RECIPIENTS[:2])
    assert all(r.outcome == Outcome.SENT for r in results)
    assert not any(b"MAIL" in r and b"RCPT" in r for r in server.reads)


def test_the_next_envelope_rides_with_the_body(scripted):
    server = scripted(pipelining=True)
    results = send_all(email_settings(server.port), RECIPIENTS[:3], ahead=True)
    assert all(r.outcome == Outcome.SENT for r in results), results
    # The body's end and the next envelope go out together, before the body's reply is read.
    # (Checked on the byte stream: one write may reach the server in several reads.)
    stream = b"".join(server.reads)
    for rcpt in RECIPIENTS[1:3]:
        together = (b"\r\n.\r\nRSET\r\nMAIL FROM:<team@example.com>\r\nRCPT TO:<"
                    + rcpt.encode() + b">\r\nDATA\r\n")
        assert together in stream, server.reads
    assert [rcpt for rcpt, _ in server.messages] == RECIPIENTS[:3]
    assert all(data == BODY.replace(b"\r\n.", b"\r\n..") for _, data in server.messages)
    assert server.connections == 1


def test_a_message_other_than_the_announced_one_goes_on_a_new_connection(scripted):
    """The lane announced B but sends C (B was stopped, say): B's open transaction must not
    take C's body, and C is not charged with it."""
    server = scripted(pipelining=True)
    channel = SmtpChannel(email_settings(server.port), "team@example.com")
    a, b, c = (Outgoing(i, rcpt, BODY) for i, rcpt in enumerate(RECIPIENTS[:3]))

    async def run():
        await channel.open()
        try:
            return [await channel.send(0, a, b), await channel.send(0, c)]
        finally:
            await channel.close()
    results = asyncio.run(run())
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT], results
    assert server.recipients() == {RECIPIENTS[0]: 1, RECIPIENTS[2]: 1}
    assert server.connections == 2


def test_a_server_that_never_answers_a_message_leaves_it_unknown_after_the_timeout(scripted):
    server = scripted(faults={2: "hang"})
    settings = dataclasses.replace(email_settings(server.port), timeout=1.0)
    results = send_all(settings, ["a@example.com", "b@example.com"], ahead=True)
    assert [result.outcome for result in results] == [Outcome.SENT, Outcome.UNKNOWN]
    assert results[1].reason == "no reply after the message was sent: no answer within 1 s"


def test_abandon_drops_a_connect_under_way_but_not_a_connected_lane(scripted):
    """Lane 1's server never greets it: abandon() (a stop) ends that wait with NOT_SENT, at
    once rather than after the timeout, and no new connection starts; lane 0 still sends."""
    server = scripted(silent=True, greeted=1)
    settings = dataclasses.replace(email_settings(server.port), connections=2, timeout=300.0)
    channel = SmtpChannel(settings, "team@example.com")
    first, second, third = (Outgoing(i, rcpt, BODY) for i, rcpt in enumerate(RECIPIENTS[:3]))

    async def run():
        await channel.open()
        try:
            waiting = asyncio.create_task(channel.send(1, first))
            deadline = time.monotonic() + 60
            while server.connections < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert server.connections == 2 and not waiting.done()
            channel.abandon()
            return (await asyncio.wait_for(waiting, 60), await channel.send(1, second),
                    await channel.send(0, third))
        finally:
            await channel.close()
    abandoned, after, connected = asyncio.run(run())
    assert abandoned is NOT_SENT and after is NOT_SENT
    assert connected.outcome == Outcome.SENT, connected
    assert server.recipients() == {RECIPIENTS[2]: 1} and server.connections == 2


def test_a_clean_close_says_quit(scripted):
    """QUIT goes out on a connection whose every message was answered (its reply is not
    awaited: nothing depends on it)."""
    server = scripted(pipelining=True)
    results = send_all(email_settings(server.port), RECIPIENTS[:2], ahead=True)
    assert all(r.outcome == Outcome.SENT for r in results), results
    poll(lambda: "QUIT" in server.commands, what="QUIT at the server")
    assert server.commands[-1] == "QUIT" and server.connections == 1
