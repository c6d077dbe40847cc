"""Storing imported rows: match each to a stored contact, or to an earlier row of the same file.

Rules, in the order a row meets them (the later row of a pair is the one rejected):
- its phone belongs to another contact than its email (in the database or earlier in the file);
- it names a contact an earlier row of this file named, with a different value for a field both
  give (phone, names, an attribute): which one is right is for the user to say;
- it repeats a contact consistently: merged, counted as repeated, not an error;
- it names a stored contact: updated (values it gives win, blanks keep what is stored);
- else it is a new contact. Every stored row joins the list, created with the first of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from messagehub_tui.database import executemany, on_postgres
from messagehub_tui.models import bump_audience_version, db, utcnow

_encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per row
_quote = json.encoder.encode_basestring  # how that encoder writes a str (ensure_ascii=False)


def _to_json(attributes: dict[str, str]) -> str:
    """`_encode(attributes)`, character for character, built directly for the str -> str dicts a
    CSV row gives (about 3x faster: the encoder sets itself up on every call, once per row).

    Anything else (a number stored by another version, say) goes to the encoder.
    """
    try:
        return "{" + ", ".join([_quote(key) + ": " + _quote(value)
                                for key, value in attributes.items()]) + "}"
    except TypeError:  # _quote takes only str
        return _encode(attributes)


# A temporary table is private to its connection (SQLite and PostgreSQL alike).
_SCHEMA = ("CREATE TEMP TABLE IF NOT EXISTS import_given (contact_id INTEGER PRIMARY KEY, "
           "line INTEGER NOT NULL, email TEXT, phone TEXT, first_name TEXT, last_name TEXT, "
           "attributes TEXT)")
_GIVEN_COLUMNS = ("line", "email", "phone", "first_name", "last_name", "attributes")


@dataclass
class Parsed:
    """A valid row: normal addresses (one may be None) and its other fields."""

    line: int
    cells: list[str]
    email: str | None
    phone: str | None
    first_name: str
    last_name: str
    attributes: dict[str, str]
    warning: str | None = None


@dataclass
class Outcome:
    """What one chunk did: counts, and (line, reason, cells) of rows rejected or warned about."""

    imported: int = 0
    updated: int = 0
    repeated: int = 0
    rejected: list[tuple[int, str, list[str]]] = field(default_factory=list)
    warnings: list[tuple[int, str, list[str]]] = field(default_factory=list)


@dataclass
class _Contact:
    """A stored contact as this chunk knows it (attributes as stored JSON)."""

    id: int
    email: str | None
    phone: str | None
    first_name: str
    last_name: str
    attributes: str


@dataclass
class _Given:
    """What the earlier rows of this file said about one contact; `line` is the first of them."""

    line: int
    email: str | None
    phone: str | None
    first_name: str
    last_name: str
    attributes: dict[str, str]


def _merge_given(earlier: _Given | None, record: Parsed) -> _Given:
    if earlier is None:
        return _Given(record.line, record.email, record.phone, record.first_name,
                      record.last_name, dict(record.attributes))
    attributes = dict(earlier.attributes)
    attributes.update((key, value) for key, value in record.attributes.items() if value)
    return _Given(earlier.line, earlier.email or record.email, earlier.phone or record.phone,
                  earlier.first_name or record.first_name, earlier.last_name or record.last_name,
                  attributes)


def _conflict(earlier: _Given, record: Parsed) -> str | None:
    pairs = [("phone", earlier.phone, record.phone),
             ("first_name", earlier.first_name, record.first_name),
             ("last_name", earlier.last_name, record.last_name),
             *((key, earlier.attributes.get(key), value)
               for key, value in record.attributes.items())]
    for name, before, now in pairs:
        if before and now and before != now:
            return (f"repeats line {earlier.line} with a different {name}: "
                    f"{before!r} there, {now!r} here")
    return None


def _reserve_ids(count: int) -> list[int]:
    """Ids for `count` new contacts, in increasing order. SQLite: the ones it would give them
    (the transaction holds the write lock, so nobody else inserts meanwhile); PostgreSQL: taken
    from the table's sequence, which writers on other hosts share."""
    if not count:
        return []
    if on_postgres():
        rows = db.execute_sql("SELECT nextval(pg_get_serial_sequence('contact', 'id')) "
                              "FROM generate_series(1, ?)", (count,)).fetchall()
        return sorted(row[0] for row in rows)
    first = db.execute_sql("SELECT COALESCE(MAX(id), 0) + 1 FROM contact").fetchone()[0]
    return list(range(first, first + count))


