"""Import N CSV rows (email, phone for 2 in 3, names, two attributes) through the real CLI.

Each import runs as `messagehub-tui import` in its own process, so the figures include start-up
and the peak RSS is that process's alone. Targets for 1,000,000 rows: < 120 s, peak RSS < 100 MB.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,phone,first_name,last_name,city,plan\n")
        for i in range(rows):
            phone = f"+1415{2000000 + i:07d}" if i % 3 else ""
            handle.write(f"user{i}@example{i % 97}.com,{phone},First{i},Last{i},"
                         f"{rng.choice(['Paris', 'Oslo', 'Lima'])},{rng.choice(['free', 'pro'])}\n")


def timed_import(home: Path, source: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in MB and summary line of one `import` process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "messagehub_tui", "--home", str(home), "import", str(source),
         "--list", "bench"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read(), process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}): {err.strip()}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        source = home / "contacts.csv"
        make_csv(source, args.rows)
        (home / "messagehub.toml").write_text('[sms]\ndefault_region = "US"\n')
        load = os.getloadavg()[0]  # the machine is shared: CPU seconds are the steady figure
        results = [("first import", *timed_import(home, source)),
                   ("re-import (all updates)", *timed_import(home, source))]
    rows = [("rows", f"{args.rows:,}"), ("load average before", f"{load:.1f}")]
    for name, seconds, cpu, peak, summary in results:
        rows.append((name, (f"{seconds:.1f} s ({cpu:.1f} s CPU), {args.rows / seconds:,.0f} "
                            f"rows/s, peak RSS {peak:.0f} MB ({summary})")))
    rows.append(("target", "< 120 s and < 100 MB for 1,000,000 rows"))
    print_table(f"CSV import through the CLI, {args.rows:,} rows", rows)


if __name__ == "__main__":
    main()
