"""Reading a contacts CSV as spreadsheets write it: encoding, delimiter, header, numbered rows."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from messagehub_tui.errors import MessagehubError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_ALIASES = {
    "email": "email", "e_mail": "email", "email_address": "email", "mail": "email",
    # address books' exports: Outlook's "E-mail Address", Google Contacts' "E-mail 1 - Value"
    # (their other addresses, "E-mail 2 …", stay attributes)
    "e_mail_address": "email", "e_mail_1_value": "email",
    "phone": "phone", "phone_number": "phone", "mobile": "phone", "mobile_phone": "phone",
    "cell": "phone", "telephone": "phone",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name",
    "family_name": "last_name",
}
_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DELIMITERS = (",", ";", "\t", "|")
_FALLBACK = "messagehub-cp1252"
_NON_WORD = re.compile(r"\W+")
_SEP_HINT = re.compile(r"sep=([^\"\r\n])", re.IGNORECASE)  # Excel's first line: `sep=;`


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252 (latin-1 where it has a hole).

    Files mixing UTF-8 and Windows-1252 lines exist (concatenated exports); this reads both
    right instead of guessing one encoding for the whole file.
    """
    if not isinstance(error, UnicodeDecodeError):  # registered for decoding only
        raise error
    bad = error.object[error.start:error.end]
    text = "".join(bytes([b]).decode("cp1252", errors="strict") if b not in _CP1252_HOLES
                   else chr(b) for b in bad)
    return text, error.end


_CP1252_HOLES = frozenset((0x81, 0x8D, 0x8F, 0x90, 0x9D))
codecs.register_error(_FALLBACK, _cp1252_fallback)


def column_key(name: str) -> str:
    """A header cell as a template variable name: `First Name` → `first_name`."""
    key = _NON_WORD.sub("_", name.strip().lower()).strip("_")
    return _ALIASES.get(key, key)


