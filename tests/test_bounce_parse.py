"""Classifying the bounce mailbox: DSNs and complaints in the formats of several MTAs (written from
RFC 3464 / RFC 5965 and the providers' public descriptions, no copied mail), auto-replies and
unrelated mail, which must never be taken for a bounce."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehub_tui.bounces.parse import Kind, classify

SAMPLES = Path(__file__).parent / "data" / "bounces"

EXPECTED = {
    "exim_dsn_hard.eml": (Kind.HARD, "bob@example.org", "5.1.1"),
    "exim_plain_hard.eml": (Kind.HARD, "bob@example.org", ""),  # flufl.bounce's fallback
    "exchange_dsn_hard.eml": (Kind.HARD, "carol@contoso.example", "5.1.10"),
    "gmail_dsn_hard.eml": (Kind.HARD, "dave@gmail.example", "5.1.1"),
    "gmail_dsn_soft.eml": (Kind.SOFT, "erin@gmail.example", "4.2.2"),
    "yahoo_dsn_hard.eml": (Kind.HARD, "frank@yahoo.example", "5.0.0"),
    "yahoo_arf.eml": (Kind.COMPLAINT, "grace@yahoo.example", ""),
    "rfc5965_arf.eml": (Kind.COMPLAINT, "heidi@isp.example", ""),
    "success_dsn.eml": (Kind.UNRELATED, None, ""),
    "autoreply_rfc3834.eml": (Kind.AUTO_REPLY, None, ""),
    "autoreply_exchange.eml": (Kind.AUTO_REPLY, None, ""),
    "autoreply_precedence.eml": (Kind.AUTO_REPLY, None, ""),
    "autoreply_xautoreply.eml": (Kind.AUTO_REPLY, None, ""),
    "autoreply_subject_only.eml": (Kind.AUTO_REPLY, None, ""),
    "unrelated_person.eml": (Kind.UNRELATED, None, ""),
    "unrelated_newsletter.eml": (Kind.UNRELATED, None, ""),
    "unrelated_postmaster_notice.eml": (Kind.UNRELATED, None, ""),
}


def test_every_sample_has_an_expectation():
    assert sorted(p.name for p in SAMPLES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name):
    kind, recipient, status = EXPECTED[name]
    found = classify((SAMPLES / name).read_bytes())
    assert (found.kind, found.recipient, found.status) == (kind, recipient, status)
    if kind.recognised:
        assert found.diagnostic
    if kind in (Kind.HARD, Kind.SOFT) and status:
        assert status in found.diagnostic or name.startswith("yahoo"), found.diagnostic


def test_the_diagnostic_code_is_kept_as_the_reason_and_the_original_message_id_found():
    found = classify((SAMPLES / "exchange_dsn_hard.eml").read_bytes())
    assert found.diagnostic == ("smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
                                "found by SMTP address lookup")
    assert found.original_message_id == "MSGID@example.com"
    folded = classify((SAMPLES / "gmail_dsn_hard.eml").read_bytes())
    assert "does not exist. 550 5.1.1 Please try" in folded.diagnostic  # folded lines joined


def test_the_verp_address_the_bounce_was_delivered_to_is_kept():
    found = classify((SAMPLES / "exim_dsn_hard.eml").read_bytes())
    assert "bounces+token@news.example.com" in found.envelope_to


def test_a_dsn_marked_auto_submitted_is_still_a_bounce():
    """Postfix and Exchange mark their own DSNs `Auto-Submitted: auto-replied`."""
    raw = (SAMPLES / "exim_dsn_hard.eml").read_bytes()
    assert b"Auto-Submitted: auto-replied" in raw
    assert classify(raw).kind == Kind.HARD


def test_a_dsn_without_status_uses_its_action():
    raw = (SAMPLES / "gmail_dsn_soft.eml").read_bytes().replace(b"Status: 4.2.2\n", b"")
    assert classify(raw).kind == Kind.SOFT


def test_figures_recognised_and_false_positives():
    """The figures for the report: reports recognised out of those tried, and how many
    non-reports were taken for one (must be 0)."""
    reports = [n for n, (kind, _, _) in EXPECTED.items() if kind.recognised]
    others = [n for n in EXPECTED if n not in reports]
    recognised = sum(classify((SAMPLES / n).read_bytes()).kind.recognised for n in reports)
    false_positives = sum(classify((SAMPLES / n).read_bytes()).kind.recognised for n in others)
    print(f"recognised {recognised}/{len(reports)}, false positives {false_positives}/"
          f"{len(others)}")
    assert (recognised, false_positives) == (len(reports), 0)


NO_RECIPIENT = (b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n"
                b"--x\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n--x--\n")


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe garbage", b"Content-Type: multipart/report\n\n",
                                 NO_RECIPIENT])
def test_broken_mail_is_unrelated_not_a_crash(raw):
    assert classify(raw).kind == Kind.UNRELATED
