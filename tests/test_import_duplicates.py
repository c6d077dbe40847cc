"""Rows of one file that name the same person, or collide on a unique key, never abort an import."""

import csv
import json
import subprocess
import sys

import pytest

from messagehub_tui import contacts, importer
from messagehub_tui.models import Contact
from tests.conftest import write

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture(params=[1000, 2], ids=["one-chunk", "chunks-of-2"])
def chunk(request, monkeypatch):
    """Run each test with the file in one chunk, and spread over chunks of two rows."""
    monkeypatch.setattr(importer, "CHUNK", request.param)
    return request.param


def fates(result) -> dict[int, str]:
    return {r.line: r.reason for r in result.rejected}


def test_two_rows_sharing_a_phone_reject_the_later_row_only(settings, home, chunk):
    path = write(home / "p.csv", "email,phone,first_name\n"
                                 "a@example.com,+14155550101,A\n"
                                 "b@example.com,+1 415 555 0101,B\n"
                                 "c@example.com,+14155550103,C\n")
    result = contacts.import_csv(path, home, "p")
    assert result.summary() == "imported 2, updated 0, rejected 1"
    assert fates(result) == {3: "phone +14155550101 is already on line 2 (a@example.com)"}
    assert sorted(c.email for c in Contact.select()) == ["a@example.com", "c@example.com"]
    assert contacts.lists() == [("p", 2)]
    with result.rejects_path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == "3" and rows[1][3:] == ["'+1 415 555 0101", "B"]


def test_same_email_written_differently_is_one_person_merged(settings, home, chunk):
    path = write(home / "e.csv", "email,phone,first_name,last_name,city\n"
                                 "Ann@Example.COM,,Ann,,Paris\n"
                                 "x@example.com,,X,,\n"
                                 " ann@example.com ,+14155550101,,Lee,\n")
    result = contacts.import_csv(path, home, "e")
    assert result.summary() == "imported 2, updated 0, rejected 0, 1 repeated row merged"
    ann = Contact.get(Contact.email == "ann@example.com")
    assert (ann.phone, ann.first_name, ann.last_name) == ("+14155550101", "Ann", "Lee")
    assert json.loads(ann.attributes) == {"city": "Paris"}
    assert contacts.lists() == [("e", 2)]


def test_same_email_with_a_conflicting_phone_rejects_the_later_row(settings, home, chunk):
    path = write(home / "c.csv", "email,phone,first_name\n"
                                 "ann@example.com,+14155550101,Ann\n"
                                 "bob@example.com,,Bob\n"
                                 "ANN@example.com,+14155550199,Ann\n")
    result = contacts.import_csv(path, home, "c")
    assert fates(result) == {4: "repeats line 2 with a different phone: "
                                "'+14155550101' there, '+14155550199' here"}
    assert Contact.get(Contact.email == "ann@example.com").phone == "+14155550101"
    assert Contact.select().count() == 2


def test_same_person_with_a_conflicting_name_or_attribute_is_rejected(settings, home, chunk):
    path = write(home / "n.csv", "email,first_name,city\n"
                                 "ann@example.com,Ann,Paris\n"
                                 "ann@example.com,Anne,Paris\n"
                                 "ann@example.com,Ann,Rome\n"
                                 "ann@example.com,,\n")
    result = contacts.import_csv(path, home, "n")
    assert fates(result) == {
        3: "repeats line 2 with a different first_name: 'Ann' there, 'Anne' here",
        4: "repeats line 2 with a different city: 'Paris' there, 'Rome' here"}
    assert (result.imported, result.repeated) == (1, 1)
    ann = Contact.get()
    assert (ann.first_name, json.loads(ann.attributes)) == ("Ann", {"city": "Paris"})


def test_email_of_one_row_and_phone_of_another(settings, home, chunk):
    path = write(home / "x.csv", "email,phone\n"
                                 "a@example.com,+14155550101\n"
                                 "b@example.com,+14155550102\n"
                                 "a@example.com,+14155550102\n"
                                 "c@example.com,\n"
                                 "c@example.com,+14155550101\n")
    result = contacts.import_csv(path, home, "x")
    assert fates(result) == {
        4: "phone +14155550102 is already on line 3 (b@example.com)",
        6: "phone +14155550101 is already on line 2 (a@example.com)"}
    assert {(c.email, c.phone) for c in Contact.select()} == {
        ("a@example.com", "+14155550101"), ("b@example.com", "+14155550102"),
        ("c@example.com", None)}


def test_database_contacts_a_and_b_named_by_one_row(settings, home, people_csv, chunk):
    contacts.import_csv(people_csv, home)
    path = write(home / "ab.csv", "email,phone\nann@example.com,+14155550102\n")
    result = contacts.import_csv(path, home)
    assert fates(result) == {2: "phone +14155550102 already belongs to bob@example.com"}
    assert Contact.get(Contact.email == "ann@example.com").phone == "+14155550101"


def test_phone_only_rows_repeated_and_list_membership_once(settings, home, chunk):
    path = write(home / "s.csv", "phone,first_name\n"
                                 "+14155550101,Pat\n"
                                 "+14155550102,Sam\n"
                                 "(415) 555-0101,Pat\n"
                                 "+14155550101,\n")
    result = contacts.import_csv(path, home, "s", region="US")
    assert result.summary() == "imported 2, updated 0, rejected 0, 2 repeated rows merged"
    assert contacts.lists() == [("s", 2)]
    again = contacts.import_csv(path, home, "s", region="US")
    assert (again.imported, again.updated, again.repeated) == (0, 2, 2)
    assert contacts.lists() == [("s", 2)]


def test_cli_import_with_in_file_duplicates_exits_0_and_keeps_the_rest(home):
    path = write(home / "dup.csv", "email,phone\n"
                                   "a@example.com,+14155550101\n"
                                   "b@example.com,+14155550101\n"
                                   "c@example.com,+14155550103\n")
    done = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                           "import", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip() == "imported 2, updated 0, rejected 1 (list dup)"
    assert "line 3: phone +14155550101 is already on line 2 (a@example.com)" in done.stderr
