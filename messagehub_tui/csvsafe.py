"""CSV files a user opens in a spreadsheet: cells that could run as formulas are neutralised."""

from __future__ import annotations

import re

# OWASP's CSV injection advice: a cell starting with one of these may be read as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number (an E.164 phone such as +14155550101, a score of -3) is read as a number, never
# as a formula; left as it is, the file still imports back unchanged.
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?", re.ASCII)


def safe_cell(value: str) -> str:
    """The cell as a spreadsheet shows it as text: a leading `'` where it could start a formula."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def plain_cell(value: str) -> str:
    """A cell as it was before `safe_cell`, so an exported file imports back unchanged.

    Only a `'` that `safe_cell` would have added comes off; any other leading `'` is data.
    """
    if value.startswith("'") and safe_cell(value[1:]) == value:
        return value[1:]
    return value
