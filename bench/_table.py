"""The one table every benchmark prints."""

import os


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print `title` and aligned `name  value` rows, with the machine's core count."""
    rows = [*rows, ("cores", str(os.cpu_count()))]
    width = max(len(name) for name, _ in rows)
    print(title)
    print("-" * len(title))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