def _encoding(path: Path, head: bytes) -> tuple[str, str]:
    """The codec and error handler for a file, from its BOM or its first bytes."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            # a UTF-8 BOM heads Excel's "CSV UTF-8" exports, and Windows-1252 lines pasted under
            # one are as common as in a file without it
            return name, _FALLBACK if name == "utf-8-sig" else "replace"
    # UTF-16 without a BOM: text that is mostly ASCII has a NUL in every other byte.
    pairs = len(head) // 2
    if pairs >= 2:
        even, odd = head[0:pairs * 2:2].count(0), head[1:pairs * 2:2].count(0)
        if odd > pairs * 0.8 and even < pairs * 0.05:
            return "utf-16-le", "replace"
        if even > pairs * 0.8 and odd < pairs * 0.05:
            return "utf-16-be", "replace"
    _refuse_binary(path, head)
    return "utf-8", _FALLBACK


# Binary files people pick by mistake, by their first bytes: what to say about them.
_SIGNATURES = ((b"PK\x03\x04", "a ZIP archive, such as an Excel .xlsx workbook"),
               (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook"))


def _refuse_binary(path: Path, head: bytes) -> None:
    """A file that is neither UTF-16 nor has a BOM and holds a NUL byte in its first line is not
    text: refuse it in one line rather than reading its bytes as a header row. (A NUL further
    down is one bad row, rejected with its line number.)"""
    # the first line ends at CR too: files saved with CR line ends (old Mac) have no LF at all
    at = re.split(rb"[\r\n]", head, maxsplit=1)[0].find(b"\0")
    if at < 0:
        return
    what = next((said for magic, said in _SIGNATURES if head.startswith(magic)), None)
    kind = f"it is {what}: save it as CSV first" if what else \
        f"it holds binary data (a NUL byte at byte {at + 1})"
    raise MessagehubError(f"{path}: not a CSV file: {kind}")


class _Replayed(io.RawIOBase):
    """The first bytes, read already to tell the encoding, then the rest of the same open file:
    a file is opened and read once, so a pipe (`import <(zcat people.csv.gz)`) reads whole."""

    def __init__(self, head: bytes, rest: io.BufferedReader) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if not self._head:
            return self._rest.readinto(buffer)
        view = memoryview(buffer).cast("B")
        taken = self._head[:len(view)]
        view[:len(taken)] = taken
        self._head = self._head[len(taken):]
        return len(taken)

    def close(self) -> None:
        self._rest.close()
        super().close()


@dataclass(slots=True)
class Row:
    """One record of the file: its first and last physical line, its cells or why it is unreadable.
    """

    line: int
    last_line: int
    cells: list[str]
    error: str | None = None


class CsvFile:
    """An open CSV file: `header` and `rows()`, streamed; use as a context manager."""

    def __init__(self, path: Path):
        self.path = path
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise MessagehubError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            head = raw.read(4096)
            encoding, errors = _encoding(path, head)
            self._handle = io.TextIOWrapper(io.BufferedReader(_Replayed(head, raw)),
                                            encoding=encoding, errors=errors, newline="")
            first, self._skipped, hinted = self._header_line()
        except OSError as exc:
            raw.close()
            raise MessagehubError(f"{path}: cannot read: {exc.strerror}") from None
        except MessagehubError:
            raw.close()
            raise
        self.encoding = encoding
        if not first.strip():  # empty, or blank lines only where the header should be
            self._handle.close()
            raise MessagehubError(f"{path}: not a CSV file: it is empty (no header row)")
        counts = {d: first.count(d) for d in _DELIMITERS}
        self.delimiter = hinted or (max(counts, key=counts.__getitem__) if any(counts.values())
                                    else ",")
        self._reader = csv.reader(itertools.chain([first], self._handle),
                                  delimiter=self.delimiter)
        try:
            self.header = next(self._reader)
        except csv.Error as exc:
            self._handle.close()
            raise MessagehubError(f"{path}: the header line cannot be read: {exc}") from None

    def _header_line(self) -> tuple[str, int, str | None]:
        """The header's line, how many lines came before it, and the separator Excel's
        `sep=;` first line names (None without one). Blank lines above the header are skipped,
        as is that hint: both come in real exports."""
        skipped, hinted = 0, None
        line = self._handle.readline()
        while line:
            hint = _SEP_HINT.fullmatch(line.rstrip("\r\n"))
            if line.strip() and not (hint and hinted is None and not skipped):
                break
            if hint:
                hinted = hint.group(1)
            skipped += 1
            line = self._handle.readline()
        return line, skipped, hinted

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def rows(self) -> Iterator[Row]:
        """Every record that is not blank, with its line numbers; unreadable ones carry `error`."""
        reader, skipped = self._reader, self._skipped  # lines above the header, not read by it
        previous = reader.line_num + skipped
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start, previous = previous + 1, reader.line_num + skipped
                yield Row(start, previous, [], _csv_error(exc, start, previous))
                continue
            except OSError as exc:
                raise MessagehubError(f"{self.path}: cannot read line {previous + 1}: "
                                      f"{exc.strerror}") from None
            start, previous = previous + 1, reader.line_num + skipped
            if "".join(cells).strip():  # not blank: some cell has more than white space
                yield Row(start, previous, cells)


def _csv_error(exc: csv.Error, start: int, end: int) -> str:
    """Why a row cannot be read; the reason follows "line START:", so only a span of several
    lines is named again."""
    span = f"lines {start}-{end}; " if end > start else ""
    if "field larger than field limit" in str(exc):
        return (f"has a field longer than {csv.field_size_limit() // 1024} KiB ({span}"
                "an unclosed quote?)")
    return f"cannot be read as CSV{f' ({span[:-2]})' if span else ''}: {exc}"


def header_keys(path: Path, header: list[str]) -> list[str]:
    """The template variable name of each column; an error naming the column if two collide."""
    cells = list(header)
    while cells and not cells[-1].strip():  # a trailing separator, as spreadsheets write
        cells.pop()
    keys: list[str] = []
    first_of: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = column_key(cell) or f"column_{index + 1}"
        if key[0].isdigit():
            key = f"column_{key}"
        if key in first_of:
            other = cells[first_of[key]]
            same = f"column {cell!r} appears twice" if other == cell else \
                f"columns {other!r} and {cell!r} both mean {key}"
            raise MessagehubError(f"{path}: {same} in the header")
        first_of[key] = index
        keys.append(key)
    if "email" not in first_of and "phone" not in first_of:
        shown = ", ".join(cells[:10]) + (f", … ({len(cells)} columns)" if len(cells) > 10 else "")
        raise MessagehubError(f"{path}: the header has no email or phone column (found: {shown})")
    return keys


class ContactsCsv(CsvFile):
    """A CSV file whose header can be imported: `keys`, each column's template variable name.
    Opening it refuses, in one line, a file that is not a CSV, has no header row or no email or
    phone column: `import` opens it before anything is written for it (not even a new home),
    then imports from the same open file."""

    def __init__(self, path: Path):
        super().__init__(path)
        try:
            self.keys = header_keys(path, self.header)
        except MessagehubError:
            self._handle.close()
            raise
