"""SMS through the official twilio client: a fake API for error codes, Prism for the published
schema."""

import contextlib
import io
import json

import pytest

from messagehub_tui import contacts, control
from messagehub_tui.models import Delivery, Suppression
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.peers import ACCOUNT_SID, Prism

pytestmark = pytest.mark.usefixtures("twilio_token")

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def twilio_toml(url: str, sender: str = "+15005550006", **extra) -> str:
    values = {"transport": '"twilio"', "account_sid": f'"{ACCOUNT_SID}"', "from": f'"{sender}"',
              "api_base_url": f'"{url}"', "timeout": '"2s"', **extra}
    lines = ["[sms]"] + [f"{key} = {value}" for key, value in values.items()]
    lines += ["[delivery]", 'retry_base = "50ms"', 'retry_max = "100ms"', "max_attempts = 3"]
    return "\n".join(lines) + "\n"




def by_phone(campaign_id):
    return {d.address: d for d in Delivery.select().where(Delivery.campaign == campaign_id)}


def test_outcomes_by_error_code(home, fake):
    settings, cid = make_home(home, twilio_toml(fake.url), count=3, channel="sms",
                              body="Hi {{ first_name }}")
    extra = home / "extra.csv"
    extra.write_text("phone\n+14155550200\n+14155550201\n+14155550202\n+14155550300\n"
                     "+14155550301\n")
    contacts.import_csv(extra, home, "people")
    fake.fail_first["+14155550300"] = (429, 20429)
    fake.fail_first["+14155550301"] = (503, None)
    control.launch(settings, cid)
    wait_status(cid, "completed")
    counts = counts_add_up(cid)
    assert (counts["sent"], counts["failed"]) == (5, 3)
    rows = by_phone(cid)
    assert rows["+14155550000"].provider_id.startswith("SM")
    assert rows["+14155550300"].attempts == 2 and rows["+14155550300"].status == "sent"
    assert rows["+14155550301"].status == "sent"
    assert "21211" in rows["+14155550200"].error and "21614" in rows["+14155550202"].error
    assert rows["+14155550201"].status == "failed"
    assert Suppression.get_or_none(channel="sms", address="+14155550201") is not None
    request = fake.requests[0]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["From"] == "+15005550006" and request["auth"].startswith("Basic ")
    assert fake.sent_to()["+14155550000"] == 1


@pytest.mark.parametrize("number, reason", [("+14155550203", "rejected the credentials"),
                                            ("+14155550204", "suspended")])
def test_account_errors_pause_the_campaign(home, fake, number, reason):
    settings, cid = make_home(home, twilio_toml(fake.url), count=0, channel="sms", body="x")
    path = home / "one.csv"
    path.write_text(f"phone\n{number}\n+14155550001\n")
    contacts.import_csv(path, home, "people")
    fake.delay[number] = 0.2
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert reason in campaign.last_error
    assert "test-token-not-secret" not in campaign.last_error
    assert counts_add_up(cid)["pending"] >= 1


def test_read_timeout_after_the_request_is_unknown(home, fake):
    # a timeout a busy machine's prompt answer stays well inside, and a delay well past it
    settings, cid = make_home(home, twilio_toml(fake.url, timeout='"2s"'), count=2,
                              channel="sms", body="x")
    fake.delay["+14155550001"] = 6
    control.launch(settings, cid)
    wait_status(cid, "completed")
    rows = by_phone(cid)
    assert rows["+14155550001"].status == "unknown"
    assert "no answer after the request was sent" in rows["+14155550001"].error
    assert rows["+14155550000"].status == "sent"
    poll(lambda: fake.sent_to()["+14155550001"] == 1, 20, what="the slow request to arrive")


def test_messaging_service_sid(home, fake):
    service = "MG" + "1" * 32
    toml = twilio_toml(fake.url).replace('from = "+15005550006"',
                                         f'messaging_service_sid = "{service}"')
    settings, cid = make_home(home, toml, count=1, channel="sms", body="x")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert fake.requests[0]["MessagingServiceSid"] == service
    assert "From" not in fake.requests[0]
    # `deliveries --json` gives the MessageSid: what one looks up in Twilio's console
    from messagehub_tui.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--home", str(home), "deliveries", str(cid), "--json"]) == 0
    [row] = json.loads(out.getvalue())
    assert row["provider_id"] in fake.statuses and row["provider_id"].startswith("SM")


def test_requests_match_twilios_published_spec(home):
    prism = Prism()
    try:
        settings, cid = make_home(home, twilio_toml(prism.url), count=3, channel="sms",
                                  body="Grüße {{ first_name }} 😀")
        control.launch(settings, cid)
        wait_status(cid, "completed", timeout=120)
        counts = counts_add_up(cid)
        assert counts["sent"] == 3, [d.error for d in Delivery.select()]
        assert all(d.provider_id.startswith("SM") for d in Delivery.select())
    finally:
        prism.stop()


def test_doctor_checks_twilio_credentials(home, fake):
    import base64

    from messagehub_tui.doctor import run_checks
    settings, _ = make_home(home, twilio_toml(fake.url), count=1, channel="sms", body="x")
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["twilio"].ok and "account status: active" in checks["twilio"].detail
    fake.bad_auth = base64.b64encode(f"{ACCOUNT_SID}:test-token-not-secret".encode()).decode()
    checks = {c.name: c for c in run_checks(settings)}
    assert not checks["twilio"].ok and "20003" in checks["twilio"].detail
    assert "test-token-not-secret" not in checks["twilio"].detail
