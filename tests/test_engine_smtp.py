"""Runner processes sending over SMTP to aiosmtpd and Postfix smtp-sink on loopback."""

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from messagehub_tui import campaigns, contacts, control, delivery
from messagehub_tui.channels.base import Outcome
from messagehub_tui.doctor import run_checks
from tests.engine import counts_add_up, make_home, wait_status
from tests.peers import RecordingHandler, SmtpSink, free_port
from tests.scripted_smtp import ScriptedSmtp

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def smtp_toml(port: int, processes: int = 1, timeout: str = "2s", **extra) -> str:
    """SMTP to loopback; one runner process unless told, as these tests kill and count it."""
    lines = ["[email]", 'transport = "smtp"', 'host = "127.0.0.1"', f"port = {port}",
             'security = "none"', 'from = "Ünïcode Team <team@example.com>"',
             f'timeout = "{timeout}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    lines += ["[delivery]", f"processes = {processes}", 'retry_base = "50ms"',
              'retry_max = "100ms"', "max_attempts = 3"]
    return "\n".join(lines) + "\n"




@pytest.fixture
def sinks():
    started = []

    def start(*options):
        sink = SmtpSink(*options)
        started.append(sink)
        return sink
    yield start
    for sink in started:
        sink.stop()


def test_content_one_message_per_recipient_over_reused_connections(home, smtp_server):
    port, handler = smtp_server
    toml = smtp_toml(port, connections=3, unsubscribe='"https://example.com/u/{{ email }}"')
    settings, cid = make_home(home, toml, count=40, html="<p>Hi {{ first_name }}</p>")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 40
    assert handler.recipients() == {f"user{i}@example.com": 1 for i in range(40)}
    assert handler.ehlo <= 3
    rcpts, data = next(m for m in handler.messages if m[0] == ["user7@example.com"])
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "Üser7"
    assert parsed["From"].addresses[0].display_name == "Ünïcode Team"
    assert parsed["Subject"] == "Hi Üser7"
    assert parsed["List-Unsubscribe"] == "<https://example.com/u/user7@example.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == "Hello Üser7 from Zürich\n.a dotted line\n"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hi Üser7</p>"


def test_lines_beginning_with_a_dot_arrive_as_written_whichever_way_composed(home,
                                                                              smtp_server):
    """An ASCII body is composed straight into its wire form, which knows whether a line
    begins with a dot and then skips DATA's search for one: a dot from the template's text,
    from a value that begins a line, or none at all, every message arrives as written."""
    port, handler = smtp_server
    settings, _ = make_home(home, smtp_toml(port, connections=2), count=0, body="Hello\n")
    (home / "notes.csv").write_text("email,note\na@example.com,plain\nb@example.com,.hidden\n"
                                    "c@example.com,..two\n", encoding="utf-8")
    contacts.import_csv(home / "notes.csv", home, "notes")
    plain = campaigns.create(settings, "plain", "email", "notes",
                             "Hi {{ email }}\n{{ note }} and so on\n", subject="s")
    dotted = campaigns.create(settings, "dots", "email", "notes",
                              "Hi {{ email }}\n.sig {{ note }}\n", subject="s")
    for campaign_id in (plain.id, dotted.id):
        control.launch(settings, campaign_id)
        wait_status(campaign_id, "completed")
    bodies = sorted(email.message_from_bytes(data, policy=policy.default).get_content()
                    .replace("\r\n", "\n") for _, data in handler.messages)
    assert bodies == sorted([
        "Hi a@example.com\nplain and so on\n", "Hi b@example.com\n.hidden and so on\n",
        "Hi c@example.com\n..two and so on\n", "Hi a@example.com\n.sig plain\n",
        "Hi b@example.com\n.sig .hidden\n", "Hi c@example.com\n.sig ..two\n"])


def test_pooled_pipelined_sending_into_smtp_sink(home, sinks):
    sink = sinks()
    settings, cid = make_home(home, smtp_toml(sink.port, connections=4), count=300)
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 300
    assert sink.recipients() == {f"user{i}@example.com": 1 for i in range(300)}


@pytest.mark.parametrize("option, state, reason", [
    (("-f", "rcpt"), "failed", "RCPT TO: 5"),
    (("-r", "rcpt"), "failed", "gave up after 3 attempts: RCPT TO: 4"),
    (("-q", "."), "unknown", "no reply after the message was sent"),
    (("-W", ".:4"), "unknown", "no reply after the message was sent"),
])
def test_server_faults_land_in_the_right_state(home, sinks, option, state, reason):
    sink = sinks(*option)
    settings, cid = make_home(home, smtp_toml(sink.port, connections=2), count=6)
    control.launch(settings, cid)
    wait_status(cid, "completed", "paused", timeout=90)
    counts = counts_add_up(cid)
    assert counts[state] == 6, counts
    from messagehub_tui.models import Delivery
    errors = {d.error for d in Delivery.select().where(Delivery.campaign == cid)}
    assert all(reason in error for error in errors), errors
    if state == "unknown":
        assert all(n == 1 for n in sink.recipients().values())


