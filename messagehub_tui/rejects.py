"""The rejects file of an import: every row not saved as given, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from messagehub_tui.csvsafe import safe_cell
from messagehub_tui.errors import MessagehubError


class RejectsFile:
    """`STEM.rejects.csv` in the home, written to a private temporary file as the import goes.

    The temporary file is created before anything is imported, so a home where it cannot be
    written stops the import before it starts; rows are added only with the chunk they belong
    to (`mark`/`undo` take back a chunk that was not saved); `finish` names the file.
    """

    def __init__(self, home: Path, stem: str, header: list[str]):
        self.target = home / f"{stem}.rejects.csv"
        try:
            fd, name = tempfile.mkstemp(dir=home, prefix=f".{stem}.rejects.", suffix=".part")
        except OSError as exc:
            raise MessagehubError(f"cannot write the rejects file in {home}: {exc.strerror}; "
                                  "nothing was imported") from None
        self.path = Path(name)
        self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._header = header
        self._header_written = False
        self.rows = 0
        self._mark = (0, 0)

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        if not self._header_written:  # written with the first row: most imports have none
            self._writer.writerow([safe_cell(cell) for cell in ["line", "reason", *self._header]])
            self._header_written = True
        self._writer.writerow([line, safe_cell(reason), *map(safe_cell, cells)])
        self.rows += 1

    def mark(self) -> None:
        """Remember this point: `undo` returns to it."""
        self.flush()
        self._mark = (self._handle.tell(), self.rows)

    def flush(self) -> None:
        """Hand the rows to the file system, so a full disk shows here."""
        self._handle.flush()

    def undo(self) -> None:
        """Forget the rows added since `mark` (their chunk was not saved)."""
        position, self.rows = self._mark
        try:
            self._handle.seek(position)
            self._handle.truncate()
            self._header_written = position > 0
        except OSError:
            pass  # the rows past the mark stay; the import's error says which lines were saved

    def finish(self) -> tuple[Path | None, str | None]:
        """Close the file; returns where the rows are (None if there are none) and any problem."""
        try:
            self._handle.close()
        except OSError as exc:
            return self.path, f"the rejects file {self.path} may be incomplete: {exc.strerror}"
        if not self.rows:
            self.path.unlink(missing_ok=True)
            return None, None
        try:
            os.replace(self.path, self.target)
        except OSError as exc:
            return self.path, (f"cannot write {self.target} ({exc.strerror}); "
                               f"the rejected rows are in {self.path}")
        return self.target, None
