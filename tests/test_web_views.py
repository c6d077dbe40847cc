"""What a user sees of the feedback: the monitor's counts and rates, `deliveries ID` with each
delivery's feedback, the unsubscribe event; and the app serving [web] listen while open."""

from __future__ import annotations

import json

import pytest

from messagehub_tui import control, feedback
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Delivery
from messagehub_tui.screens.monitor import MonitorScreen
from tests.tui import make_app, open_deliveries, opens, screen_text, seed, settle, until
from tests.webtools import answers, free_port, web_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def heard(home):
    """Campaign 1 sent to its 3 recipients: ada unsubscribed, grace hard-bounced."""
    settings = seed(home)
    control.launch(settings, 1, start=False)
    Delivery.update(status="sent").execute()
    control.pause(settings, 1)
    ids = {d.address: d.id for d in Delivery.select()}
    feedback.unsubscribe(settings, ids["ada@example.com"], "one-click unsubscribe")
    feedback.record(ids["grace@example.com"], None, FeedbackKind.BOUNCED, "550 5.1.1 gone",
                    "bounce:<r1@mx>")
    return settings


async def test_the_monitor_shows_counts_rates_and_the_unsubscribe_event(heard):
    app = make_app(heard)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        line = ("heard back: bounced 1 (33.3%)  complained 0 (0.0%)  unsubscribed 1 (33.3%)")
        await until(pilot, lambda: line in screen_text(app), what="feedback line")
        log = app.screen.query_one("#events")
        assert any("unsubscribed: ada@example.com (one-click unsubscribe)" in str(strip.text)
                   for strip in log.lines)


def test_deliveries_shows_each_deliverys_feedback(heard, cli):
    code, out, _ = cli("deliveries", "1", "--json")
    rows = {row["address"]: row for row in json.loads(out)}
    assert [(f["kind"], f["detail"]) for f in rows["grace@example.com"]["feedback"]] == [
        ("bounced", "550 5.1.1 gone")]
    assert rows["zoe@example.com"]["feedback"] == []
    code, out, _ = cli("deliveries", "1")
    table = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert "unsubscribed" in table["ada@example.com"] and "bounced" in table["grace@example.com"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_deliveries_screen_has_the_clis_feedback_column(heard, size):

    feedback.record(Delivery.get(Delivery.address == "grace@example.com").id, None,
                    FeedbackKind.COMPLAINED, "abuse report", "arf:<c1@mx>")
    app = make_app(heard)
    async with app.run_test(size=size) as pilot:
        table = await open_deliveries(pilot, 3)
        assert [str(column.label) for column in table.columns.values()] == [
            "Address", "Status", "Tries", "Feedback", "Reason"]
        cells = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[3]) for i in range(3)}
        assert cells == {"ada@example.com": "unsubscribed", "grace@example.com":
                         "bounced\ncomplained", "zoe@example.com": "-"}
        assert table.virtual_size.width <= table.size.width
        drawn = " ".join(strip.text for strip in table.render_lines(table.region.reset_offset))
        assert all(word in drawn.split() for word in ("unsubscribed", "bounced", "complained"))


async def test_the_app_serves_the_endpoint_while_no_daemon_runs(home):
    port = free_port()
    settings = seed(home, web_toml(port))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.endpoint is not None and app.endpoint.serving.is_set(),
                    what="the app serving")
        assert answers(f"http://127.0.0.1:{port}/healthz")
    assert not answers(f"http://127.0.0.1:{port}/healthz"), "closed with the app"


async def test_the_app_says_when_it_cannot_listen(home):
    # The walk: with [web] listen taken, the app served nothing and said nothing.
    import socket

    from tests.tui import toasts
    port = free_port()
    settings = seed(home, web_toml(port))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        app = make_app(settings)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await until(pilot, lambda: any("cannot listen on" in toast for toast in toasts(app)),
                        what="the app saying it cannot listen")
            said = next(toast for toast in toasts(app) if "cannot listen on" in toast)
            assert "links and webhooks are not served" in " ".join(said.split())


def test_doctor_checks_the_listener_and_the_public_url(home, cli):
    port, dead = free_port(), free_port()
    settings = seed(home, web_toml(port))
    code, out, _ = cli("doctor")
    lines = {line.split()[1] + " " + line.split()[2]: line for line in out.splitlines()
             if "web" in line.split()[1:2]}
    assert lines["web listen"].startswith("ok") and "is free" in lines["web listen"]
    assert lines["web public_url"].startswith("FAIL") and code == 1
    from tests.webtools import serve
    endpoint = serve(settings)
    try:
        code, out, _ = cli("doctor")
        assert f"127.0.0.1:{port} answers: served by the app" in out
        assert f"http://127.0.0.1:{port}/healthz answers" in out and code == 0
        assert "http://, so messages carry no List-Unsubscribe-Post" in out
        (home / "messagehub.toml").write_text(web_toml(port, f"http://127.0.0.1:{dead}/mh"))
        code, out, _ = cli("doctor")
        assert f"http://127.0.0.1:{dead}/mh/healthz no answer" in out and code == 1
    finally:
        endpoint.stop()


