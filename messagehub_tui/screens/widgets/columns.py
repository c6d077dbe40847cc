"""Table column widths shared by the screens whose last column wraps."""

from __future__ import annotations

from collections.abc import Sequence

# Every column's cell padding (1 + 1), and the vertical scrollbar (2).
CELL_PADDING = 2
SCROLLBAR = 2
MIN_WRAPPED = 20


def wrapped_width(room: int, others: Sequence[int]) -> int:
    """The width of a table's last column, which wraps its text (rows of height None) instead
    of being cut: what `room` leaves beside the `others` columns' widths and the table's chrome."""
    chrome = CELL_PADDING * (len(others) + 1) + SCROLLBAR
    return max(MIN_WRAPPED, room - sum(others) - chrome)
