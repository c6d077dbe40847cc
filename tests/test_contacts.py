"""CSV import, lists and suppressions against a real SQLite file."""

import csv
import json

import pytest

from messagehub_tui import contacts
from messagehub_tui.addresses import channel_of, normalise
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Channel, Contact, Suppression
from tests.conftest import write

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def test_import_reports_counts_and_list(settings, people_csv):
    result = contacts.import_csv(people_csv, settings.home)
    assert result.summary() == "imported 3, updated 0, rejected 0"
    assert contacts.lists() == [("people", 3)]
    ann = Contact.get(Contact.email == "ann@example.com")
    assert ann.phone == "+14155550101"
    assert json.loads(ann.attributes) == {"city": "Paris"}


def test_reimport_updates_never_duplicates(settings, people_csv):
    contacts.import_csv(people_csv, settings.home, "a")
    write(people_csv, "Email,First Name,City\nANN@example.com,Annie,Lyon\n")
    result = contacts.import_csv(people_csv, settings.home, "a")
    assert (result.imported, result.updated) == (0, 1)
    assert Contact.select().count() == 3
    ann = Contact.get(Contact.email == "ann@example.com")
    assert (ann.first_name, ann.last_name) == ("Annie", "Lee")
    assert json.loads(ann.attributes)["city"] == "Lyon"


def test_spreadsheet_export_bom_semicolons_quotes(settings, home):
    path = home / "export.csv"
    path.write_bytes("\ufeffE-Mail;First Name;Note\r\n"
                     "zoe@example.com;Zoë;\"a; quoted\r\nnote\"\r\n".encode("utf-8"))
    result = contacts.import_csv(path, home, "x")
    assert result.summary() == "imported 1, updated 0, rejected 0"
    zoe = Contact.get(Contact.email == "zoe@example.com")
    assert zoe.first_name == "Zoë"
    assert json.loads(zoe.attributes)["note"] == "a; quoted\r\nnote"


@pytest.mark.parametrize("header, row", [
    # Outlook's "Export to a file" (CSV): the email is "E-mail Address"
    ('"First Name","Last Name","E-mail Address","Mobile Phone"',
     '"Ann","Lee","ann@example.com","+14155550101"'),
    # Google Contacts' export
    ("Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value",
     "Ann,Lee,* Home,ann@example.com,Mobile,+14155550101"),
])
def test_address_book_exports_import_with_their_email(settings, home, header, row):
    # The walk: Outlook's export imported its contacts by phone alone, the email kept as an
    # attribute "e_mail_address", so an email campaign skipped every one of them, silently.
    path = write(home / "contacts.csv", f"{header}\r\n{row}\r\n")
    result = contacts.import_csv(path, home, "book")
    assert result.summary() == "imported 1, updated 0, rejected 0"
    ann = Contact.get(Contact.email == "ann@example.com")
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee")


def test_blank_lines_and_excels_sep_line_before_the_header(settings, home):
    # The walk: blank lines above the header were refused as "it is empty (no header row)";
    # Excel's `sep=;` first line (it tells Excel the separator) was taken for the header.
    path = write(home / "blank.csv", "\r\n\r\nemail,first_name\r\na@example.com,A\r\nbroken@,B\r\n")
    result = contacts.import_csv(path, home, "blank")
    assert result.summary() == "imported 1, updated 0, rejected 1"
    assert [r.line for r in result.rejected] == [5]  # the file's own line numbers
    path = write(home / "sep.csv", "sep=;\nemail;first_name\nb@example.com;B, Jr\nbroken@;C\n")
    result = contacts.import_csv(path, home, "sep")
    assert result.summary() == "imported 1, updated 0, rejected 1"
    assert [r.line for r in result.rejected] == [4]
    assert Contact.get(Contact.email == "b@example.com").first_name == "B, Jr"


