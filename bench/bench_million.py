"""1,000,000 recipients end to end on the real CLI: `import`, `launch` (materialising the
deliveries, start-up included), each runner's RSS while it sends into Postfix smtp-sink, and the
monitor and launcher refresh times on the live campaign. Targets: import < 120 s and < 100 MB,
launch < 20 s, runner RSS flat and < 100 MB, refreshes < 30 ms."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402
from bench_import import make_csv, timed_import  # noqa: E402
from bench_monitor import timed  # noqa: E402
from bench_send import HTML, TEXT, peak_rss, runner_pids, start_sink  # noqa: E402

from messagehub_tui import campaigns, views  # noqa: E402
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db


def cli(home: Path, *args: str, check: bool = True) -> float:
    """Run one command of the real CLI; its wall seconds, start-up included."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                   check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def current_rss(pid: int) -> float:
    """VmRSS of a process in MB, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines()
                 if line.startswith("VmRSS:")), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--send-seconds", type=float, default=60,
                        help="how long the runners send before the campaign is cancelled")
    parser.add_argument("--runs", type=int, default=30, help="refreshes timed of each kind")
    args = parser.parse_args()
    sink, port = start_sink()
    home = Path(tempfile.mkdtemp(prefix="bench-million-"))
    try:
        (home / "messagehub.toml").write_text(
            f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "none"\nfrom = "Bench <bench@example.com>"\nconnections = 8\n')
        make_csv(home / "people.csv", args.recipients)
        load = os.getloadavg()[0]
        imported, import_cpu, import_rss, _ = timed_import(home, home / "people.csv")
        settings = load_settings(home)
        open_db(settings.db_location)
        campaign_id = campaigns.create(settings, "million", "email", "bench", TEXT,
                                       subject="{{ first_name }}, news", html=HTML).id
        close_db()
        launched = cli(home, "launch", str(campaign_id))
        open_db(settings.db_location)
        rss: dict[int, int] = {}
        samples: dict[int, list[float]] = {}
        deadline = time.monotonic() + args.send_seconds
        monitor, launcher = [], []
        while time.monotonic() < deadline:
            for pid in runner_pids(home):
                rss.setdefault(pid, 0)
                samples.setdefault(pid, []).append(current_rss(pid))
            peak_rss(rss)
            # refreshes while the runners write, as the TUI sees them
            monitor += timed(lambda: views.monitor_data(campaign_id), 1)
            launcher += timed(views.campaign_rows, 1)
            time.sleep(max(0.0, 0.5 - (monitor[-1] + launcher[-1]) / 1000))
        sent = campaigns.status(campaign_id).counts.sent
        close_db()
        cli(home, "cancel", str(campaign_id), check=False)  # unless it completed already
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(home, ignore_errors=True)
    rows = [("recipients", f"{args.recipients:,}; load average before {load:.1f}"),
            ("import (CLI)", f"{imported:.1f} s ({import_cpu:.1f} s CPU), peak RSS "
                             f"{import_rss:.0f} MB (target < 120 s, < 100 MB)"),
            ("launch (CLI, start-up included)", f"{launched:.1f} s (target < 20 s)"),
            ("sent while measured", f"{sent:,} in about {args.send_seconds:.0f} s")]
    for pid, series in samples.items():
        live = [mb for mb in series if mb] or [0.0]
        rows.append((f"runner {pid} RSS", f"first {live[0]:.0f} MB, last {live[-1]:.0f} MB, "
                                          f"peak {rss[pid] / 1024:.0f} MB (target flat, < 100 MB)"))
    for name, times in (("monitor refresh", monitor), ("launcher refresh", launcher)):
        rows.append((name, f"median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms "
                           f"over {len(times)} while sending (target < 30 ms)"))
    print_table(f"{args.recipients:,}-recipient campaign: launch, runner memory, refreshes", rows)


if __name__ == "__main__":
    main()