def test_doctor_tells_another_homes_endpoint_from_this_ones(home, tmp_path, cli):
    # The walk: a second home given the same [web] listen could not bind it (one line in its
    # daemon's log), yet its doctor said "answers: served by the app", of the first home's
    # endpoint, which refuses the second home's unsubscribe links (another key).
    from messagehub_tui.config_load import load_settings
    from tests.webtools import serve
    port = free_port()
    seed(home, web_toml(port))
    other = tmp_path / "other-home"
    other.mkdir()
    (other / "messagehub.toml").write_text(web_toml(port))
    endpoint = serve(load_settings(other))
    try:
        code, out, _ = cli("doctor")
        listen = [line for line in out.splitlines() if line.split()[1:3] == ["web", "listen"]]
        assert listen[0].startswith("FAIL") and code == 1, listen
        assert f"127.0.0.1:{port} answers, but no process of this home serves it" in listen[0]
    finally:
        endpoint.stop()


def test_a_daemon_that_cannot_listen_says_so_at_start(home):
    # The walk: a second home's daemon given a port in use said nothing but its usual start
    # line; "cannot listen" was only in its log, and its links and webhooks went unserved.
    import socket

    from tests.test_scheduling import start_daemon, stop_daemon
    port = free_port()
    seed(home, web_toml(port))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        daemon = start_daemon(home)
        stop_daemon(daemon)
    said = [line for line in daemon.stderr.read().splitlines() if "cannot listen" in line]
    assert len(said) == 1 and said[0].startswith(
        f"messagehub-tui: cannot listen on 127.0.0.1:{port}: "), said
    assert said[0].endswith("address already in use; unsubscribe links and webhooks are not "
                            "served until it can (choose another [web] listen, or stop what "
                            "uses it)"), said


def test_a_listen_off_loopback_is_served_with_a_warning_at_start_and_in_doctor(home, cli):
    """[web] listen = "0.0.0.0:…" is accepted (a proxy in another container may need it), but
    doctor and the daemon's start say it is reachable from other hosts; loopback gets no word."""
    from tests.test_scheduling import start_daemon, stop_daemon
    port = free_port()
    seed(home, web_toml(port).replace("127.0.0.1", "0.0.0.0"))
    code, out, _ = cli("doctor")
    listen = [line for line in out.splitlines() if line.split()[1:2] == ["web"]][0]
    assert listen.startswith("ok") and f"0.0.0.0:{port} is free" in listen, listen
    warning = (f'warning: [web] listen = "0.0.0.0:{port}" is reachable from other hosts, not '
               "only through your reverse proxy (and without its TLS); unless that is what you "
               "want, listen on 127.0.0.1 and let the proxy forward to it")
    assert listen.endswith(f"; {warning}"), listen
    daemon = start_daemon(home)
    stop_daemon(daemon)
    assert f"messagehub-tui: {warning}\n" in daemon.stderr.read()
    (home / "messagehub.toml").write_text(web_toml(port))
    code, out, _ = cli("doctor")
    assert "is free" in out and "warning" not in out


@pytest.mark.parametrize("toml, line", [
    ('[web]\nlisten = "8080"', '[web] listen must be host:port such as "127.0.0.1:8080", '
                               "not '8080'"),
    ('[web]\nlisten = "127.0.0.1:70000"', "[web] listen must be host:port"),
    ('[web]\npublic_url = "news.example.com"', "[web] public_url must be an http:// or https://"),
    ('[web]\npublic_url = "https://x.org/?a=1"', "[web] public_url must be an http:// or "
                                                 "https:// URL without ? or #"),
    # these two were tracebacks in doctor's GET of public_url/healthz
    ('[web]\npublic_url = "https://user:pw@x.org/mh"', "[web] public_url must not name a user"),
    ('[web]\npublic_url = "https://x.org:80a/mh"', "[web] public_url has a bad port"),
    ("[delivery]\nmax_bounce_rate = 5", "[delivery] max_bounce_rate must be a fraction from 0 "
                                        "to 1 (0.05 is 5 %), not 5"),
])
def test_a_bad_web_or_rate_setting_is_one_clear_line(home, cli, toml, line):
    (home / "messagehub.toml").write_text(toml + "\n")
    code, out, err = cli("doctor")
    assert code != 0 and line in err and err.count("\n") == 1, err
