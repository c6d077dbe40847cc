"""CSV import: each row validated, matched to the person it names, stored in committed chunks.

The file is streamed: memory holds one chunk. Rows are matched by normalised email and phone
against the database, and against the earlier rows of the same file through a temporary table
(`import_given`: what this file already said about each contact), so a repeat inside the file
is recognised exactly whatever lies between the two rows.
"""

from __future__ import annotations

import itertools
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from peewee import DatabaseError

from messagehub_tui.addresses import InvalidAddress, normalise_email, normalise_phone
from messagehub_tui.csvread import ContactsCsv, Row
from messagehub_tui.csvsafe import plain_cell
from messagehub_tui.deliveries import EXPORT_ONLY_COLUMNS
from messagehub_tui.errors import MessagehubError, is_disk_full
from messagehub_tui.importstore import Outcome, Parsed, Store
from messagehub_tui.models import db
from messagehub_tui.rejects import RejectsFile

CHUNK = 1000
KEPT = 1000  # rejected rows kept in memory for display; the rejects file has every one
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class Rejected:
    """A CSV row that was not imported (or imported without a bad address), its line and why."""

    line: int
    reason: str
    row: list[str]


@dataclass
class ImportResult:
    """What an import did; `rejected` and `warnings` hold the first rows, the file has all."""

    list_name: str = ""
    imported: int = 0
    updated: int = 0
    repeated: int = 0
    rejected_count: int = 0
    warning_count: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Rejected] = field(default_factory=list)
    rejects_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    saved_through: int = 1  # the last line whose row is saved (or rejected for good)

    @property
    def rows(self) -> int:
        """Rows of the file handled: every one is imported, updated, repeated or rejected."""
        return self.imported + self.updated + self.repeated + self.rejected_count

    @property
    def problems(self) -> list[Rejected]:
        """The kept rejected rows and rows saved with a warning, in line order, as shown."""
        return sorted(self.rejected + self.warnings, key=lambda r: r.line)

    def summary(self) -> str:
        text = f"imported {self.imported}, updated {self.updated}, rejected {self.rejected_count}"
        if self.repeated:
            text += f", {self.repeated} repeated row{'s' if self.repeated != 1 else ''} merged"
        if self.warning_count:
            text += (f", {self.warning_count} saved without an invalid phone or email")
        return text


class ImportStopped(MessagehubError):
    """The import stopped part-way: the message says what was saved and what was not."""

    def __init__(self, message: str, result: ImportResult, interrupted: bool = False):
        super().__init__(message)
        self.result = result
        self.interrupted = interrupted


def _check_text(values: dict[str, str], row: Row) -> None:
    if "\x00" in "".join(values.values()):
        key = next(key for key, value in values.items() if "\x00" in value)
        raise InvalidAddress(f"{key} contains a NUL byte")
    for key in ("first_name", "last_name"):
        bad = _CONTROL.search(values.get(key, ""))
        if bad:  # names reach the To: header: no line breaks or other control characters
            what = "a line break" if bad.group() in "\r\n" else \
                f"a control character (U+{ord(bad.group()):04X})"
            # A quote left open in a name swallows the lines after it into this record: say
            # which, or those people vanish from the import with no line of their own.
            span = f" (lines {row.line}-{row.last_line}; an unclosed quote?)" \
                if what == "a line break" and row.last_line > row.line else ""
            raise InvalidAddress(f"{key} contains {what}{span}")


@dataclass(frozen=True)
class _Columns:
    """What the header says about every row: each cell's key, the export-only ones dropped.

    Worked out once per file, so a row costs one pass over its cells (a million rows is a
    million of these calls).
    """

    keys: list[str]
    region: str | None
    export_only: bool  # the header has a column that `export` adds (rare): drop it per row

    def parse(self, row: Row) -> Parsed:
        """A row's normal addresses and fields; InvalidAddress if it cannot be imported at all."""
        if row.error:
            raise InvalidAddress(row.error)
        cells, keys = row.cells, self.keys
        if len(cells) > len(keys) and "".join(cells[len(keys):]).strip():
            raise InvalidAddress(f"has {len(cells)} fields but the header has {len(keys)}")
        # plain_cell only changes a cell that starts with a quote: skip the call for the rest
        values = dict(zip(keys, [plain_cell(cell) if cell[:1] == "'" else cell
                                 for cell in map(str.strip, cells)], strict=False))
        if self.export_only:  # what `export` adds about the delivery, not the person
            for key in EXPORT_ONLY_COLUMNS:
                values.pop(key, None)
        _check_text(values, row)
        raw_email, raw_phone = values.pop("email", ""), values.pop("phone", "")
        if not raw_email and not raw_phone:
            raise InvalidAddress("has neither an email nor a phone")
        problems, email, phone = [], None, None
        if raw_email:
            try:
                email = normalise_email(raw_email)
            except InvalidAddress as exc:
                problems.append(str(exc))
        if raw_phone:
            try:
                phone = normalise_phone(raw_phone, self.region)
            except InvalidAddress as exc:
                problems.append(str(exc))
        if email is None and phone is None:
            raise InvalidAddress("; ".join(problems))
        # One valid address is enough to import the row; the other is reported with the line.
        warning = f"imported without its {'email' if email is None else 'phone'}: {problems[0]}" \
            if problems else None
        return Parsed(row.line, cells, email, phone, values.pop("first_name", ""),
                      values.pop("last_name", ""), values, warning)


