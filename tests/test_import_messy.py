"""A messy real-world export (tests/data/messy.csv) in every encoding a spreadsheet writes,
through the CLI."""

import codecs
import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from messagehub_tui.addresses import InvalidAddress, normalise_email, normalise_phone

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

FIXTURE = Path(__file__).parent / "data" / "messy.csv"
TEXT = FIXTURE.read_bytes().decode("cp1252")


def _tabs(text: str) -> str:
    """The same rows as Excel's "Unicode text" writes them: tab-separated, CRLF."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter="\t", lineterminator="\r\n")
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=";"):
        writer.writerow(row)
    return out.getvalue()


VARIANTS = {
    "cp1252-mixed-line-endings": (lambda: FIXTURE.read_bytes(), ";"),
    "utf-8-bom": (lambda: TEXT.encode("utf-8-sig"), ";"),
    "utf-8-lf": (lambda: TEXT.replace("\r\n", "\n").encode("utf-8"), ";"),
    "utf-16-excel-unicode-text": (lambda: codecs.BOM_UTF16_LE + _tabs(TEXT).encode("utf-16-le"),
                                  "\t"),
    "utf-16-le-no-bom": (lambda: _tabs(TEXT).encode("utf-16-le"), "\t"),
}


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(first line, cells) of every non-blank record, as the standard library reads the file."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    found, previous = [], reader.line_num
    for cells in reader:
        if any(cell.strip() for cell in cells):
            found.append((previous + 1, cells))
        previous = reader.line_num
    return found


def _key(cells: list[str]) -> str:
    try:
        return normalise_email(cells[0])
    except InvalidAddress:
        return normalise_phone(cells[1], "US")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_row_of_a_messy_export_meets_its_fate(tmp_path, variant):
    make, delimiter = VARIANTS[variant]
    data = make()
    home = tmp_path / "home"
    home.mkdir()
    (home / "messagehub.toml").write_text('[sms]\ndefault_region = "US"\n')
    source = tmp_path / "messy.csv"
    source.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), "import",
                           str(source)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    text = data.decode("utf-16" if variant.startswith("utf-16") else "cp1252")
    if variant == "utf-16-le-no-bom":
        text = data.decode("utf-16-le")
    elif variant.startswith("utf-8"):
        text = data.decode("utf-8-sig")
    records = _records(text, delimiter)
    fates = {line: cells[5] for line, cells in records}
    assert len(records) == 48
    kinds = [fate.split(":")[0] or "repeated" for fate in fates.values()]
    counts = {kind: kinds.count(kind) for kind in ("imported", "warned", "rejected", "repeated")}
    assert done.stdout == (
        f"imported {counts['imported'] + counts['warned']}, updated 0, "
        f"rejected {counts['rejected']}, {counts['repeated']} repeated rows merged, "
        f"{counts['warned']} saved without an invalid phone or email (list messy)\n")

    with (home / "messy.rejects.csv").open(encoding="utf-8", newline="") as handle:
        reported = {int(row[0]): row for row in list(csv.reader(handle))[1:]}
    expected = {line: fate for line, fate in fates.items()
                if fate.startswith(("rejected:", "warned:"))}
    assert set(reported) == set(expected)
    for line, fate in expected.items():
        assert reported[line][1].startswith(fate.split(":", 1)[1]), (line, reported[line][1])

    with sqlite3.connect(home / "messagehub.db") as db:
        members = {row[0]: row[1:] for row in db.execute(
            "SELECT COALESCE(email, phone), phone, first_name, last_name, attributes "
            "FROM contact c JOIN list_member m ON m.contact_id = c.id")}
        phones = {row[0] for row in db.execute("SELECT phone FROM contact WHERE phone NOT NULL")}
    for line, cells in records:
        if not cells[5].startswith("rejected:"):
            key = _key(cells)
            assert key in members or key in phones, (line, cells)
    assert len(members) == counts["imported"] + counts["warned"]
    names = {key: (first, last, json.loads(attributes))
             for key, (_, first, last, attributes) in members.items()}
    assert names["zoe@example.com"] == ("Zoë", "Müller", {"city": "Zürich", "expect": "imported"})
    assert names["rene@example.com"][:2] == ("Renée", "Dupré")
    assert names["rene@example.com"][2]["city"] == "Saint-Étienne"
    gina = next(cells for _, cells in records if cells[0] == "gina@example.com")
    assert names["gina@example.com"][2]["city"] == gina[4] and "\n" in gina[4]
    assert names["ivy@example.com"][1] == "O'Neil; Jr"
    assert names["ann@example.com"] == ("Ann", "Lee", {"city": "Paris", "expect": "imported"})
    assert reported[15][2] == "'=HYPERLINK(\"http://evil\")"


def test_a_file_mixing_utf8_and_cp1252_lines_reads_both_right(settings, home):
    from messagehub_tui import contacts
    from messagehub_tui.models import Contact
    path = home / "mixed.csv"
    path.write_bytes(b"email,first_name\r\n" + "a@example.com,Zoë\r\n".encode()
                     + "b@example.com,Zoë\n".encode("cp1252") + b"c@example.com,\x81x\n")
    result = contacts.import_csv(path, home)
    assert result.summary() == "imported 2, updated 0, rejected 1"
    assert [c.first_name for c in Contact.select().order_by(Contact.email)] == ["Zoë", "Zoë"]
    assert result.rejected[0].reason == "first_name contains a control character (U+0081)"


def test_a_file_with_a_utf8_bom_and_cp1252_lines_reads_both_right(settings, home):
    """Excel's "CSV UTF-8" export with an older Windows-1252 export pasted under it: the BOM
    says UTF-8, yet the pasted lines are not, and must not become U+FFFD."""
    from messagehub_tui import contacts
    from messagehub_tui.models import Contact
    path = home / "bom-mixed.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"email;first_name\r\n" + "a@example.com;Zoë\r\n".encode()
                     + "b@example.com;Bjørn\r\n".encode("cp1252"))
    result = contacts.import_csv(path, home)
    assert result.summary() == "imported 2, updated 0, rejected 0"
    assert [c.first_name for c in Contact.select().order_by(Contact.email)] == ["Zoë", "Bjørn"]
