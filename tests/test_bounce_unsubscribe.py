"""Unsubscribing by mail: the List-Unsubscribe mailto carries a signed token in its subject; the
mail a recipient's client sends to it suppresses that recipient (reason `unsubscribed`), and
nothing else in the mailbox is touched. Proven with the mail a real Postfix delivered."""

from __future__ import annotations

import email
import json
import sqlite3
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from messagehub_tui import feedback, signing
from messagehub_tui.bounces import policy, verp
from messagehub_tui.bounces.parse import Finding, Kind, classify
from messagehub_tui.compose import Composer, mailto_with_token
from messagehub_tui.models import Delivery, Event, Suppression
from tests.clitools import campaign_with, ok, run
from tests.engine import make_home
from tests.mailloop import DOMAIN, MailLoop

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

TOKEN = "42.AbCdEfGhIjKlMnOpQrSt_-"


def _mail(subject: str, body: str = "", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.org>"
    msg["To"] = "unsubscribe@news.example.com"
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body or "sent from my phone")
    return msg.as_bytes()


def test_the_mailto_link_carries_the_token_in_its_subject():
    assert mailto_with_token("mailto:u@example.com", TOKEN) == \
        f"mailto:u@example.com?subject=unsubscribe%20{TOKEN}"
    assert mailto_with_token("mailto:u@example.com?body=bye&Subject=Leave", TOKEN) == \
        f"mailto:u@example.com?body=bye&Subject=Leave%20{TOKEN}"
    composer = Composer("email", "Leave: {{ unsubscribe_url }}", "s", sender="n@example.com",
                        unsubscribe="mailto:u@example.com, https://example.com/u",
                        mailto_token=lambda delivery_id: f"{delivery_id}.{TOKEN[3:]}")
    raw = composer.email_bytes({"email": "a@example.org"}, "a@example.org", "1.42.1",
                               delivery_id=42)
    msg = email.message_from_bytes(raw)
    assert msg["List-Unsubscribe"] == (f"<mailto:u@example.com?subject=unsubscribe%20{TOKEN}>, "
                                       "<https://example.com/u>")
    # without a token (previews, test sends) the link names nobody
    plain = composer.email_bytes({"email": "a@example.org"}, "a@example.org", "preview")
    assert "<mailto:u@example.com>" in email.message_from_bytes(plain)["List-Unsubscribe"]


@pytest.mark.parametrize("raw, kind, tokens", [
    (_mail(f"unsubscribe {TOKEN}"), Kind.UNSUBSCRIBE, (TOKEN,)),
    (_mail(f"Leave {TOKEN}"), Kind.UNSUBSCRIBE, (TOKEN,)),
    (_mail("Unsubscribe", f"Please remove me.\nunsubscribe {TOKEN}\n"), Kind.UNSUBSCRIBE,
     (TOKEN,)),
    # a client that marks the request it sent on a click as machine-made
    (_mail(f"unsubscribe {TOKEN}", Auto_Submitted="auto-generated"), Kind.UNSUBSCRIBE, (TOKEN,)),
    # quoted text, a percent-encoded copy of the link, an auto-reply quoting it: not a request
    (_mail("Re: News", f"Thanks!\n> unsubscribe {TOKEN}\n"), Kind.UNRELATED, ()),
    (_mail("Re: News", f"see mailto:u@example.com?subject=unsubscribe%20{TOKEN}"),
     Kind.UNRELATED, ()),
    (_mail("Out of office: News", f"Away. You wrote: unsubscribe {TOKEN}",
           Auto_Submitted="auto-replied"), Kind.AUTO_REPLY, ()),
    (_mail("unsubscribe", "please take me off"), Kind.UNRELATED, ()),
    (_mail(f"Invoice {TOKEN[:-1]}"), Kind.UNRELATED, ()),
])
def test_an_unsubscribe_request_is_told_by_a_token_of_its_own(raw, kind, tokens):
    found = classify(raw)
    assert (found.kind, found.tokens) == (kind, tokens)


@pytest.fixture
def sent(home, monkeypatch):
    monkeypatch.delenv(verp.KEY_ENV, raising=False)
    settings, campaign_id = make_home(home, "", count=1)
    ids = {address: Delivery.create(campaign=campaign_id, address=address, status="sent").id
           for address in ("ann@example.org", "bob@example.org")}
    return settings, campaign_id, ids


def _request(tokens: tuple[str, ...]) -> Finding:
    return Finding(Kind.UNSUBSCRIBE, diagnostic="List-Unsubscribe mailto: request", tokens=tokens)


