"""Like-for-like email throughput: `messagehub-tui send` with default settings beside
`smtp-source -d` (connection reuse) into the same Postfix smtp-sink, same message size, same
connection count, interleaved in one run; plus SMS pacing at rate 10 into a fake Twilio."""

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

from messagehub_tui import campaigns, contacts, control, preview  # noqa: E402
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from tests.peers import FakeTwilio, start_sink  # noqa: E402

TEXT = ("Dear {{ first_name }} {{ last_name }},\n\n" + "Your plan {{ plan }} in {{ city }} "
        "renews soon; here is what changed this month and what it means for you.\n" * 25 +
        "\nRegards,\nThe team\n")
HTML = ("<html><body><h1>Hello {{ first_name }}</h1>" + "<p>Your plan <b>{{ plan }}</b> in "
        "{{ city }} renews soon; here is what changed this month.</p>\n" * 20 + "</body></html>\n")
RUNNER_MARK = b"messagehub_tui.workers.runner"


def make_home(home: Path, toml: str, recipients: int, channel: str) -> int:
    """A home with `recipients` contacts and one campaign; returns the campaign id."""
    (home / "messagehub.toml").write_text(toml)
    settings = load_settings(home)
    open_db(settings.db_location)
    try:
        with (home / "people.csv").open("w") as handle:
            handle.write("email,phone,first_name,last_name,city,plan\n")
            for i in range(recipients):
                handle.write(f"user{i}@example{i % 50}.com,+1415{5000000 + i:07d},First{i},"
                             f"Last{i},City{i % 7},plan{i % 3}\n")
        contacts.import_csv(home / "people.csv", home, "people", region="US")
        if channel == "email":
            campaign = campaigns.create(settings, "bench", "email", "people", TEXT,
                                        subject="{{ first_name }}, your {{ plan }} news",
                                        html=HTML)
        else:
            campaign = campaigns.create(settings, "bench", "sms", "people", "Hi {{ first_name }}")
        return campaign.id
    finally:
        close_db()


def message_size(home: Path, campaign_id: int) -> int:
    """Bytes of one rendered message on the wire, read back from the outbox-free preview."""
    settings = load_settings(home)
    open_db(settings.db_location)
    try:
        return len(preview.preview(settings, campaign_id).encode())
    finally:
        close_db()


def runner_pids(home: Path) -> list[int]:
    """Runner processes of this home (they are not our children: `send` starts them detached)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if RUNNER_MARK in cmdline and str(home).encode() in cmdline:
            found.append(int(entry.name))
    return found


def peak_rss(pids: dict[int, int], cpu: dict[int, float] | None = None) -> None:
    """Update each runner's highest VmHWM (kB), and its CPU seconds so far in `cpu`, while it
    lives."""
    for pid in list(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                pids[pid] = max(pids[pid], int(line.split()[1]))
        fields = stat.rpartition(")")[2].split()  # utime and stime are fields 14 and 15
        if cpu is not None:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env(bytecode: Path | None) -> dict[str, str]:
    """The environment of `send` (and so of its runners). With `bytecode`, Python caches compiled
    modules there, as an installed package has them: a sandbox that sets PYTHONDONTWRITEBYTECODE
    would otherwise have every process compile our modules from source."""
    env = dict(os.environ)
    if bytecode is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    return env


def send_home(port: int, connections: int, recipients: int, processes: int | None = None
              ) -> tuple[Path, int]:
    """A fresh home that sends to 127.0.0.1:`port` with default settings but connections (and
    processes when given), with one personalised text+HTML campaign; (home, campaign id)."""
    home = Path(tempfile.mkdtemp(prefix="bench-send-"))
    toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "none"\nfrom = "Bench <bench@example.com>"\n'
            f"connections = {connections}\n")
    if processes is not None:
        toml += f"[delivery]\nprocesses = {processes}\n"
    return home, make_home(home, toml, recipients, "email")


def watch_send(home: Path, campaign_id: int, every: float, tick, out=subprocess.DEVNULL,
               env: dict[str, str] | None = None) -> float:
    """Run `messagehub-tui send` of the campaign, calling `tick()` every `every` seconds while it
    runs and once when it has ended; returns its wall time, start-up included."""
    started = time.perf_counter()
    sender = subprocess.Popen(
        [sys.executable, "-m", "messagehub_tui", "--home", str(home), "send", str(campaign_id)],
        stdout=out, stderr=subprocess.STDOUT, env=env)
    while sender.poll() is None:
        tick()
        time.sleep(every)
    elapsed = time.perf_counter() - started
    tick()
    return elapsed


def run_send(recipients: int, connections: int, processes: int | None, port: int,
             bytecode: Path | None = None) -> dict:
    """`messagehub-tui send` in a fresh home with default settings but host, port, connections
    (and processes when given); wall time including start-up."""
    home, campaign_id = send_home(port, connections, recipients, processes)
    try:
        size = message_size(home, campaign_id)
        rss: dict[int, int] = {}
        cpu: dict[int, float] = {}

        def sample() -> None:
            for pid in runner_pids(home):
                rss.setdefault(pid, 0)
            peak_rss(rss, cpu)
        with open(home / "send.out", "w") as out:
            elapsed = watch_send(home, campaign_id, 0.05, sample, out, child_env(bytecode))
        settings = load_settings(home)
        open_db(settings.db_location)
        try:
            state = campaigns.status(campaign_id)
        finally:
            close_db()
        return {"sent": state.counts.sent, "status": state.status, "seconds": elapsed,
                "rate": state.counts.sent / elapsed, "size": size,
                "rss": sorted(kb / 1024 for kb in rss.values()),
                # as last seen, up to one poll before each runner exits
                "cpu_us": 1e6 * sum(cpu.values()) / max(1, state.counts.sent)}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_smtp_source(messages: int, connections: int, size: int, port: int) -> float:
    """smtp-source with connection reuse (-d), the same size and connection count."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    started = time.perf_counter()
    subprocess.run([source, "-d", "-s", str(connections), "-m", str(messages), "-l", str(size),
                    "-f", "bench@example.com", "-t", "user@example.com",
                    f"127.0.0.1:{port}"], check=True)
    return messages / (time.perf_counter() - started)