def _keep(result: ImportResult, outcome: Outcome) -> None:
    result.imported += outcome.imported
    result.updated += outcome.updated
    result.repeated += outcome.repeated
    result.rejected_count += len(outcome.rejected)
    result.warning_count += len(outcome.warnings)
    for line, reason, cells in outcome.rejected:
        if len(result.rejected) < KEPT:
            result.rejected.append(Rejected(line, reason, cells))
    for line, reason, cells in outcome.warnings:
        if len(result.warnings) < KEPT:
            result.warnings.append(Rejected(line, reason, cells))


def _import_chunk(store: Store, columns: _Columns, rows: list[Row],
                  rejects: RejectsFile) -> Outcome:
    outcome = Outcome()
    parsed = []
    for row in rows:
        try:
            parsed.append(columns.parse(row))
        except InvalidAddress as exc:
            outcome.rejected.append((row.line, str(exc), row.cells))
    rejects.mark()
    with db.atomic():  # SQLite: BEGIN IMMEDIATE (engines.make_sqlite)
        store.save(parsed, outcome)
        for line, reason, cells in sorted(outcome.rejected + outcome.warnings):
            rejects.add(line, reason, cells)
        rejects.flush()  # the rows reach the disk before the chunk commits
    return outcome


@contextmanager
def _interrupt_between_chunks() -> Iterator[Callable[[], bool]]:
    """Ctrl-C is noted and acted on between chunks, never between a commit and its counting
    (which would make the stop message wrong by a chunk). Only the main thread gets signals."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is None:
        yield lambda: False
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _stopped(path: Path, home: Path, result: ImportResult, exc: BaseException) -> str:
    first = result.saved_through + 1
    if isinstance(exc, KeyboardInterrupt):
        why, then = "interrupted", "To finish, run"
    elif is_disk_full(exc):
        why, then = f"disk full in {home}", f"Free space in {home}, then run"
    else:
        why, then = f"stopped by an error ({exc})", "Once fixed, run"
    done = f"lines 2-{result.saved_through} done ({result.summary()})" \
        if result.saved_through > 1 else "nothing saved"
    return (f"{path}: {why} at line {first}: {done}; line {first} and after not saved. {then} "
            "the same import again: rows already saved are updated, not duplicated")


def import_csv(source: str | Path | ContactsCsv, home: Path, list_name: str | None = None,
               region: str | None = None) -> ImportResult:
    """Import a CSV file (a path, or one opened already) into a list (named after the file by
    default); bad rows are reported.

    Chunks of CHUNK rows commit one by one, so a long import never blocks sending for long; if it
    stops part-way (disk full, Ctrl-C) ImportStopped says exactly which lines were saved.
    """
    with source if isinstance(source, ContactsCsv) else ContactsCsv(Path(source)) as opened:
        path, keys = opened.path, opened.keys
        columns = _Columns(keys, region, any(key in EXPORT_ONLY_COLUMNS for key in keys))
        result = ImportResult(list_name=list_name or path.stem)
        store = Store(result.list_name)
        rejects = RejectsFile(home, path.stem, opened.header)
        rows = opened.rows()
        try:
            with _interrupt_between_chunks() as interrupted:
                while chunk := list(itertools.islice(rows, CHUNK)):
                    _keep(result, _import_chunk(store, columns, chunk, rejects))
                    result.saved_through = chunk[-1].last_line
                    if interrupted():
                        raise KeyboardInterrupt
                if not result.rows:
                    with db.atomic():
                        store.empty_list()
        except (MessagehubError, DatabaseError, OSError, KeyboardInterrupt) as exc:
            rejects.undo()
            raise ImportStopped(_stopped(path, home, result, exc), result,
                                isinstance(exc, KeyboardInterrupt)) from None
        finally:
            store.close()
            result.rejects_path, note = rejects.finish()
            if note:
                result.notes.append(note)
    return result