def test_a_genuine_token_suppresses_its_recipient_once(sent):
    settings, campaign_id, ids = sent
    token = signing.delivery_unsubscribe_token(settings, ids["ann@example.org"])
    applied = policy.apply(settings, _request((TOKEN, token)), "<u1@example.org>")
    assert (applied.address, applied.campaign_id, applied.suppressed) == (
        "ann@example.org", campaign_id, True)
    assert [(s.address, s.reason) for s in Suppression.select()] == [("ann@example.org",
                                                                      "unsubscribed")]
    assert Delivery.get_by_id(ids["ann@example.org"]).error is None  # leaving is no error
    assert [e.message for e in Event.select()] == [
        "unsubscribe for ann@example.org: List-Unsubscribe mailto: request; address suppressed"]
    # the same request polled again, a second request or the web link: counted once
    for key in ("<u1@example.org>", "<u2@example.org>"):
        assert policy.apply(settings, _request((token,)), key).repeated
    assert Event.select().count() == 1
    assert feedback.counts(campaign_id).unsubscribed == 1


def test_a_forged_or_return_path_token_unsubscribes_nobody(sent):
    settings, _, ids = sent
    ann, bob = ids["ann@example.org"], ids["bob@example.org"]
    genuine = signing.delivery_unsubscribe_token(settings, ann)
    forged = f"{bob}.{genuine.split('.')[1]}"
    # the VERP token every relay sees in the envelope is signed for another purpose
    return_path = verp.make_token(verp.secret_key(settings.home), ann)
    for token in (forged, return_path):
        assert policy.apply(settings, _request((token,)), f"<{token}@x>") is None
    assert Suppression.select().count() == 0


def _request_from(loop: MailLoop, home: Path) -> bytes:
    """What a mail client does with the List-Unsubscribe mailto of the message alice got
    (RFC 6068: the address, then the subject from the query)."""
    delivered = next((loop.mail / "alice" / "new").iterdir())
    header = email.message_from_bytes(delivered.read_bytes())["List-Unsubscribe"]
    link = next(part.strip(" <>") for part in header.split(",") if "mailto:" in part)
    parts = urlsplit(link)
    request = EmailMessage()
    request["From"] = f"alice@{DOMAIN}"
    request["To"] = unquote(parts.path)
    request["Subject"] = parse_qs(parts.query)["subject"][0]
    request.set_content("This message was sent automatically to unsubscribe.")
    return request.as_bytes()


def test_an_unsubscribe_mail_through_postfix_suppresses_its_sender_only(tmp_path, loop):
    env = loop.configure(tmp_path, email=f'unsubscribe = "mailto:unsubscribe@{DOMAIN}"\n')
    campaign_id = campaign_with(tmp_path, [f"alice@{DOMAIN}", f"vacation@{DOMAIN}"])
    sent = run(tmp_path, "send", campaign_id, env=env)
    assert sent.returncode == 0, (sent.stdout, sent.stderr, loop.log())
    loop.wait_for("alice", 1)
    loop.wait_for("bounces", 1)  # vacation's auto-reply
    request = _request_from(loop, tmp_path)
    loop.send(request, f"unsubscribe@{DOMAIN}", sender=f"alice@{DOMAIN}")
    # the same request with the token's id pointing at another delivery
    subject = email.message_from_bytes(request)["Subject"]
    number, signature = subject.split()[-1].split(".")
    forged_subject = subject.replace(f"{number}.", f"{int(number) + 1}.")
    forged = request.replace(subject.encode(), forged_subject.encode())
    loop.send(forged, f"unsubscribe@{DOMAIN}", sender=f"alice@{DOMAIN}")
    loop.wait_for("bounces", 3)

    done = run(tmp_path, "bounces", "check", env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"unsubscribe: alice@{DOMAIN} (campaign {campaign_id})" in done.stdout, done.stdout
    assert "unsubscribe: no token of this home, left" in done.stdout, done.stdout
    assert "3 new messages" in done.stdout and "1 moved" in done.stdout, done.stdout
    with sqlite3.connect(tmp_path / "messagehub.db") as db:
        assert db.execute("SELECT address, reason FROM suppression").fetchall() == [
            (f"alice@{DOMAIN}", "unsubscribed")]
    counted = json.loads(ok(tmp_path, "status", campaign_id, "--json"))["feedback"]
    assert (counted["unsubscribed"], counted["bounced"]) == (1, 0), counted
    state = loop.mailbox_state()
    assert [s for s, flags in state["INBOX"] if "\\Seen" not in flags] == sorted(
        [forged_subject, "Out of office: s"])
    assert [s for s, _ in state["messagehub-processed"]] == [subject]
