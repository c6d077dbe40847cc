"""Campaign create, edit, delete, counts, status and preview through the services and the CLI."""

import json

import pytest

from messagehub_tui import campaigns, contacts, preview
from messagehub_tui.errors import InvalidState, MessagehubError, TemplateProblem
from tests.conftest import write

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def people(settings, people_csv):
    contacts.import_csv(people_csv, settings.home)
    return "people"


def test_create_via_cli_prints_only_the_id(cli, people, home):
    body = write(home / "body.txt", "Hi {{ first_name }} in {{ city }}")
    code, out, err = cli("create", "--name", "Launch", "--channel", "email", "--list", "people",
                         "--subject", "News for {{ first_name }}", "--body", str(body))
    assert (code, err) == (0, "")
    assert out == "1\n"
    code, out, _ = cli("status", "1")
    status = json.loads(out)
    assert set(status) == {"id", "name", "channel", "status", "list", "total", "counts",
                           "scheduled_at", "started_at", "finished_at", "last_error", "feedback",
                           "runners_gone"}
    assert status["feedback"] == {"delivered": 0, "undelivered": 0, "bounced": 0,
                                  "soft_bounced": 0, "complained": 0, "unsubscribed": 0,
                                  "replied": 0}
    assert (status["status"], status["list"], status["total"]) == ("draft", "people", 3)
    assert set(status["counts"]) == {"pending", "sending", "sent", "failed", "skipped", "unknown",
                                     "cancelled"}


def test_draft_counts_suppressed_as_skipped(settings, people):
    contacts.suppress(["bob@example.com"], "email")
    email = campaigns.create(settings, "e", "email", people, "b", subject="s")
    sms = campaigns.create(settings, "s", "sms", people, "b")
    counts = campaigns.counts(email)
    total = counts.total
    assert (total, counts["pending"], counts["skipped"]) == (3, 2, 1)
    counts = campaigns.counts(sms)
    total = counts.total
    assert (total, counts["pending"], counts["skipped"]) == (2, 2, 0)


def test_draft_counts_follow_imports_and_suppressions(settings, people, home):
    campaign = campaigns.create(settings, "e", "email", people, "b", subject="s")
    assert campaigns.counts(campaign).total == 3
    write(home / "more.csv", "email\nnew@example.com\n")
    contacts.import_csv(home / "more.csv", home, people)
    assert campaigns.counts(campaign).total == 4
    contacts.suppress(["new@example.com"], "email")
    assert campaigns.counts(campaign).skipped == 1
    contacts.unsuppress(["new@example.com"], "email")
    assert campaigns.counts(campaign).skipped == 0


def test_template_problems_are_caught_at_create(settings, people):
    with pytest.raises(TemplateProblem, match="body: line 2: no recipient can supply the "
                                              "variable 'coupon'"):
        campaigns.create(settings, "e", "email", people, "Hi\n{{ coupon }}", subject="s")
    with pytest.raises(TemplateProblem, match="subject: line 1"):
        campaigns.create(settings, "e", "email", people, "b", subject="{{ first_name")
    with pytest.raises(MessagehubError, match="needs a subject"):
        campaigns.create(settings, "e", "email", people, "b")
    with pytest.raises(MessagehubError, match="no list named 'nope'"):
        campaigns.create(settings, "e", "email", "nope", "b", subject="s")
    with pytest.raises(MessagehubError, match="line break"):
        campaigns.create(settings, "e", "email", people, "b", subject="a\nBcc: x@example.com")
    with pytest.raises(MessagehubError, match="E.164"):
        campaigns.create(settings, "e", "sms", people, "b", sender="12345")
    assert campaigns.all_campaigns() == []


def test_unsubscribe_url_is_a_variable_only_when_configured(home, people_csv):
    write(home / "messagehub.toml", '[email]\nunsubscribe = "https://example.com/u/{{ email }}"\n')
    from messagehub_tui.config_load import load_settings
    from messagehub_tui.database import open_db
    settings = load_settings(home)
    open_db(settings.db_location)
    contacts.import_csv(people_csv, home)
    campaign = campaigns.create(settings, "e", "email", "people", "Bye: {{ unsubscribe_url }}",
                                subject="s")
    text = preview.preview(settings, campaign.id)
    assert "Bye: https://example.com/u/ann@example.com" in text
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in text


def test_preview_email_and_sms(settings, people):
    email = campaigns.create(settings, "e", "email", people, "Hi {{ first_name }}",
                             subject="For {{ first_name }}", sender="Team <team@example.com>")
    text = preview.preview(settings, email.id, "BOB@example.com")
    assert "To: Bob Stone <bob@example.com>" in text and "Subject: For Bob" in text
    assert "\nHi Bob\n" in text
    sms = campaigns.create(settings, "s", "sms", people, "Привет {{ first_name }}")
    text = preview.preview(settings, sms.id)
    assert text.startswith("To: +14155550101\n")
    assert "Encoding: UCS-2, 10 units, 1 segment" in text
    assert text.endswith("Привет Ann")
    with pytest.raises(MessagehubError, match="no contact with address"):
        preview.preview(settings, email.id, "nobody@example.com")


