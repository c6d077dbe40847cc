"""End-to-end email into Postfix smtp-sink beside smtp-source; SMS pacing at rate 10 into a fake Twilio."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402

from messagehub_tui import campaigns, contacts, control  # noqa: E402
from messagehub_tui.config import load_settings  # noqa: E402
from messagehub_tui.models import close_db, open_db  # noqa: E402
from tests.peers import FakeTwilio, free_port, smtp_sink_path, wait_for_port  # noqa: E402

TEXT = ("Dear {{ first_name }} {{ last_name }},\n\n" + "Your plan {{ plan }} in {{ city }} "
        "renews soon; here is what changed this month and what it means for you.\n" * 30 +
        "\nRegards,\nThe team\n")
HTML = ("<html><body><h1>Hello {{ first_name }}</h1>" + "<p>Your plan <b>{{ plan }}</b> in "
        "{{ city }} renews soon; here is what changed this month.</p>\n" * 25 + "</body></html>\n")


def start_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([smtp_sink_path(), *user, f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process=sink)
    return sink, port


def make_home(home: Path, toml: str, recipients: int, channel: str) -> tuple:
    (home / "messagehub.toml").write_text(toml)
    settings = load_settings(home)
    open_db(settings.db_path)
    with (home / "people.csv").open("w") as handle:
        handle.write("email,phone,first_name,last_name,city,plan\n")
        for i in range(recipients):
            handle.write(f"user{i}@example{i % 50}.com,+1415{5000000 + i:07d},First{i},Last{i},"
                         f"City{i % 7},plan{i % 3}\n")
    contacts.import_csv(home / "people.csv", home, "people", region="US")
    if channel == "email":
        campaign = campaigns.create(settings, "bench", "email", "people", TEXT,
                                    subject="{{ first_name }}, your {{ plan }} news", html=HTML)
    else:
        campaign = campaigns.create(settings, "bench", "sms", "people", "Hi {{ first_name }}")
    return settings, campaign.id


def wait_for_peak_rss(runners: list[subprocess.Popen]) -> float:
    """Wait for the runners to exit; the highest VmHWM (peak RSS, MB) any of them reached."""
    peak = 0
    while any(runner.poll() is None for runner in runners):
        for runner in runners:
            try:
                status = Path(f"/proc/{runner.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        time.sleep(0.05)
    return peak / 1024


def run_email(recipients: int, connections: int, processes: int) -> dict:
    sink, port = start_sink()
    home = Path(tempfile.mkdtemp())
    try:
        toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
                f'security = "none"\nfrom = "Bench <bench@example.com>"\n'
                f"connections = {connections}\n[delivery]\nprocesses = {processes}\n"
                f"batch_size = 500\n")
        settings, cid = make_home(home, toml, recipients, "email")
        size = len(campaigns.preview(settings, cid).encode())
        started = time.perf_counter()
        peak = wait_for_peak_rss(control.launch(settings, cid).runners)
        elapsed = time.perf_counter() - started
        status = campaigns.status(cid)
        close_db()
        return {"sent": status["counts"]["sent"], "status": status["status"],
                "seconds": elapsed, "rate": status["counts"]["sent"] / elapsed, "peak": peak,
                "size": size, "port": port}
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(home, ignore_errors=True)


def run_smtp_source(messages: int, connections: int, size: int) -> float:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    sink, port = start_sink()
    try:
        started = time.perf_counter()
        subprocess.run([source, "-s", str(connections), "-m", str(messages), "-l", str(size),
                        "-f", "bench@example.com", "-t", "user@example.com",
                        f"127.0.0.1:{port}"], check=True)
        return messages / (time.perf_counter() - started)
    finally:
        sink.terminate()
        sink.wait()


def run_sms(seconds: float, rate: float) -> tuple[float, int]:
    fake = FakeTwilio()
    home = Path(tempfile.mkdtemp())
    try:
        toml = (f'[sms]\ntransport = "twilio"\naccount_sid = "AC{"0" * 32}"\n'
                f'from = "+15005550006"\napi_base_url = "{fake.url}"\nrate = {rate}\n')
        os.environ["TWILIO_AUTH_TOKEN"] = "bench-token"
        settings, cid = make_home(home, toml, int(seconds * rate) + 1, "sms")
        runners = control.launch(settings, cid).runners
        for runner in runners:
            runner.wait()
        close_db()
        stamps = sorted(request["at"] for request in fake.requests)
        span = stamps[-1] - stamps[0]
        measured = (len(stamps) - 1) / span
        busiest = max(sum(1 for t in stamps if start <= t < start + 1) for start in stamps)
        return measured, busiest
    finally:
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=100_000, help="recipients of the RSS run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sms-seconds", type=float, default=30)
    args = parser.parse_args()
    email = run_email(args.recipients, args.connections, args.processes)
    one = run_email(args.recipients, args.connections, 1)
    source = run_smtp_source(args.recipients, args.connections, email["size"])
    big = run_email(args.big, args.connections, args.processes) if args.big else None
    rows = [
        ("message size", f"{email['size']:,} bytes (text+HTML, personalised)"),
        (f"messagehub, {args.processes} processes x {args.connections} conns",
         f"{email['rate']:,.0f} msg/s ({email['sent']:,} {email['status']} in "
         f"{email['seconds']:.1f} s)"),
        (f"messagehub, 1 process x {args.connections} conns",
         f"{one['rate']:,.0f} msg/s ({one['sent']:,} in {one['seconds']:.1f} s)"),
        (f"smtp-source, {args.connections} conns", f"{source:,.0f} msg/s"),
        ("peak runner RSS", f"{email['peak']:.0f} MB at {args.recipients:,} recipients"),
    ]
    if big:
        rows.append(("peak runner RSS (big)",
                     f"{big['peak']:.0f} MB at {args.big:,} recipients, "
                     f"{big['rate']:,.0f} msg/s"))
    if args.sms_seconds:
        rate, busiest = run_sms(args.sms_seconds, 10)
        rows.append(("SMS at rate = 10", f"{rate:.2f}/s measured over {args.sms_seconds:.0f} s, "
                                         f"busiest 1 s window {busiest}"))
    print_table("Sending benchmark (targets: >= 4,000 msg/s, < 100 MB at 100k, SMS within 3 %, "
                "no window > 11)", rows)


if __name__ == "__main__":
    main()
