"""What one row's bad address costs, what a failed import leaves, and deleting a list."""

import csv
import subprocess
import sys

import pytest

from messagehub_tui import contacts
from messagehub_tui.addresses import InvalidAddress, normalise_phone
from messagehub_tui.models import Campaign, CampaignStatus, Contact
from tests.conftest import write

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def run(home, *args):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("raw, region, message", [
    ("415 555 0134", None, ("phone '415 555 0134' has no country code: write it as +CC… or set "
                            "[sms] default_region for national numbers")),
    ("+999 12345", None, "phone '+999 12345' has an unknown country code"),
    ("call me", "US", "phone 'call me' is not a phone number"),
    ("1" * 30, "US", f"phone '{'1' * 30}' is too long"),
    ("+1 415 555 01", None, ("phone '+1 415 555 01' is not a valid number (check its digits "
                             "and country code)")),
])
def test_phone_errors_say_what_is_wrong_in_our_words(raw, region, message):
    with pytest.raises(InvalidAddress) as caught:
        normalise_phone(raw, region)
    assert str(caught.value) == message
    assert "(0)" not in message and "default region." not in str(caught.value)


def test_valid_email_with_a_bad_phone_imports_the_email_and_reports_the_phone(settings, home):
    path = write(home / "w.csv", "email,phone,first_name\n"
                                 "ann@example.com,555-0101,Ann\n"
                                 "bob@example.com,+14155550102,Bob\n"
                                 "not-an-email,+14155550103,Cy\n")
    result = contacts.import_csv(path, home, "w")
    assert result.summary() == ("imported 3, updated 0, rejected 0, "
                                "2 saved without an invalid phone or email")
    assert {(c.email, c.phone) for c in Contact.select()} == {
        ("ann@example.com", None), ("bob@example.com", "+14155550102"),
        (None, "+14155550103")}
    assert [(w.line, w.reason.split(":")[0]) for w in result.warnings] == [
        (2, "imported without its phone"), (4, "imported without its email")]
    with result.rejects_path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert [row[:2] for row in rows[1:]] == [
        ["2", ("imported without its phone: phone '555-0101' has no country code: write it as "
               "+CC… or set [sms] default_region for national numbers")],
        ["4", ("imported without its email: email 'not-an-email' is not valid: An email "
               "address must have an @-sign.")]]


def test_cli_reports_the_dropped_phone_with_its_line(home, engine):
    path = write(home / "w.csv", "email,phone\nann@example.com,555-0101\n")
    done = run(home, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("imported 1, updated 0, rejected 0, 1 saved without an invalid phone "
                           "or email (list w)\n")
    lines = done.stderr.splitlines()
    if engine == "sqlite":  # with a database server, the existing folder already is the home
        assert lines.pop(0) == f"messagehub-tui: created home {home}"
    assert lines[0].startswith(
        "line 2: imported without its phone: phone '555-0101' has no country code")


@pytest.mark.parametrize("raw", ["+1 (415) 555-0107 ext. 12", "+14155550107 x12",
                                 "+14155550107;ext=12", "(415) 555-0107 #12"])
def test_a_phone_with_an_extension_is_refused_by_name(raw):
    with pytest.raises(InvalidAddress) as caught:
        normalise_phone(raw, "US")
    assert str(caught.value) == (f"phone {raw!r} has an extension (12), which a text cannot "
                                 "reach: give the person's own number")


def test_an_extension_drops_the_phone_with_a_warning_or_the_row_without_an_email(settings, home):
    path = write(home / "x.csv", "email,phone,first_name\n"
                                 "ann@example.com,+1 (415) 555-0107 ext. 12,Ann\n"
                                 ",+1 415 555 0108 x3,Bob\n")
    result = contacts.import_csv(path, home, "x")
    assert result.summary() == ("imported 1, updated 0, rejected 1, "
                                "1 saved without an invalid phone or email")
    assert [(c.email, c.phone) for c in Contact.select()] == [("ann@example.com", None)]
    assert [(p.line, p.reason) for p in result.problems] == [
        (2, "imported without its phone: phone '+1 (415) 555-0107 ext. 12' has an extension "
            "(12), which a text cannot reach: give the person's own number"),
        (3, "phone '+1 415 555 0108 x3' has an extension (3), which a text cannot reach: give "
            "the person's own number")]


def test_an_import_that_stores_nothing_leaves_no_list(settings, home):
    path = write(home / "bad.csv", "email,phone\nnope,\n,12\n")
    result = contacts.import_csv(path, home, "bad", region="US")
    assert result.summary() == "imported 0, updated 0, rejected 2"
    assert contacts.lists() == []
    done = run(home, "import", str(path))
    assert done.stdout == "imported 0, updated 0, rejected 2 (nothing added to list bad)\n"
    # a script can tell: exit 1 with one line saying why, after the rows' own lines
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "messagehub-tui: nothing imported: all 2 rows rejected"
    assert run(home, "lists").stdout == ""


def test_lists_delete_keeps_the_contacts_and_their_other_lists(home, people_csv):
    assert run(home, "import", str(people_csv), "--list", "a").returncode == 0
    assert run(home, "import", str(people_csv), "--list", "b").returncode == 0
    done = run(home, "lists", "--delete", "a")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "deleted list a (3 members; their contacts are kept)\n"
    assert run(home, "lists").stdout == "b\t3\n"
    missing = run(home, "lists", "--delete", "a")
    assert (missing.returncode, missing.stderr) == (1, "messagehub-tui: no list named 'a'\n")
    # an empty name (a variable unset in a script) listed the lists and exited 0
    empty = run(home, "lists", "--delete", "")
    assert (empty.returncode, empty.stdout) == (1, ""), empty.stdout
    assert empty.stderr == "messagehub-tui: no list named ''\n"


def test_a_list_an_unfinished_campaign_uses_is_not_deleted(home, people_csv):
    assert run(home, "import", str(people_csv), "--list", "a").returncode == 0
    write(home / "body.txt", "hi")
    campaign_id = run(home, "create", "--name", "Spring", "--channel", "email", "--list", "a",
                      "--subject", "s", "--body", str(home / "body.txt")).stdout.strip()
    refused = run(home, "lists", "--delete", "a")
    assert refused.returncode == 1
    assert refused.stderr == (f"messagehub-tui: list 'a' is used by campaign {campaign_id} "
                              "'Spring' (draft): delete or finish it, or give it another list, "
                              "first\n")
    assert run(home, "lists").stdout == "a\t3\n"


def test_a_list_only_finished_campaigns_used_is_deleted(settings, home, people_csv):
    contacts.import_csv(people_csv, home, "a")
    from messagehub_tui import campaigns
    campaign = campaigns.create(settings, "Done", "email", "a", "hi", subject="s")
    Campaign.update(status=CampaignStatus.COMPLETED.value).where(
        Campaign.id == campaign.id).execute()
    assert contacts.delete_list("a") == 3
    assert contacts.lists() == []
    assert Contact.select().count() == 3
    assert Campaign.get_by_id(campaign.id).contact_list_id is None


def test_a_header_only_file_makes_an_empty_list(settings, home):
    result = contacts.import_csv(write(home / "none.csv", "email,phone\n"), home, "empty")
    assert result.summary() == "imported 0, updated 0, rejected 0"
    assert contacts.lists() == [("empty", 0)]