def test_an_sms_preview_warns_of_a_text_twilio_refuses(settings, people):
    # A 2,000-character text previewed as "30 segments" and nothing more; Twilio refuses every
    # text over 1,600 characters (error 21617), so each recipient would fail.
    fits = campaigns.create(settings, "fits", "sms", people, "x" * 1590 + " {{ first_name }}")
    assert "too long" not in preview.preview(settings, fits.id)
    # its own text fits; with the name it does not
    sms = campaigns.create(settings, "long", "sms", people, "x" * 1599 + " {{ first_name }}")
    text = preview.preview(settings, sms.id)
    assert ("Encoding: GSM-7, 1603 units, 11 segments; too long: Twilio refuses texts over "
            "1,600 characters (error 21617)\n") in text
    shown = preview.preview_draft(settings, "sms", people, "x" * 1599 + " {{ first_name }}")
    assert shown.summary.endswith("too long: Twilio refuses texts over 1,600 characters "
                                  "(error 21617)")


def test_an_sms_body_whose_own_text_is_too_long_is_refused_at_create(settings, people):
    # accepted before, every recipient then failed with 21617 until failure_streak paused it
    with pytest.raises(TemplateProblem, match=r"^body: its text is 1,601 characters, over the "
                       r"limit of 1,600 Twilio takes in one text \(error 21617\)$"):
        campaigns.create(settings, "long", "sms", people, "x" * 1600 + " {{ first_name }}")
    # an email body of that length is nothing unusual
    campaigns.create(settings, "mail", "email", people, "x" * 1600 + " {{ first_name }}",
                     subject="s")


def test_the_editor_and_the_cli_read_the_same_decoded_email(settings, people):
    """One decode serves both: the editor's body is the CLI's text/plain part, word for word,
    and an HTML part is noted in one and shown in the other."""
    email = campaigns.create(settings, "e", "email", people, "Grüße {{ first_name }} ✓",
                             subject="Ünïcode", html="<p>Hi {{ first_name }}</p>")
    contact = {"first_name": "Ann", "last_name": "", "email": "ann@example.com", "phone": ""}
    wire = preview.render_for(email, settings, contact, "ann@example.com")
    cli = preview.readable_email(wire)
    tui = preview.readable(wire, "email")
    assert "\n--- text/plain ---\nGrüße Ann ✓\n" in cli and "--- text/html ---" in cli
    assert tui.body == "Grüße Ann ✓\n\n[the message also has an HTML part]"
    assert tui.summary == "Subject: Ünïcode" and "Subject: Ünïcode" in cli


def test_edit_and_delete_drafts_only(settings, people):
    campaign = campaigns.create(settings, "e", "email", people, "b", subject="s")
    campaigns.update(settings, campaign.id, name="renamed", body="Hi {{ city }}")
    assert campaigns.get(campaign.id).name == "renamed"
    with pytest.raises(TemplateProblem):
        campaigns.update(settings, campaign.id, body="{{ nope }}")
    assert campaigns.get(campaign.id).body == "Hi {{ city }}"
    campaign.status = "completed"
    campaign.save()
    with pytest.raises(InvalidState):
        campaigns.update(settings, campaign.id, name="x")
    with pytest.raises(InvalidState, match="only drafts"):
        campaigns.delete(campaign.id)
    draft = campaigns.create(settings, "d", "email", people, "b", subject="s")
    campaigns.delete(draft.id)
    assert [c.id for c in campaigns.all_campaigns()] == [campaign.id]


def test_campaigns_listing_and_json(cli, settings, people):
    campaigns.create(settings, "First", "email", people, "b", subject="s")
    code, out, _ = cli("campaigns")
    assert code == 0 and "First" in out and "0/3" in out
    code, out, _ = cli("campaigns", "--json")
    assert [row["name"] for row in json.loads(out)] == ["First"]
    # as the launcher and the monitor: suppressed recipients on neither side, named apart
    contacts.suppress(["bob@example.com"], "email")
    code, out, _ = cli("campaigns")
    assert code == 0 and "0/2 (1 skipped)" in out


@pytest.mark.parametrize("state, failed, hint", [
    ("completed", True, "`retry {id}` sends its failed deliveries again"),
    # it said "`retry` sends its failed deliveries again" when none had failed
    ("completed", False, "it does not send again: create a new campaign"),
    ("cancelled", False, "a new campaign"),
    ("paused", False, "use resume"),
])
def test_launching_a_campaign_that_ran_says_what_to_do_instead(settings, people, state, failed,
                                                               hint):
    from messagehub_tui import control
    from messagehub_tui.models import db
    campaign = campaigns.create(settings, "ran", "email", people, "b", subject="s")
    control.launch(settings, campaign.id, start=False)
    db.execute_sql("UPDATE delivery SET status = ? WHERE campaign_id = ?",
                   ("failed" if failed else "sent", campaign.id))
    campaign = campaigns.get(campaign.id)
    campaign.status = state
    campaign.save()
    with pytest.raises(InvalidState) as refused:
        control.launch(settings, campaign.id, start=False)
    assert str(refused.value).startswith(f"campaign {campaign.id} is {state}; ")
    assert hint.format(id=campaign.id) in str(refused.value)