def run_sms(seconds: float, rate: float) -> tuple[float, int]:
    fake = FakeTwilio()
    home = Path(tempfile.mkdtemp())
    try:
        toml = (f'[sms]\ntransport = "twilio"\naccount_sid = "AC{"0" * 32}"\n'
                f'from = "+15005550006"\napi_base_url = "{fake.url}"\nrate = {rate}\n')
        os.environ["TWILIO_AUTH_TOKEN"] = "bench-token"
        campaign_id = make_home(home, toml, int(seconds * rate) + 1, "sms")
        settings = load_settings(home)
        open_db(settings.db_location)
        try:
            for runner in control.launch(settings, campaign_id).runners:
                runner.wait()
        finally:
            close_db()
        stamps = sorted(request["at"] for request in fake.requests)
        measured = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        busiest = max(sum(1 for t in stamps if start <= t < start + 1) for start in stamps)
        return measured, busiest
    finally:
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; the table shows each ratio and the median")
    parser.add_argument("--big", type=int, default=0, help="also a run of this many recipients")
    parser.add_argument("--sms-seconds", type=float, default=30)
    parser.add_argument("--source", action="store_true",
                        help="child processes compile every module from source (no bytecode)")
    args = parser.parse_args()
    sink, port = start_sink()
    cache = Path(tempfile.mkdtemp(prefix="bench-pyc-"))
    bytecode = None if args.source else cache / "pyc"
    if bytecode is not None:  # an untimed send fills the cache, as installing a package does
        run_send(200, args.connections, None, port, bytecode)
    load_before = os.getloadavg()[0]
    rows = []
    ratios_default, ratios_one = [], []
    try:
        for round_no in range(1, args.rounds + 1):
            default = run_send(args.recipients, args.connections, None, port, bytecode)
            one = run_send(args.recipients, args.connections, 1, port, bytecode)
            source = run_smtp_source(args.recipients, args.connections, default["size"], port)
            # Like for like: the default starts one runner per core, each with its own
            # `connections`, so its yardstick is smtp-source with as many connections in all.
            total = args.connections * max(1, len(default["rss"]))
            wide = source if total == args.connections else \
                run_smtp_source(args.recipients, total, default["size"], port)
            ratios_default.append(default["rate"] / wide)
            ratios_one.append(one["rate"] / source)
            rows += [
                (f"round {round_no}: smtp-source -d -s {args.connections}", f"{source:,.0f} msg/s"),
                (f"round {round_no}: smtp-source -d -s {total}", f"{wide:,.0f} msg/s"),
                (f"round {round_no}: send, defaults",
                 f"{default['rate']:,.0f} msg/s ({len(default['rss'])} runners x "
                 f"{args.connections} connections; {default['sent']:,} {default['status']} in "
                 f"{default['seconds']:.1f} s), ratio {ratios_default[-1]:.2f}, runner RSS "
                 + ", ".join(f"{mb:.0f}" for mb in default["rss"]) + " MB, runner CPU "
                 f"{default['cpu_us']:.0f} us/message"),
                (f"round {round_no}: send, processes = 1",
                 f"{one['rate']:,.0f} msg/s ({one['sent']:,} in {one['seconds']:.1f} s), "
                 f"ratio {ratios_one[-1]:.2f}, runner RSS "
                 + ", ".join(f"{mb:.0f}" for mb in one["rss"]) + " MB, runner CPU "
                 f"{one['cpu_us']:.0f} us/message"),
            ]
        if args.big:
            big = run_send(args.big, args.connections, None, port, bytecode)
            rows.append((f"send, defaults, {args.big:,} recipients",
                         f"{big['rate']:,.0f} msg/s, runner RSS "
                         + ", ".join(f"{mb:.0f}" for mb in big["rss"]) + " MB"))
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(cache, ignore_errors=True)
    rows[:0] = [
        ("message size", f"{default['size']:,} bytes (text+HTML, personalised); "
                         f"{args.connections} connections, {args.recipients:,} messages"),
        ("median ratio, defaults", f"{statistics.median(ratios_default):.2f} (target >= 0.6)"),
        ("median ratio, processes = 1", f"{statistics.median(ratios_one):.2f} (target >= 0.4)"),
        # the ratio follows each side's share of two cores: read it beside the machine's load
        ("load average (1 min)", f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"),
        ("`send` and its runners", "compiled from source every time (--source)" if args.source
         else "bytecode cached, as an installed package (filled by one untimed send)"),
    ]
    if args.sms_seconds:
        rate, busiest = run_sms(args.sms_seconds, 10)
        rows.append(("SMS at rate = 10", f"{rate:.2f}/s measured over {args.sms_seconds:.0f} s, "
                                         f"busiest 1 s window {busiest}"))
    print_table("Sending benchmark: `send` (wall time, start-up included) / `smtp-source -d`", rows)


if __name__ == "__main__":
    main()