class Store:
    """Writes chunks of parsed rows on the open connection, inside the caller's transaction."""

    def __init__(self, list_name: str):
        self.list_name = list_name
        db.execute_sql(_SCHEMA)
        db.execute_sql("DELETE FROM import_given")
        self._new: dict[int, _Contact] = {}

    def close(self) -> None:
        db.execute_sql("DROP TABLE IF EXISTS import_given")

    def _lookup(self, records: list[Parsed]) -> tuple[dict[str, _Contact], dict[str, _Contact]]:
        """The stored contacts these rows name, by email and by phone (one object per contact)."""
        found: dict[int, _Contact] = {}
        for column in ("email", "phone"):
            values = list({getattr(r, column) for r in records if getattr(r, column)})
            if values:
                for row in db.execute_sql(
                        "SELECT id, email, phone, first_name, last_name, attributes FROM contact "
                        f"WHERE {column} IN ({','.join('?' * len(values))})", values):
                    found.setdefault(row[0], _Contact(*row))
        return ({c.email: c for c in found.values() if c.email},
                {c.phone: c for c in found.values() if c.phone})

    def _given(self, ids: set[int]) -> dict[int, _Given]:
        if not ids:
            return {}
        rows = db.execute_sql(
            "SELECT contact_id, line, email, phone, first_name, last_name, attributes "
            f"FROM import_given WHERE contact_id IN ({','.join('?' * len(ids))})", list(ids))
        return {contact_id: _Given(line, email, phone, first, last, json.loads(attributes))
                for contact_id, line, email, phone, first, last, attributes in rows}

    @staticmethod
    def _owner(phone: str, owner: _Contact, given: dict[int, _Given]) -> str:
        earlier = given.get(owner.id)
        if earlier is not None:
            return (f"phone {phone} is already on line {earlier.line}"
                    + (f" ({owner.email})" if owner.email else ""))
        return f"phone {phone} already belongs to {owner.email or 'another contact (phone only)'}"

    def _update(self, contact: _Contact, record: Parsed, now: str) -> None:
        stored = json.loads(contact.attributes or "{}")
        merged = dict(stored)
        for key, value in record.attributes.items():
            if value or key not in merged:
                merged[key] = value
        new = (record.email or contact.email, record.phone or contact.phone,
               record.first_name or contact.first_name, record.last_name or contact.last_name)
        if new == (contact.email, contact.phone, contact.first_name, contact.last_name) \
                and merged == stored:
            return
        contact.email, contact.phone, contact.first_name, contact.last_name = new
        contact.attributes = _to_json(merged)
        if contact.id not in self._new:  # a contact of this chunk is written at its end
            db.execute_sql(
                "UPDATE contact SET email = ?, phone = ?, first_name = ?, last_name = ?, "
                "attributes = ?, updated_at = ? WHERE id = ?",
                (*new, contact.attributes, now, contact.id))

    def save(self, records: list[Parsed], outcome: Outcome) -> None:
        """Store one chunk, row by row in file order (each sees the ones before it).

        Updates of stored contacts run at once (one may free a phone a later row takes); new
        contacts are written together at the end. Until then they go by negative stand-in ids;
        their real ids (_reserve_ids) are given, in file order, when they are written.
        """
        now = utcnow().isoformat(" ")  # the form sqlite3 stores a datetime in
        by_email, by_phone = self._lookup(records)
        given = self._given({c.id for c in (*by_email.values(), *by_phone.values())})
        next_id = -1
        self._new = {}
        touched: dict[int, _Given] = {}
        for record in records:
            email_owner = by_email.get(record.email) if record.email else None
            phone_owner = by_phone.get(record.phone) if record.phone else None
            contact = email_owner or phone_owner
            reason = None
            # The phone is someone else's: the email names another contact, or the phone's
            # owner has another email.
            if phone_owner and record.phone and (
                    (email_owner is not None and email_owner.id != phone_owner.id) or (
                    record.email and phone_owner.email and phone_owner.email != record.email)):
                reason = self._owner(record.phone, phone_owner, given)
            elif contact is not None and contact.id in given:
                reason = _conflict(given[contact.id], record)
            if reason:
                outcome.rejected.append((record.line, reason, record.cells))
                continue
            if contact is None:
                contact = _Contact(next_id, record.email, record.phone, record.first_name,
                                   record.last_name, _to_json(record.attributes))
                self._new[next_id] = contact
                next_id -= 1
                outcome.imported += 1
            else:
                old_phone = contact.phone
                self._update(contact, record, now)
                if contact.id in given:
                    outcome.repeated += 1
                else:
                    outcome.updated += 1
                if old_phone and old_phone != contact.phone:
                    by_phone.pop(old_phone, None)
            if contact.email:
                by_email[contact.email] = contact
            if contact.phone:
                by_phone[contact.phone] = contact
            given[contact.id] = touched[contact.id] = _merge_given(given.get(contact.id), record)
            if record.warning:
                outcome.warnings.append((record.line, record.warning, record.cells))
        self._write(touched, now)

    def _write(self, touched: dict[int, _Given], now: str) -> None:
        real = dict(zip(self._new, _reserve_ids(len(self._new)), strict=True))
        for stand_in, contact in self._new.items():
            contact.id = real[stand_in]
        executemany(
            "INSERT INTO contact (id, email, phone, first_name, last_name, attributes, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.id, c.email, c.phone, c.first_name, c.last_name, c.attributes, now, now)
             for c in self._new.values()])
        executemany(
            "INSERT INTO import_given VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (contact_id) "
            f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _GIVEN_COLUMNS)}",
            [(real.get(contact_id, contact_id), g.line, g.email, g.phone, g.first_name, g.last_name,
              # a contact this chunk created holds exactly what the file said: same JSON
              self._new[contact_id].attributes if contact_id in self._new
              else _to_json(g.attributes)) for contact_id, g in touched.items()])
        if touched:
            self._join_list([real.get(contact_id, contact_id) for contact_id in touched], now)

    def _list_id(self, now: str) -> int:
        db.execute_sql("INSERT INTO contact_list (name, created_at) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", (self.list_name, now))
        return db.execute_sql("SELECT id FROM contact_list WHERE name = ?",
                              (self.list_name,)).fetchone()[0]

    def _join_list(self, members: list[int], now: str) -> None:
        # The list is created with its first member, so an import that stores nothing leaves none.
        list_id = self._list_id(now)
        executemany(
            "INSERT INTO list_member (contact_list_id, contact_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            [(list_id, contact_id) for contact_id in members])
        bump_audience_version()

    def empty_list(self) -> None:
        """Create the list with no member: the file had a header and no row (an empty list asked
        for), unlike a file whose every row was rejected (a failed import, which leaves none)."""
        self._list_id(utcnow().isoformat(" "))