def test_replies_out_of_order_fail_nobody_and_the_lane_stops_pipelining(home, sinks):
    """smtp-sink -W answers a pipelined DATA (503 need RCPT) before the RCPT it holds back, so
    RCPT seems refused with a 5xx and DATA answered 250. RFC 2920 keeps replies in order: no
    recipient fails for this server's disorder; the lane sends one command at a time instead."""
    sink = sinks("-W", "rcpt:1")
    settings, cid = make_home(home, smtp_toml(sink.port, connections=2), count=6)
    control.launch(settings, cid)
    wait_status(cid, "completed", "paused", timeout=90)
    assert counts_add_up(cid)["sent"] == 6, counts_add_up(cid)
    assert sink.recipients() == {f"user{i}@example.com": 1 for i in range(6)}


def test_a_held_back_rset_costs_one_unknown_per_lane_then_the_lane_stops_pipelining(
        home, sinks):
    """smtp-sink -W rset answers MAIL, RCPT and DATA of the envelope sent with a body before the
    RSET it holds back: 250 250 250 354, then 250. The body's 250 came first, but -W . (the end
    of DATA held back) gives the same five replies with the RSET's 250 first: the client cannot
    tell whose 250 it read, so that message is unknown, not sent. The lane then sends one
    command at a time: one unknown per lane, never more."""
    sink = sinks("-W", "rset:2")
    settings, cid = make_home(home, smtp_toml(sink.port, connections=2), count=8)
    control.launch(settings, cid)
    wait_status(cid, "completed", timeout=90)
    counts = counts_add_up(cid)
    assert 1 <= counts["unknown"] <= 2 and counts["sent"] == 8 - counts["unknown"], counts
    from messagehub_tui.models import Delivery
    unknown = Delivery.select().where((Delivery.campaign == cid) & (Delivery.status == "unknown"))
    assert all("replies out of order" in d.error for d in unknown), [d.error for d in unknown]
    assert sink.recipients() == {f"user{i}@example.com": 1 for i in range(8)}


def test_421_reconnects_and_retries(home):
    server = ScriptedSmtp(faults={1: "421"})
    try:
        settings, cid = make_home(home, smtp_toml(server.port, connections=1), count=2)
        control.launch(settings, cid)
        wait_status(cid, "completed", timeout=90)
        assert counts_add_up(cid)["sent"] == 2
        assert server.recipients() == {"user0@example.com": 1, "user1@example.com": 1}
        assert server.connections == 2
        from messagehub_tui.models import Delivery
        attempts = sorted(d.attempts for d in Delivery.select().where(Delivery.campaign == cid))
        assert attempts == [1, 2]
    finally:
        server.stop()


def test_a_server_that_always_answers_421_fails_after_the_retries(home, sinks):
    sink = sinks("-Q", "mail")
    settings, cid = make_home(home, smtp_toml(sink.port, connections=1), count=2)
    control.launch(settings, cid)
    wait_status(cid, "completed", timeout=90)
    assert counts_add_up(cid)["failed"] == 2
    assert sink.recipients() == {}
    from messagehub_tui.models import Delivery, Event
    errors = {d.error for d in Delivery.select().where(Delivery.campaign == cid)}
    assert errors == {
        "gave up after 3 attempts: MAIL FROM: 421 4.0.0 Server closing connection"}, errors
    # The walk: the monitor's events said "1 retry: …" for that last attempt too, never that
    # these recipients failed.
    said = [(e.level, e.message) for e in Event.select().where(Event.campaign == cid)]
    failed = [message for level, message in said if level == "error" and " failed: " in message]
    assert failed and all("gave up after 3 attempts" in message for message in failed), said


def test_a_server_refusing_ehlo_pauses_and_fails_nobody(home):
    server = ScriptedSmtp(refuse_ehlo=True)
    try:
        settings, cid = make_home(home, smtp_toml(server.port, connections=2), count=5)
        control.launch(settings, cid)
        campaign = wait_status(cid, "paused")
        assert campaign.last_error == "the SMTP server refuses this client: EHLO: 550 5.7.1 not you"
        assert counts_add_up(cid)["pending"] == 5
    finally:
        server.stop()


def test_a_server_capping_connections_pauses_with_what_to_lower(home):
    # The walk: a relay that refuses a client's connections (421 at the greeting) paused the
    # campaign with only "greeting: 421 4.7.0 …": nothing said which settings make them fewer.
    # With no runner able to connect at all, two runners still pause it so.
    server = ScriptedSmtp(limit=0)
    try:
        settings, cid = make_home(home, smtp_toml(server.port, processes=2, connections=4),
                                  count=20)
        control.launch(settings, cid)
        campaign = wait_status(cid, "paused")
        assert campaign.last_error.startswith("greeting: 421 4.7.0 Error: too many connections")
        assert "[email] connections (4 per runner) or [delivery] processes" in \
            campaign.last_error
        counts = counts_add_up(cid)
        assert counts["pending"] == 20 and counts["failed"] == counts["unknown"] == 0
        assert not server.messages
    finally:
        server.stop()


