"""Contacts: CSV import with per-row validation, lists with member counts, suppressions."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from messagehub_tui.addresses import InvalidAddress, normalise, normalise_email, normalise_phone
from messagehub_tui.deliveries import EXPORT_ONLY_COLUMNS
from messagehub_tui.errors import MessagehubError, NotFound
from messagehub_tui.models import (
    ContactList, Suppression, bump_audience_version, db, utcnow,
)

CHUNK = 1000
_ALIASES = {
    "email": "email", "e_mail": "email", "email_address": "email", "mail": "email",
    "phone": "phone", "phone_number": "phone", "mobile": "phone", "mobile_phone": "phone",
    "cell": "phone", "telephone": "phone",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name",
    "family_name": "last_name",
}


@dataclass
class Rejected:
    """A CSV row that was not imported, with its line number and why."""

    line: int
    reason: str
    row: list[str]


@dataclass
class ImportResult:
    """What an import did."""

    imported: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    rejects_path: Path | None = None
    list_name: str = ""

    def summary(self) -> str:
        return f"imported {self.imported}, updated {self.updated}, rejected {len(self.rejected)}"


@dataclass
class _Record:
    line: int
    row: list[str]
    email: str | None
    phone: str | None
    first_name: str
    last_name: str
    attributes: dict[str, str]


def column_key(name: str) -> str:
    """A header cell as a template variable name: `First Name` → `first_name`."""
    key = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
    return _ALIASES.get(key, key)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = _decode(path)
    except OSError as exc:
        raise MessagehubError(f"{path}: cannot read: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    try:
        header = next(reader)
    except StopIteration:
        raise MessagehubError(f"{path}: the file is empty") from None
    rows = []
    for row in reader:
        if any(cell.strip() for cell in row):
            rows.append((reader.line_num, row))
    return header, rows


def _header_keys(path: Path, header: list[str]) -> list[str]:
    keys = []
    for index, cell in enumerate(header):
        key = column_key(cell) or f"column_{index + 1}"
        if key[0].isdigit():
            key = f"column_{key}"
        if key in keys:
            raise MessagehubError(f"{path}: column {cell!r} appears twice in the header")
        keys.append(key)
    if "email" not in keys and "phone" not in keys:
        raise MessagehubError(
            f"{path}: the header has no email or phone column (found: {', '.join(header)})")
    return keys


def _parse_row(keys: list[str], line: int, row: list[str], region: str | None) -> _Record:
    if len(row) > len(keys):
        raise InvalidAddress(f"has {len(row)} fields but the header has {len(keys)}")
    values = dict(zip(keys, (cell.strip() for cell in row)))
    for key in EXPORT_ONLY_COLUMNS:
        values.pop(key, None)
    raw_email, raw_phone = values.pop("email", ""), values.pop("phone", "")
    if not raw_email and not raw_phone:
        raise InvalidAddress("has neither an email nor a phone")
    email = normalise_email(raw_email) if raw_email else None
    phone = normalise_phone(raw_phone, region) if raw_phone else None
    for key in ("first_name", "last_name"):
        if "\r" in values.get(key, "") or "\n" in values.get(key, ""):
            raise InvalidAddress(f"{key} contains a line break")
    return _Record(line, row, email, phone, values.pop("first_name", ""),
                   values.pop("last_name", ""), values)


def _lookup(column: str, values: list[str]) -> dict[str, tuple]:
    if not values:
        return {}
    marks = ",".join("?" * len(values))
    cursor = db.execute_sql(
        f"SELECT {column}, id, email, first_name, last_name, attributes FROM contact "
        f"WHERE {column} IN ({marks})", values)
    return {row[0]: row[1:] for row in cursor}


def _merge(old: tuple | None, record: _Record) -> tuple[str, str, str]:
    first, last, attributes = record.first_name, record.last_name, record.attributes
    if old:
        first, last = first or old[2], last or old[3]
        attributes = {**json.loads(old[4] or "{}"), **attributes}
    return first, last, json.dumps(attributes, ensure_ascii=False)


def _store_chunk(records: list[_Record], list_id: int, result: ImportResult) -> None:
    by_email = _lookup("email", [r.email for r in records if r.email])
    by_phone = _lookup("phone", [r.phone for r in records if r.phone])
    now = utcnow()
    updates, inserts, member_ids = [], [], []
    for record in records:
        email_match = by_email.get(record.email) if record.email else None
        phone_match = by_phone.get(record.phone) if record.phone else None
        if email_match and phone_match and email_match[0] != phone_match[0]:
            result.rejected.append(Rejected(
                record.line, f"phone {record.phone} already belongs to {phone_match[1]}",
                record.row))
            continue
        if phone_match and not email_match and record.email and phone_match[1]:
            result.rejected.append(Rejected(
                record.line, f"phone {record.phone} already belongs to {phone_match[1]}",
                record.row))
            continue
        match = email_match or phone_match
        first, last, attributes = _merge(match, record)
        if match:
            updates.append((record.email or match[1], record.phone, first, last, attributes, now,
                            match[0]))
            member_ids.append(match[0])
        else:
            inserts.append((record.email, record.phone, first, last, attributes, now, now))
    connection = db.connection()
    connection.executemany(
        "UPDATE contact SET email = ?, phone = COALESCE(?, phone), first_name = ?, last_name = ?, "
        "attributes = ?, updated_at = ? WHERE id = ?", updates)
    for row in inserts:
        member_ids.append(connection.execute(
            "INSERT INTO contact (email, phone, first_name, last_name, attributes, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", row).lastrowid)
    connection.executemany(
        "INSERT OR IGNORE INTO list_member (contact_list_id, contact_id) VALUES (?, ?)",
        [(list_id, contact_id) for contact_id in member_ids])
    bump_audience_version()
    result.imported += len(inserts)
    result.updated += len(updates)


def _dedupe(records: list[_Record], result: ImportResult) -> list[_Record]:
    """Merge rows of the same person within one file: the later row's values win."""
    seen: dict[str, _Record] = {}
    for record in records:
        key = record.email or record.phone
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = record
            continue
        result.updated += 1
        earlier.phone = record.phone or earlier.phone
        earlier.first_name = record.first_name or earlier.first_name
        earlier.last_name = record.last_name or earlier.last_name
        earlier.attributes.update(record.attributes)
    return list(seen.values())


