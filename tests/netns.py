"""Test hosts on one machine: network namespaces on a bridge, each running messagehub-tui with its
own home and host id, reaching PostgreSQL and smtp-sink on the bridge's root-side address.

Root only (`ip netns add`). Everything made here is removed by `Hosts.close()`, also after a
failed test: the processes in each namespace are killed, the namespaces and the bridge deleted.
The namespaces share the machine's pid space and /proc, not its network: a host's SIGKILL is
every process in its namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers import require

MODULE = [sys.executable, "-m", "messagehub_tui"]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,
                          timeout=30)


def namespaces_refused() -> str | None:
    """Why network namespaces cannot be made here (not root, no iproute2, refused), or None."""
    if shutil.which("ip") is None:
        return "iproute2 (Debian package iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"mhprobe{os.getpid() % 100000}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add refused: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def require_namespaces() -> None:
    """Skip (dev machine) or fail (CI) when namespaces cannot be made."""
    reason = namespaces_refused()
    require(reason is None, f"network namespaces ({reason})")


@dataclass
class Host:
    """One test host: a namespace, its address, its home and its host id."""

    name: str
    outside: str  # the root side of its veth pair, on the bridge
    address: str
    home: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *MODULE, "--home", str(self.home), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A messagehub-tui command on this host, to its end."""
        return subprocess.run(self.command(*args), env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        """A long-running messagehub-tui command on this host (a daemon)."""
        process = subprocess.Popen(self.command(*args), env=self.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    def pids(self) -> list[int]:
        """Every process in this host's namespace (the daemon, its runners, a CLI)."""
        found = _ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(pid) for pid in found if pid.isdigit()]

    def kill(self, silently: bool = False) -> None:
        """SIGKILL every process of the host. `silently` first cuts its link, as a host that
        loses power sends nothing: its TCP peers then learn of it only by their keepalives."""
        if silently:
            _ip("-n", self.name, "link", "set", "eth0", "down", check=False)
        for _ in range(20):  # a dying daemon's runners may still be forking
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


@dataclass
class Hosts:
    """A bridge in the root namespace at `gateway`, and one namespace per host on it."""

    tag: str
    subnet: str
    gateway: str
    hosts: list[Host] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"mhbr{self.tag}"

    def close(self) -> None:
        for host in self.hosts:
            host.kill()
            _ip("netns", "del", host.name, check=False)
            _ip("link", "del", host.outside, check=False)  # namespace removal is lazy
        _ip("link", "del", self.bridge, check=False)


def _subnet_octet() -> int:
    """A 10.231.X.0/24 not routed on this machine already (the pid picks where to start)."""
    routes = _ip("route", "show").stdout
    for step in range(250):
        octet = (os.getpid() + step) % 250 + 1
        if f"10.231.{octet}." not in routes:
            return octet
    raise RuntimeError("no free 10.231.X.0/24 for the test hosts")


@contextlib.contextmanager
def virtual_hosts(count: int, base: Path, env: dict[str, str] | None = None
               ) -> Iterator[Hosts]:
    """`count` hosts named host-1.. with homes under `base`; removed however the block ends.

    Host processes get `env` (on top of this process's environment) and their own
    MESSAGEHUB_HOST_ID; the homes are created empty (`init`) by the caller.
    """
    require_namespaces()
    tag = str(os.getpid() % 100000)
    octet = _subnet_octet()
    hosts = Hosts(tag, f"10.231.{octet}.0/24", f"10.231.{octet}.1")
    try:
        _ip("link", "add", hosts.bridge, "type", "bridge")
        _ip("addr", "add", f"{hosts.gateway}/24", "dev", hosts.bridge)
        _ip("link", "set", hosts.bridge, "up")
        for index in range(1, count + 1):
            name, outside = f"mh{tag}h{index}", f"mh{tag}v{index}"
            _ip("netns", "add", name)
            _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("link", "set", outside, "master", hosts.bridge)
            _ip("link", "set", outside, "up")
            address = f"10.231.{octet}.{10 + index}"
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
            home = base / f"host-{index}"
            home.mkdir(parents=True, exist_ok=True)
            host_env = {**os.environ, **(env or {}), "MESSAGEHUB_HOST_ID": f"host-{index}"}
            host_env.pop("MESSAGEHUB_HOME", None)
            hosts.hosts.append(Host(name, outside, address, home, host_env))
        yield hosts
    finally:
        hosts.close()


def cross_traffic_allowed(hosts: Hosts, port: int) -> bool:
    """Whether host-1 reaches a TCP port on the gateway (a firewall could drop bridged
    traffic)."""
    probe = ("import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), "
             "timeout=3).close()")
    done = subprocess.run(["ip", "netns", "exec", hosts.hosts[0].name, sys.executable, "-c",
                           probe, hosts.gateway, str(port)], capture_output=True, timeout=30)
    return done.returncode == 0



def host_toml(database_url: str, smtp_host: str, smtp_port: int, processes: int = 1,
              connections: int = 4) -> str:
    """Every host's messagehub.toml: one database, one relay (smtp-sink), its own runners."""
    return "\n".join([
        "[database]", f'url = "{database_url}"',
        "[email]", 'transport = "smtp"', f'host = "{smtp_host}"', f"port = {smtp_port}",
        'security = "none"', 'from = "Team <team@example.com>"', 'timeout = "5s"',
        f"connections = {connections}",
        "[delivery]", f"processes = {processes}", 'retry_base = "50ms"', 'retry_max = "100ms"',
        "max_attempts = 3",
    ]) + "\n"


def start_daemons(hosts: Sequence[Host], *options: str) -> list[subprocess.Popen]:
    """`messagehub-tui daemon` on each host, returned once each said it started."""
    started = []
    for host in hosts:
        daemon = host.start("daemon", *options)
        first = daemon.stdout.readline() if daemon.stdout else ""
        assert f"on host {host.env['MESSAGEHUB_HOST_ID']} " in first, \
            (first, daemon.poll() is not None and daemon.communicate())
        started.append(daemon)
    return started


def stop_daemons(daemons: Sequence[subprocess.Popen]) -> None:
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=60)


LEADER_SQL = ("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
              " WHERE l.locktype = 'advisory' AND l.granted"
              " AND a.application_name LIKE 'messagehub-tui scheduler on %%'")


def leader_of(cluster, database: str) -> str | None:
    """The host id whose daemon holds the scheduler lock of `database` (from its session name),
    or None."""
    rows = cluster.sql(LEADER_SQL + " AND l.database = "
                       "(SELECT oid FROM pg_database WHERE datname = %s)", (database,))
    return rows[0][0].rsplit(" ", 1)[-1] if rows else None