def test_bad_rows_are_reported_with_line_and_written_to_rejects(settings, home):
    path = write(home / "mixed.csv",
                 "email,phone,first_name\n"
                 "ok@example.com,,Ok\n"
                 "broken@,,Bad\n"
                 ",,\n"
                 ",12,Short\n"
                 ",,Nobody\n"
                 "x@example.com,,X,extra\n")
    result = contacts.import_csv(path, home, "m", region="US")
    assert result.imported == 1
    lines = {(r.line, r.reason.split(" ")[0]) for r in result.rejected}
    assert lines == {(3, "email"), (5, "phone"), (6, "has"), (7, "has")}
    with result.rejects_path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason", "email", "phone", "first_name"]
    assert [row[0] for row in rows[1:]] == ["3", "5", "6", "7"]
    assert rows[1][2:] == ["broken@", "", "Bad"]


def test_national_numbers_use_the_default_region(settings, home):
    path = write(home / "sms.csv", "phone,first_name\n(415) 555-0133,Pat\n")
    result = contacts.import_csv(path, home, region="US")
    assert result.imported == 1
    assert Contact.get().phone == "+14155550133"
    result = contacts.import_csv(write(home / "sms2.csv", "phone\n415 555 0134\n"), home)
    assert len(result.rejected) == 1 and "default_region" in result.rejected[0].reason


def test_a_phone_owned_by_someone_else_is_rejected(settings, people_csv, home):
    contacts.import_csv(people_csv, home)
    path = write(home / "clash.csv", "email,phone\nnew@example.com,+14155550101\n")
    result = contacts.import_csv(path, home)
    assert result.rejected[0].reason == "phone +14155550101 already belongs to ann@example.com"
    assert Contact.select().count() == 3


def test_header_without_address_column_is_an_error(settings, home):
    path = write(home / "names.csv", "name,city\nAnn,Paris\n")
    with pytest.raises(MessagehubError, match="no email or phone column"):
        contacts.import_csv(path, home)


def test_suppressions(settings):
    assert contacts.suppress(["Ann@Example.com", "bob@example.com"], "email", "asked") == 2
    assert contacts.suppress(["ann@example.com"], "email") == 0
    assert contacts.suppress(["+14155550101"], "sms") == 1
    assert {(s.channel, s.address) for s in Suppression.select()} == {
        ("email", "ann@example.com"), ("email", "bob@example.com"), ("sms", "+14155550101")}
    assert contacts.unsuppress(["bob@example.com"], "email") == 1
    assert [s.address for s in contacts.suppressions("email")] == ["ann@example.com"]
    with pytest.raises(MessagehubError, match="not valid"):
        contacts.suppress(["nope"], "email")


def test_unsuppress_by_id_removes_that_row_only(settings):
    contacts.suppress(["ann@example.com"], "email")
    contacts.suppress(["+14155550101"], "sms")
    sms = Suppression.get(Suppression.channel == "sms")
    assert contacts.unsuppress_ids([sms.id]) == 1
    assert [(s.channel, s.address) for s in Suppression.select()] == [
        ("email", "ann@example.com")]
    assert contacts.unsuppress_ids([sms.id]) == 0


@pytest.mark.parametrize(("typed", "channel"), [
    ("Ann@Example.com", Channel.EMAIL), ("  bob@example.com ", Channel.EMAIL),
    ("+1 415 555 0101", Channel.SMS), ("(415) 555-0101", Channel.SMS),
    ("nope", Channel.SMS)])
def test_a_typed_address_names_its_channel(typed, channel):
    """What the contacts screen's "Never send to:" prompt decides: an @ means email."""
    assert channel_of(typed) is channel


def test_the_guessed_channel_normalises_the_address():
    assert normalise(channel_of("Ann@Example.com"), "Ann@Example.com", None) == "ann@example.com"
    assert normalise(channel_of("(415) 555-0101"), "(415) 555-0101", "US") == "+14155550101"


def test_cli_import_prints_summary_and_rejects(cli, home):
    path = write(home / "c.csv", "email\na@example.com\nbad\n")
    code, out, err = cli("import", str(path), "--list", "friends")
    assert code == 0
    assert out.strip() == "imported 1, updated 0, rejected 1 (list friends)"
    assert "line 3: email 'bad' is not valid" in err
    code, out, _ = cli("lists")
    assert out == "friends\t1\n"