def _write_rejects(path: Path, home: Path, header: list[str], rejected: list[Rejected]) -> Path:
    target = home / f"{path.stem}.rejects.csv"
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *header])
        for reject in rejected:
            writer.writerow([reject.line, reject.reason, *reject.row])
    return target


def import_csv(path: str | Path, home: Path, list_name: str | None = None,
               region: str | None = None) -> ImportResult:
    """Import a CSV file into a list (named after the file by default); bad rows are reported."""
    path = Path(path)
    header, rows = _read_rows(path)
    keys = _header_keys(path, header)
    result = ImportResult(list_name=list_name or path.stem)
    records = []
    for line, row in rows:
        try:
            records.append(_parse_row(keys, line, row, region))
        except InvalidAddress as exc:
            result.rejected.append(Rejected(line, str(exc), row))
    records = _dedupe(records, result)
    with db.atomic():
        contact_list, _ = ContactList.get_or_create(name=result.list_name)
    for start in range(0, len(records), CHUNK):
        with db.atomic():
            _store_chunk(records[start:start + CHUNK], contact_list.id, result)
    result.rejected.sort(key=lambda r: r.line)
    if result.rejected:
        result.rejects_path = _write_rejects(path, home, header, result.rejected)
    return result


def get_list(name: str) -> ContactList:
    """The list called name, or NotFound naming it."""
    found = ContactList.get_or_none(ContactList.name == name)
    if found is None:
        raise NotFound(f"no list named {name!r}")
    return found


def lists() -> list[tuple[str, int]]:
    """Every list's name with its member count, by name."""
    cursor = db.execute_sql(
        "SELECT l.name, COUNT(m.contact_id) FROM contact_list l "
        "LEFT JOIN list_member m ON m.contact_list_id = l.id GROUP BY l.id ORDER BY l.name")
    return [(name, members) for name, members in cursor]


def suppress(addresses: list[str], channel: str, reason: str = "",
             region: str | None = None) -> int:
    """Never send to these addresses on channel again; returns how many were newly added."""
    normal = [normalise(channel, address, region) for address in addresses]
    now = utcnow()
    with db.atomic():
        cursor = db.connection().executemany(
            "INSERT OR IGNORE INTO suppression (channel, address, reason, created_at) "
            "VALUES (?, ?, ?, ?)", [(channel, address, reason, now) for address in normal])
        bump_audience_version()
    return cursor.rowcount


def unsuppress(addresses: list[str], channel: str, region: str | None = None) -> int:
    """Allow these addresses again; returns how many were removed."""
    normal = [normalise(channel, address, region) for address in addresses]
    with db.atomic():
        bump_audience_version()
        return Suppression.delete().where((Suppression.channel == channel)
                                          & (Suppression.address.in_(normal))).execute()


def suppressions(channel: str | None = None) -> list[Suppression]:
    """The suppression list, newest first, optionally for one channel."""
    query = Suppression.select().order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if channel:
        query = query.where(Suppression.channel == channel)
    return list(query)
