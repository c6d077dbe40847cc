"""Hostile CSV input: huge fields, huge headers, NUL bytes, formulas in the rejects file."""

import csv
import subprocess
import sys
import time

from messagehub_tui import contacts
from messagehub_tui.models import Contact
from tests.conftest import write

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def run(home, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_a_field_over_128_kib_rejects_its_row_only(settings, home):
    path = write(home / "big.csv", "email,note\n"
                                   "a@example.com,short\n"
                                   f"b@example.com,{'x' * 200_000}\n"
                                   "c@example.com,short\n")
    result = contacts.import_csv(path, home, "big")
    assert result.summary() == "imported 2, updated 0, rejected 1"
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "has a field longer than 128 KiB (an unclosed quote?)")]  # line 3 named once
    assert sorted(c.email for c in Contact.select()) == ["a@example.com", "c@example.com"]


def test_an_unclosed_quote_is_one_clear_line_never_a_traceback(home):
    filler = "".join(f"x{i}@example.com,{'y' * 60}\n" for i in range(3000))
    path = write(home / "quote.csv", "email,note\n"
                                     "a@example.com,\"never closed\n" + filler)
    done = run(home, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    first = [line for line in done.stderr.splitlines()  # a home on PostgreSQL is not created
             if not line.startswith("messagehub-tui: created home")][0]
    assert first.startswith("line 2: has a field longer than 128 KiB (lines 2-")
    assert first.endswith("; an unclosed quote?)")
    # Lines 2 to `last` are one broken record; every row after it (to line 3002) is imported.
    last = int(first.split("(lines 2-")[1].split(";")[0])
    assert done.stdout == f"imported {3002 - last}, updated 0, rejected 1 (list quote)\n"


def test_a_million_column_header_is_read_in_linear_time(home):
    header = "email," + ",".join(f"c{i}" for i in range(1_000_000))
    path = write(home / "wide.csv", header + "\na@example.com\n")
    started = time.monotonic()
    done = run(home, "import", str(path), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported 1, updated 0, rejected 0 (list wide)\n"
    print(f"1,000,000-column header imported in {time.monotonic() - started:.1f} s")
    duplicate = write(home / "dup.csv", header + ",C5\na@example.com\n")
    done = run(home, "import", str(duplicate), timeout=300)
    assert done.returncode == 1
    assert done.stderr == (f"messagehub-tui: {duplicate}: columns 'c5' and 'C5' both mean c5 "
                           "in the header\n")


def test_nul_bytes_and_control_characters_never_reach_a_contact(settings, home):
    path = write(home / "nul.csv", "email,first_name,last_name,note\n"
                                   "a@example.com,A\x00nn,Lee,\n"
                                   "b@example.com,Bob,Sto\x1bne,\n"
                                   "c@example.com,Cy,Young,se\x00cret\n"
                                   "d@example.com,Di\tana,,\n"
                                   "e@example.com,Eve,Ok,\"multi\nline\"\n")
    result = contacts.import_csv(path, home, "nul")
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "first_name contains a NUL byte"),
        (3, "last_name contains a control character (U+001B)"),
        (4, "note contains a NUL byte"),
        (5, "first_name contains a control character (U+0009)")]
    assert [c.email for c in Contact.select()] == ["e@example.com"]
    assert all("\x00" not in (c.first_name + c.last_name + c.attributes)
               for c in Contact.select())


def test_a_nul_in_a_row_of_a_file_with_cr_line_ends_rejects_that_row_only(settings, home):
    """With CR line ends (no LF anywhere) the first line is the header alone: a NUL further down
    is one bad row, not "not a CSV file: it holds binary data" (the suite's property test found
    it)."""
    path = home / "cr.csv"
    path.write_bytes(b"email,first_name\ra@example.com,A\x00nn\rb@example.com,Bob\r")
    result = contacts.import_csv(path, home, "cr")
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "first_name contains a NUL byte")]
    assert [c.email for c in Contact.select()] == ["b@example.com"]


def test_a_binary_or_empty_file_is_not_a_csv_in_one_line_and_nothing_is_written(tmp_path):
    """An executable, a workbook saved as .xlsx, an empty file: one line saying it is not a CSV,
    exit 1, and not even the home is made for it."""
    import zipfile
    with open(sys.executable, "rb") as program:
        (tmp_path / "program.csv").write_bytes(program.read(4096))
    with zipfile.ZipFile(tmp_path / "book.csv", "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.csv").write_bytes(b"\r\n\r\n")
    home = tmp_path / "home"
    for name, said in (("program", "it holds binary data (a NUL byte at byte "),
                       ("book", "it is a ZIP archive, such as an Excel .xlsx workbook: save it "
                                "as CSV first"),
                       ("empty", "it is empty (no header row)"),
                       ("blank", "it is empty (no header row)")):
        done = run(home, "import", str(tmp_path / f"{name}.csv"))
        assert done.returncode == 1, (name, done.stderr)
        assert done.stderr.startswith(
            f"messagehub-tui: {tmp_path / name}.csv: not a CSV file: {said}"), done.stderr
        assert done.stderr.count("\n") == 1 and done.stdout == "", done.stderr
        assert not home.exists(), name


def test_a_csv_from_a_pipe_is_read_once_and_imports_whole(tmp_path):
    """`import <(zcat people.csv.gz)`: the file is opened once, its header checked before the
    home is made, then imported from that same open file. Read twice (checked, then reopened to
    import), the pipe was empty the second time: "not a CSV file: it is empty"."""
    home = tmp_path / "home"
    rows = "email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(3000))
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    done = subprocess.run(
        ["bash", "-c", 'exec "$0" -m messagehub_tui --home "$1" import <(cat "$2") --list piped',
         sys.executable, str(home), str(tmp_path / "rows.csv")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported 3000, updated 0, rejected 0 (list piped)\n", done.stdout


def test_rejects_file_neutralises_formulas(settings, home):
    path = write(home / "f.csv", "email,=cmd,note\n"
                                 "=HYPERLINK(\"http://x\"),+1,-2\n"
                                 "@SUM(A1),\"\tx\",\"\rx\"\n"
                                 "plain,a=b,ok\n")
    result = contacts.import_csv(path, home, "f")
    with result.rejects_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason", "email", "'=cmd", "note"]
    assert [row[2:] for row in rows[1:]] == [
        ["'=HYPERLINK(\"http://x\")", "+1", "-2"],  # plain numbers are no formulas
        ["'@SUM(A1)", "'\tx", "'\rx"],
        ["plain", "a=b", "ok"]]
    assert all(not row[1].startswith(("=", "+", "-", "@")) for row in rows[1:])


def test_a_quote_left_open_in_a_name_names_the_lines_it_swallowed(settings, home):
    # The walk: `Frank,"unclosed,,` ate the next person's line into its last_name; the reason
    # said only "last_name contains a line break", and gina was nowhere in the summary.
    path = write(home / "open.csv", "email,first_name,last_name\n"
                                    "frank@example.com,Frank,\"unclosed,\n"
                                    "gina@example.com,Gina,G\n"
                                    "hal@example.com,Hal,\"H\"\n")
    result = contacts.import_csv(path, home, "open")
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "last_name contains a line break (lines 2-4; an unclosed quote?)")]
    assert result.summary() == "imported 0, updated 0, rejected 1"
