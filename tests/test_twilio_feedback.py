"""The pure Twilio feedback rules: status mapping, error meanings, inbound keywords, signatures."""

import pytest
from twilio.request_validator import RequestValidator

from messagehub_tui.channels.twilio_feedback import (
    FinalStatus,
    Keyword,
    callback_report,
    endpoint_url,
    error_meaning,
    keyword,
    signature_valid,
    status_callback_url,
    status_report,
)

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

SID = "SM" + "a" * 32
TOKEN = "test-token-not-secret"


@pytest.mark.parametrize("status, final", [
    ("delivered", FinalStatus.DELIVERED), ("read", FinalStatus.DELIVERED),
    ("undelivered", FinalStatus.UNDELIVERED), ("failed", FinalStatus.FAILED),
    ("canceled", FinalStatus.FAILED), ("Delivered", FinalStatus.DELIVERED),
    ("queued", None), ("sending", None), ("sent", None), ("accepted", None), ("scheduled", None),
])
def test_final_statuses(status, final):
    assert status_report(SID, status).final == final


def test_a_callback_carries_the_error_code_and_its_meaning():
    report = callback_report({"MessageSid": SID, "MessageStatus": "undelivered",
                              "ErrorCode": "30003"})
    assert report.code == 30003 and "unreachable destination handset" in report.meaning
    assert report.detail().startswith("undelivered: Twilio error 30003: unreachable")
    assert callback_report({"MessageSid": SID, "MessageStatus": "delivered",
                            "ErrorCode": ""}).detail() == "delivered"


@pytest.mark.parametrize("code, words", [
    (30001, "queue overflow"), (30002, "suspended"), (30004, "blocked"), (30005, "unknown"),
    (30006, "landline"), (30007, "filtered"), (30008, "unknown error"), (30032, "toll-free"),
    (30034, "unregistered"), (21610, "STOP"), (21614, "not a valid mobile"),
])
def test_error_meanings(code, words):
    assert words in error_meaning(code)


def test_an_unknown_code_falls_back_to_twilios_message_or_page():
    assert error_meaning(39999, "Twilio's own words") == "Twilio's own words"
    assert error_meaning(39999) == "see https://www.twilio.com/docs/api/errors/39999"
    assert status_report(SID, "failed", 39999, "from the fetch").meaning == "from the fetch"


@pytest.mark.parametrize("fields", [
    {"MessageStatus": "delivered"}, {"MessageSid": SID}, {"MessageSid": "", "MessageStatus": "x"},
    {"MessageSid": "XX" + "a" * 32, "MessageStatus": "delivered"},
    {"MessageSid": "SM../../x", "MessageStatus": "delivered"},
    {"MessageSid": SID, "MessageStatus": "  "},
])
def test_malformed_callbacks_are_no_report(fields):
    assert callback_report(fields) is None


@pytest.mark.parametrize("body, expected", [
    ("STOP", Keyword.OPT_OUT), ("stop", Keyword.OPT_OUT), ("  Stop \n", Keyword.OPT_OUT),
    ("STOPALL", Keyword.OPT_OUT), ("unsubscribe", Keyword.OPT_OUT), ("Cancel", Keyword.OPT_OUT),
    ("END", Keyword.OPT_OUT), ("quit", Keyword.OPT_OUT), ("REVOKE", Keyword.OPT_OUT),
    ("OptOut", Keyword.OPT_OUT),
    ("START", Keyword.OPT_IN), ("unstop", Keyword.OPT_IN), ("Yes", Keyword.OPT_IN),
    ("HELP", Keyword.HELP), ("info", Keyword.HELP),
    ("stop please", Keyword.REPLY), ("STOP.", Keyword.REPLY), ("yes, see you", Keyword.REPLY),
    ("", Keyword.REPLY), ("Thanks!", Keyword.REPLY), ("opt out", Keyword.REPLY),
])
def test_inbound_keywords(body, expected):
    assert keyword(body) == expected


def test_advanced_opt_out_type_wins_over_the_body():
    """A custom keyword ("ARRET") that Twilio's Advanced Opt-Out matched counts as STOP."""
    assert keyword("ARRET", "STOP") == Keyword.OPT_OUT
    assert keyword("stop", "START") == Keyword.OPT_IN
    assert keyword("AIDE", "HELP") == Keyword.HELP
    assert keyword("stop", "") == Keyword.OPT_OUT


def test_urls_are_built_on_the_public_url():
    assert status_callback_url("https://news.example.com/mh") == (
        "https://news.example.com/mh/twilio/status")
    assert status_callback_url("https://news.example.com/mh/") == (
        "https://news.example.com/mh/twilio/status")
    assert status_callback_url(None) is None
    assert endpoint_url("https://a.example/mh", "/twilio/inbound", "x=1") == (
        "https://a.example/mh/twilio/inbound?x=1")


def signed(url, params, token=TOKEN, algorithm=None):
    return RequestValidator(token).compute_signature(url, params, algorithm)


def test_signature_against_the_public_url():
    url = "https://news.example.com/mh/twilio/status"
    params = {"MessageSid": SID, "MessageStatus": "delivered"}
    headers = {"X-Twilio-Signature": signed(url, params)}
    assert signature_valid(url, params, headers, TOKEN)
    # what the proxied request looks like from behind the proxy is not what Twilio signed
    assert not signature_valid("http://127.0.0.1:8080/twilio/status", params, headers, TOKEN)
    assert not signature_valid(url, {**params, "MessageStatus": "failed"}, headers, TOKEN)
    assert not signature_valid(url, params, headers, "another-token")
    assert not signature_valid(url, params, {}, TOKEN)
    assert not signature_valid(url, params, headers, None)


def test_signature_with_a_shared_key_and_its_algorithm():
    url = "https://news.example.com/mh/twilio/inbound"
    params = {"From": "+14155550000", "Body": "STOP"}
    headers = {"X-Twilio-Signature": signed(url, params, "shared-secret", "HMAC_SHA256"),
               "X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256"}
    assert signature_valid(url, params, headers, TOKEN, "shared-secret")
    # the header names a key: the Auth Token does not stand in for it
    assert not signature_valid(url, params, headers, TOKEN, None)
    assert not signature_valid(url, params, headers, TOKEN, "other-secret")
    unknown = {**headers, "X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=MD5"}
    assert not signature_valid(url, params, unknown, TOKEN, "shared-secret")
