"""Import 100,000 CSV rows (email, phone, names, two attributes) into a fresh home; target < 10 s."""

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

from messagehub_tui import contacts  # noqa: E402
from messagehub_tui.models import open_db  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,phone,first_name,last_name,city,plan\n")
        for i in range(rows):
            phone = f"+1415{5550000 + i:07d}"[:12] if i % 3 else ""
            handle.write(f"user{i}@example{i % 97}.com,{phone},First{i},Last{i},"
                         f"{rng.choice(['Paris', 'Oslo', 'Lima'])},{rng.choice(['free', 'pro'])}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        source = home / "contacts.csv"
        make_csv(source, args.rows)
        open_db(home / "messagehub.db")
        started = time.perf_counter()
        result = contacts.import_csv(source, home, "bench", region="US")
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = contacts.import_csv(source, home, "bench", region="US")
        second = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print_table(f"CSV import, {args.rows:,} rows", [
        ("first import", f"{first:.2f} s ({args.rows / first:,.0f} rows/s) {result.summary()}"),
        ("re-import (all updates)", f"{second:.2f} s {again.summary()}"),
        ("target", "< 10 s"),
        ("peak RSS", f"{peak:.0f} MB"),
    ])


if __name__ == "__main__":
    main()