def sent_once_untried(cid: int, server: ScriptedSmtp, count: int) -> None:
    """Every message arrived once and took one attempt: the ones a refused connection had in
    hand went back untried (their attempt not counted)."""
    from messagehub_tui.models import Delivery
    assert counts_add_up(cid)["sent"] == count
    assert server.recipients() == {f"user{i}@example.com": 1 for i in range(count)}
    assert {d.attempts for d in Delivery.select().where(Delivery.campaign == cid)} == {1}


def test_a_server_capping_connections_gets_every_message_over_those_it_accepts(home):
    # The walk: one runner's four connections to a relay serving one per client: the three
    # refused paused the campaign, although the first was sending fine.
    server = ScriptedSmtp(limit=1)
    try:
        settings, cid = make_home(home, smtp_toml(server.port, connections=4), count=30)
        control.launch(settings, cid)
        wait_status(cid, "completed")
        assert server.refused >= 1
        sent_once_untried(cid, server, 30)
    finally:
        server.stop()


def test_a_runner_the_relay_refuses_leaves_the_campaign_to_the_one_it_serves(home):
    # The walk: two runners of one connection each, a relay serving one: the second runner's
    # refused connection paused the whole campaign while the first was sending. `hold`: the
    # first is greeted once the second was refused, so both met the cap whatever their pace
    # (a timeout long enough for the second runner to start).
    from messagehub_tui.models import Event
    server = ScriptedSmtp(limit=1, hold=True)
    try:
        toml = smtp_toml(server.port, processes=2, connections=1).replace(
            'timeout = "2s"', 'timeout = "30s"')
        settings, cid = make_home(home, toml, count=1000)
        control.launch(settings, cid)
        wait_status(cid, "completed")
        assert server.refused == 1
        sent_once_untried(cid, server, 1000)
        said = [e.message for e in Event.select().where(Event.campaign == cid)]
        left = [m for m in said if " left: the relay refused more connections (greeting: 421" in m]
        # (the runner served may have sent all before the refused one looked again, a fifth of
        # a second later: "sent the rest"; 1000 messages make that rare)
        assert len(left) == 1 and left[0].endswith(("; the other runners go on",
                                                    "; the other runners sent the rest")), said
        assert not any(m.startswith("paused") for m in said), said
    finally:
        server.stop()


def test_repeated_connection_refusals_pause_the_campaign(home):
    settings, cid = make_home(home, smtp_toml(free_port()), count=5)
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert "cannot connect to 127.0.0.1" in campaign.last_error
    counts = counts_add_up(cid)
    assert counts["sent"] == 0 and counts["failed"] == 0


def test_authentication_failure_pauses_with_the_reason(home, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            auth_require_tls=False,
                            authenticator=lambda *args: AuthResult(success=False, handled=False))
    controller.start()
    try:
        monkeypatch.setenv("MESSAGEHUB_SMTP_PASSWORD", "wrong-password")
        settings, cid = make_home(home, smtp_toml(controller.port, username='"mailer"',
                                                  allow_plaintext_auth="true"), count=5)
        control.launch(settings, cid)
        campaign = wait_status(cid, "paused")
        assert "authentication failed" in campaign.last_error
        assert "535" in campaign.last_error
        assert "wrong-password" not in campaign.last_error
        assert "wrong-password" not in (home / "logs" / f"campaign-{cid}.log").read_text()
        assert counts_add_up(cid)["pending"] == 5
        checks = {c.name: c for c in run_checks(settings)}
        assert not checks["smtp"].ok and "username" in checks["smtp"].detail
    finally:
        controller.stop()


def test_a_failure_streak_pauses_the_campaign(home, sinks):
    sink = sinks("-f", "rcpt")
    toml = smtp_toml(sink.port) + "failure_streak = 10\n"
    settings, cid = make_home(home, toml, count=30)
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert campaign.last_error.startswith("the last 10 attempts all failed; last error: RCPT TO")
    counts = counts_add_up(cid)
    assert counts["failed"] >= 10 and counts["pending"] > 0


def test_send_test_and_doctor(home, smtp_server):
    port, handler = smtp_server
    settings, cid = make_home(home, smtp_toml(port), count=3)
    result = delivery.send_test(settings, cid, "qa@example.com").result
    assert result.outcome == Outcome.SENT
    assert handler.recipients() == {"qa@example.com": 1}
    assert b"Hi \xc3\x9cser0" in email.message_from_bytes(
        handler.messages[0][1], policy=policy.default)["Subject"].encode()
    assert campaigns.status(cid).status == "draft"
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["smtp"].ok and "pipelining not offered" in checks["smtp"].detail


def test_doctor_sees_pipelining_and_a_dead_server(home, sinks):
    sink = sinks()
    settings, _ = make_home(home, smtp_toml(sink.port, username='"u"',
                                              allow_plaintext_auth="true"), count=1)
    object.__setattr__(settings.email, "password", "pw")
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["smtp"].ok, checks["smtp"]
    assert "connect, EHLO, AUTH ok; pipelining on" in checks["smtp"].detail
    sink.stop()
    checks = {c.name: c for c in run_checks(settings)}
    assert not checks["smtp"].ok and "cannot connect" in checks["smtp"].detail
