"""What `send` costs before and around its messages, in instructions (cachegrind counts them the
same whatever the machine's load): the CLI launching a campaign of 20,000 (imports, opening the
home, validating, materialising the deliveries, starting the runners, which are not counted), and
one runner sending one message (imports, claim, connect, the message, settling). Each is counted
with our modules compiled from source and with cached bytecode (as an installed package)."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402
from bench_send import make_home  # noqa: E402

from messagehub_tui import control  # noqa: E402
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.follow import wait_until  # noqa: E402
from messagehub_tui.models import ACTIVE
from tests.peers import start_sink  # noqa: E402

REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(command: list[str], home: Path, env: dict[str, str]) -> float:
    """Millions of instructions `command` executes (its own process, not its children)."""
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                           "--cachegrind-out-file=/dev/null", *command], cwd=home, env=env,
                          capture_output=True, text=True, check=True)
    found = REFS.search(done.stderr)
    assert found, done.stderr[-500:]
    return int(found.group(1).replace(",", "")) / 1e6


def wait_settled(home: Path, campaign_id: int) -> None:
    """Until the runners `launch` started have sent the campaign (they are not measured)."""
    settings = load_settings(home)
    open_db(settings.db_location)
    try:
        wait_until(campaign_id, lambda campaign: campaign.status not in ACTIVE, poll=0.2)
    finally:
        close_db()


def fresh_home(template: Path, name: str) -> Path:
    home = template.parent / name
    shutil.copytree(template, home)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("bench_startup needs valgrind (cachegrind)")
    sink, port = start_sink()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    # the binary itself: a shim (pyenv) would be counted instead of Python
    python = os.path.realpath(sys.executable)
    rows = []
    try:
        toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
                f'security = "none"\nfrom = "Bench <bench@example.com>"\nconnections = 8\n')
        big, one = work / "big", work / "one"
        big.mkdir()
        one.mkdir()
        big_id, one_id = make_home(big, toml, args.recipients, "email"), \
            make_home(one, toml, 1, "email")
        for mode in ("source", "bytecode"):
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            if mode == "bytecode":
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = str(work / "pyc")
                subprocess.run([python, "-c", "import messagehub_tui.cli, "  # fill the cache
                                "messagehub_tui.workers.runner, messagehub_tui.channels.smtp"],
                               env=env, check=True)
            home = fresh_home(big, f"big-{mode}")
            launch = instructions([python, "-m", "messagehub_tui", "--home", str(home),
                                   "launch", str(big_id)], home, env)
            wait_settled(home, big_id)
            home = fresh_home(one, f"one-{mode}")
            settings = load_settings(home)
            open_db(settings.db_location)
            try:
                control.launch(settings, one_id, start=False)
            finally:
                close_db()
            runner = instructions([python, "-m", "messagehub_tui.workers.runner", "--home",
                                   str(home), str(one_id)], home, env)
            rows += [(f"CLI `launch` of {args.recipients:,}, {mode}", f"{launch:,.0f} M"),
                     (f"runner sending 1 message, {mode}", f"{runner:,.0f} M")]
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    print_table("Start-up: instructions executed (cachegrind; the same at any load)", rows)


if __name__ == "__main__":
    main()
