"""Table column widths shared by the screens whose last column wraps."""

from __future__ import annotations

from collections.abc import Sequence

# Every column's cell padding (1 + 1), and the vertical scrollbar (2).
CELL_PADDING = 2
SCROLLBAR = 2
MIN_WRAPPED = 20
MIN_FIRST = 12


def wrapped_width(room: int, others: Sequence[int]) -> int:
    """The width of a table's last column, which wraps its text (rows of height None) instead
    of being cut: what `room` leaves beside the `others` columns' widths and the table's chrome."""
    chrome = CELL_PADDING * (len(others) + 1) + SCROLLBAR
    return max(MIN_WRAPPED, room - sum(others) - chrome)


def fitted_widths(room: int, first: int, fixed: Sequence[int]) -> tuple[int, int]:
    """The widths of a table's first and last columns, both wrapping, around `fixed` ones: the
    first keeps its natural width while the last still gets MIN_WRAPPED; on a narrower screen
    (60 columns) the first gives way down to MIN_FIRST, then the last down to MIN_FIRST too, so
    the table never runs past the screen and cuts both (the last column alone kept the width of
    an 80-column screen)."""
    spare = room - sum(fixed) - CELL_PADDING * (len(fixed) + 2) - SCROLLBAR
    first = max(min(first, MIN_FIRST), min(first, spare - MIN_WRAPPED))
    return first, max(MIN_FIRST, spare - first)
